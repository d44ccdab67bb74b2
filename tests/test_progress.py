"""Progress of long work on stderr: a bar on a terminal, plain lines with an estimate when redirected."""

from __future__ import annotations

import pytest

from faceprobe.progress import duration, progress


def test_redirected_progress_prints_start_periodic_lines_with_an_estimate_and_the_end(capsys):
    got = list(progress(iter(range(5)), 5, "work", "fold", True, every=0.0))
    assert got == list(range(5))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "work: 0/5 folds" and lines[-1].startswith("work: 5/5 folds in ")
    assert any(line.startswith("work: 2/5 folds (40 %), ") and line.endswith(" left") for line in lines)


def test_disabled_progress_prints_nothing_and_still_yields_everything(capsys):
    assert list(progress(range(3), 3, "work", "fold", False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("seconds, words", [(4.24, "4.2 s"), (42, "42 s"), (75, "1 min 15 s"), (600, "10 min"), (5400, "1 h 30 min"),
                                            (86400 * 3, "3.0 days")])
def test_durations_read_as_words(seconds, words):
    assert duration(seconds) == words


def test_the_estimate_leaves_out_what_came_before_the_first_work(capsys, monkeypatch):
    """A run that spends 38 s choosing runtimes and then 0.1 s per image must not be told it has an hour left."""
    from faceprobe import progress as prog

    clock = iter([0.0, 38.0, 38.1, 38.2, 38.3, 100.0])  # start; then the first image after 38 s of one-time costs
    monkeypatch.setattr(prog.time, "perf_counter", lambda: next(clock))
    meter = prog.Meter(1730, "featurize", "image", True, every=0.0)
    for _ in range(4):
        meter.update(16)
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == "featurize: 16/1730 images (1 %), 38 s, time left estimated after the next update"
    assert lines[2].startswith("featurize: 32/1730 images (2 %), 38 s, about ") and "11 s left" in lines[2]  # 1698 x 0.1 s / 16
