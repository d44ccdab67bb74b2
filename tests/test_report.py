"""Reports (HTML, Markdown), the report command, the demo, and the page rendering in Chromium."""

import json
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from faceprobe.classify.data.dataset import load_dataset
from faceprobe.classify.evaluate import EvalConfig, evaluate
from faceprobe.classify.protocols.splits import SplitSpec
from faceprobe.cli import cli
from faceprobe.report.render import render_html, render_markdown
import numpy as np
import faceprobe



@pytest.fixture
def results(tmp_path, synthetic_cache):
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", n_subjects=15)))
    res = evaluate(ds, EvalConfig(heads=["logreg", "svm"], split=SplitSpec(cv=3)))
    res["provenance"] = {"key": ds.key, "split": SplitSpec(cv=3).as_dict(), "seed": 0}
    return res


def test_html_has_tables_plots_and_provenance(results):
    page = render_html(results)
    assert page.count('<table id="metrics">') == 1 and page.count("class='per-class'") == 2
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 6  # confusion, ROC and accuracy per person, per head
    assert page.count("per-person accuracy") == 2
    assert "<pre id='provenance'>" in page and "grouped by subject" in page


def test_markdown_report(results):
    md = render_markdown(results)
    assert "| balanced accuracy |" in md and "## svm" in md and "```json" in md


def test_report_command(results, tmp_path, invoke):
    rj = tmp_path / "r.json"
    rj.write_text(json.dumps(results))
    r = CliRunner().invoke(cli, ["report", str(rj), "-o", str(tmp_path / "r.md")])
    assert r.exit_code == 0 and "wrote md report" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = CliRunner().invoke(cli, ["report", str(bad), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 1 and "not classify results" in r.output


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get)")
    for cmd in (["apt-get", "install", "-y", "-q", "chromium"], ["sh", "-c", "apt-get update -q && apt-get install -y -q chromium"]):
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            break
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
    found = shutil.which("chromium")
    if not found:
        pytest.skip("Chromium could not be installed with apt-get")
    return found


@pytest.mark.slow
def test_report_renders_in_headless_chromium(results, tmp_path):
    browser = _chromium()
    page = render_html(results).replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{document.body.setAttribute('data-widths',"
        "[...document.images].map(i=>i.naturalWidth).join(','));"
        "document.body.setAttribute('data-tables',document.querySelectorAll('table#metrics tr').length)});</script></body>")
    path = tmp_path / "report.html"
    path.write_text(page)
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    widths = re.search(r'data-widths="([0-9,]*)"', out.stdout)
    assert widths, out.stderr[-2000:]
    values = [int(w) for w in widths.group(1).split(",")]
    assert len(values) == 6 and all(w > 100 for w in values)  # confusion, ROC and accuracy per person, per head
    rows = re.search(r'data-tables="(\d+)"', out.stdout)
    assert rows and int(rows.group(1)) == 7  # header + six metric rows


@pytest.mark.slow
def test_demo_runs_offline_and_reuses_its_cache(tmp_path, monkeypatch, invoke):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the lite extra is not installed")
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    r1 = CliRunner().invoke(cli, ["demo", "-q", "--report", str(tmp_path / "demo.html")], catch_exceptions=False)
    assert r1.exit_code == 0, r1.output
    assert "featurized 240 demo faces" in r1.output and "240 images, 5 classes, 5-fold CV, grouped by subject" in r1.output
    assert (tmp_path / "home" / "demo-features.h5").exists() and (tmp_path / "demo.html").exists()
    assert "ROC curves" in (tmp_path / "demo.html").read_text()  # the curves the docs promise: the predictions were kept
    r2 = CliRunner().invoke(cli, ["demo", "-q"], catch_exceptions=False)
    assert "reused the cached features of 240 demo faces" in r2.output
    table = lambda out: out[out.index("metric (%)"):out.index("dnn: per class")]
    assert table(r1.output) == table(r2.output)  # same numbers every run


KEY = "toy.none.orig.0000000000"


def _hostile_cache(tmp_path):
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    rng = np.random.default_rng(1)
    labels = ["=HYPERLINK(\"http://x.invalid\",\"click\")", "<script>alert(1)</script>", "plain|bar"]
    rows = {"path": [], "sha256": [], "label": [], "subject": [], "status": [], "extra": []}
    vec, sha = [], []
    for i in range(36):
        h = f"{i:04d}".ljust(64, "e")
        sha.append(h)
        vec.append(np.eye(4)[i % 3] * 3 + rng.normal(0, 0.3, 4))
        for c, v in zip(rows, (f"/x/{i}.jpg", h, labels[i % 3], f"@s{i % 6}", "ok", '{"note": "-1+2"}')):
            rows[c].append(v)
    spec = {"backbone": "toy", "weights_sha256": "0" * 64, "transform": {}, "output": "x", "crop": {"method": "none", "equalize": False},
            "view": "orig", "view_params": {}}
    part = {KEY: {"spec": spec, "sha256": np.array(sha), "vectors": np.array(vec, np.float32), "face": np.full(36, -1, np.int8),
                  "box": np.full((36, 4), -1, np.int32)}}
    commit(str(tmp_path / "h.h5"), images={c: np.array(v, dtype=object) for c, v in rows.items()}, parts=[Part({"run_id": "r"}, {}, part)])
    return tmp_path / "h.h5"


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(tmp_path, invoke):
    import csv

    cache = _hostile_cache(tmp_path)
    r = invoke("cache", "export", "-c", cache, "-o", tmp_path / "x.csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "x.csv", newline="")))
    assert {row["label"] for row in rows} >= {"'=HYPERLINK(\"http://x.invalid\",\"click\")"}
    assert all(row["subject"].startswith("'@") for row in rows) and {row["note"] for row in rows} == {"'-1+2"}
    assert all(not row[c].startswith(("=", "+", "@")) for row in rows for c in row)
    assert float(rows[0]["f0"]) == float(rows[0]["f0"])  # numbers, negative ones too, stay numbers
    faceprobe.register_head("=cmd|calc", lambda p, seed: __import__("sklearn.linear_model").linear_model.LogisticRegression())
    try:
        r = invoke("classify", "-c", cache, "--head", "=cmd|calc,logreg", "--cv", 3, "-q", "--table", tmp_path / "g.csv",
                   "--report", tmp_path / "r.md")
    finally:
        from faceprobe.classify.heads import HEADS

        HEADS.unregister("=cmd|calc")
    assert r.exit_code == 0, r.output
    heads = [row["head"] for row in csv.DictReader(open(tmp_path / "g.csv", newline=""))]
    assert heads == ["'=cmd|calc", "logreg"]


def test_markdown_reports_and_tables_escape_html_from_the_data(tmp_path, invoke):
    cache = _hostile_cache(tmp_path)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q", "--report", tmp_path / "r.md", "--table", tmp_path / "g.md")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "r.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "plain\\|bar" in md
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q", "--report", tmp_path / "r.html")
    assert "<script>alert" not in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("cut", ["cells", "folds", "provenance", "notes", "keys", "class_counts", "cells.summary", "cells.confusion"])
def test_results_with_a_section_missing_are_refused_naming_it_without_a_traceback(tmp_path, synthetic_cache, cut):
    flat = faceprobe.evaluate(str(synthetic_cache(tmp_path / "c.h5", n_subjects=6)), head="logreg", cv=3, progress=False).raw
    edited = json.loads(json.dumps(flat, default=str))
    top, _, field = cut.partition(".")
    if field:
        for cell in edited["cells"]:
            cell.pop(field)
    else:
        edited.pop(top)
    rj = tmp_path / "cut.json"
    rj.write_text(json.dumps(edited))
    r = CliRunner().invoke(cli, ["report", str(rj), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 1 and isinstance(r.exception, (SystemExit, type(None))), r.exception
    assert "cut.json: " in r.output and repr(field or top) in r.output and "run classify again to write them" in r.output
    assert not (tmp_path / "x.html").exists()


def test_a_51_class_report_with_long_labels_stays_small_and_readable(tmp_path):
    import base64
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    classes = [f"expression number {i:02d} with a long descriptive name from the annotation manual" for i in range(51)]
    y = np.repeat(classes, 6)
    X = rng.normal(size=(len(y), 12)) + np.repeat(np.eye(51, 12) * 3, 6, axis=0)
    res = faceprobe.evaluate(X, y=y, head="logreg", cv=3, predictions=True, progress=False)
    out = tmp_path / "r.html"
    res.report(str(out))
    page = out.read_text()
    assert out.stat().st_size < 3e6
    sides = [Image.open(io.BytesIO(base64.b64decode(b))).size for b in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]
    assert sides and max(max(s) for s in sides) <= 1600, sides
    assert "classes by number: 1 = expression number 00" in page
    text = res.format()
    assert max(len(line) for line in text.splitlines()) < 400
    assert "confusion matrix (rows true, columns predicted, by class number)" in text


def test_faces_left_out_of_a_report_are_said_to_be_gone_rows_or_unreadable_not_remote(tmp_path):
    from faceprobe.report.insight import _missing_words

    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    words = _missing_words([str(tmp_path / "deleted.jpg"), str(tmp_path / "fer2013.csv#12"), str(tmp_path / "broken.jpg")])
    assert words == (" (not shown: 1 no longer at their path (moved or deleted since the run, e.g. deleted.jpg); "
                     "1 rows of a CSV or video, not image files; 1 unreadable as images)")
    assert _missing_words([]) == ""


def test_report_figures_say_what_they_show_null_in_percent_zero_bars_labelled_axes_and_far_points(monkeypatch):
    from faceprobe.report import plots
    from faceprobe.report.curves import curve_png
    from faceprobe.report.insight import _accuracy_png, _map_png
    from faceprobe.report.words import chance_line

    rec = {"p": 0.01, "null_mean": 0.21, "null_std": 0.02, "permutations": 99, "scheme": "rows permuted"}
    assert "svm p = 0.01 (null 21.0 ± 2.0 %)" in chance_line({"svm": {"permutation": rec}}, "balanced_accuracy")
    assert "svm p = 0.01 (null 0.21 ± 0.02)" in chance_line({"svm": {"permutation": rec}}, "mae")
    monkeypatch.setattr(plots, "png_bytes", lambda fig: fig)  # keep the figure to look at it
    ax = _accuracy_png({f"p{i}": {"accuracy": 0.0, "n": 3} for i in range(5)}, "svm: accuracy per person").axes[0]
    assert ax.get_title().endswith("(all shown scored 0 %)") and ax.get_ylabel() == "accuracy (%)" and len(ax.texts) == 5
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(size=(300, 2)), [[500.0, 500.0]]])
    ax = _map_png(xy, ["a", "b", "c"] * 100 + ["a"], "PCA: by label", "pca").axes[0]
    assert ax.get_xlabel() == "PC 1" and ax.get_ylabel() == "PC 2" and "beyond the frame" in ax.get_title()
    assert ax.get_xlim()[1] < 100  # the outlier does not squash the rest into a corner
    points = [{"size": s, "mean": 0.5, "std": 0.01} for s in (5, 10, 20)] + [{"size": "all", "mean": 0.6, "std": 0.01, "train_units": 900}]
    fig = curve_png({"svm": {"curve": {"points": points, "unit": "subjects", "sizes": [5, 10, 20, "all"], "metric": "balanced_accuracy"}}},
                    "curve")
    assert fig.axes[0].get_xscale() == "log" and "log scale" in fig.axes[0].get_xlabel()
