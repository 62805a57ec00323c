"""The quantized network lwfc.qat.QNet: dropout, KD fine-tuning, per-layer pruning, state I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import random_bundle
from lwfc import golden
from lwfc.compress import pipeline
from lwfc.errors import LwfcError
from lwfc.qat import Dropout, QNet, net_from_dict, net_to_dict, to_bundle


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _images(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_bundle_round_trip_is_exact() -> None:
    b = random_bundle(2, lowrank={0: 12})
    net = QNet.from_bundle(b)
    again = to_bundle(net)
    for a, c in zip(b.layers, again.layers, strict=True):
        for field in ("u", "v", "weight", "bias", "multiplier", "shift", "u_multiplier"):
            if hasattr(a, field) and getattr(a, field) is not None:
                np.testing.assert_array_equal(getattr(a, field), getattr(c, field))
    x = _images()
    np.testing.assert_array_equal(golden.forward(b, x), golden.forward(again, x))


def test_state_round_trip_keeps_masks_and_scales() -> None:
    net = QNet.from_bundle(random_bundle(3))
    pipeline.prune_net(net, "l1", {"fc1": 0.8, "fc2": 0.5})
    pipeline.apply_lowrank(net, "fc1", rank=8, learn="none", calib_images=_images(200))
    pipeline.prune_factors(net, "fc1", 0.5)
    state = net_to_dict(net)
    back = net_from_dict(state)
    assert set(back.masks()) == {"fc1.u", "fc2.weight"}
    x = _images()
    np.testing.assert_array_equal(
        golden.forward(to_bundle(net), x), golden.forward(to_bundle(back), x)
    )
    with pytest.raises(LwfcError):
        net_from_dict({"format": "other"})


def test_per_layer_and_cumulative_pruning() -> None:
    net = QNet.from_bundle(random_bundle(4))
    masks = pipeline.prune_net(net, "l1", {"fc1": 0.8, "fc2": 0.5})
    assert float((masks["fc1.weight"] == 0).float().mean()) == pytest.approx(0.8, abs=1e-4)
    assert float((masks["fc2.weight"] == 0).float().mean()) == pytest.approx(0.5, abs=1e-4)
    again = pipeline.prune_net(net, "l1", 0.9, layers=["fc1"])  # from 0.8 to 0.9 overall
    assert float((again["fc1.weight"] == 0).float().mean()) == pytest.approx(0.9, abs=1e-4)
    assert torch.all(again["fc1.weight"] <= masks["fc1.weight"])  # earlier zeros stay zero
    with pytest.raises(LwfcError):
        pipeline.prune_net(net, "l1_global", {"fc1": 0.5})
    with pytest.raises(LwfcError):
        pipeline.prune_net(net, "l1", 0.5, layers=["fc7"])


def test_dropout_sits_after_the_chosen_hidden_layer() -> None:
    net = QNet.from_bundle(random_bundle(5), dropout=Dropout(2, 0.5))
    x = torch.rand(32, 784)
    net.eval()
    ref = net(x)
    torch.testing.assert_close(net(x), ref)  # eval: deterministic, no dropout
    clean = [net.hidden_inputs(x, i) for i in range(3)]
    seen = []

    def hook(_m: torch.nn.Module, inp: tuple) -> None:
        seen.append(inp[0].detach())

    handles = [layer.register_forward_pre_hook(hook) for layer in net.layers]
    net.train()
    net.observe = False
    net(x)
    for h in handles:
        h.remove()
    torch.testing.assert_close(seen[1], clean[1])  # nothing dropped after layer 1
    alive = clean[2] != 0
    dropped = float(((seen[2] == 0) & alive).float().sum() / alive.float().sum())
    assert 0.35 < dropped < 0.65  # about half of layer 2's live outputs dropped
    kept = alive & (seen[2] != 0)
    torch.testing.assert_close(seen[2][kept], 2 * clean[2][kept])  # inverted dropout scaling
    with pytest.raises(LwfcError):
        QNet.from_bundle(random_bundle(5), dropout=Dropout(3, 0.1))  # the output layer
    with pytest.raises(LwfcError):
        Dropout(1, 1.0)


def test_kd_finetune_moves_the_student_towards_the_teacher() -> None:
    rng = np.random.default_rng(0)
    images = _images(512, seed=1)
    labels = rng.integers(0, 10, size=512).astype(np.uint8)
    student = QNet.from_bundle(random_bundle(6))
    teacher = QNet.from_bundle(random_bundle(9))  # a different network: learnable targets
    teacher.quant = False
    teacher.eval()
    x = torch.from_numpy(images.reshape(512, -1).astype(np.float32) / 255)
    with torch.no_grad():
        teacher_logits = 4 * teacher(x)

    def kl() -> float:
        student.eval()
        with torch.no_grad():
            s = torch.log_softmax(student(x) / 4, 1)
        t = torch.log_softmax(teacher_logits / 4, 1)
        return float(torch.nn.functional.kl_div(s, t, reduction="batchmean", log_target=True))

    before = kl()
    pipeline.finetune(
        student, images, labels, 5, lr=3e-3, batch=64, teacher_logits=teacher_logits, alpha=1.0
    )
    assert kl() < 0.5 * before


def test_rows_whose_bias_would_overflow_are_zeroed_on_export() -> None:
    net = QNet.from_bundle(random_bundle(8))
    with torch.no_grad():
        net.layers[1].weight[3] = 1e-9  # a row emptied by pruning, its bias kept
        net.layers[1].bias[3] = 0.5
    bundle = to_bundle(net)
    assert bundle.provenance["bias_guard_rows"] == {"fc2": [3]}
    assert not bundle.layers[1].weight[3].any()
    x = _images()
    assert golden.forward(bundle, x).shape == (64, 10)
