"""How a featurize run computes: device and precision (``device.py``), cores and threads
(``cores.py``), the decode/crop dataset its workers run (``dataset.py``, ``transform.py``),
JPEG decoding on the device (``devdecode.py``), compiled graphs (``compile.py``) and the model
runner (``runner.py``)."""
