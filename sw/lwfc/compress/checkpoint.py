"""Where a compression starts: loading a network from a bundle or a checkpoint.

``lwfc compress INPUT`` accepts:

* a **torch checkpoint** written by ``lwfc train --checkpoint FILE`` (float weights and the QAT
  activation ranges of the trained student): the best start, nothing is lost;
* a **compression state** ``.pt`` written by ``lwfc compress --save-state`` or by the search
  (``OUT/bases/*.pt``): continue compressing a compressed network;
* a **bundle** folder: its integers are dequantized (``W = W_int * s_w``,
  ``b = b_int * s_in * s_w``, activation scales as stored) and used as float weights. The
  int8 rounding is then part of the starting point; QAT fine-tuning recovers from it.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import MANIFEST, load_bundle
from ..errors import LwfcError
from ..qat import NET_FORMAT, Dropout, QNet, net_from_dict


def load_net(path: str | os.PathLike) -> QNet:
    """A :class:`QNet` from a bundle folder, a compression state or a train checkpoint.

    Raises:
        LwfcError: missing file or an unrecognised content.
    """
    p = Path(path)
    if p.is_dir() or p.name == MANIFEST:
        return QNet.from_bundle(load_bundle(p))
    if not p.is_file():
        raise LwfcError(f"{p}: no such bundle folder or checkpoint file")
    import torch

    try:
        state = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise LwfcError(f"{p}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and state.get("format") == NET_FORMAT:
        return net_from_dict(state)
    return from_train_checkpoint(state, str(p))


def dataset_of(path: str | os.PathLike) -> str:
    """The dataset a compression input was made for: a bundle's or checkpoint's, else mnist."""
    p = Path(path)
    if p.is_dir() or p.name == MANIFEST:
        return load_bundle(p).dataset
    if p.is_file():
        import torch

        try:
            state = torch.load(p, map_location="cpu", weights_only=False)
        except Exception:
            return "mnist"  # load_net reports the unreadable file
        if isinstance(state, dict) and isinstance(state.get("dataset"), str):
            return state["dataset"]
    return "mnist"


def _linear_layers(state: dict[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(weight, bias)`` pairs of the Linear layers of a state dict, in layer order."""
    import torch

    pairs = []
    for key, value in state.items():
        if key.endswith("weight") and isinstance(value, torch.Tensor) and value.ndim == 2:
            bias = state.get(key[: -len("weight")] + "bias")
            if bias is None:
                continue
            pairs.append((value.detach().double().numpy(), bias.detach().double().numpy()))
    return pairs


def from_train_checkpoint(ckpt: Any, where: str = "checkpoint") -> QNet:
    """A :class:`QNet` from the content of a ``lwfc train --checkpoint`` file.

    The student's float weights and its QAT activation scales (``act_scales``) are taken as
    they are (:func:`lwfc.checkpoints.model_from_state`); dropout is not carried over (the
    compression sets its own). A plain state dict of Linear layers is also accepted; its
    activation scales are then calibrated later (:func:`ensure_calibrated`).
    """
    if not isinstance(ckpt, dict):
        raise LwfcError(f"{where}: not a checkpoint dictionary")
    if ckpt.get("format") == "lwfc-checkpoint":
        from ..checkpoints import model_from_state

        qnet = model_from_state(ckpt)
        qnet.dropout = Dropout()  # the compression sets its own
        return qnet
    state = ckpt.get("state_dict") or ckpt.get("model") or ckpt
    if not isinstance(state, dict):
        raise LwfcError(f"{where}: no model state in the checkpoint")
    pairs = _linear_layers(state)
    if len(pairs) < 2:
        raise LwfcError(f"{where}: found {len(pairs)} linear layers, expected the student's 3")
    for (w0, _), (w1, _) in itertools.pairwise(pairs):
        if w1.shape[1] != w0.shape[0]:
            raise LwfcError(f"{where}: linear layers do not chain ({w0.shape} -> {w1.shape})")
    scales = _act_scales(ckpt, len(pairs) - 1)
    return QNet.from_dense([w for w, _ in pairs], [b for _, b in pairs], scales)


def _act_scales(ckpt: dict[str, Any], hidden: int) -> list[float] | None:
    for key in ("act_scales", "activation_scales", "output_scales"):
        value = ckpt.get(key)
        if value is not None and len(value) == hidden:
            return [float(v) for v in value]
    return None


def ensure_calibrated(net: QNet, images: np.ndarray) -> None:
    """Calibrate activation / latent scales that are still unset (0) on ``images``."""
    from ..qat import QLowRank

    missing = any(float(s) <= 0 for s in net.act_scale) or any(
        isinstance(layer, QLowRank) and float(layer.latent_scale) <= 0 for layer in net.layers
    )
    if missing:
        net.calibrate(images)


def load_teacher(path: str | os.PathLike, integer: bool = False) -> Any:
    """A KD teacher (``nn.Module``: pixels in [0, 1] ``(N, 784)`` -> logits) from a checkpoint.

    Accepts a pickled ``nn.Module``, or a state dict of an MLP (its Linear layers in order, ReLU
    between). ``integer``: the teacher's weights are rounded onto the int8 grid (per row, per
    tensor for the last layer), the paper's "integer teacher".
    """
    import torch
    from torch import nn

    from ..qat import fake_quant_weight

    p = Path(path)
    if not p.is_file():
        raise LwfcError(f"{p}: no such teacher checkpoint")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise LwfcError(f"{p}: cannot read teacher ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and obj.get("format") == "lwfc-checkpoint":
        from ..models import from_config

        spec = obj.get("teacher")
        if not spec:
            raise LwfcError(f"{p}: this checkpoint holds no teacher (recipe {obj.get('recipe')})")
        module = from_config(spec["config"])
        module.load_state_dict(spec["state_dict"])
    elif isinstance(obj, nn.Module):
        module = obj
    else:
        state = obj
        if isinstance(obj, dict):
            state = obj.get("teacher") or obj.get("state_dict") or obj.get("model") or obj
        if isinstance(state, nn.Module):
            module = state
        else:
            pairs = _linear_layers(state) if isinstance(state, dict) else []
            if not pairs:
                raise LwfcError(f"{p}: no teacher network found")
            layers: list[nn.Module] = []
            for i, (w, b) in enumerate(pairs):
                lin = nn.Linear(w.shape[1], w.shape[0])
                with torch.no_grad():
                    lin.weight.copy_(torch.as_tensor(w))
                    lin.bias.copy_(torch.as_tensor(b))
                layers.append(lin)
                if i < len(pairs) - 1:
                    layers.append(nn.ReLU())
            module = nn.Sequential(nn.Flatten(), *layers)
    if integer:
        with torch.no_grad():
            linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linears):
                lin.weight.copy_(fake_quant_weight(lin.weight, per_row=i < len(linears) - 1))
    module.eval()
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def self_teacher(net: QNet, integer: bool = False) -> Any:
    """The uncompressed network itself as KD teacher (a frozen copy; float unless ``integer``)."""
    from ..qat import clone

    teacher = clone(net)
    teacher.quant = integer
    teacher.dropout = Dropout()
    teacher.eval()
    for param in teacher.parameters():
        param.requires_grad_(False)
    return teacher
