"""The golden model: the integer contract of ``docs/arithmetic.md``, vectorised in numpy.

This is what the RTL must match bit for bit. It reads only a :class:`~lwfc.bundle.Bundle`
and uint8 images; every value it computes is an exact integer (int64 containers).
"""

from __future__ import annotations

import numpy as np

from . import arith
from .bundle import Bundle, DenseLayer, Layer, LowRankLayer
from .errors import LwfcError


def as_pixels(images: np.ndarray, features: int = 784) -> np.ndarray:
    """Check and flatten images to ``uint8 (N, features)``.

    Accepts ``(N, features)``, ``(N, 28, 28)`` or one image ``(features,)`` / ``(28, 28)``.

    Raises:
        LwfcError: for a wrong dtype or shape.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise LwfcError(f"images must be uint8 pixels 0 ... 255, got dtype {arr.dtype}")
    if arr.ndim >= 2 and int(np.prod(arr.shape[-2:])) == features and arr.shape[-1] != features:
        arr = arr.reshape(*arr.shape[:-2], features)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != features:
        raise LwfcError(f"images must have shape (N, {features}) or (N, 28, 28), got {arr.shape}")
    return arr


def layer_forward(layer: Layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Run one layer on ``x`` (int64 (N, in)); return ``(output, latent)``.

    ``output`` is uint8-valued for hidden layers and the int32-valued accumulator (logits) for
    the last; ``latent`` is the int8-valued low-rank intermediate ``z`` (None for dense layers).
    """
    latent = None
    if isinstance(layer, DenseLayer):
        acc = arith.matmul_exact(x, layer.weight)
    elif isinstance(layer, LowRankLayer):
        zacc = arith.matmul_exact(x, layer.u)
        latent = arith.clamp_i8(arith.requantize(zacc, layer.u_multiplier, layer.u_shift))
        acc = arith.matmul_exact(latent, layer.v)
    else:  # pragma: no cover - validated bundles hold only these kinds
        raise TypeError(f"unknown layer type {type(layer).__name__}")
    acc = acc + layer.bias.astype(np.int64)
    if layer.relu:
        return arith.relu_u8(arith.requantize(acc, layer.multiplier, layer.shift)), latent
    return acc, latent


def layer_outputs(bundle: Bundle, images: np.ndarray) -> list[np.ndarray]:
    """Every stage's output, in order: for a low-rank layer its latent ``z`` then its output.

    All arrays are int64 ``(N, features)``; the last one is the logits.
    """
    x = as_pixels(images, bundle.in_features).astype(np.int64)
    outputs = []
    for layer in bundle.layers:
        x, latent = layer_forward(layer, x)
        if latent is not None:
            outputs.append(latent)
        outputs.append(x)
    return outputs


def forward(bundle: Bundle, images: np.ndarray, batch: int = 10_000) -> np.ndarray:
    """Logits, int64 ``(N, classes)`` with int32 values, for uint8 images."""
    x = as_pixels(images, bundle.in_features)
    chunks = []
    for start in range(0, len(x), batch):
        h = x[start : start + batch].astype(np.int64)
        for layer in bundle.layers:
            h, _ = layer_forward(layer, h)
        chunks.append(h)
    if not chunks:
        return np.zeros((0, bundle.classes), dtype=np.int64)
    return np.concatenate(chunks)


def predict(bundle: Bundle, images: np.ndarray) -> np.ndarray:
    """Predicted classes, int64 ``(N,)``; ties go to the lowest index."""
    return np.argmax(forward(bundle, images), axis=1).astype(np.int64)


def accuracy(bundle: Bundle, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose predicted class equals ``labels``."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise LwfcError("accuracy needs at least one image")
    return float(np.mean(predict(bundle, images) == labels.astype(np.int64)))
