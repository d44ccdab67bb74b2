"""The zoo of face networks (issue 25): download on first use from a local file server, the hash
recorded and checked, the offline message, the licence note, listings."""

from __future__ import annotations

import functools
import http.server
import json
import threading

import numpy as np
import pytest

from faceprobe.errors import OptionError
from faceprobe.featurize.backbones.zoo import ZOO, ZooEntry, fetch

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
    path = fetch("face/test_tiny", entry)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(OptionError, match="not the hash recorded at its first download"):
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


def test_the_zoo_lists_its_published_networks_with_licences(invoke):
    out = invoke("backbones", "face/*").output
    for name in ("face/enet_b0_8_best_afew", "face/enet_b2_8", "face/mobilevit_va_mtl", "face/ferplus"):
        assert name in out
    assert "Apache-2.0" in out and "MIT" in out
