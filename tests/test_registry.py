"""Registries are the one source of truth: duplicates refused, lookups list choices, and a new
entry (head, cropper, backbone family, source reader) works through everything that reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprobe.errors import OptionError
from faceprobe.registry import Choice, Registry


def test_registry_refuses_duplicates_and_lists_choices_on_a_bad_lookup():
    reg: Registry[Choice] = Registry("colour", "colour")
    reg.register("red", Choice("warm"))

    @reg.register("blue")
    class Blue:
        description = "cold"

    with pytest.raises(ValueError, match="a colour is already registered under the name 'red'"):
        reg.register("red", Choice("again"))
    with pytest.raises(OptionError, match=r"colour='green': unknown colour; choose from: blue, red") as err:
        reg.get("green")
    assert err.value.as_flag() == "--colour green: unknown colour; choose from: blue, red"
    assert reg.names() == ["blue", "red"] and reg.describe() == "blue: cold; red: warm"
    with reg.replaced("red", Choice("hot")):
        assert reg.get("red").description == "hot"
    assert reg.get("red").description == "warm"


def test_a_registered_cropper_with_parameters_reaches_featurize_and_the_key(image_folder: Path, tmp_path: Path):
    from faceprobe.cache.tools import list_keys
    from faceprobe.featurize.faces.crop import CROPPERS, NO_BOX, Cropper, CropResult, CropSpec
    from faceprobe.featurize.pipeline import featurize

    from .conftest import TINY

    def centre(img, spec, params):
        side = round(min(img.size) * params["fraction"])
        left, top = (img.width - side) // 2, (img.height - side) // 2
        return CropResult(img.crop((left, top, left + side, top + side)), -1, NO_BOX)

    with CROPPERS.replaced("centre_test", Cropper(centre, {"fraction": 0.8}, "a centred square")):
        assert CropSpec("centre_test").as_dict() == {"method": "centre_test", "equalize": False}
        spec = CropSpec("centre_test", params=(("fraction", 0.5),))
        assert spec.as_dict()["params"] == {"fraction": 0.5}
        with pytest.raises(OptionError, match="not a parameter of the centre_test cropper; it takes: fraction"):
            CropSpec("centre_test", params=(("side", 3),))
        cache = str(tmp_path / "c.h5")
        s = featurize(str(image_folder), backbones=[TINY], weights=["none"], cache=cache, **spec.as_options(), workers=0, progress=False,
                                      precision="fp32", compile="none")
        assert s.computed == 12 and list_keys(cache)[0]["crop"] == "centre_test"


def test_a_registered_backbone_family_loads_through_family_of():
    import torch

    from faceprobe.featurize.backbones.load import FAMILIES, BackboneFamily, LoadedBackbone, family_of, list_backbones, load_backbone
    from faceprobe.featurize.engine.transform import TransformSpec

    def load(name, weights, seed):
        model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        return LoadedBackbone(name, model.eval(), 3, TransformSpec(32, 32, (0.5,) * 3, (0.5,) * 3), {"sha256": "0" * 64, "seed": seed})

    family = BackboneFamily(lambda: ["meanpool_test"], load, lambda n: {"feature_dim": 3, "weights": "none needed"}, "test")
    FAMILIES.register("meanpool_family_test", family)
    try:
        assert family_of("meanpool_test") is family
        out = load_backbone("meanpool_test", "none").model(torch.ones(2, 3, 8, 8))
        assert out.shape == (2, 3)
        assert [r["family"] for r in list_backbones(["meanpool_test"])] == ["meanpool_family_test"]
    finally:
        FAMILIES.unregister("meanpool_family_test")


def test_a_registered_source_reader_feeds_featurize(image_folder: Path, tmp_path: Path):
    from faceprobe.featurize.pipeline import featurize
    from faceprobe.featurize.sources.read import SOURCE_READERS, ImageRef, Reader

    from .conftest import TINY

    listing = tmp_path / "faces.lst"
    files = sorted(str(p) for p in image_folder.rglob("*.png"))
    listing.write_text("\n".join(f"{p}\t{Path(p).parent.name}" for p in files))

    def read(source, options):
        return [ImageRef(path, label) for path, label in (line.split("\t") for line in Path(source).read_text().splitlines())]

    reader = Reader(lambda s: str(s).endswith(".lst"), read, priority=10, description="path<TAB>label lines")
    with SOURCE_READERS.replaced("tab_list_test", reader):
        s = featurize(str(listing), backbones=[TINY], weights=["none"], cache=str(tmp_path / "c.h5"), workers=0, progress=False,
                                      precision="fp32", compile="none")
    assert s.images == len(files) == 3 and s.computed == 3


def test_manifest_keeps_extra_columns_on_its_refs(tmp_path: Path):
    from faceprobe.featurize.sources.read import read_source

    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "m.csv").write_text("path,label,subject,view,intensity\na.jpg,pain,s1,front,3\n")
    table = read_source(tmp_path / "m.csv")
    assert table.reader == "manifest"
    assert table.entries[0].extra == {"view": "front", "intensity": "3"} and table.entries[0].subject == "s1"


def test_head_capabilities_drive_balance_and_streaming(tiny_cache):
    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.heads.registry import HEADS

    assert {n for n, h in HEADS.items() if h.streamed} == {"knn", "logreg"}
    assert {n for n, h in HEADS.items() if h.balance is None} == {"knn"}
    ds = load_dataset(str(tiny_cache), max_memory=1024)
    import faceprobe

    with pytest.raises(Exception, match="svm needs the feature matrix in memory.*heads that read it in blocks: knn, logreg"):
        faceprobe.evaluate(str(tiny_cache), head=["svm"], cv=3, max_memory="1K")
    assert not isinstance(ds.X, np.ndarray)
