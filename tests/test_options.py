"""Every option is declared once: the dataclasses, the API, the CLI, validation and docs/cli.md agree with the tables."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import warnings

import pytest

import faceprobe
from faceprobe.classify.options import CLASSIFY, ClassifyOptions
from faceprobe.classify.plan import make_plan
from faceprobe.errors import OptionError
from faceprobe.featurize.options import FEATURIZE, PREDICT, FeaturizeOptions, resolve
from faceprobe.options import Option, OptionTable

API = {"evaluate": CLASSIFY, "fit": CLASSIFY, "compute_features": FEATURIZE, "predict": PREDICT}
COMMANDS = {"classify": CLASSIFY, "fit": CLASSIFY, "featurize": FEATURIZE, "predict": PREDICT}
COMMAND_LOCAL = {"json_out", "report_path", "table_path", "map_kind", "output", "model_path", "as_json", "source", "version", "help"}
"""Parameters of the commands that are not run options (where results go, how they are shown)."""


@pytest.mark.parametrize("cls, table", [(ClassifyOptions, CLASSIFY), (FeaturizeOptions, FEATURIZE)])
def test_the_options_dataclass_has_one_field_per_table_entry_with_its_default(cls, table):
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert fields == table.defaults()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cls().seed = 1  # immutable
    with pytest.raises(TypeError):
        cls(0)  # keyword-only


@pytest.mark.parametrize("name", sorted(API))
def test_each_api_function_takes_its_table_options_as_keywords_with_the_table_defaults_and_documents_them(name):
    func, table = getattr(faceprobe, name), API[name]
    params = dict(inspect.signature(func).parameters)
    for o in table.of_api(name):
        p = params.pop(o.name)
        if p.kind is inspect.Parameter.KEYWORD_ONLY:  # positional ones (fit's head, key) are documented by hand
            assert p.default == o.default, o.name
            assert f"{o.name} : {o.type_line()}" in func.__doc__, o.name
    others = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert others <= {"y", "groups", "options"}, f"{name} takes keywords the table does not declare: {sorted(others)}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_has_exactly_the_flags_its_table_gives_it(command):
    from faceprobe.cli.main import cli
    from faceprobe.cli.options import flag_of

    table = COMMANDS[command]
    params = {p.name: p for p in cli.commands[command].params}
    for o in table.of_command(command):
        p = params.pop(o.name)
        assert flag_of(o) in p.opts, (o.name, p.opts)
        default = () if (o.kind == "values" or o.cli.repeat) and o.default is None else o.default
        assert p.default == default or (p.multiple and tuple(p.default or ()) == tuple(default or ())), o.name
    assert set(params) <= COMMAND_LOCAL, f"{command} has flags no table declares: {sorted(set(params) - COMMAND_LOCAL)}"


def test_the_entry_points_are_the_same_commands():
    from faceprobe.cli.classify import classify_command
    from faceprobe.cli.featurize import featurize_command
    from faceprobe.cli.main import cli

    assert cli.commands["featurize"] is featurize_command and cli.commands["classify"] is classify_command


def _outside(o: Option):
    """A value just outside a number's range."""
    if o.low is not None:
        step = 1 if o.kind == "int" else 0.5
        return o.low if o.open_low else o.low - step
    return o.high if o.open_high else o.high + 1


BOUNDED = [(t, o) for t in (CLASSIFY, FEATURIZE) for o in t if o.kind in ("int", "float") and (o.low is not None or o.high is not None)]


@pytest.mark.parametrize("table, option", BOUNDED, ids=[f"{t.stage}.{o.name}" for t, o in BOUNDED])
def test_a_value_outside_an_options_range_is_refused_naming_it_in_the_api(table, option):
    bad = _outside(option)
    with pytest.raises(OptionError) as exc:
        if table is CLASSIFY:
            make_plan(ClassifyOptions(**{option.name: bad}))
        else:
            resolve("faces/", FeaturizeOptions(backbones=("resnet18",), **{option.name: bad}))
    assert exc.value.param == option.name and "must be" in exc.value.why


CHOSEN = [(t, o) for t in (CLASSIFY, FEATURIZE) for o in t if o.choices is not None]


@pytest.mark.parametrize("table, option", CHOSEN, ids=[f"{t.stage}.{o.name}" for t, o in CHOSEN])
def test_a_value_outside_an_options_choices_is_refused_listing_them(table, option):
    with pytest.raises(OptionError) as exc:
        table.validate({option.name: "no-such-choice"})
    assert exc.value.param == option.name and ", ".join(map(str, option.allowed())) in exc.value.why


def test_a_value_of_the_wrong_kind_is_one_line_not_a_traceback():
    for name, bad in (("permutations", "5"), ("holdout", "0.2"), ("augmented", 1), ("where", 3), ("cv", 1.5), ("params", 7)):
        with pytest.raises(OptionError) as exc:
            faceprobe.evaluate("missing.h5", **{name: bad})
        assert exc.value.param == name, (name, str(exc.value))


GIVEN = {"cv": 5, "holdout": 0.2, "repeats": 2, "split_col": "Usage", "train_where": ("corpus=a",), "test_where": ("corpus=b",),
         "balance": "undersample", "target": ("score",), "bins": "0,1", "train": ("Training",), "test": ("Test",), "val": ("Val",),
         "record": False, "tag": ("paper",), "results_db": "runs.sqlite"}


CONFLICTS = [(o.name, other) for o in CLASSIFY for other, _ in o.conflicts]


@pytest.mark.parametrize("name, other", CONFLICTS, ids=[f"{n}+{o}" for n, o in CONFLICTS])
def test_every_declared_conflict_is_refused_naming_both_options(name, other):
    with pytest.raises(OptionError) as exc:
        CLASSIFY.validate({name: GIVEN[name], other: GIVEN[other]})
    assert exc.value.param == other and f"`{name}=" in exc.value.why


REQUIRES = [(o.name, other) for o in CLASSIFY for other, _ in o.requires]


@pytest.mark.parametrize("name, other", REQUIRES, ids=[f"{n}>{o}" for n, o in REQUIRES])
def test_every_declared_need_is_refused_when_missing(name, other):
    with pytest.raises(OptionError) as exc:
        CLASSIFY.validate({name: GIVEN[name]})
    assert exc.value.param == name and f"needs `{other}`" in exc.value.why


def test_the_cli_refuses_a_conflict_with_flags_not_parameter_names(invoke, tiny_cache):
    r = invoke("classify", "--cache", tiny_cache, "--split-col", "Usage", "--repeats", "3")
    assert r.exit_code == 1 and "Error: --repeats 3: cannot be combined with --split-col Usage" in r.output, r.output


def test_an_unknown_keyword_names_the_closest_option():
    with pytest.raises(OptionError, match="is not an option of evaluate; did you mean `holdout`"):
        faceprobe.evaluate("features.h5", hold_out=0.2)
    with pytest.raises(OptionError, match="is not an option of compute_features; did you mean `crop_params`"):
        faceprobe.compute_features("faces/", "resnet18", crop_param={"min_size": 3})


def test_the_old_heads_keyword_still_works_with_a_deprecation_warning_naming_head(tiny_cache):
    with pytest.warns(DeprecationWarning, match=r"evaluate\(heads=...\) is now evaluate\(head=...\)"):
        old = faceprobe.evaluate(str(tiny_cache), heads="logreg", cv=3, jobs=1)
    new = faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, jobs=1)
    assert old.summary().equals(new.summary())


def test_an_options_object_and_keywords_give_the_same_run(tiny_cache):
    opts = ClassifyOptions(head="logreg", cv=3, jobs=1, seed=2)
    a = faceprobe.evaluate(str(tiny_cache), options=opts)
    b = faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, jobs=1, seed=2)
    c = faceprobe.evaluate(str(tiny_cache), options=ClassifyOptions(head="svm"), head="logreg", cv=3, jobs=1, seed=2)
    assert a.summary().equals(b.summary()) and a.summary().equals(c.summary())


def test_docs_cli_md_holds_the_tables():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    for table in (CLASSIFY, FEATURIZE, PREDICT):
        for o in table:
            assert f"| `{o.name}` |" in text, (table.stage, o.name)


def test_a_table_refuses_an_option_declared_twice_or_naming_an_unknown_one():
    a = Option("a", "int", 0)
    with pytest.raises(ValueError, match="declared twice"):
        OptionTable("t", [a, a])
    with pytest.raises(ValueError, match="unknown option 'b'"):
        OptionTable("t", [Option("a", "int", 0, conflicts=(("b", "why"),))])


def _public_functions():
    """Every public function and class of faceprobe's modules (by ``__all__``)."""
    for info in pkgutil.walk_packages(faceprobe.__path__, "faceprobe."):
        if info.name.endswith("__main__"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                yield f"{info.name}.{name}", obj


def test_no_public_function_takes_more_than_12_keywords_without_an_options_object():
    crowded = []
    for name, func in _public_functions():
        params = [p for p in inspect.signature(func).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if len(params) > 12 and "options" not in {p.name for p in params}:
            crowded.append(f"{name} ({len(params)})")
    assert not crowded, crowded


def test_messages_show_the_value_as_given_and_suggest_the_option_meant(tiny_cache):
    with pytest.raises(OptionError, match=r"cv=\[5\]: expected a number of folds"):  # a list stays a list, not '5'
        faceprobe.evaluate(tiny_cache, head="logreg", cv=[5])
    with pytest.raises(OptionError, match="cv_folds=5: is not an option of evaluate; did you mean `cv`"):
        faceprobe.evaluate(tiny_cache, head="logreg", cv_folds=5)
    for seed in (2**31, 2**70):
        with pytest.raises(OptionError, match=f"seed={seed}: must be >= 0 and <= 2147483647"):
            faceprobe.evaluate(tiny_cache, head="logreg", seed=seed)
    with pytest.raises(OptionError, match=r"repeats=1000000000000: must be >= 1 and <= 1000"):
        faceprobe.evaluate(tiny_cache, head="logreg", repeats=10**12)


def test_more_folds_than_any_class_has_rows_is_refused_without_suggesting_to_drop_every_class(tiny_cache):
    from faceprobe.errors import FaceprobeError

    with pytest.raises(FaceprobeError, match=r"`cv=100000000000000000000`: more folds than the largest class has rows") as exc:
        faceprobe.evaluate(tiny_cache, head="logreg", cv=10**20, group="none")
    assert "min_count" not in str(exc.value)
