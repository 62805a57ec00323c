"""The compressible network: dense and low-rank layers with fake quantization that mirrors the
bundle's integer contract, masks from pruning, calibration, evaluation and export.

A :class:`CompressNet` is a chain of :class:`QDense` / :class:`QLowRank` layers, ReLU between
them, optional dropout after hidden layer 1 or 2. In ``quant`` mode its forward pass computes
what the int8 golden model computes, up to the last bit of rounding:

* input ``x`` = pixels / 255 (exact: the bundle's input scale is 1/255);
* weights (dense ``W``, factors ``u``, ``v``) on the symmetric int8 grid, per row for hidden
  layers and ``u``, per tensor for the last layer's ``W`` / ``v`` (``fakequant``);
* a low-rank latent ``z = u x`` on the signed int8 grid of its per-tensor ``latent_scale``;
* hidden outputs after ReLU on the uint8 grid of the layer's ``act_scale`` (clamped at 255).

Scales are observed during training (an exponential moving average of the batch maximum) and
can be recalibrated on data (:meth:`CompressNet.calibrate`). :func:`to_bundle` hands the float
weights, masks and scales to :mod:`lwfc.quantize`, so the exported integers are exactly the
grid values the fake-quant forward pass used.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import arith, golden, quantize
from ..bundle import Bundle, DenseLayer, DenseShape, LowRankLayer, LowRankShape
from ..errors import LwfcError
from .fakequant import fake_quant_act, fake_quant_latent, fake_quant_weight
from .prune import attach_masks, masked

#: EMA momentum of the activation / latent range observers.
OBSERVER_MOMENTUM = 0.05


class QDense(DenseShape, nn.Module):
    """A dense layer ``y = W x + b``; ``weight`` (out, in), ``bias`` (out,)."""

    kind = "dense"

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, last: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float32).clone())
        self.bias = nn.Parameter(torch.as_tensor(bias, dtype=torch.float32).clone())
        self.last = last

    def matrix(self) -> torch.Tensor:
        """The (masked) float weight ``(out, in)``."""
        return masked(self, "weight")

    def forward(self, x: torch.Tensor, quant: bool = True, observe: bool = False) -> torch.Tensor:
        w = self.matrix()
        if quant:
            w = fake_quant_weight(w, per_row=not self.last)
        return F.linear(x, w, self.bias)


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
        self.register_buffer("latent_scale", torch.tensor(float(latent_scale)))

    def factors(self, quant: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, v)``, masked, on the int8 grid if ``quant``."""
        u, v = masked(self, "u"), masked(self, "v")
        if quant:
            u = fake_quant_weight(u, per_row=True)
            v = fake_quant_weight(v, per_row=not self.last)
        return u, v

    def matrix(self) -> torch.Tensor:
        """The product ``v @ u`` ``(out, in)`` (float, masked)."""
        u, v = self.factors(quant=False)
        return v @ u

    def forward(self, x: torch.Tensor, quant: bool = True, observe: bool = False) -> torch.Tensor:
        u, v = self.factors(quant)
        z = F.linear(x, u)
        if observe:
            _observe(self.latent_scale, z.detach().abs().max() / arith.LATENT_MAX)
        if quant and float(self.latent_scale) > 0:
            z = fake_quant_latent(z, self.latent_scale)
        return F.linear(z, v, self.bias)


def _observe(buf: torch.Tensor, value: torch.Tensor) -> None:
    """EMA update of a scale buffer (first observation sets it)."""
    with torch.no_grad():
        if float(buf) <= 0:
            buf.copy_(value)
        else:
            buf.mul_(1 - OBSERVER_MOMENTUM).add_(OBSERVER_MOMENTUM * value)


@dataclass(frozen=True)
class Dropout:
    """Dropout placement: after hidden layer ``location`` (1 or 2) with probability ``p``."""

    location: int = 0  # 0: none
    p: float = 0.0

    def __post_init__(self) -> None:
        if self.location not in (0, 1, 2):
            raise LwfcError(f"dropout location must be 1 or 2 (0: none), got {self.location}")
        if not 0.0 <= self.p < 1.0:
            raise LwfcError(f"dropout probability must lie in [0, 1), got {self.p}")


class CompressNet(nn.Module):
    """A chain of :class:`QDense` / :class:`QLowRank` layers with ReLU between them.

    Attributes:
        layers: the layers, input first; every layer but the last is hidden (ReLU, uint8 out).
        act_scale: buffer (hidden layers,): real step of each hidden layer's uint8 output.
        names: layer names (``fc1``, ``fc2``, ...), used in the bundle and in mask keys.
        dropout: the :class:`Dropout` placement used in training mode.
    """

    def __init__(
        self,
        layers: list[nn.Module],
        act_scale: list[float] | None = None,
        names: list[str] | None = None,
        dropout: Dropout | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        hidden = len(layers) - 1
        scales = act_scale if act_scale is not None else [0.0] * hidden
        if len(scales) != hidden:
            raise LwfcError(f"need {hidden} activation scales, got {len(scales)}")
        self.register_buffer("act_scale", torch.tensor(scales, dtype=torch.float32))
        self.names = names or [f"fc{i + 1}" for i in range(len(layers))]
        self.dropout = dropout or Dropout()
        self.quant = True

    # ---------------------------------------------------------------- construction helpers
    @classmethod
    def from_dense(
        cls,
        weights: list[np.ndarray | torch.Tensor],
        biases: list[np.ndarray | torch.Tensor],
        act_scale: list[float] | None = None,
        dropout: Dropout | None = None,
    ) -> CompressNet:
        """A dense network from float ``weights`` ``[(out, in), ...]`` and ``biases``."""
        n = len(weights)
        layers = [
            QDense(torch.as_tensor(np.asarray(w)), torch.as_tensor(np.asarray(b)), i == n - 1)
            for i, (w, b) in enumerate(zip(weights, biases, strict=True))
        ]
        return cls(layers, act_scale, dropout=dropout)

    @classmethod
    def from_bundle(cls, bundle: Bundle, dropout: Dropout | None = None) -> CompressNet:
        """Dequantize a bundle: ``W = W_int * s_w``, ``b = b_int * s_in * s_w``, scales as stored.

        Masks of the bundle are attached (pruned weights stay zero in fine-tuning).
        """
        layers: list[nn.Module] = []
        masks: dict[str, torch.Tensor] = {}
        n = len(bundle.layers)
        for i, layer in enumerate(bundle.layers):
            last = i == n - 1
            if isinstance(layer, DenseLayer):
                s = layer.weight_scale.astype(np.float64)
                w = layer.weight.astype(np.float64) * s[:, None]
                b = layer.bias.astype(np.float64) * layer.input_scale * s
                layers.append(QDense(torch.tensor(w), torch.tensor(b), last))
                if layer.mask is not None:
                    masks[f"{layer.name}.weight"] = torch.tensor(layer.mask, dtype=torch.float32)
            else:
                su = layer.u_scale.astype(np.float64)
                sv = layer.v_scale.astype(np.float64)
                u = layer.u.astype(np.float64) * su[:, None]
                v = layer.v.astype(np.float64) * sv[:, None]
                b = layer.bias.astype(np.float64) * layer.latent_scale * sv
                t = torch.tensor
                layers.append(QLowRank(t(u), t(v), t(b), last, layer.latent_scale))
                if layer.u_mask is not None:
                    masks[f"{layer.name}.u"] = torch.tensor(layer.u_mask, dtype=torch.float32)
                if layer.v_mask is not None:
                    masks[f"{layer.name}.v"] = torch.tensor(layer.v_mask, dtype=torch.float32)
        scales = [float(layer.output_scale) for layer in bundle.layers[:-1]]  # type: ignore[arg-type]
        net = cls(layers, scales, names=[layer.name for layer in bundle.layers], dropout=dropout)
        if masks:
            attach_masks(net.param_modules(masks), masks)
        return net

    # ------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, observe: bool | None = None) -> torch.Tensor:
        """Logits ``(N, classes)`` of float pixels ``x`` ``(N, in)`` in [0, 1].

        ``observe`` (default: in training mode) updates the range observers.
        """
        observe = self.training if observe is None else observe
        h = x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h, quant=self.quant, observe=observe)
            if i == last:
                break
            h = F.relu(h)
            if observe:
                _observe(self.act_scale[i], h.detach().max() / arith.ACT_MAX)
            if self.quant and float(self.act_scale[i]) > 0:
                h = fake_quant_act(h, self.act_scale[i])
            if self.training and self.dropout.location == i + 1 and self.dropout.p > 0:
                h = F.dropout(h, self.dropout.p, training=True)
        return h

    def hidden_inputs(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The (fake-quantized) input of layer ``index`` for pixels ``x`` (eval mode, no grad)."""
        with torch.no_grad():
            h = x
            for i in range(index):
                h = F.relu(self.layers[i](h, quant=self.quant))
                if self.quant and float(self.act_scale[i]) > 0:
                    h = fake_quant_act(h, self.act_scale[i])
        return h

    # ---------------------------------------------------------------- calibration
    @torch.no_grad()
    def calibrate(
        self, x: torch.Tensor, percentile: float = 100.0, latents_only: bool = False
    ) -> None:
        """Set activation (and low-rank latent) scales from data ``x`` ``(N, in)``.

        Each scale becomes ``percentile``-th percentile of the value / 255 (activations) or of
        ``|z|`` / 127 (latents), layer by layer with the earlier layers already quantized.
        ``latents_only`` keeps the hidden activation scales (e.g. trained QAT ranges).
        """
        h = x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if isinstance(layer, QLowRank):
                z = F.linear(h, layer.factors(self.quant)[0])
                layer.latent_scale.fill_(_pct(z.abs(), percentile) / arith.LATENT_MAX)
            h = layer(h, quant=self.quant)
            if i == last:
                break
            h = F.relu(h)
            if not latents_only:
                self.act_scale[i] = _pct(h, percentile) / arith.ACT_MAX
            if self.quant:
                h = fake_quant_act(h, self.act_scale[i])

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


def _pct(t: torch.Tensor, percentile: float) -> float:
    flat = t.detach().flatten().float()
    if flat.numel() == 0:
        return 1.0
    if percentile >= 100:
        value = float(flat.max())
    else:
        value = float(torch.quantile(flat, percentile / 100))
    return value if value > 0 else 1.0


def clone(net: CompressNet) -> CompressNet:
    """A deep copy (parameters, masks, scales)."""
    return copy.deepcopy(net)


def pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 images ``(N, 28, 28)`` or ``(N, 784)`` -> float32 ``(N, 784)`` in [0, 1]."""
    arr = golden.as_pixels(images)
    return torch.from_numpy(arr.astype(np.float32) / 255.0)


@torch.no_grad()
def float_accuracy(net: CompressNet, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the fake-quant (or float, if ``net.quant`` is off) torch model."""
    was = net.training
    net.eval()
    x = pixels(images)
    pred = torch.cat([net(x[i : i + 10_000]).argmax(1) for i in range(0, len(x), 10_000)])
    net.train(was)
    return float((pred.numpy() == np.asarray(labels)).mean())


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


def to_bundle(
    net: CompressNet,
    name: str = "model",
    dataset: str = "mnist",
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Bundle:
    """Quantize the network into a bundle (``lwfc.quantize``), masks included.

    Hidden rows whose bias would overflow the contract are zeroed (:func:`guard_bias_rows`)
    and listed in ``provenance["bias_guard_rows"]``.

    Raises:
        LwfcError: if a scale has not been observed or calibrated yet.
    """
    layers: list[DenseLayer | LowRankLayer] = []
    in_scale = arith.INPUT_SCALE
    n = len(net.layers)
    masks = net.masks()
    guarded: dict[str, list[int]] = {}
    for i, (lname, layer) in enumerate(net.iter_layers()):
        out_scale = None if i == n - 1 else float(net.act_scale[i])
        if out_scale is not None and out_scale <= 0:
            raise LwfcError(f"layer {lname!r}: activation scale not calibrated")
        bias = _effective(layer.bias)
        if isinstance(layer, QDense):
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
    provenance = dict(provenance or {})
    if guarded:
        provenance["bias_guard_rows"] = guarded
    return quantize.build_bundle(
        layers, name=name, dataset=dataset, provenance=provenance, metrics=metrics
    )


# ------------------------------------------------------------------------- (de)serialisation
NET_FORMAT = "lwfc-compressnet-v1"


def net_to_dict(net: CompressNet) -> dict[str, Any]:
    """A picklable, torch-free description of ``net`` (numpy arrays, masks, scales, dropout)."""
    layers = []
    masks = {k: m.numpy().astype(np.uint8) for k, m in net.masks().items()}
    for lname, layer in net.iter_layers():
        entry: dict[str, Any] = {"name": lname, "kind": layer.kind, "last": layer.last}
        entry["bias"] = _effective(layer.bias)
        if isinstance(layer, QDense):
            entry["weight"] = _effective(layer.matrix())
        else:
            u, v = layer.factors(quant=False)
            entry.update(u=_effective(u), v=_effective(v), latent_scale=float(layer.latent_scale))
        layers.append(entry)
    return {
        "format": NET_FORMAT,
        "layers": layers,
        "act_scale": [float(s) for s in net.act_scale],
        "masks": masks,
        "dropout": [net.dropout.location, net.dropout.p],
    }


def net_from_dict(state: dict[str, Any]) -> CompressNet:
    """Inverse of :func:`net_to_dict`."""
    if state.get("format") != NET_FORMAT:
        raise LwfcError(f"not a {NET_FORMAT} state (format {state.get('format')!r})")
    layers: list[nn.Module] = []
    for e in state["layers"]:
        t = torch.as_tensor
        if e["kind"] == "dense":
            layers.append(QDense(t(e["weight"]), t(e["bias"]), e["last"]))
        else:
            scale = e["latent_scale"]
            layers.append(QLowRank(t(e["u"]), t(e["v"]), t(e["bias"]), e["last"], scale))
    net = CompressNet(
        layers,
        state["act_scale"],
        names=[e["name"] for e in state["layers"]],
        dropout=Dropout(*state.get("dropout", (0, 0.0))),
    )
    masks = {k: torch.as_tensor(m, dtype=torch.float32) for k, m in state["masks"].items()}
    if masks:
        attach_masks(net.param_modules(masks), masks)
    return net
