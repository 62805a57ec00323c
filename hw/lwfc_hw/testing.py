"""Random and extreme bundles for testing the RTL against the golden model."""

from __future__ import annotations

import numpy as np

from .plan import LayerShape

#: Kinds of weight patterns :func:`random_bundle` can draw.
PATTERNS = ("random", "max", "min", "zero_rows", "sparse", "alternating")


def _weights(rng: np.random.Generator, shape: tuple[int, int], pattern: str) -> np.ndarray:
    if pattern == "max":
        w = np.full(shape, 127)
    elif pattern == "min":
        w = np.full(shape, -127)
    elif pattern == "alternating":
        w = np.where((np.arange(shape[1])[None, :] + np.arange(shape[0])[:, None]) % 2, 127, -127)
    else:
        w = rng.integers(-127, 128, size=shape)
        if pattern == "zero_rows":
            w[rng.random(shape[0]) < 0.4] = 0
        elif pattern == "sparse":
            w[rng.random(shape) < 0.8] = 0
    return w.astype(np.int8)


def _requant(rng: np.random.Generator, n: int, extreme: bool) -> tuple[np.ndarray, np.ndarray]:
    if extreme:
        mult = rng.choice([0, 1, 2**14, 2**15 - 1], size=n)
        shift = rng.choice([1, 2, 20, 39, 40], size=n)
    else:
        mult = rng.integers(2**14, 2**15, size=n)
        shift = rng.integers(14, 30, size=n)
    return mult.astype(np.int32), shift.astype(np.int32)


def random_bundle(
    shapes: list[LayerShape], seed: int, pattern: str = "random", extreme_requant: bool = False
):
    """A valid :class:`lwfc.bundle.Bundle` with the given layer shapes and random integers.

    ``pattern`` chooses the weights (see :data:`PATTERNS`); ``extreme_requant`` draws
    multipliers / shifts from the ends of their ranges and biases at +-(2**23 - 1).
    """
    from lwfc.bundle import Bundle, DenseLayer, LowRankLayer

    rng = np.random.default_rng(seed)
    layers = []
    for i, s in enumerate(shapes):
        hidden = i < len(shapes) - 1
        if extreme_requant:
            bias = rng.choice([-(2**23 - 1), 0, 2**23 - 1, 1, -1], size=s.n_out)
        else:
            bias = rng.integers(-5000, 5000, size=s.n_out)
        bias = bias.astype(np.int32)
        mult, shift = _requant(rng, s.n_out, extreme_requant) if hidden else (None, None)
        if s.kind == "dense":
            layers.append(
                DenseLayer(
                    name=s.name,
                    weight=_weights(rng, (s.n_out, s.n_in), pattern),
                    bias=bias,
                    multiplier=mult,
                    shift=shift,
                    weight_scale=np.ones(s.n_out, dtype=np.float32),
                    input_scale=1.0,
                    output_scale=1.0 if hidden else None,
                )
            )
        else:
            um, us = _requant(rng, s.rank, extreme_requant)
            layers.append(
                LowRankLayer(
                    name=s.name,
                    u=_weights(rng, (s.rank, s.n_in), pattern),
                    v=_weights(rng, (s.n_out, s.rank), pattern),
                    u_multiplier=um,
                    u_shift=us,
                    bias=bias,
                    multiplier=mult,
                    shift=shift,
                    u_scale=np.ones(s.rank, dtype=np.float32),
                    v_scale=np.ones(s.n_out, dtype=np.float32),
                    input_scale=1.0,
                    latent_scale=1.0,
                    output_scale=1.0 if hidden else None,
                )
            )
    return Bundle(layers=layers, name=f"random-{seed}-{pattern}")


def random_images(n: int, features: int, seed: int, pattern: str = "random") -> np.ndarray:
    """uint8 images: ``random``, ``max`` (all 255), ``zero``, or ``mixed`` (some of each)."""
    rng = np.random.default_rng(seed)
    if pattern == "max":
        return np.full((n, features), 255, dtype=np.uint8)
    if pattern == "zero":
        return np.zeros((n, features), dtype=np.uint8)
    imgs = rng.integers(0, 256, size=(n, features)).astype(np.uint8)
    if pattern == "mixed":
        imgs[0::4] = 255
        imgs[1::4] = 0
        imgs[2::4] = rng.choice([0, 255], size=imgs[2::4].shape)
    return imgs
