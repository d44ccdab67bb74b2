from pathlib import Path

from faceprobe.cli.doc import render

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_cli_reference_is_current():
    assert (DOCS / "cli.md").read_text() == render(), "docs/cli.md is stale: run python -m faceprobe.cli.doc > docs/cli.md"


def test_corpora_page_is_current():
    from faceprobe.cli.corpora_doc import render as corpora_page

    assert (DOCS / "corpora.md").read_text() == corpora_page(), "docs/corpora.md is stale: run python -m faceprobe.cli.corpora_doc > docs/corpora.md"
