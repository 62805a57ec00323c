"""Low-rank approximation (LRA) of a layer by truncated SVD, and LRA-learn (paper eq. 3-10).

Conventions. A torch/bundle weight ``W`` is ``(out, in)`` and a layer computes ``y = W x + b``.
The paper writes the matrix the other way round (``m x n`` = in x out, ``x W``); its first factor
``U`` (the DCL, dimension compression) meets the input first. With ``W = P S Q^T`` (numpy's SVD
of our ``(out, in)`` matrix) the two conventions give the same factors::

    u = sqrt(S_r) Q_r^T     (rank, in)    = paper's U_r sqrt(S_r), transposed   (eq. 8)
    v = P_r sqrt(S_r)       (out, rank)   = paper's sqrt(S_r) V_r^T, transposed (eq. 9)
    W ~ v @ u               (out, in)     y = v (u x) + b

These are the bundle's ``u`` (DCL) and ``v`` (DIL). Folding ``sqrt(S)`` into both factors
balances their ranges so that neither rounds to zero on an int8 grid.

Rank and compression rate (``m = out``, ``n = in``; symmetric in ``m`` and ``n``)::

    pays off iff  m*r + r*n < m*n                            (eq. 5)
    R_comp = 1 - (m*r + r*n) / (m*n)                          (eq. 6)
    r      = floor((1 - R_comp) * m * n / (m + n))            (eq. 7)

Quantized factors (eq. 8-9, ``Hq`` = round to the integer grid): here the grid is the bundle's,
per row symmetric int8 (``max|row| / 127``); the last layer's ``v`` shares one scale. The
functions below return the *dequantized* grid values (floats exactly representable in the
bundle), so that the float and the integer model see the same weights.

LRA-learn (eq. 10): two bias-free linear layers ``F_U`` (in -> rank), ``F_V`` (rank -> out), no
activation between them, initialised from the quantized factors and trained with
``MSE(F_V(F_U(I)), W^T)`` on the identity input ``I`` (in x in): the product ``(v u)^T`` is
fitted to the weight directly. With ``quantized=True`` (default) both factors pass through the
int8 fake quantizer in the forward pass (straight-through gradient), so what is fitted is what
the bundle stores. ``fit="data"`` is an extension: it fits ``v u x`` to ``W x`` on real layer
inputs ``x`` instead of the identity, i.e. it weights the error by the input statistics.
"""

from __future__ import annotations

import math

import numpy as np

from .. import arith
from ..errors import LwfcError


# ------------------------------------------------------------------------- rank arithmetic
def pays_off(out_features: int, in_features: int, rank: int) -> bool:
    """Eq. 5: the factors store fewer weights than the matrix, ``m*r + r*n < m*n``."""
    return out_features * rank + rank * in_features < out_features * in_features


def rcomp_for_rank(out_features: int, in_features: int, rank: int) -> float:
    """Eq. 6: compression rate ``1 - r (m + n) / (m n)`` of a rank-``r`` factorisation."""
    m, n = out_features, in_features
    return 1.0 - rank * (m + n) / (m * n)


def rank_for_rcomp(out_features: int, in_features: int, r_comp: float) -> int:
    """Eq. 7: the largest rank whose compression rate is at least ``r_comp``.

    ``r = floor((1 - R_comp) * m * n / (m + n))``, computed in exact rational arithmetic (the
    float product can land a hair below an integer and floor one too low).

    Raises:
        LwfcError: if ``r_comp`` is outside (0, 1) or the rank would be 0.
    """
    if not 0.0 < r_comp < 1.0:
        raise LwfcError(f"R_comp must lie strictly between 0 and 1, got {r_comp}")
    from fractions import Fraction

    m, n = out_features, in_features
    keep = 1 - Fraction(str(r_comp))
    rank = math.floor(keep * m * n / (m + n))
    if rank < 1:
        raise LwfcError(
            f"R_comp {r_comp} leaves rank 0 for a {m}x{n} layer (max R_comp "
            f"{rcomp_for_rank(m, n, 1):.4f})"
        )
    return int(min(rank, min(m, n)))


# ----------------------------------------------------------------------------- SVD factors
def svd_factors(weight: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncated SVD with ``sqrt(S)`` folded into both factors (eq. 3-4, 8-9, unrounded).

    Args:
        weight: float ``(out, in)``.
        rank: ``1 <= rank <= min(out, in)``.

    Returns:
        ``(u, v)``: float64 ``u`` ``(rank, in)``, ``v`` ``(out, rank)``, ``v @ u ~ weight``
        (the best rank-``rank`` approximation in Frobenius norm).
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise LwfcError(f"weight must be a matrix (out, in), got shape {w.shape}")
    if not 1 <= rank <= min(w.shape):
        raise LwfcError(f"rank must lie in 1 ... {min(w.shape)} for a {w.shape} matrix, got {rank}")
    p, s, qt = np.linalg.svd(w, full_matrices=False)
    root = np.sqrt(s[:rank])
    u = root[:, None] * qt[:rank]
    v = p[:, :rank] * root[None, :]
    # Make the sign deterministic (SVD vectors are defined up to sign): largest |u| entry > 0.
    idx = np.argmax(np.abs(u), axis=1)
    sign = np.sign(u[np.arange(rank), idx])
    sign[sign == 0] = 1.0
    return u * sign[:, None], v * sign[None, :]


def grid_quantize(matrix: np.ndarray, per_row: bool = True) -> np.ndarray:
    """``Hq``: round onto the symmetric int8 grid of the bundle and return the grid values.

    Per row (or one scale for the whole matrix): ``s = max|row| / 127``,
    ``s * clamp(round_half_even(w / s), -127, 127)``; all-zero rows stay zero. Float64, same
    shape as ``matrix``.
    """
    w = np.asarray(matrix, dtype=np.float64)
    if per_row:
        scale = np.abs(w).max(axis=1, keepdims=True) / arith.WEIGHT_MAX
    else:
        scale = np.full((w.shape[0], 1), np.abs(w).max(initial=0.0) / arith.WEIGHT_MAX)
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(w / safe), -arith.WEIGHT_MAX, arith.WEIGHT_MAX)
    return q * np.where(scale > 0, scale, 0.0)


GRIDS = ("int8", "paper")


def paper_units(weight: np.ndarray, last: bool = False) -> np.ndarray:
    """The integer scale of the QAT weights: ``s_w`` per row (per tensor if ``last``), ``(out, 1)``.

    All-zero rows get 1.
    """
    w = np.abs(np.asarray(weight, dtype=np.float64))
    s = w.max(axis=1) if not last else np.full(w.shape[0], w.max(initial=0.0))
    s = s / arith.WEIGHT_MAX
    return np.where(s > 0, s, 1.0)[:, None]


def paper_quantize(
    u: np.ndarray, v: np.ndarray, units: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's ``Hq`` on the scale of ``W``: ``u`` to integers, ``v`` to ``s_w * int``."""
    lim = arith.WEIGHT_MAX
    uq = np.clip(np.rint(np.asarray(u, dtype=np.float64)), -lim, lim)
    vq = np.clip(np.rint(np.asarray(v, dtype=np.float64) / units), -lim, lim) * units
    return uq, vq


def quantized_factors(
    weight: np.ndarray, rank: int, last: bool = False, grid: str = "int8"
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 8-9: ``U_hat = Hq(U_r sqrt(S_r))``, ``V_hat = Hq(sqrt(S_r) V_r^T)``.

    ``grid="int8"`` (default): ``Hq`` rounds onto the bundle's own grid, ``u`` per latent row,
    ``v`` per output row (per tensor on the ``last`` layer, whose logits share one scale): the
    full 8-bit resolution of every factor row.

    ``grid="paper"``: the paper's reading: the SVD is taken of the integer QAT weights
    ``W_int = W / s_w`` and its factors are rounded to integers (``Hq`` = round to nearest
    integer), so that ``v_int @ u_int ~ W_int``; in real units ``u = u_int``,
    ``v = s_w * v_int``. The factors then hold only a few integer levels (``|u| ~ 1 ... 10``):
    much coarser, which is what LRA-learn repairs in the paper.

    Returns float64 ``u`` (rank, in), ``v`` (out, rank) with ``v @ u ~ weight``.
    """
    if grid not in GRIDS:
        raise LwfcError(f"grid must be one of {GRIDS}, got {grid!r}")
    if grid == "paper":
        units = paper_units(weight, last)
        u_int, v_int = svd_factors(np.rint(np.asarray(weight) / units), rank)
        return paper_quantize(u_int, v_int * units, units)
    u, v = svd_factors(weight, rank)
    return grid_quantize(u, per_row=True), grid_quantize(v, per_row=not last)


def approximation_error(weight: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """Relative Frobenius error ``||W - v u|| / ||W||``."""
    w = np.asarray(weight, dtype=np.float64)
    norm = float(np.linalg.norm(w))
    return float(np.linalg.norm(w - np.asarray(v) @ np.asarray(u))) / (norm or 1.0)


# ------------------------------------------------------------------------------ LRA-learn
def lra_learn(
    weight: np.ndarray,
    u0: np.ndarray,
    v0: np.ndarray,
    *,
    steps: int = 300,
    lr: float = 0.01,
    last: bool = False,
    quantized: bool = True,
    fit: str = "identity",
    inputs: np.ndarray | None = None,
    u_mask: np.ndarray | None = None,
    v_mask: np.ndarray | None = None,
    grid: str = "int8",
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 10: train ``F_V(F_U(.))`` so that its product matches ``weight``.

    Full-batch Adam with a cosine-decaying learning rate; the factors with the lowest loss seen
    (the initial ones included) are returned, so LRA-learn never ends worse than its start on
    its own objective.

    Args:
        weight: float ``(out, in)`` target (already pruned, if it was).
        u0, v0: initial factors ``(rank, in)``, ``(out, rank)`` (the quantized factors).
        steps: Adam steps.
        lr: peak learning rate *relative* to the factors' RMS value (scale-free).
        last: ``v`` is quantized per tensor (the network's last layer).
        quantized: fake-quantize both factors onto the bundle's int8 grid in the forward pass
            (straight-through gradient), so that what is fitted is what the bundle stores.
        fit: ``"identity"`` (the paper: input ``I`` (in x in), target ``W^T``; computed as
            ``u^T v^T`` since ``F_U(I) = u^T``) or ``"data"`` (input: real layer inputs
            ``inputs`` (N, in), target ``x W^T``).
        inputs: float ``(N, in)`` layer inputs for ``fit="data"``.
        u_mask, v_mask: 0/1 masks held at zero during training (pruned factor entries).
        grid: the factor grid of ``quantized`` (see :func:`quantized_factors`).

    Returns:
        Float64 ``(u, v)``; with ``quantized`` they lie on the chosen grid.
    """
    import torch

    from ..qat import fake_quant_weight

    if fit not in ("identity", "data"):
        raise LwfcError(f"fit must be 'identity' or 'data', got {fit!r}")
    if fit == "data" and inputs is None:
        raise LwfcError("fit='data' needs the layer inputs")
    w = torch.as_tensor(np.asarray(weight), dtype=torch.float32)
    u = torch.nn.Parameter(torch.as_tensor(np.asarray(u0), dtype=torch.float32).clone())
    v = torch.nn.Parameter(torch.as_tensor(np.asarray(v0), dtype=torch.float32).clone())
    um = None if u_mask is None else torch.as_tensor(np.asarray(u_mask) != 0, dtype=torch.float32)
    vm = None if v_mask is None else torch.as_tensor(np.asarray(v_mask) != 0, dtype=torch.float32)
    x = None if fit == "identity" else torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    target = w.T if x is None else x @ w.T
    if grid not in GRIDS:
        raise LwfcError(f"grid must be one of {GRIDS}, got {grid!r}")
    units_np = paper_units(weight, last)
    units = torch.as_tensor(units_np, dtype=torch.float32)
    lim = arith.WEIGHT_MAX

    def factors() -> tuple[torch.Tensor, torch.Tensor]:
        uu = u if um is None else u * um
        vv = v if vm is None else v * vm
        if quantized and grid == "int8":
            uu = fake_quant_weight(uu, per_row=True)
            vv = fake_quant_weight(vv, per_row=not last)
        elif quantized:  # the paper's integer grid: u in integers, v in multiples of s_w
            uu = uu + (torch.clamp(torch.round(uu), -lim, lim) - uu).detach()
            vq = torch.clamp(torch.round(vv / units), -lim, lim) * units
            vv = vv + (vq - vv).detach()
        return uu, vv

    def loss_of(uu: torch.Tensor, vv: torch.Tensor) -> torch.Tensor:
        latent = uu.T if x is None else x @ uu.T  # F_U(I) = I u^T = u^T
        return torch.nn.functional.mse_loss(latent @ vv.T, target)

    rms = float(torch.sqrt(((u.detach() ** 2).mean() + (v.detach() ** 2).mean()) / 2))
    opt = torch.optim.Adam([u, v], lr=lr * (rms or 1.0))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    with torch.no_grad():
        best_loss = float(loss_of(*factors()))
        best = (u.detach().clone(), v.detach().clone())
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = loss_of(*factors())
            value = float(loss.detach())
            if value < best_loss:  # the factors *before* this step produced this loss
                best_loss, best = value, (u.detach().clone(), v.detach().clone())
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        if float(loss_of(*factors())) < best_loss:
            best = (u.detach().clone(), v.detach().clone())
        u.copy_(best[0])
        v.copy_(best[1])
        uu, vv = factors()
    u_out = uu.detach().double().numpy()
    v_out = vv.detach().double().numpy()
    if quantized and grid == "int8":  # exact grid values (float32 can be off by an ulp)
        u_out = grid_quantize(u_out, per_row=True)
        v_out = grid_quantize(v_out, per_row=not last)
    elif quantized:
        u_out, v_out = paper_quantize(u_out, v_out, units_np)
    return u_out, v_out
