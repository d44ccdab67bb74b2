"""Names of the geometry keys' columns, shared by featurize (which computes them) and classify and
reports (which explain them), importing neither torch nor MediaPipe."""

from __future__ import annotations

__all__ = ["BLENDSHAPES", "PSPI_BLENDSHAPES", "POSE_NAMES", "NAMED_COLUMNS"]

BLENDSHAPES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel", "mouthLeft",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
"""MediaPipe's 52 blendshapes in the model's order (left and right are the person's own)."""

PSPI_BLENDSHAPES = {
    "AU4 brow lowerer": ("browDownLeft", "browDownRight"),
    "AU6 cheek raiser / AU7 lid tightener": ("cheekSquintLeft", "cheekSquintRight", "eyeSquintLeft", "eyeSquintRight"),
    "AU9 nose wrinkler / AU10 upper lip raiser": ("noseSneerLeft", "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU43 eye closure": ("eyeBlinkLeft", "eyeBlinkRight"),
}
"""The blendshapes nearest to the action units of the Prkachin-Solomon pain intensity (PSPI =
AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43): a correspondence of meaning, not a calibration."""

POSE_NAMES = ("yaw_deg", "pitch_deg", "roll_deg", "tx_cm", "ty_cm", "tz_cm")

NAMED_COLUMNS = {"mediapipe/blendshapes": BLENDSHAPES, "mediapipe/pose": POSE_NAMES}
"""Backbone -> the names of its vector's columns, for keys whose columns mean something on their own."""
