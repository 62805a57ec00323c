"""The E-score of the paper (eq. 11) and the Pareto front of the hardware-aware objective.

The paper picks its compressed weights by the E-score, "a harmonic mean of the accuracy after
LRA-learn and the percentage of weights removed, where a larger beta gives the accuracy more
weight" (beta = 12). Written as an F-beta score with the accuracy ``A`` in the role that beta
favours and the removed fraction ``R`` in the other::

    E = (1 + beta**2) * A * R / (beta**2 * R + A)            (eq. 11)

equivalently ``1/E = (beta**2/A + 1/R) / (1 + beta**2)``: a weighted harmonic mean with weight
``beta**2`` on the accuracy. ``E -> A`` as ``beta -> inf``, ``E = 0`` when nothing is removed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

#: The paper's beta.
BETA = 12.0

T = TypeVar("T")


def escore(accuracy: float, removed: float, beta: float = BETA) -> float:
    """E-score (eq. 11) of an ``accuracy`` and a fraction of weights ``removed``, both in [0, 1].

    Returns 0 when either is 0 (a harmonic mean with a zero term).

    Raises:
        ValueError: for values outside [0, 1] or a non-positive beta.
    """
    for name, value in (("accuracy", accuracy), ("removed", removed)):
        if not (0.0 <= value <= 1.0) or math.isnan(value):
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta!r}")
    if accuracy == 0.0 or removed == 0.0:
        return 0.0
    b2 = beta * beta
    return (1.0 + b2) * accuracy * removed / (b2 * removed + accuracy)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when cost vector ``a`` is no worse than ``b`` everywhere and better somewhere.

    Every component is *minimised* (negate the ones to maximise, e.g. ``-accuracy``).
    """
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def pareto_front(items: Sequence[T], costs: Callable[[T], Sequence[float]]) -> list[T]:
    """The items no other item dominates, in input order (duplicates of a cost all kept).

    ``costs(item)`` gives the vector of objectives to minimise. O(n^2), fine for the ~10^4
    trials of a paper-sized sweep once they are reduced to distinct cost vectors.
    """
    vectors = [tuple(float(c) for c in costs(item)) for item in items]
    distinct = sorted(set(vectors))
    front: list[tuple[float, ...]] = []
    for v in distinct:  # lexicographic order: a dominator always comes before what it dominates
        if not any(dominates(f, v) for f in front):
            front.append(v)
    keep = set(front)
    return [item for item, v in zip(items, vectors, strict=True) if v in keep]


def hardware_objectives(record: dict[str, Any]) -> tuple[float, float, float, float]:
    """The cost vector of a trial record: ``(-accuracy, weights_nonzero, bram_bytes, cycles)``."""
    return (
        -float(record["accuracy"]),
        float(record["weights_nonzero"]),
        float(record["bram_bytes"]),
        float(record["cycles"]),
    )
