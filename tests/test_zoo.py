"""The zoo of face networks (issue 25): download on first use from a local file server, the hash
recorded and checked, the offline message, the licence note, listings."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading

import numpy as np
import pytest

from faceprobe.errors import OptionError
from faceprobe.featurize.backbones.zoo import ZOO, ZooEntry, fetch, record_pin

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture
def served(tmp_path):
    """A tiny ONNX network served over HTTP on 127.0.0.1, registered as ``face/test_tiny``."""
    import torch

    site = tmp_path / "site"
    site.mkdir()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    torch.onnx.export(net, torch.zeros(1, 1, 32, 32), str(site / "tiny.onnx"), input_names=["x"], output_names=["features"],
                      dynamic_axes={"x": {0: "n"}, "features": {0: "n"}}, dynamo=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    entry = ZooEntry(f"http://127.0.0.1:{server.server_address[1]}/tiny.onnx", "tiny.onnx", "CC-BY-NC-4.0",
                     {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "channels": "grey"}, "nothing (a test)",
                     restricts="non-commercial use only")
    ZOO.register("face/test_tiny", entry)
    yield entry, server, site
    ZOO.unregister("face/test_tiny")
    server.shutdown()


def test_a_zoo_network_downloads_once_records_its_hash_and_says_its_licence(served, image_folder, tmp_path, invoke, monkeypatch):
    entry, server, site = served
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    first = invoke("featurize", image_folder, "-b", "face/test_tiny", "-c", tmp_path / "c.h5", "-q", "--workers", 0)
    assert first.exit_code == 1 and first.output.count("\n") == 1, first.output  # the licence, before the first download
    assert "--backbone face/test_tiny: licensed CC-BY-NC-4.0: non-commercial use only; to use it, accept that with " \
           "--accept-licence face/test_tiny" in first.output and not (tmp_path / "home" / "zoo" / "tiny.onnx").exists()
    r = invoke("featurize", image_folder, "-b", "face/test_tiny", "-c", tmp_path / "c.h5", "-q", "--workers", 0,
               "--accept-licence", "face/test_tiny")
    assert r.exit_code == 0, r.output
    assert "note: face/test_tiny: licence CC-BY-NC-4.0: non-commercial use only" in r.output
    stored = tmp_path / "home" / "zoo" / "tiny.onnx"
    pins = json.loads((tmp_path / "home" / "zoo" / "pins.json").read_text())
    assert stored.read_bytes() == (site / "tiny.onnx").read_bytes() and len(pins["tiny.onnx"]) == 64
    listed = invoke("backbones", "face/test_tiny").output
    assert "downloaded (CC-BY-NC-4.0; trained on nothing (a test))" in listed
    server.shutdown()  # offline from here on: the kept file serves
    r = invoke("featurize", image_folder, "-b", "face/test_tiny", "-c", tmp_path / "d.h5", "-q", "--workers", 0)
    assert r.exit_code == 0, r.output
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import list_keys

    (key,) = [k["key"] for k in list_keys(str(tmp_path / "c.h5"))]
    a, b = (read_features(str(tmp_path / c), key) for c in ("c.h5", "d.h5"))
    np.testing.assert_array_equal(a.vectors[np.argsort(a.sha256)], b.vectors[np.argsort(b.sha256)])


def test_a_changed_file_is_refused_and_offline_the_message_names_url_and_path(served, tmp_path, monkeypatch):
    entry, server, site = served
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    path, to_pin = fetch("face/test_tiny", entry)
    assert to_pin is not None and not (tmp_path / "home" / "zoo" / "pins.json").exists()  # pinned only once it loads
    record_pin(entry, to_pin)
    assert fetch("face/test_tiny", entry) == (path, None)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(OptionError, match="not the hash recorded when it first loaded"):
        fetch("face/test_tiny", entry)
    pinned = ZooEntry(entry.url, "other.onnx", entry.licence, entry.preprocessing, sha256="0" * 64)
    with pytest.raises(OptionError, match="not the publisher's pin 000000000000"):
        fetch("face/test_tiny", pinned)
    server.shutdown()
    server.server_close()
    gone = ZooEntry(entry.url, "gone.onnx", entry.licence, entry.preprocessing)
    with pytest.raises(OptionError) as e:
        fetch("face/test_tiny", gone)
    where = str(tmp_path / "home" / "zoo" / "gone.onnx")
    assert f"cannot download {entry.url}" in str(e.value) and f"place it at {where}" in str(e.value)
    assert not (tmp_path / "home" / "zoo" / "gone.onnx.part").exists()


def test_a_wrong_file_at_the_zoo_path_is_never_pinned_and_deleting_it_lets_the_right_one_in(served, image_folder, tmp_path, invoke,
                                                                                              monkeypatch):
    entry, server, site = served
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    zoo = tmp_path / "home" / "zoo"
    zoo.mkdir(parents=True)
    (zoo / "tiny.onnx").write_bytes(b"<html>a login page saved by hand, not the network</html>")
    args = ("featurize", image_folder, "-b", "face/test_tiny", "-q", "--workers", 0, "--accept-licence", "face/test_tiny")
    r = invoke(*args, "-c", tmp_path / "c.h5")
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert f"{zoo / 'tiny.onnx'} does not load as its onnx network" in r.output and "delete it to download it again" in r.output
    assert not (zoo / "pins.json").exists() or "tiny.onnx" not in json.loads((zoo / "pins.json").read_text())
    (zoo / "tiny.onnx").unlink()  # what the message says to do
    r = invoke(*args, "-c", tmp_path / "c.h5")
    assert r.exit_code == 0, r.output
    assert json.loads((zoo / "pins.json").read_text())["tiny.onnx"] == hashlib.sha256((site / "tiny.onnx").read_bytes()).hexdigest()


def test_a_pin_recorded_for_a_deleted_file_is_forgotten_with_it(served, tmp_path, monkeypatch):
    entry, server, site = served
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    zoo = tmp_path / "home" / "zoo"
    zoo.mkdir(parents=True)
    (zoo / "pins.json").write_text(json.dumps({"tiny.onnx": "f" * 64}))  # recorded for a wrong file by an older faceprobe
    path, to_pin = fetch("face/test_tiny", entry)  # the file is not there: downloaded, checked again before it is pinned
    assert to_pin == hashlib.sha256((site / "tiny.onnx").read_bytes()).hexdigest()
    assert "tiny.onnx" not in json.loads((zoo / "pins.json").read_text())


def test_the_zoo_lists_its_published_networks_with_licences(invoke):
    out = invoke("backbones", "face/*").output
    for name in ("face/enet_b0_8_best_afew", "face/enet_b2_8", "face/mobilevit_va_mtl", "face/ferplus"):
        assert name in out
    assert "Apache-2.0" in out and "MIT" in out


@pytest.fixture
def served_facenet(tmp_path):
    """FaceNet's architecture with random weights and 5 identity logits, served as a state-dict file."""
    import torch

    from faceprobe.featurize.backbones.facenet import inception_resnet_v1

    site = tmp_path / "site"
    site.mkdir()
    torch.manual_seed(0)
    torch.save(inception_resnet_v1(5).state_dict(), site / "facenet.pt")
    torch.save({"conv.weight": torch.zeros(1)}, site / "other.pt")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    real = ZOO.get("face/facenet_vggface2")
    for name, file in (("face/test_facenet", "facenet.pt"), ("face/test_other", "other.pt")):
        ZOO.register(name, ZooEntry(url + file, file, "MIT", dict(real.preprocessing), "nothing (a test)",
                                    architecture="inception_resnet_v1"))
    yield site
    for name in ("face/test_facenet", "face/test_other"):
        ZOO.unregister(name)
    server.shutdown()


def _direct_embeddings(folder, state_file, size=160):
    """The module applied by hand: RGB, resized to 160 (bilinear, Pillow), FaceNet's standardisation."""
    import torch
    from PIL import Image

    from faceprobe.featurize.backbones.facenet import inception_resnet_v1

    model = inception_resnet_v1(5).eval()
    model.load_state_dict(torch.load(state_file, weights_only=True))
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR), np.float32) for p in paths])
    x = torch.from_numpy((pixels - 127.5) / 128).permute(0, 3, 1, 2)
    with torch.no_grad():
        return {hashlib.sha256(p.read_bytes()).hexdigest(): v for p, v in zip(paths, model(x).numpy())}


def test_the_facenet_entry_loads_its_state_dict_and_gives_normalised_embeddings_and_layers(
        served_facenet, image_folder, tmp_path, invoke, monkeypatch):
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    cache = tmp_path / "c.h5"
    r = invoke("featurize", image_folder, "-b", "face/test_facenet", "-b", "face/test_facenet@logits", "-b",
               "face/test_facenet@repeat_1", "-c", cache, "-q", "--workers", 0, "--precision", "fp32", "--compile", "none")
    assert r.exit_code == 0, r.output
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import list_keys

    got = {k["key"].split("|")[0] if "|" in k["key"] else k["key"]: read_features(str(cache), k["key"]) for k in list_keys(str(cache))}
    by_layer = {("logits" if "@logits" in k else "repeat_1" if "@repeat_1" in k else "embedding"): v for k, v in got.items()}
    emb, logits, stage = by_layer["embedding"], by_layer["logits"], by_layer["repeat_1"]
    assert emb.vectors.shape[1] == 512 and logits.vectors.shape[1] == 5 and stage.vectors.shape[1] == 256
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    direct = _direct_embeddings(image_folder, served_facenet / "facenet.pt")
    assert set(emb.sha256) == set(direct)  # images are keyed by the sha256 of their bytes
    cos = [float(np.dot(v, direct[h])) for v, h in zip(emb.vectors, emb.sha256)]
    assert min(cos) > 0.999, cos


def test_a_file_that_is_not_facenet_is_refused_in_one_line(served_facenet, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    from faceprobe.featurize.backbones import load_backbone

    with pytest.raises(OptionError, match="does not hold FaceNet's Inception-ResNet-v1 weights"):
        load_backbone("face/test_other")


def test_the_facenet_entry_asks_for_its_licence_and_offline_names_the_url(invoke, image_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    entry = ZOO.get("face/facenet_vggface2")
    r = invoke("featurize", image_folder, "-b", "face/facenet_vggface2", "-c", tmp_path / "c.h5", "-q")
    assert r.exit_code == 1 and "non-commercial research" in r.output and "--accept-licence face/facenet_vggface2" in r.output
    assert entry.url.startswith("https://github.com/timesler/facenet-pytorch/releases/")
