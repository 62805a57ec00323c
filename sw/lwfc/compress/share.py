"""Low-bit and shared weights per layer: int8 / int4 / ternary codes, K-means and sigma-rule
codebooks (Deep Compression's weight sharing; seed 003's statistics-based quantization).

A *mode* names what a dense layer's weights become (contract v2, ``docs/arithmetic.md``):

==============  ==========================================================================
``int8``        the default: codes -127 ... 127, one step per row (per tensor in the last)
``int4``        codes -7 ... 7, one step per row (per tensor in the last)
``ternary``     codes -1, 0, 1 times a per-row step (TWN: threshold 0.7 mean|w|)
``kmeans:K``    K shared values per layer from scikit-learn's KMeans (linear initialisation
                over [min, max], Deep Compression's best), one int8 grid per layer
``sigma:K``     K shared values from the layer's statistics, no iterations (seed 003): the
                range mean +- 3 std split into K equal bins, each represented by its centre
==============  ==========================================================================

Only the kept (unpruned) weights are clustered; pruned weights stay exact zeros. Modes are
applied layer by layer in order (:func:`apply`), so that fine-tuning between layers lets the
later layers adapt to the earlier ones' quantization (seed 003).
"""

from __future__ import annotations

import numpy as np

from ..errors import LwfcError

#: Mode names without their codebook size.
MODES = ("int8", "int4", "ternary", "kmeans", "sigma")


def parse_mode(mode: str) -> tuple[str, int]:
    """``"kmeans:16"`` -> ``("kmeans", 16)``; ``"int4"`` -> ``("int4", 0)``.

    Raises:
        LwfcError: unknown mode, or a codebook size that is not 2 ... 256.
    """
    name, _, k = str(mode).partition(":")
    if name not in MODES:
        raise LwfcError(f"weights: unknown mode {mode!r} (int8, int4, ternary, kmeans:K, sigma:K)")
    if name in ("kmeans", "sigma"):
        try:
            size = int(k)
        except ValueError:
            raise LwfcError(f"weights: {mode!r} needs a codebook size, e.g. {name}:16") from None
        if not 2 <= size <= 256:
            raise LwfcError(f"weights: codebook size must be 2 ... 256, got {size}")
        return name, size
    if k:
        raise LwfcError(f"weights: {name} takes no size, got {mode!r}")
    return name, 0


def parse_plan(
    spec: str, dense: list[str], layers: list[str] | None = None
) -> list[tuple[str, str]]:
    """The weight step's ``(layer, mode)`` pairs, in layer order.

    ``spec`` is one mode for ``layers`` (default: every layer of ``dense``, the network's
    dense layers in order), or per-layer modes ``"fc1=ternary,fc2=int4"`` (then ``layers``
    must be None).

    Raises:
        LwfcError: an unknown mode or layer, a layer named twice, or both forms at once.
    """
    if "=" not in spec:
        parse_mode(spec)
        names = layers or dense
        for name in names:
            if name not in dense:
                raise LwfcError(f"weights: {name!r} is not a dense layer of {dense}")
        return [(name, spec) for name in names]
    if layers:
        raise LwfcError("weights: per-layer modes (LAYER=MODE,...) and --weight-layers together")
    modes: dict[str, str] = {}
    for item in spec.split(","):
        name, eq, mode = item.partition("=")
        name, mode = name.strip(), mode.strip()
        if not eq or not name or not mode:
            raise LwfcError(f"weights: {item!r} is not LAYER=MODE")
        if name not in dense:
            raise LwfcError(f"weights: {name!r} is not a dense layer of {dense}")
        if name in modes:
            raise LwfcError(f"weights: layer {name!r} named twice")
        parse_mode(mode)
        modes[name] = mode
    return [(name, modes[name]) for name in dense if name in modes]


def kmeans_codebook(values: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` shared values for 1-D ``values`` by K-means (linear init, scikit-learn)."""
    from sklearn.cluster import KMeans

    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    k = min(k, len(np.unique(v)))
    init = np.linspace(v.min(), v.max(), k).reshape(-1, 1)
    km = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed, max_iter=100)
    km.fit(v)
    return np.sort(km.cluster_centers_.reshape(-1))


def sigma_codebook(values: np.ndarray, k: int) -> np.ndarray:
    """``k`` shared values from statistics: centres of ``k`` equal bins over mean +- 3 std."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    mu, sd = float(v.mean()), float(v.std())
    edges = np.linspace(mu - 3 * sd, mu + 3 * sd, k + 1)
    return (edges[:-1] + edges[1:]) / 2


def apply_layer(layer: object, mode: str, learn: bool = True, seed: int = 0) -> None:
    """Put one :class:`~lwfc.qat.QDense` into ``mode`` (in place)."""
    import torch

    from ..qat import QDense

    if not isinstance(layer, QDense):
        raise LwfcError("weights: low-bit and shared weights apply to dense layers only")
    name, k = parse_mode(mode)
    layer.bits = {"int8": 8, "int4": 4, "ternary": 2}.get(name, 8)
    if name in ("kmeans", "sigma"):
        w = layer.matrix().detach().double().numpy()
        mask = getattr(layer, "weight_mask", None)
        kept = w[mask.numpy() != 0] if mask is not None else w.reshape(-1)
        if kept.size == 0:
            raise LwfcError("weights: the layer has no weights left to share")
        values = kmeans_codebook(kept, k, seed) if name == "kmeans" else sigma_codebook(kept, k)
        layer.share(torch.tensor(values), learn=learn)
