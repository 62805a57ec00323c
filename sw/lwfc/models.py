"""The float networks: the deployed MLP student, the paper's MLP teacher and a small conv teacher.

Every model takes images as **pixels / 255**: a float tensor in ``[0, 1]`` of shape
``(N, 784)``, ``(N, 28, 28)`` or ``(N, 1, 28, 28)``, with no mean/std normalisation, so that the
integer input scale of the exported bundle is exactly ``1/255`` (``docs/arithmetic.md``). Models
return float logits ``(N, classes)``.

* :class:`MLP` — dense layers (``nn.Linear`` with bias) named ``fc1``, ``fc2``, …, ReLU between
  them, optional dropout after hidden layer 1 or 2 (the paper's ``L_drop``, ``P_drop``).
* :class:`Student` — the deployed 784-50-100-10 network.
* :class:`Teacher` — the paper's distillation teacher 784-100-200-100-50-10.
* :class:`ConvTeacher` — a small CNN, a stronger and still cheap teacher for our default
  recipe (it is never exported: only the student goes to the integer bundle).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

#: Layer sizes of the deployed student and of the paper's teacher.
STUDENT_SIZES: tuple[int, ...] = (784, 50, 100, 10)
TEACHER_SIZES: tuple[int, ...] = (784, 100, 200, 100, 50, 10)


def parse_arch(text: str) -> tuple[int, ...]:
    """Layer widths from ``"784-128-64-10"`` (input, hidden layers, classes; 1+ hidden layers).

    Raises:
        ValueError: not dash-separated positive integers, or fewer than three widths.
    """
    parts = str(text).replace("x", "-").split("-")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected widths like 784-50-100-10, got {text!r}") from None
    if len(sizes) < 3 or any(s < 1 for s in sizes):
        raise ValueError(
            f"expected input-hidden...-classes with at least one hidden layer, got {text!r}"
        )
    return sizes


def flatten_pixels(x: torch.Tensor, features: int = 784) -> torch.Tensor:
    """``(N, 28, 28)``, ``(N, 1, 28, 28)`` or ``(N, 784)`` floats to ``(N, features)``."""
    return x.reshape(x.shape[0], features)


class MLP(nn.Module):
    """A ReLU multi-layer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    Args:
        sizes: layer widths, input first, classes last (at least two entries).
        dropout: ``(location, p)``: dropout with probability ``p`` after the ReLU of hidden
            layer ``location`` (1-based; never after the output layer), or ``None``.
    """

    def __init__(self, sizes: Sequence[int], dropout: tuple[int, float] | None = None) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or any(s <= 0 for s in sizes):
            raise ValueError(f"sizes must be at least two positive widths, got {sizes}")
        self.sizes = sizes
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.dropout_location = 0
        self.dropout_p = 0.0
        if dropout is not None and dropout[1] > 0:
            loc, p = int(dropout[0]), float(dropout[1])
            if not 1 <= loc <= len(sizes) - 2:
                raise ValueError(f"dropout location must be a hidden layer 1..{len(sizes) - 2}")
            if not 0.0 <= p < 1.0:
                raise ValueError(f"dropout probability must be in [0, 1), got {p}")
            self.dropout_location, self.dropout_p = loc, p
        self.drop = nn.Dropout(self.dropout_p)

    @classmethod
    def from_sizes(cls, sizes: Sequence[int], dropout: tuple[int, float] | None = None) -> MLP:
        """Build an MLP from its layer sizes (same as the constructor; reads better)."""
        return cls(sizes, dropout)

    @property
    def names(self) -> list[str]:
        """Layer names ``fc1``, ``fc2``, … as used in bundles."""
        return [f"fc{i + 1}" for i in range(len(self.layers))]

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-friendly (to rebuild the model from a checkpoint)."""
        drop = [self.dropout_location, self.dropout_p] if self.dropout_p > 0 else None
        return {"kind": "mlp", "sizes": list(self.sizes), "dropout": drop}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, sizes[-1])`` for pixels/255 ``x``."""
        h = flatten_pixels(x, self.sizes[0])
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < last:
                h = torch.relu(h)
                if i + 1 == self.dropout_location:
                    h = self.drop(h)
        return h


class Student(MLP):
    """The deployed 784-50-100-10 ReLU network (optionally with dropout)."""

    def __init__(
        self,
        dropout: tuple[int, float] | None = None,
        sizes: Sequence[int] = STUDENT_SIZES,
    ) -> None:
        super().__init__(sizes, dropout)


class Teacher(MLP):
    """The paper's distillation teacher, 784-100-200-100-50-10 ReLU."""

    def __init__(
        self,
        dropout: tuple[int, float] | None = None,
        sizes: Sequence[int] = TEACHER_SIZES,
    ) -> None:
        super().__init__(sizes, dropout)


class ConvTeacher(nn.Module):
    """A small CNN teacher: conv5x5(c1)-pool-conv5x5(c2)-pool-fc(hidden)-fc(classes), ReLU.

    About 0.99+ test accuracy on MNIST after a few epochs with augmentation; used only to
    produce soft targets. Input pixels/255 as for the MLPs, images ``shape`` (H, W), both at
    least 4 (8x8 digits: 2x2 after pooling).
    """

    def __init__(
        self,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 128,
        classes: int = 10,
        shape: tuple[int, int] = (28, 28),
    ) -> None:
        super().__init__()
        c1, c2 = channels
        self.channels = (int(c1), int(c2))
        self.hidden = int(hidden)
        self.classes = int(classes)
        self.shape = (int(shape[0]), int(shape[1]))
        if min(self.shape) < 4:
            raise ValueError(f"ConvTeacher needs images of at least 4x4, got {self.shape}")
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        self.fc1 = nn.Linear(c2 * (self.shape[0] // 4) * (self.shape[1] // 4), hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-friendly."""
        return {
            "kind": "conv",
            "channels": list(self.channels),
            "hidden": self.hidden,
            "classes": self.classes,
            "shape": list(self.shape),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` for pixels/255 ``x``."""
        h = x.reshape(x.shape[0], 1, *self.shape)
        h = torch.max_pool2d(torch.relu(self.conv1(h)), 2)
        h = torch.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


def from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from :meth:`MLP.config` / :meth:`ConvTeacher.config` output."""
    kind = config.get("kind")
    if kind == "mlp":
        drop = config.get("dropout")
        return MLP(config["sizes"], tuple(drop) if drop else None)  # type: ignore[arg-type]
    if kind == "conv":
        shape = tuple(config.get("shape", (28, 28)))
        return ConvTeacher(
            tuple(config["channels"]), config["hidden"], config["classes"], shape  # type: ignore[arg-type]
        )
    raise ValueError(f"unknown model kind {kind!r}")
