"""One parameter vocabulary (faceprobe.params): NAME=VALUE texts of heads, croppers and corpora read
by one reader that casts by declaration, with one wording for every refusal."""

from __future__ import annotations

import pytest

from faceprobe.corpora.manifest import parse_corpus_options
from faceprobe.errors import OptionError
from faceprobe.featurize.faces.base import CropSpec, parse_crop_params
from faceprobe.options import Option
from faceprobe.params import Param, read_assignments


@pytest.mark.parametrize("text, why", [("peak_frames=abc", "an integer >= 1"), ("peak_frames=2.5", "an integer >= 1"),
                                       ("peak_frames=0", "an integer >= 1"), ("peak_frames=-1", "an integer >= 1"),
                                       ("neutral=maybe", "true or false")])
def test_corpus_options_are_cast_by_their_declaration_and_bad_values_name_the_option(text, why):
    with pytest.raises(OptionError, match=f"corpus_options='{text}': the ckplus corpus takes {why}"):
        parse_corpus_options([text], corpus="ckplus")


def test_corpus_options_read_whole_numbers_and_true_false_words_and_check_api_values_too():
    assert parse_corpus_options(["peak_frames=5", "neutral=Yes"], corpus="ckplus") == {"peak_frames": 5, "neutral": True}
    assert parse_corpus_options(["neutral=0"], corpus="ckplus") == {"neutral": False}
    with pytest.raises(OptionError, match="corpus_options='peak_frames=abc'"):  # the API's dict: checked, not cast
        parse_corpus_options({"peak_frames": "abc"}, corpus="ckplus")
    with pytest.raises(OptionError, match="classes=9'?: the affectnet corpus takes an integer >= 7 and <= 8"):
        parse_corpus_options(["classes=9"], corpus="affectnet")


def test_the_corpus_manifest_command_names_its_own_flag(invoke, tmp_path):
    r = invoke("corpus", "manifest", "ckplus", tmp_path, "-o", tmp_path / "m.csv", "--option", "peak_frames=abc")
    assert r.exit_code != 0 and r.output.strip().splitlines() == ["Error: --option peak_frames=abc: the ckplus corpus takes an integer >= 1"]
    r = invoke("corpus", "manifest", "ckplus", tmp_path, "-o", tmp_path / "m.csv", "--option", "nuetral=true")
    assert r.exit_code != 0 and "--option nuetral: not a parameter of the ckplus corpus; did you mean neutral?" in r.output


def test_crop_parameters_are_cast_by_their_declaration_and_a_whole_float_keeps_one_key():
    assert parse_crop_params("haar", ["min_neighbors=3", "scale_factor=2"]) == (("min_neighbors", 3), ("scale_factor", 2.0))
    assert CropSpec("haar", params=(("scale_factor", 2),)) == CropSpec("haar", params=(("scale_factor", 2.0),))
    with pytest.raises(OptionError, match="crop_params='min_neighbors=2.5': the haar cropper takes an integer"):
        parse_crop_params("haar", ["min_neighbors=2.5"])
    with pytest.raises(OptionError, match="not a parameter of the haar cropper; did you mean min_neighbors"):
        parse_crop_params("haar", ["min_neighbours=3"])


def test_head_grids_read_booleans_numbers_and_words_alike():
    from faceprobe.classify.heads.registry import parse_params

    assert parse_params(["C=0.1,1", "gamma=scale", "shrink=false"]) == {"C": [0.1, 1], "gamma": ["scale"], "shrink": [False]}
    with pytest.raises(OptionError, match="params='C': expected NAME=VALUE"):
        parse_params(["C"])


def test_a_range_reads_the_same_in_a_plugin_parameter_and_an_option():
    p = Param(0.5, float, low=0, high=1, open_low=True, open_high=True)
    o = Option("x", "float", 0.5, low=0, high=1, open_low=True, open_high=True)
    with pytest.raises(ValueError) as exc:
        p.check(1.0)
    assert str(exc.value) == "must be a number > 0 and < 1" and o.refusal(1.0) == "must be > 0 and < 1"
    assert read_assignments(["x=0.25"], {"x": p}, param="p", owner="o") == {"x": 0.25}


@pytest.mark.parametrize("method, text, why", [
    ("haar", "detect_side=0", "an integer >= 32"), ("haar", "scale_factor=1", "a number > 1"),
    ("haar", "min_size=0", "an integer >= 1"), ("haar", "min_neighbors=-1", "an integer >= 0"),
    ("yunet", "min_score=1.5", "a number >= 0 and <= 1"), ("yunet", "detect_side=-5", "an integer >= 32"),
    ("mediapipe", "detect_side=31", "an integer >= 32"), ("dlib", "detect_side=8", "an integer >= 32"),
])
def test_crop_parameters_outside_their_range_are_refused_before_any_image(method, text, why):
    # detect_side=0 had run and found no face in any image, without a word
    with pytest.raises(OptionError, match=f"crop_params='{text}': the {method} cropper takes {why}"):
        parse_crop_params(method, [text])
