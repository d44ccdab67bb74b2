"""faceprobe: frozen-CNN features for facial expression and pain recognition, evaluated without leaks."""

__version__ = "0.1.0"
