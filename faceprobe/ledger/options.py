"""The options every recorded stage takes (``classify``, ``fit``, ``featurize``), declared once and
added to each stage's table."""

from __future__ import annotations

from ..options import Cli, Option

__all__ = ["recording_options", "RECORDING", "tag_refusal"]

RECORDING = ("record", "results_db", "tag", "mlflow")
"""The names of the recording options (left out of a run's recorded options: they say where it was recorded)."""

_NOT_RECORDED = "a run that is not recorded keeps no"


def tag_refusal(tags) -> str | None:
    """Why ``tags`` cannot tag a run (None when they can): a tag is a non-blank word without commas,
    because listings join a run's tags with commas."""
    for t in tags:
        if not isinstance(t, str) or not t.strip():
            return "a tag is a non-empty word, such as paper or table-2"
        if "," in t:
            return "a tag holds no comma (listings join tags with commas): give each tag on its own"
        if t != t.strip():
            return "a tag has no leading or trailing spaces"
    return None


def _store_refusal(value) -> str | None:
    if isinstance(value, str) and not value.strip():
        return "an empty name is no file: give a path such as runs.sqlite, or leave it out for the default store"
    return None


def recording_options(commands: tuple, api: tuple) -> tuple[Option, ...]:
    """The recording options for a stage whose commands and API functions are ``commands`` and ``api``."""
    return (
        Option("record", "bool", True, "Record the run (what ran, every figure, timings) in the results store, where "
               "`faceprobe runs` lists, compares and ranks runs.", commands, api,
               cli=Cli(negate="no-record", negate_help="Do not record this run in the results store.")),
        Option("results_db", "str", None, "The results store to record into (a SQLite file; a project's own, say); default "
               "$FACEPROBE_RESULTS_DB, else runs.sqlite in $FACEPROBE_HOME.", commands, api,
               check=_store_refusal, conflicts=(("record", f"{_NOT_RECORDED} store"),), cli=Cli(metavar="PATH")),
        Option("tag", "values", (), "Tag the recorded run (repeat for several), so a paper's runs are pulled out together by "
               "faceprobe runs.", commands, api, check=tag_refusal, conflicts=(("record", f"{_NOT_RECORDED} tags"),),
               cli=Cli(metavar="TAG")),
        Option("mlflow", "str", None, "Also log the run to MLflow at this tracking URI (pip install 'faceprobe[mlflow]'); the "
               "flag alone: $MLFLOW_TRACKING_URI, else MLflow's default; $FACEPROBE_MLFLOW=URI switches it on for every run.",
               commands, api, cli=Cli(metavar="URI", bare="")),
    )
