"""Fake quantization that mirrors the integer contract, PTQ calibration and export to a bundle.

The fake-quant forward pass of :class:`QATNet` computes, in floating point, what the int8
golden model computes (``docs/arithmetic.md``), layer by layer:

* input ``x = pixels / 255`` (exact: the input scale is ``1/255``);
* weights on the symmetric int8 grid ``clamp(round(w / s_w), -127, 127) * s_w`` with
  ``s_w = max|w_row| / 127`` per output row for hidden layers and one per-tensor scale for the
  last layer (:func:`fake_quant_weight`);
* biases on the accumulator grid ``round(b / (s_in * s_w)) * s_in * s_w``
  (:func:`fake_quant_bias`);
* hidden outputs after ReLU on the uint8 grid ``clamp(round(a / s_a), 0, 255) * s_a`` with one
  scale ``s_a`` per layer (:func:`fake_quant_act`); ``s_a`` is the layer's ``output_scale`` at
  export and the next layer's ``s_in``.

All rounding uses the straight-through estimator: the forward value is the grid value, the
gradient is the identity (zero outside the clamp range for activations). The remaining
differences from the integer model are the 15-bit requantization multiplier (relative error
below 2^-15), ties (``round`` here is half-to-even, the hardware rounds half up) and float32
summation; they flip a prediction very rarely (see ``tests/test_train.py``).

Activation scales come from an observer during QAT (an exponential moving average of a batch
statistic: the maximum, or a high percentile) or from :func:`calibrate` for PTQ. Either way
:func:`to_bundle` hands the float weights and the scales to :func:`lwfc.quantize.quantize_dense`,
so PTQ and QAT produce the same integer format, and the weights it rounds are exactly the ones
the fake-quant pass used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import arith, quantize
from .bundle import Bundle, DenseLayer
from .models import MLP

#: Real value of one input step: pixel p means p / 255.
INPUT_SCALE = 1.0 / 255.0
#: Largest uint8 activation code.
ACT_MAX = 255


# ------------------------------------------------------------------ fake quantizers (STE)
def weight_scale(
    w: torch.Tensor, per_row: bool = True, placeholder: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """Real int8 step of ``w`` ``(out, in)``: ``max|w| / 127`` per row or per tensor, ``(out, 1)``.

    Detached (scales are not trained). All-zero rows get ``placeholder`` (their weights stay
    0; export uses ``s_out / s_in`` for hidden rows, which only matters for the bias grid).
    """
    a = w.detach().abs()
    s = a.amax(dim=1, keepdim=True) if per_row else a.amax().expand(w.shape[0], 1)
    s = s / arith.WEIGHT_MAX
    return torch.where(s > 0, s, torch.as_tensor(placeholder, dtype=s.dtype).detach())


def fake_quant_weight(
    w: torch.Tensor, per_row: bool = True, scale: torch.Tensor | None = None
) -> torch.Tensor:
    """Int8 weight fake quantizer ``(out, in) -> (out, in)``, per row or per tensor, STE.

    ``scale`` ``(out, 1)``: use this step instead of :func:`weight_scale` ``(w, per_row)``.
    """
    s = weight_scale(w, per_row) if scale is None else scale
    q = torch.clamp(torch.round(w / s), -arith.WEIGHT_MAX, arith.WEIGHT_MAX) * s
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
    c = torch.minimum(torch.clamp(a, min=0.0), ACT_MAX * s)
    q = torch.round(c / s) * s
    return c + (q - c).detach()


def _statistic(a: torch.Tensor, percentile: float | None) -> torch.Tensor:
    """Batch maximum of ``a`` (``percentile`` None or >= 100) or its ``percentile`` (0-100)."""
    flat = a.detach().reshape(-1)
    if percentile is None or percentile >= 100.0 or flat.numel() == 0:
        return flat.max() if flat.numel() else torch.zeros(())
    k = max(1, min(flat.numel(), int(np.ceil(flat.numel() * percentile / 100.0))))
    return flat.kthvalue(k).values


# ----------------------------------------------------------------------------- the model
class QATNet(nn.Module):
    """Fake-quantized view of an :class:`~lwfc.models.MLP` (shares its parameters).

    Args:
        mlp: the float network; its ``nn.Linear`` parameters are the QAT shadow weights.
        act_scales: initial real step of each hidden layer's uint8 output (``len(mlp.layers)
            - 1`` values), e.g. from :func:`calibrate`; ``None``: the first observed batch sets
            them.
        momentum: EMA momentum of the activation observers (weight of the new batch).
        percentile: batch statistic the observers track: ``None`` = maximum, else this
            percentile (0-100) of the layer's activations.

    ``forward(x)`` takes pixels/255 ``(N, 784)`` and returns logits ``(N, classes)`` on the
    integer model's scale (``acc * s_in * s_w``). In training mode the observers update unless
    :attr:`observe` is False; :attr:`quant` False gives the plain float forward pass.
    """

    def __init__(
        self,
        mlp: MLP,
        act_scales: Sequence[float] | None = None,
        momentum: float = 0.1,
        percentile: float | None = None,
    ) -> None:
        super().__init__()
        self.mlp = mlp
        hidden = len(mlp.layers) - 1
        self.momentum = float(momentum)
        self.percentile = percentile
        self.observe = True
        self.quant = True
        if act_scales is None:
            self.register_buffer("act_scale", torch.zeros(hidden, dtype=torch.float64))
        else:
            if len(act_scales) != hidden:
                raise ValueError(f"expected {hidden} activation scales, got {len(act_scales)}")
            scales = torch.tensor([float(a) for a in act_scales], dtype=torch.float64)
            self.register_buffer("act_scale", scales)

    @property
    def scales(self) -> list[float]:
        """Current activation scales (real value of one uint8 step), one per hidden layer."""
        return [float(s) for s in self.act_scale]

    def _update(self, i: int, a: torch.Tensor) -> None:
        stat = torch.clamp(_statistic(a, self.percentile).double() / ACT_MAX, min=1e-8)
        if float(self.act_scale[i]) <= 0:
            self.act_scale[i] = stat
        else:
            self.act_scale[i] = (1 - self.momentum) * self.act_scale[i] + self.momentum * stat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quant (or float, see :attr:`quant`) logits for pixels/255 ``x``."""
        if not self.quant:
            return self.mlp(x)
        mlp = self.mlp
        h = x.reshape(x.shape[0], mlp.sizes[0])
        s_in = torch.tensor(INPUT_SCALE, dtype=h.dtype)
        last = len(mlp.layers) - 1
        for i, layer in enumerate(mlp.layers):
            if i == last:
                s_w = weight_scale(layer.weight, per_row=False)
                w = fake_quant_weight(layer.weight, False, s_w)
                b = fake_quant_bias(layer.bias, (s_in * s_w).reshape(-1))
                return torch.nn.functional.linear(h, w, b)
            # all-zero rows use the export's placeholder step s_out / s_in (bias grid only)
            s_prev = self.act_scale[i].to(h.dtype)
            s_w = weight_scale(layer.weight, True, s_prev / s_in if s_prev > 0 else 1.0)
            w = fake_quant_weight(layer.weight, True, s_w)
            b = fake_quant_bias(layer.bias, (s_in * s_w).reshape(-1))
            h = torch.relu(torch.nn.functional.linear(h, w, b))
            if self.training and self.observe:
                with torch.no_grad():
                    self._update(i, h)
            s_a = self.act_scale[i].to(h.dtype)
            if float(s_a) <= 0:
                raise RuntimeError("QATNet: activation scales are not set; calibrate first")
            h = fake_quant_act(h, s_a)
            if i + 1 == mlp.dropout_location:
                h = mlp.drop(h)
            s_in = s_a
        raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------ PTQ and export
@torch.no_grad()
def calibrate(
    model: MLP | QATNet,
    images: torch.Tensor | np.ndarray,
    percentile: float | None = None,
    batch: int = 10_000,
) -> list[float]:
    """Activation scales of each hidden layer from data (post-training calibration).

    Layers are calibrated in order: layer ``l``'s range is measured on the fake-quant output
    of layers ``< l`` (weights and earlier activations already on their grids), as the integer
    model will see it.

    Args:
        model: the float network (or a QATNet wrapping it; its scales are not changed).
        images: calibration images, uint8 pixels ``(N, 28, 28)``/``(N, 784)`` or pixels/255
            floats.
        percentile: ``None``: the maximum over all images and units of the layer; else this
            percentile (0-100) of all the layer's activations (clips rare outliers).
        batch: images per forward chunk.

    Returns:
        One real scale per hidden layer: ``statistic / 255``.
    """
    mlp = model.mlp if isinstance(model, QATNet) else model
    x = to_pixels(images).reshape(-1, mlp.sizes[0])
    hidden = len(mlp.layers) - 1
    scales: list[float] = []
    for i in range(hidden):
        net = QATNet(mlp, [*scales, *([1.0] * (hidden - len(scales)))])
        net.eval()
        acts = [_hidden_output(net, x[k : k + batch], i) for k in range(0, len(x), batch)]
        stat = float(_statistic(torch.cat(acts), percentile))
        scales.append(max(stat, 1e-8) / ACT_MAX)
    return scales


def _hidden_output(net: QATNet, x: torch.Tensor, index: int) -> torch.Tensor:
    """The float ReLU output of hidden layer ``index`` with fake-quant earlier layers."""
    mlp = net.mlp
    h = x
    s_in = torch.tensor(INPUT_SCALE)
    for i, layer in enumerate(mlp.layers[: index + 1]):
        s_out = net.act_scale[i].to(h.dtype)
        s_w = weight_scale(layer.weight, True, s_out / s_in if i < index else 1.0)
        w = fake_quant_weight(layer.weight, True, s_w)
        b = fake_quant_bias(layer.bias, (s_in * s_w).reshape(-1))
        h = torch.relu(torch.nn.functional.linear(h, w, b))
        if i < index:
            h = fake_quant_act(h, s_out)
            s_in = s_out
    return h


def to_pixels(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 pixels (numpy or torch) to float32 pixels/255; float input is returned as is."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    return images.to(torch.float32)


def quantized_layers(
    model: MLP | QATNet, scales: Sequence[float] | None = None
) -> list[DenseLayer]:
    """Quantize every layer of ``model`` with :func:`lwfc.quantize.quantize_dense`.

    Args:
        model: float network or QATNet.
        scales: hidden activation scales (one per hidden layer); default: the QATNet's own.
    """
    mlp = model.mlp if isinstance(model, QATNet) else model
    if scales is None:
        if not isinstance(model, QATNet):
            raise ValueError("scales are required for a float model (see calibrate)")
        scales = model.scales
    scales = [float(s) for s in scales]
    if len(scales) != len(mlp.layers) - 1:
        raise ValueError(f"expected {len(mlp.layers) - 1} activation scales, got {len(scales)}")
    layers = []
    s_in = INPUT_SCALE
    for i, (name, layer) in enumerate(zip(mlp.names, mlp.layers, strict=True)):
        s_out = scales[i] if i < len(scales) else None
        layers.append(
            quantize.quantize_dense(
                name,
                layer.weight.detach().double().numpy(),
                layer.bias.detach().double().numpy(),
                s_in,
                s_out,
            )
        )
        s_in = s_out if s_out is not None else s_in
    return layers


def to_bundle(
    model: MLP | QATNet,
    scales: Sequence[float] | None = None,
    name: str = "mnist-dense",
    dataset: str = "mnist",
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Bundle:
    """Export ``model`` as a validated integer :class:`~lwfc.bundle.Bundle`.

    ``scales``: hidden activation scales (PTQ: from :func:`calibrate`; QAT: the observers',
    the default for a QATNet).
    """
    return quantize.build_bundle(
        quantized_layers(model, scales),
        name=name,
        dataset=dataset,
        provenance=provenance,
        metrics=metrics,
    )
