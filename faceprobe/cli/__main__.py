"""``python -m faceprobe.cli`` (and ``torchrun -m faceprobe.cli``)."""

from .main import main

main()
