"""The face's geometry as vectors, from what MediaPipe's Face Landmarker measured
(:class:`~faceprobe.featurize.faces.landmarker.FaceMeasure`): pure numpy, no MediaPipe needed.

- **landmarks**: the 478 points after a weighted similarity Procrustes fit onto MediaPipe's
  canonical face (its 468-vertex mesh, in centimetres, read from the model file), using the 33
  landmarks and weights MediaPipe itself uses to fit the head pose (points that expressions
  hardly move: forehead, nose bridge, temples). The fit removes position, scale and rotation in
  3-D (in-plane and head turns), so what is left is the face's shape and its expression; the
  head pose is its own key. 1,434 numbers (x, y, z of each point, in canonical centimetres).
- **distances**: the distances between 26 points of brows, eyes, nose, mouth, cheeks and chin
  after that fit (325 numbers): scale-free measures of how far brows are raised, eyes opened,
  the mouth stretched.
- **blendshapes**: MediaPipe's 52 scores (:data:`BLENDSHAPES`, action-unit-like activations).
- **pose**: yaw, pitch and roll in degrees and the translation in centimetres, from MediaPipe's
  facial transformation matrix (a perspective camera of MediaPipe's default field of view).
"""

from __future__ import annotations

import functools
import struct
import zipfile

import numpy as np

from ...facial_actions import BLENDSHAPES, POSE_NAMES, PSPI_BLENDSHAPES  # noqa: F401  (re-exported)

__all__ = ["BLENDSHAPES", "DISTANCE_POINTS", "POSE_NAMES", "canonical_face", "procrustes_landmarks", "pose_vector",
           "distance_vector", "PSPI_BLENDSHAPES"]

DISTANCE_POINTS = (
    70, 105, 107, 336, 334, 300,  # brows: outer, middle, inner (each side)
    33, 133, 159, 145, 362, 263, 386, 374,  # eyes: corners, upper and lower lid
    1, 98, 327,  # nose tip and wings
    61, 291, 0, 13, 14, 17,  # mouth: corners, outer and inner lips
    152, 50, 280,  # chin, cheeks
)
"""Mesh points whose pairwise distances form the ``distances`` vector (26 points, 325 distances)."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes):
    """(field number, value) of a protobuf message (varints, 32-bit floats, length-delimited bytes)."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = struct.unpack("<f", data[i:i + 4])[0], i + 4
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


@functools.lru_cache(maxsize=4)
def canonical_face(model_file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's canonical face from the model file: ``(vertices (468, 3) in cm, basis ids,
    basis weights)``, the mesh and the weighted landmarks its pose fit uses.

    Read from ``geometry_pipeline_metadata_landmarks.binarypb`` inside the ``.task`` file
    (GeometryPipelineMetadata: field 1 the mesh, whose field 3 is the vertex buffer of x, y, z,
    u, v per vertex; field 2 the repeated (landmark id, weight) of the Procrustes basis).
    """
    with zipfile.ZipFile(model_file) as archive:
        data = archive.read("geometry_pipeline_metadata_landmarks.binarypb")
    mesh, basis = b"", []
    for number, value in _fields(data):
        if number == 1:
            mesh = value
        elif number == 2:
            ref = dict(_fields(value))
            basis.append((int(ref.get(1, 0)), float(ref.get(2, 0.0))))
    buffer = np.array([v for n, v in _fields(mesh) if n == 3], dtype=np.float64)
    vertices = buffer.reshape(-1, 5)[:, :3]
    ids = np.array([b[0] for b in basis], dtype=np.int64)
    weights = np.array([b[1] for b in basis], dtype=np.float64)
    return vertices, ids, weights


def _to_model_axes(points: np.ndarray) -> np.ndarray:
    """Image axes (x right, y down, z away) -> the canonical face's (x right, y up, z towards the camera)."""
    return points * np.array([1.0, -1.0, -1.0])


def procrustes_landmarks(landmarks: np.ndarray, canonical: tuple) -> np.ndarray:
    """All landmarks moved by the weighted similarity transform (rotation, uniform scale,
    translation; no reflection) that best fits the basis landmarks onto the canonical face.

    Parameters
    ----------
    landmarks : ndarray of shape (478, 3)
        In image pixels (:class:`~faceprobe.featurize.faces.landmarker.FaceMeasure`).
    canonical : tuple
        :func:`canonical_face`'s result.

    Returns
    -------
    ndarray of shape (478, 3)
        In the canonical face's centimetres and axes.
    """
    vertices, ids, weights = canonical
    src = _to_model_axes(landmarks)
    p, q, w = src[ids], vertices[ids], weights / weights.sum()
    mu_p, mu_q = w @ p, w @ q
    pc, qc = p - mu_p, q - mu_q
    u, s, vt = np.linalg.svd((pc * w[:, None]).T @ qc)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag(d) @ u.T
    scale = float((s * d).sum() / (w @ (pc ** 2).sum(1)))
    return scale * (src - mu_p) @ rotation.T + mu_q


def distance_vector(aligned: np.ndarray) -> np.ndarray:
    """Pairwise distances between :data:`DISTANCE_POINTS` of aligned landmarks (upper triangle, row order)."""
    pts = aligned[list(DISTANCE_POINTS)]
    i, j = np.triu_indices(len(pts), 1)
    return np.linalg.norm(pts[i] - pts[j], axis=1)


def pose_vector(matrix: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll (degrees) and translation (cm) of a facial transformation matrix.

    The rotation is taken as R = Rz(roll) Ry(yaw) Rx(pitch) (its nearest rotation, should the
    matrix hold a scale): yaw turns the head left and right, pitch nods, roll tilts.
    """
    u, _, vt = np.linalg.svd(matrix[:3, :3])
    r = u @ vt
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return np.array([yaw, pitch, roll, *matrix[:3, 3]], dtype=np.float64)
