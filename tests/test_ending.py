"""The command-line entry points end the process without the interpreter's teardown, keeping its status,
its output and Python's exit handlers, and only when nothing left running needs the teardown."""

import subprocess
import sys

import pytest


def _run(body: str) -> subprocess.CompletedProcess:
    code = "import atexit, sys\nfrom faceprobe.cli.ending import run_then_end\n" + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ending, status", [("sys.exit(3)", 3), ("None", 0), ("sys.exit(None)", 0), ("sys.exit(0)", 0)])
def test_the_commands_status_and_unflushed_output_survive_the_early_end(ending, status):
    out = _run("atexit.register(lambda: print(' and the exit handler ran', end=''))\n"
               f"run_then_end(lambda: (print('unflushed', end=''), {ending}))")
    assert out.returncode == status, out.stderr
    assert out.stdout == "unflushed and the exit handler ran"


def test_a_message_given_to_sys_exit_is_printed_with_status_1():
    out = _run("run_then_end(lambda: sys.exit('Error: bad option'))")
    assert out.returncode == 1 and out.stderr.strip() == "Error: bad option"


def test_an_error_other_than_exit_keeps_its_traceback():
    out = _run("run_then_end(lambda: 1 / 0)")
    assert out.returncode == 1 and "ZeroDivisionError" in out.stderr


def test_the_teardown_is_kept_while_an_hdf5_file_is_open(tmp_path):
    out = _run("import h5py\n"
               "from faceprobe.cli.ending import _may_end_now\n"
               "seen = [_may_end_now()]\n"
               f"f = h5py.File({str(tmp_path / 'open.h5')!r}, 'w')\n"
               "seen.append(_may_end_now()); f.close(); seen.append(_may_end_now())\n"
               "print(seen)")
    assert out.stdout.strip() == "[True, False, True]", out.stderr


def test_an_idle_thread_pool_left_by_a_library_is_stopped_not_waited_on_forever():
    out = _run("from concurrent.futures import ThreadPoolExecutor\n"
               "pool = ThreadPoolExecutor(1); pool.submit(print, 'pooled', flush=True).result()  # never shut down\n"
               "run_then_end(lambda: sys.exit(5))")
    assert out.returncode == 5 and out.stdout.strip() == "pooled"


def test_a_thread_still_running_at_the_end_is_waited_for_as_python_does():
    out = _run("import threading, time\n"
               "t = threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True)))\n"
               "run_then_end(lambda: (t.start(), sys.exit(4)))")
    assert out.returncode == 4 and out.stdout.strip() == "thread done"
