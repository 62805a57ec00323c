"""The quantized network: fake-quantized dense / low-rank layers, calibration, bundle I/O, KD loss.

This is the one place where a trainable network meets the integer contract
(``docs/arithmetic.md``). A :class:`QNet` is a chain of :class:`QDense` / :class:`QLowRank`
layers with ReLU between them and optional dropout after one hidden layer. In ``quant`` mode
its forward pass computes, in floating point, what the golden model computes:

* input ``x = pixels / 255`` (exact: the input scale is ``1/255``);
* weights (dense ``W``, factors ``u``, ``v``) on the symmetric int8 grid
  ``clamp(round(w / s_w), -127, 127) * s_w``, ``s_w = max|w_row| / 127`` per output row in
  hidden layers and for ``u``, one per-tensor scale for the last layer's ``W`` / ``v``;
  all-zero rows get the export's placeholder step (``s_out / s_in``), which only matters for
  the bias grid;
* biases on the accumulator grid ``round(b / (s_in * s_w)) * s_in * s_w``;
* a low-rank latent ``z = u x`` on the signed int8 grid of its per-layer ``latent_scale``;
* hidden outputs after ReLU on the uint8 grid ``clamp(round(a / s_a), 0, 255) * s_a`` of the
  layer's ``act_scale`` (the next layer's ``s_in``).

All rounding uses the straight-through estimator (forward: the grid value; gradient: the
identity, zero where clamped). What remains between this and the integer model is the 15-bit
requantization multiplier (relative error below 2^-15), ties (``round`` here is half-to-even,
the hardware rounds half up) and float32 summation; they flip a prediction very rarely.

Scales come from range observers in training mode (an exponential moving average, momentum
:attr:`QNet.momentum`, of the batch maximum or a percentile) or from :meth:`QNet.calibrate`
(PTQ: layer by layer, each measured on the fake-quant output of the earlier layers).
:func:`to_bundle` hands the float weights, masks and scales to :mod:`lwfc.quantize`, so the
exported integers are exactly the grid values the forward pass used; :meth:`QNet.from_bundle`
dequantizes a bundle back into a trainable network. :func:`kd_loss` is the distillation loss
(paper eq. 1-2) every fine-tuning uses; the fit loop is :func:`lwfc.fit.fit`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import arith, golden, quantize
from .bundle import Bundle, DenseLayer, DenseShape, LowRankLayer, LowRankShape
from .compress.prune import attach_masks, masked
from .errors import LwfcError

#: Real value of one input step: pixel p means p / 255.
INPUT_SCALE = arith.INPUT_SCALE
#: Default EMA momentum of the range observers (weight of the new batch).
OBSERVER_MOMENTUM = 0.05
#: Format tag of :func:`net_to_dict` states.
NET_FORMAT = "lwfc-compressnet-v1"


# ------------------------------------------------------------------ fake quantizers (STE)
def weight_scale(
    w: torch.Tensor, per_row: bool = True, placeholder: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """Real int8 step of ``w`` ``(out, in)``: ``max|w| / 127`` per row or per tensor, ``(out, 1)``.

    Detached (scales are not trained). All-zero rows get ``placeholder``.
    """
    a = w.detach().abs()
    s = a.amax(dim=1, keepdim=True) if per_row else a.amax().expand(w.shape[0], 1)
    s = s / arith.WEIGHT_MAX
    return torch.where(s > 0, s, torch.as_tensor(placeholder, dtype=s.dtype).detach())


def fake_quant_weight(
    w: torch.Tensor,
    per_row: bool = True,
    scale: torch.Tensor | None = None,
    top: int = arith.WEIGHT_MAX,
) -> torch.Tensor:
    """Int8 weight fake quantizer ``(out, in) -> (out, in)``, per row or per tensor, STE.

    ``scale`` ``(out, 1)``: use this step instead of :func:`weight_scale` ``(w, per_row)``;
    ``top``: the largest code (127; 7 for 4-bit weights).
    """
    s = weight_scale(w, per_row) if scale is None else scale
    q = torch.clamp(torch.round(w / s), -top, top) * s
    return w + (q - w).detach()


def fake_quant_bias(b: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
    """Bias ``(out,)`` on the accumulator grid ``round(b / unit) * unit`` (``unit`` (out,)), STE."""
    unit = unit.detach()
    q = torch.round(b / unit) * unit
    return b + (q - b).detach()


def fake_quant_act(a: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """uint8 fake quantizer of a post-ReLU activation: ``clamp(round(a / s), 0, 255) * s``, STE.

    The gradient is the identity inside ``[0, 255 * s]`` and zero outside (clipped values).
    """
    s = torch.as_tensor(scale, dtype=a.dtype, device=a.device).detach()
    c = torch.minimum(torch.clamp(a, min=0.0), arith.ACT_MAX * s)
    q = torch.round(c / s) * s
    return c + (q - c).detach()


def fake_quant_latent(z: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Signed int8 fake quantizer of a low-rank latent ``z`` ``(N, rank)`` with real step ``scale``.

    ``scale * clamp(round(z / scale), -128, 127)``; the gradient passes where not clamped.
    """
    s = torch.as_tensor(scale, dtype=z.dtype).detach()
    lo, hi = arith.LATENT_MIN * s, arith.LATENT_MAX * s
    zc = torch.maximum(torch.minimum(z, hi), lo)
    q = torch.clamp(torch.round(zc / s), arith.LATENT_MIN, arith.LATENT_MAX) * s
    return zc + (q - zc).detach()


def statistic(a: torch.Tensor, percentile: float | None) -> torch.Tensor:
    """Maximum of ``a`` (``percentile`` None or >= 100) or its ``percentile`` (0-100), detached."""
    flat = a.detach().reshape(-1)
    if flat.numel() == 0:
        return torch.zeros((), dtype=flat.dtype)
    if percentile is None or percentile >= 100.0:
        return flat.max()
    k = max(1, min(flat.numel(), int(np.ceil(flat.numel() * percentile / 100.0))))
    return flat.kthvalue(k).values


def pixels(images: np.ndarray | torch.Tensor, features: int | None = None) -> torch.Tensor:
    """Images to float32 ``(N, features)``: uint8 pixels become pixels / 255, floats pass as is.

    ``features``: flatten to this width (default: everything after the first axis).
    """
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 and images.dtype.kind not in "f":
            raise LwfcError(f"images must be uint8 pixels 0 ... 255, got dtype {images.dtype}")
        images = torch.from_numpy(np.ascontiguousarray(images))
    x = images.to(torch.float32) / 255.0 if images.dtype == torch.uint8 else images.float()
    return x.reshape(x.shape[0], -1 if features is None else features)


def _positive(s: torch.Tensor | float, fallback: float = 1.0) -> torch.Tensor:
    t = torch.as_tensor(s, dtype=torch.float64)
    return t if float(t) > 0 else torch.tensor(fallback, dtype=torch.float64)


# ----------------------------------------------------------------------------- layers
#: TWN threshold of the ternary quantizer: weights below ``0.7 * mean|w|`` become 0.
TERNARY_DELTA = 0.7


def ternary_weight(w: torch.Tensor, per_row: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Ternary fake quantizer (TWN): ``alpha * sign(w) * [|w| > delta]``, STE; and ``alpha``.

    ``delta = 0.7 * mean|w|`` and ``alpha = mean(|w| : |w| > delta)`` per row (hidden layers)
    or per tensor (the last); a row without any weight above ``delta`` gets alpha 1 (all 0).
    Returns the fake-quant weight and ``alpha`` ``(out, 1)`` (the code step: codes -1, 0, 1).
    """
    a = w.detach().abs()
    if per_row:
        delta = TERNARY_DELTA * a.mean(dim=1, keepdim=True)
        keep = a > delta
        n = keep.sum(dim=1, keepdim=True)
        alpha = torch.where(n > 0, (a * keep).sum(dim=1, keepdim=True) / n.clamp(min=1), 1.0)
    else:
        delta = TERNARY_DELTA * a.mean()
        keep = a > delta
        n = keep.sum()
        value = (a * keep).sum() / n.clamp(min=1) if int(n) > 0 else torch.ones(())
        alpha = value.expand(w.shape[0], 1)
    q = torch.sign(w.detach()) * keep * alpha
    return w + (q - w).detach(), alpha.detach()


class QDense(DenseShape, nn.Module):
    """A dense layer ``y = W x + b``; ``weight`` (out, in), ``bias`` (out,).

    ``last``: the network's output layer (per-tensor weight scale, no ReLU).
    ``bits``: weight code width (8; 4 and the other low widths; 2 = ternary, see
    :func:`ternary_weight`). With a shared-weight ``codebook`` (:meth:`share`) the weight is
    ``codebook[index]`` (masked) on one per-tensor int8 grid; the codebook is trained (Deep
    Compression's centroid update: the sum of its weights' gradients) unless frozen.
    """

    kind = "dense"

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, last: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float32).clone())
        self.bias = nn.Parameter(torch.as_tensor(bias, dtype=torch.float32).clone())
        self.last = last
        self.bits = 8
        self.codebook: nn.Parameter | None
        self.index: torch.Tensor | None
        self.register_parameter("codebook", None)
        self.register_buffer("index", None)

    def share(self, values: torch.Tensor, learn: bool = True) -> None:
        """Share weights: each weight becomes its nearest entry of ``values`` ``(K,)``."""
        values = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
        w = self.matrix().detach()
        index = (w.reshape(-1, 1) - values.reshape(1, -1)).abs().argmin(1).reshape(w.shape)
        self.codebook = nn.Parameter(values.clone(), requires_grad=learn)
        self.index = index

    def matrix(self) -> torch.Tensor:
        """The (masked) float weight ``(out, in)`` (``codebook[index]`` when shared)."""
        if self.codebook is None:
            return masked(self, "weight")
        w = self.codebook[self.index]
        mask = getattr(self, "weight_mask", None)
        return w if mask is None else w * mask

    def grid(
        self, s_in: torch.Tensor | float, s_out: torch.Tensor | float | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The fake-quant weight (STE) and its code step ``(out, 1)`` under the layer's mode."""
        w = self.matrix()
        per_row = not self.last and self.codebook is None
        if self.bits == 2 and self.codebook is None:
            return ternary_weight(w, not self.last)
        s_in_t = torch.as_tensor(s_in, dtype=torch.float64)
        place = 1.0 if self.last or s_out is None else _positive(s_out) / _positive(s_in_t)
        top = arith.weight_max(self.bits)
        s_w = weight_scale(w, per_row, place) * (arith.WEIGHT_MAX / top)
        return fake_quant_weight(w, per_row, s_w, top), s_w

    def forward(
        self,
        x: torch.Tensor,
        s_in: torch.Tensor | float = INPUT_SCALE,
        s_out: torch.Tensor | float | None = None,
        quant: bool = True,
        observe: bool = False,
        momentum: float = OBSERVER_MOMENTUM,
    ) -> torch.Tensor:
        """``W x + b`` (pre-activation); in ``quant`` mode with weights and bias on their grids.

        ``s_in``: real step of the input; ``s_out``: of the output (hidden layers; only used for
        the placeholder step of all-zero rows).
        """
        if not quant:
            return F.linear(x, self.matrix(), self.bias)
        s_in_t = torch.as_tensor(s_in, dtype=torch.float64)
        wq, s_w = self.grid(s_in_t, s_out)
        b = self.bias
        if float(s_in_t) > 0:
            b = fake_quant_bias(b, (s_in_t * s_w.double()).reshape(-1).to(b.dtype))
        return F.linear(x, wq, b)


class QLowRank(LowRankShape, nn.Module):
    """A low-rank layer ``y = v (u x) + b``: ``u`` (rank, in), ``v`` (out, rank), no bias in ``u``.

    ``latent_scale`` (buffer) is the real step of the int8 latent ``z = u x``.
    """

    kind = "lowrank"

    def __init__(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        bias: torch.Tensor,
        last: bool,
        latent_scale: float = 0.0,
    ) -> None:
        super().__init__()
        self.u = nn.Parameter(torch.as_tensor(u, dtype=torch.float32).clone())
        self.v = nn.Parameter(torch.as_tensor(v, dtype=torch.float32).clone())
        self.bias = nn.Parameter(torch.as_tensor(bias, dtype=torch.float32).clone())
        self.last = last
        self.register_buffer("latent_scale", torch.tensor(float(latent_scale), dtype=torch.float64))

    def factors(
        self, quant: bool = True, s_in: torch.Tensor | float = INPUT_SCALE
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, v)``, masked, on the int8 grid if ``quant`` (placeholders as the export's)."""
        u, v = masked(self, "u"), masked(self, "v")
        if quant:
            lat = _positive(self.latent_scale)
            u = fake_quant_weight(u, True, weight_scale(u, True, lat / _positive(s_in)))
            v = fake_quant_weight(v, not self.last)
        return u, v

    def matrix(self) -> torch.Tensor:
        """The product ``v @ u`` ``(out, in)`` (float, masked)."""
        u, v = self.factors(quant=False)
        return v @ u

    def forward(
        self,
        x: torch.Tensor,
        s_in: torch.Tensor | float = INPUT_SCALE,
        s_out: torch.Tensor | float | None = None,
        quant: bool = True,
        observe: bool = False,
        momentum: float = OBSERVER_MOMENTUM,
    ) -> torch.Tensor:
        """``v z + b`` with ``z = u x`` (int8 latent in ``quant`` mode); see :class:`QDense`."""
        u, v = masked(self, "u"), masked(self, "v")
        if quant:
            u, _ = self.factors(True, s_in)
        z = F.linear(x, u)
        if observe:
            _observe(
                self.latent_scale, statistic(z.abs(), None).double() / arith.LATENT_MAX, momentum
            )
        lat = self.latent_scale
        if not quant or float(lat) <= 0:
            return F.linear(z, v, self.bias)
        z = fake_quant_latent(z, lat.to(z.dtype))
        place = 1.0 if self.last or s_out is None else _positive(s_out) / lat
        s_v = weight_scale(v, not self.last, place)
        vq = fake_quant_weight(v, not self.last, s_v)
        b = fake_quant_bias(self.bias, (lat * s_v.double()).reshape(-1).to(self.bias.dtype))
        return F.linear(z, vq, b)


def _observe(buf: torch.Tensor, value: torch.Tensor, momentum: float) -> None:
    """EMA update of a scale buffer (the first observation sets it)."""
    with torch.no_grad():
        value = torch.clamp(value.to(buf.dtype), min=1e-8)
        if float(buf) <= 0:
            buf.copy_(value)
        else:
            buf.mul_(1 - momentum).add_(momentum * value)


@dataclass(frozen=True)
class Dropout:
    """Dropout placement: after the ReLU of hidden layer ``location`` (1-based; 0: none)."""

    location: int = 0
    p: float = 0.0

    def __post_init__(self) -> None:
        if self.location < 0:
            raise LwfcError(
                f"dropout location must be a hidden layer >= 1 (0: none), got {self.location}"
            )
        if not 0.0 <= self.p < 1.0:
            raise LwfcError(f"dropout probability must lie in [0, 1), got {self.p}")


# ----------------------------------------------------------------------------- network
class QNet(nn.Module):
    """A chain of :class:`QDense` / :class:`QLowRank` layers with ReLU between them.

    Args:
        layers: the layers, input first; every layer but the last is hidden (ReLU, uint8 out).
        act_scale: real step of each hidden layer's uint8 output (``None``: unset, 0; the
            first observed batch or :meth:`calibrate` sets them).
        names: layer names (``fc1``, ``fc2``, ...), used in the bundle and in mask keys.
        dropout: the :class:`Dropout` placement used in training mode.
        momentum: EMA momentum of the range observers.
        percentile: batch statistic the activation observers track (None: the maximum).

    Attributes ``quant`` (False: the plain float forward pass) and ``observe`` (False: the
    observers are frozen even in training mode) switch behaviour.
    """

    def __init__(
        self,
        layers: list[nn.Module],
        act_scale: Sequence[float] | None = None,
        names: list[str] | None = None,
        dropout: Dropout | None = None,
        momentum: float = OBSERVER_MOMENTUM,
        percentile: float | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        hidden = len(layers) - 1
        scales = list(act_scale) if act_scale is not None else [0.0] * hidden
        if len(scales) != hidden:
            raise LwfcError(f"need {hidden} activation scales, got {len(scales)}")
        self.register_buffer(
            "act_scale", torch.tensor([float(s) for s in scales], dtype=torch.float64)
        )
        self.names = names or [f"fc{i + 1}" for i in range(len(layers))]
        self.dropout = dropout or Dropout()
        if self.dropout.location > hidden:
            raise LwfcError(f"dropout location must be a hidden layer 1..{hidden}")
        self.momentum = float(momentum)
        self.percentile = percentile
        self.quant = True
        self.observe = True
        #: weights of the dense network this one came from (None: its own shapes' equivalent)
        self.dense_reference: int | None = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dense(
        cls,
        weights: Sequence[np.ndarray | torch.Tensor],
        biases: Sequence[np.ndarray | torch.Tensor],
        act_scale: Sequence[float] | None = None,
        dropout: Dropout | None = None,
        **kwargs: Any,
    ) -> QNet:
        """A dense network from float ``weights`` ``[(out, in), ...]`` and ``biases``."""
        n = len(weights)
        layers: list[nn.Module] = [
            QDense(torch.as_tensor(np.asarray(w)), torch.as_tensor(np.asarray(b)), i == n - 1)
            for i, (w, b) in enumerate(zip(weights, biases, strict=True))
        ]
        return cls(layers, act_scale, dropout=dropout, **kwargs)

    @classmethod
    def from_mlp(
        cls, mlp: nn.Module, act_scale: Sequence[float] | None = None, **kwargs: Any
    ) -> QNet:
        """Copy a float :class:`~lwfc.models.MLP` (its Linear layers and dropout placement)."""
        linears = list(mlp.layers)  # type: ignore[attr-defined]
        drop = Dropout(
            int(getattr(mlp, "dropout_location", 0)), float(getattr(mlp, "dropout_p", 0.0))
        )
        return cls.from_dense(
            [lin.weight.detach() for lin in linears],
            [lin.bias.detach() for lin in linears],
            act_scale,
            dropout=drop,
            **kwargs,
        )

    @classmethod
    def from_bundle(cls, bundle: Bundle, dropout: Dropout | None = None) -> QNet:
        """Dequantize a bundle: ``W = W_int * s_w``, ``b = b_int * s_in * s_w``, scales as stored.

        Masks of the bundle are attached (pruned weights stay zero in fine-tuning); weight
        widths and codebooks (v2) are kept, so a bundle round-trips exactly.
        """
        layers: list[nn.Module] = []
        masks: dict[str, torch.Tensor] = {}
        n = len(bundle.layers)
        t = torch.tensor
        for i, layer in enumerate(bundle.layers):
            last = i == n - 1
            if isinstance(layer, DenseLayer):
                s = layer.weight_scale.astype(np.float64)
                w = layer.weight.astype(np.float64) * s[:, None]
                b = layer.bias.astype(np.float64) * layer.input_scale * s
                dense = QDense(t(w), t(b), last)
                dense.bits = layer.weight_bits
                if layer.codebook is not None:  # shared values (and 0 for zero weights)
                    values = layer.codebook.astype(np.float64) * s[0]
                    if np.any(layer.weight == 0):
                        values = np.union1d(values, [0.0])
                    dense.share(t(values))
                layers.append(dense)
                if layer.mask is not None:
                    masks[f"{layer.name}.weight"] = t(layer.mask, dtype=torch.float32)
            else:
                su = layer.u_scale.astype(np.float64)
                sv = layer.v_scale.astype(np.float64)
                u = layer.u.astype(np.float64) * su[:, None]
                v = layer.v.astype(np.float64) * sv[:, None]
                b = layer.bias.astype(np.float64) * layer.latent_scale * sv
                layers.append(QLowRank(t(u), t(v), t(b), last, layer.latent_scale))
                if layer.u_mask is not None:
                    masks[f"{layer.name}.u"] = t(layer.u_mask, dtype=torch.float32)
                if layer.v_mask is not None:
                    masks[f"{layer.name}.v"] = t(layer.v_mask, dtype=torch.float32)
        scales = [float(layer.output_scale) for layer in bundle.layers[:-1]]  # type: ignore[arg-type]
        net = cls(layers, scales, names=[layer.name for layer in bundle.layers], dropout=dropout)
        if masks:
            attach_masks(net.param_modules(masks), masks)
        net.dense_reference = bundle.reference_weights
        return net

    # ---------------------------------------------------------------- properties
    @property
    def scales(self) -> list[float]:
        """Current activation scales (real value of one uint8 step), one per hidden layer."""
        return [float(s) for s in self.act_scale]

    @property
    def in_features(self) -> int:
        return int(self.layers[0].in_features)

    @property
    def sizes(self) -> list[int]:
        """Layer widths, input first."""
        return [self.in_features, *(int(layer.out_features) for layer in self.layers)]

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` of pixels/255 ``x`` ``(N, in)`` (or ``(N, ...)``, flattened)."""
        observe = self.training and self.observe
        h = x.reshape(x.shape[0], self.in_features)
        s_in: torch.Tensor | float = INPUT_SCALE
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            s_out = None if i == last else self.act_scale[i]
            h = layer(h, s_in, s_out, self.quant, observe, self.momentum)
            if i == last:
                break
            h = F.relu(h)
            if observe:
                _observe(
                    self.act_scale[i],
                    statistic(h, self.percentile).double() / arith.ACT_MAX,
                    self.momentum,
                )
            s_a = self.act_scale[i]
            if self.quant and float(s_a) > 0:
                h = fake_quant_act(h, s_a.to(h.dtype))
            if self.training and self.dropout.location == i + 1 and self.dropout.p > 0:
                h = F.dropout(h, self.dropout.p, training=True)
            s_in = s_a
        return h

    @torch.no_grad()
    def hidden_inputs(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The (fake-quantized) input of layer ``index`` for pixels ``x`` (no observers)."""
        h = x.reshape(x.shape[0], self.in_features)
        s_in: torch.Tensor | float = INPUT_SCALE
        for i in range(index):
            h = F.relu(self.layers[i](h, s_in, self.act_scale[i], self.quant))
            if self.quant and float(self.act_scale[i]) > 0:
                h = fake_quant_act(h, self.act_scale[i].to(h.dtype))
            s_in = self.act_scale[i]
        return h

    # ---------------------------------------------------------------- calibration
    @torch.no_grad()
    def calibrate(
        self,
        images: np.ndarray | torch.Tensor,
        percentile: float | None = None,
        latents_only: bool = False,
    ) -> list[float]:
        """Set activation (and low-rank latent) scales from data; return the activation scales.

        Layers are calibrated in order: layer ``l``'s range is measured on the fake-quant output
        of layers ``< l``, as the integer model will see it. Each scale is the maximum (or
        ``percentile``, 0-100) of the layer's ReLU output / 255, of ``|z|`` / 127 for a latent.

        Args:
            images: uint8 pixels ``(N, ...)`` or pixels/255 floats.
            percentile: ``None`` / 100: the maximum over all images and units.
            latents_only: keep the hidden activation scales (e.g. trained QAT ranges).
        """
        h = pixels(images, self.in_features)
        s_in: torch.Tensor | float = INPUT_SCALE
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if isinstance(layer, QLowRank):
                z = F.linear(h, layer.factors(self.quant, s_in)[0])
                stat = float(statistic(z.abs(), percentile)) / arith.LATENT_MAX
                layer.latent_scale.fill_(stat if stat > 0 else 1.0 / arith.LATENT_MAX)
            s_out = None if i == last else self.act_scale[i]
            h = layer(h, s_in, s_out, self.quant)
            if i == last:
                break
            h = F.relu(h)
            if not latents_only:
                self.act_scale[i] = max(float(statistic(h, percentile)), 1e-8) / arith.ACT_MAX
            if self.quant:
                h = fake_quant_act(h, self.act_scale[i].to(h.dtype))
            s_in = self.act_scale[i]
        return self.scales

    # ---------------------------------------------------------------- masks
    def param_modules(self, keys: Any) -> dict[str, nn.Module]:
        """``{"fc1.weight": module}`` for mask keys ``<layer>.<param>``."""
        index = {name: i for i, name in enumerate(self.names)}
        return {k: self.layers[index[k.split(".")[0]]] for k in keys}

    def masks(self) -> dict[str, torch.Tensor]:
        """Masks in force, ``{"<layer>.<param>": 0/1 tensor}``."""
        out = {}
        for name, layer in zip(self.names, self.layers, strict=True):
            for pname in ("weight", "u", "v"):
                mask = getattr(layer, f"{pname}_mask", None)
                if mask is not None:
                    out[f"{name}.{pname}"] = mask.detach().clone()
        return out

    def iter_layers(self) -> Iterator[tuple[str, nn.Module]]:
        yield from zip(self.names, self.layers, strict=True)

    def to_mlp(self) -> nn.Module:
        """The float :class:`~lwfc.models.MLP` of a dense, unpruned-or-pruned network (copies)."""
        from .models import MLP

        if not all(isinstance(layer, QDense) for layer in self.layers):
            raise LwfcError("to_mlp: only a network of dense layers is an MLP")
        drop = (self.dropout.location, self.dropout.p) if self.dropout.p > 0 else None
        mlp = MLP(self.sizes, drop)
        with torch.no_grad():
            for lin, layer in zip(mlp.layers, self.layers, strict=True):
                lin.weight.copy_(layer.matrix())  # type: ignore[operator]
                lin.bias.copy_(layer.bias)
        return mlp


def clone(net: QNet) -> QNet:
    """A deep copy (parameters, masks, scales)."""
    return copy.deepcopy(net)


# ------------------------------------------------------------------------- export
def _effective(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy().copy()


def guard_bias_rows(
    weight: np.ndarray, bias: np.ndarray, in_unit: float
) -> tuple[np.ndarray, list[int]]:
    """Zero the rows whose quantized bias would exceed the contract's bound (per-row scales).

    With a per-row weight scale ``s = max|row| / 127`` the bias is stored as
    ``round(b / (in_unit * s))``; a row whose weights are tiny next to its bias (a row almost
    emptied by pruning) overflows ``2**23 - 1``. Such a row contributes at most
    ``n * 255 * 127 / 2**23`` of its bias (0.4 % per input), so it is set to zero; the
    quantizer then gives it the placeholder scale and the layer outputs ``relu(b)`` for it, as
    the dense model nearly does. Returns the (copied) weight and the zeroed rows.
    """
    w = np.array(weight, dtype=np.float64)
    scale = np.abs(w).max(axis=1) / arith.WEIGHT_MAX
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.abs(np.asarray(bias, dtype=np.float64)) / (in_unit * scale)
    rows = [int(o) for o in np.nonzero((scale > 0) & (np.rint(steps) > arith.BIAS_MAX))[0]]
    w[rows] = 0.0
    return w, rows


def quantized_layers(net: QNet) -> tuple[list[DenseLayer | LowRankLayer], dict[str, list[int]]]:
    """The integer layers of ``net`` (:mod:`lwfc.quantize`) and the bias-guarded rows per layer.

    Raises:
        LwfcError: if a scale has not been observed or calibrated yet.
    """
    layers: list[DenseLayer | LowRankLayer] = []
    in_scale = INPUT_SCALE
    n = len(net.layers)
    masks = net.masks()
    guarded: dict[str, list[int]] = {}
    for i, (lname, layer) in enumerate(net.iter_layers()):
        out_scale = None if i == n - 1 else float(net.act_scale[i])
        if out_scale is not None and out_scale <= 0:
            raise LwfcError(f"layer {lname!r}: activation scale not calibrated")
        bias = _effective(layer.bias)
        if isinstance(layer, QDense) and (layer.bits != 8 or layer.codebook is not None):
            layers.append(_coded_layer(lname, layer, bias, in_scale, out_scale, masks))
        elif isinstance(layer, QDense):
            mask = masks.get(f"{lname}.weight")
            weight = _effective(layer.matrix())
            if not layer.last:
                weight, rows = guard_bias_rows(weight, bias, in_scale)
                if rows:
                    guarded[lname] = rows
            layers.append(
                quantize.quantize_dense(
                    lname,
                    weight,
                    bias,
                    in_scale,
                    out_scale,
                    mask=None if mask is None else mask.numpy().astype(np.uint8),
                )
            )
        else:
            assert isinstance(layer, QLowRank)
            if float(layer.latent_scale) <= 0:
                raise LwfcError(f"layer {lname!r}: latent scale not calibrated")
            um = masks.get(f"{lname}.u")
            vm = masks.get(f"{lname}.v")
            u, v = layer.factors(quant=False)
            v_np = _effective(v)
            if not layer.last:
                v_np, rows = guard_bias_rows(v_np, bias, float(layer.latent_scale))
                if rows:
                    guarded[lname] = rows
            layers.append(
                quantize.quantize_lowrank(
                    lname,
                    _effective(u),
                    v_np,
                    bias,
                    in_scale,
                    float(layer.latent_scale),
                    out_scale,
                    u_mask=None if um is None else um.numpy().astype(np.uint8),
                    v_mask=None if vm is None else vm.numpy().astype(np.uint8),
                )
            )
        in_scale = out_scale if out_scale is not None else 1.0
    return layers, guarded


def _coded_layer(
    name: str,
    layer: QDense,
    bias: np.ndarray,
    in_scale: float,
    out_scale: float | None,
    masks: dict[str, torch.Tensor],
) -> DenseLayer:
    """Export a low-bit or shared-weight dense layer: its grid codes, step and codebook."""
    with torch.no_grad():
        wq, s_w = layer.grid(in_scale, out_scale)
    s = s_w.detach().double().reshape(-1).numpy()
    codes = np.rint(wq.detach().double().numpy() / s[:, None])
    codebook = None
    if layer.codebook is not None:  # the shared values; 0 (pruned or rounded) needs no entry
        values = np.unique(codes[codes != 0])
        codebook = values if values.size else np.ones(1)
    mask = masks.get(f"{name}.weight")
    return quantize.quantize_dense_codes(
        name,
        codes,
        s,
        bias,
        in_scale,
        out_scale,
        weight_bits=layer.bits,
        codebook=codebook,
        mask=None if mask is None else mask.numpy().astype(np.uint8),
    )


def to_bundle(
    net: QNet,
    name: str = "model",
    dataset: str = "mnist",
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Bundle:
    """Quantize the network into a validated bundle (``lwfc.quantize``), masks included.

    Hidden rows whose bias would overflow the contract are zeroed (:func:`guard_bias_rows`)
    and listed in ``provenance["bias_guard_rows"]``.
    """
    layers, guarded = quantized_layers(net)
    provenance = dict(provenance or {})
    if guarded:
        provenance["bias_guard_rows"] = guarded
    return quantize.build_bundle(
        layers,
        name=name,
        dataset=dataset,
        provenance=provenance,
        metrics=metrics,
        dense_reference=net.dense_reference,
    )


def int8_accuracy(net: QNet, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the golden model on ``to_bundle(net)`` (the only accuracy that counts)."""
    return golden.accuracy(to_bundle(net), images, labels)


# ------------------------------------------------------------------------- (de)serialisation
def net_to_dict(net: QNet) -> dict[str, Any]:
    """A picklable, torch-free description of ``net`` (numpy arrays, masks, scales, dropout)."""
    layers = []
    masks = {k: m.numpy().astype(np.uint8) for k, m in net.masks().items()}
    for lname, layer in net.iter_layers():
        entry: dict[str, Any] = {"name": lname, "kind": layer.kind, "last": layer.last}
        entry["bias"] = _effective(layer.bias)
        if isinstance(layer, QDense):
            entry["weight"] = _effective(layer.matrix())
            entry["bits"] = layer.bits
            if layer.codebook is not None and layer.index is not None:
                entry["codebook"] = _effective(layer.codebook)
                entry["index"] = layer.index.numpy().copy()
                entry["codebook_learn"] = bool(layer.codebook.requires_grad)
        else:
            assert isinstance(layer, QLowRank)
            u, v = layer.factors(quant=False)
            entry.update(u=_effective(u), v=_effective(v), latent_scale=float(layer.latent_scale))
        layers.append(entry)
    return {
        "format": NET_FORMAT,
        "layers": layers,
        "act_scale": [float(s) for s in net.act_scale],
        "masks": masks,
        "dropout": [net.dropout.location, net.dropout.p],
        "dense_reference": net.dense_reference,
    }


def net_from_dict(state: dict[str, Any]) -> QNet:
    """Inverse of :func:`net_to_dict`."""
    if state.get("format") != NET_FORMAT:
        raise LwfcError(f"not a {NET_FORMAT} state (format {state.get('format')!r})")
    layers: list[nn.Module] = []
    t = torch.as_tensor
    for e in state["layers"]:
        if e["kind"] == "dense":
            dense = QDense(t(e["weight"]), t(e["bias"]), e["last"])
            dense.bits = int(e.get("bits", 8))
            if "codebook" in e:
                dense.codebook = nn.Parameter(
                    t(e["codebook"], dtype=torch.float32), requires_grad=e["codebook_learn"]
                )
                dense.index = t(e["index"], dtype=torch.int64)
            layers.append(dense)
        else:
            scale = e["latent_scale"]
            layers.append(QLowRank(t(e["u"]), t(e["v"]), t(e["bias"]), e["last"], scale))
    net = QNet(
        layers,
        state["act_scale"],
        names=[e["name"] for e in state["layers"]],
        dropout=Dropout(*state.get("dropout", (0, 0.0))),
    )
    masks = {k: t(m, dtype=torch.float32) for k, m in state["masks"].items()}
    if masks:
        attach_masks(net.param_modules(masks), masks)
    net.dense_reference = state.get("dense_reference")
    return net


# ------------------------------------------------------------------------- distillation
def kd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 0.9,
    tau: float = 4.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Knowledge-distillation loss, paper eq. 1-2 (mean over the batch).

    ``alpha * tau**2 * KL(q_T^tau || q_S^tau) + (1 - alpha) * CE(q_S, y)`` with
    ``q^tau = softmax(logits / tau)``. The soft term is the KL divergence, i.e. the soft cross
    entropy minus the teacher's entropy (a constant): same gradient, and zero when the student
    matches the teacher. The ``tau**2`` factor (Hinton et al.) keeps the soft term's gradient
    magnitude independent of ``tau``, so ``alpha`` means the same at every temperature.

    Args:
        student: student logits ``(N, C)`` (float).
        teacher: teacher logits ``(N, C)`` in real units (for an integer teacher use
            :func:`bundle_logits`); no gradient flows into it.
        labels: class indices ``(N,)`` (int64).
        alpha: weight of the soft term in ``[0, 1]``.
        tau: temperature (> 0).
        label_smoothing: of the hard cross entropy.
    """
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    teacher = teacher.detach().to(student.dtype)
    soft = F.kl_div(
        F.log_softmax(student / tau, dim=1),
        F.log_softmax(teacher / tau, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    return alpha * tau * tau * soft + (1 - alpha) * hard


def bundle_logits(bundle: Bundle, images: np.ndarray) -> torch.Tensor:
    """Real-valued logits ``(N, C)`` float32 of an integer bundle (an integer teacher).

    The golden model's int32 logits times the last layer's accumulator scale
    (``s_in * s_w``, or ``s_z * s_v`` for a low-rank last layer), so they are comparable to a
    float model's logits in :func:`kd_loss`.
    """
    last = bundle.layers[-1]
    if isinstance(last, DenseLayer):
        unit = last.input_scale * float(last.weight_scale[0])
    else:
        unit = last.latent_scale * float(last.v_scale[0])
    return torch.from_numpy(golden.forward(bundle, images).astype(np.float64) * unit).float()
