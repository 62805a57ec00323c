"""The five pruning methods of the paper (torch.nn.utils.prune) and mask handling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lwfc.compress import prune as P
from lwfc.errors import LwfcError


def _weights(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "fc1": torch.randn(20, 40, generator=g),
        "fc2": torch.randn(10, 20, generator=g),
        "fc3": torch.randn(4, 10, generator=g),
    }


def test_ratios_are_the_paper_grid() -> None:
    assert P.RATIOS[0] == 0.1 and P.RATIOS[-1] == 0.7 and len(P.RATIOS) == 13
    assert len(P.PAPER_METHODS) == 5


@pytest.mark.parametrize("method", P.METHODS)
def test_each_method_prunes_the_requested_fraction(method: str) -> None:
    w = _weights()
    names = P.default_layers(list(w), method)
    masks = P.compute_masks({n: w[n] for n in names}, method, 0.4, seed=1)
    assert set(masks) == set(names)
    if method in P.STRUCTURED:
        assert names == ["fc1", "fc2"]
        for m in masks.values():  # whole rows
            rows = m.sum(dim=1)
            assert set(rows.tolist()) <= {0.0, float(m.shape[1])}
            assert int((rows == 0).sum()) == round(0.4 * m.shape[0])
    elif method.endswith("global"):
        assert P.sparsity(masks) == pytest.approx(0.4, abs=1 / 1040)
    else:
        for m in masks.values():
            assert int((m == 0).sum()) == round(0.4 * m.numel())


def test_l1_prunes_the_smallest_weights() -> None:
    w = _weights()
    masks = P.compute_masks(w, "l1", 0.5)
    for name, m in masks.items():
        kept = w[name].abs()[m == 1]
        dropped = w[name].abs()[m == 0]
        assert kept.min() >= dropped.max()
    s1 = P.compute_masks(w, "l1_structured", 0.5)["fc1"]
    norms = w["fc1"].abs().sum(dim=1)
    assert norms[s1[:, 0] == 1].min() >= norms[s1[:, 0] == 0].max()


def test_random_methods_are_seeded_and_leave_global_rng_alone() -> None:
    w = _weights()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = P.compute_masks(w, "random_layer", 0.3, seed=5)
    after = torch.rand(1)
    b = P.compute_masks(w, "random_layer", 0.3, seed=5)
    c = P.compute_masks(w, "random_layer", 0.3, seed=6)
    assert torch.equal(before, after)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)


def test_pruning_is_cumulative_and_attach_keeps_zeros_while_training() -> None:
    w = _weights()
    first = P.compute_masks(w, "l1", 0.3)
    second = P.compute_masks(w, "l1", 0.3, existing=first)
    for n in w:  # 30 % of the remaining 70 % more
        assert torch.all(second[n] <= first[n])
        assert int((second[n] == 0).sum()) == round(0.3 * w[n].numel()) + round(
            0.3 * round(0.7 * w[n].numel())
        )
    lin = nn.Linear(40, 20)
    P.attach_masks({"fc1.weight": lin}, {"fc1.weight": first["fc1"]})
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        lin(torch.randn(8, 40)).pow(2).sum().backward()
        opt.step()
    lin(torch.randn(1, 40))
    assert torch.all(lin.weight[first["fc1"] == 0] == 0)
    P.detach_masks({"fc1.weight": lin})
    assert isinstance(lin.weight, nn.Parameter) and not hasattr(lin, "weight_mask")


def test_bad_arguments() -> None:
    with pytest.raises(LwfcError):
        P.compute_masks(_weights(), "magnitude", 0.3)
    with pytest.raises(LwfcError):
        P.compute_masks(_weights(), "l1", 1.0)
