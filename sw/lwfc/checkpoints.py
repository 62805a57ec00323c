"""Training checkpoints: what ``lwfc train --checkpoint`` writes and compression reads back.

A checkpoint is a ``torch.save`` dict of tensors and plain data only (``weights_only`` loads):
``format`` (:data:`CHECKPOINT_FORMAT`), ``format_version``, ``student`` (``config`` of
:meth:`lwfc.models.MLP.config` and its ``state_dict``), ``act_scales`` (the QAT activation
scales), ``teacher`` (or None), ``recipe``, ``seed``, ``dataset``, ``hyper``, ``metrics``,
``provenance``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import LwfcError
from .models import MLP, from_config
from .qat import QNet

#: Checkpoint format written by :func:`save_checkpoint`.
CHECKPOINT_FORMAT = "lwfc-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(result: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``result.state`` (or a state dict) to ``path`` with ``torch.save``, atomically."""
    state = result if isinstance(result, dict) else result.state
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only).

    Raises:
        LwfcError: not a readable lwfc checkpoint, or of another format version.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LwfcError(f"{path}: not a readable checkpoint ({exc.__class__.__name__})") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise LwfcError(f"{path}: not an lwfc checkpoint")
    if state.get("format_version") != CHECKPOINT_VERSION:
        raise LwfcError(
            f"{path}: checkpoint version {state.get('format_version')!r} is not supported"
        )
    return state


def model_from_state(state: dict[str, Any]) -> QNet:
    """The student of a checkpoint state as a :class:`~lwfc.qat.QNet` with its saved scales."""
    mlp = from_config(state["student"]["config"])
    if not isinstance(mlp, MLP):
        raise LwfcError("checkpoint: the student is not an MLP")
    mlp.load_state_dict(state["student"]["state_dict"])
    net = QNet.from_mlp(mlp, state["act_scales"])
    net.eval()
    return net
