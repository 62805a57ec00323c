"""Training, fake quantization and export: lwfc.models, lwfc.qat, lwfc.train.

The fake-quant model must predict what the integer golden model predicts; PTQ and QAT must give
valid bundles; runs must be reproducible; the paper's stopping rule and the KD loss must compute
what their definitions say.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lwfc import arith, golden, qat, train
from lwfc.bundle import load_bundle, save_bundle
from lwfc.data import load_dataset
from lwfc.errors import LwfcError
from lwfc.models import MLP, ConvTeacher, Student, Teacher, from_config


@pytest.fixture(scope="module")
def mnist(data_dir):
    """(train images, train labels, test images, test labels), uint8 / int64."""
    xi, yi = load_dataset("mnist", "train", data_dir, progress=False)
    xt, yt = load_dataset("mnist", "test", data_dir, progress=False)
    return xi, yi.astype(np.int64), xt, yt.astype(np.int64)


@pytest.fixture(scope="module")
def trained(mnist):
    """A student trained for one epoch on 20,000 images, with PTQ activation scales."""
    torch.manual_seed(0)
    xi, yi, _, _ = mnist
    x = qat.pixels(xi[:20000])
    y = torch.from_numpy(yi[:20000])
    net = Student()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for start in range(0, len(x), 50):
        xb, yb = x[start : start + 50], y[start : start + 50]
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    scales = qat.QNet.from_mlp(net).calibrate(xi[:5000])
    return net, scales


@torch.no_grad()
def _fake_quant_layer1(net: MLP, x: torch.Tensor) -> torch.Tensor:
    """ReLU output of layer 1 with int8-grid weights and bias, written out independently."""
    w = net.layers[0].weight
    s_w = w.abs().amax(1) / 127
    w_q = torch.clamp(torch.round(w / s_w[:, None]), -127, 127) * s_w[:, None]
    unit = s_w / 255
    b_q = torch.round(net.layers[0].bias / unit) * unit
    return torch.relu(x @ w_q.T + b_q)


# ------------------------------------------------------------------------------- models
def test_model_shapes_and_config():
    assert Student().sizes == (784, 50, 100, 10)
    assert Teacher().sizes == (784, 100, 200, 100, 50, 10)
    x = torch.rand(3, 28, 28)
    for model in (Student(), Teacher(), MLP.from_sizes([784, 7, 10]), ConvTeacher()):
        assert model(x).shape == (3, 10)
        rebuilt = from_config(model.config())
        rebuilt.load_state_dict(model.state_dict())
        model.eval()
        rebuilt.eval()
        assert torch.equal(model(x), rebuilt(x))


def test_dropout_location_and_validation():
    torch.manual_seed(0)
    net = Student(dropout=(2, 0.5))
    assert net.dropout_location == 2
    x = torch.rand(64, 784)
    net.train()
    assert not torch.equal(net(x), net(x))  # dropout active in training
    net.eval()
    assert torch.equal(net(x), net(x))
    with pytest.raises(ValueError):
        Student(dropout=(3, 0.2))  # the output layer
    with pytest.raises(ValueError):
        Student(dropout=(1, 1.0))


# ------------------------------------------------------------------------ fake quantizers
def test_fake_quant_weight_grid_and_ste():
    torch.manual_seed(0)
    w = torch.randn(6, 9, requires_grad=True)
    for per_row in (True, False):
        q = qat.fake_quant_weight(w, per_row)
        s = qat.weight_scale(w, per_row)
        codes = q.detach() / s
        assert torch.allclose(codes, codes.round(), atol=1e-4)
        assert codes.abs().max() <= arith.WEIGHT_MAX + 1e-4
        if per_row:  # every row's largest weight is exactly +-127 steps
            assert torch.allclose(codes.abs().amax(1), torch.full((6,), 127.0))
        else:
            assert s.unique().numel() == 1
        assert (q.detach() - w.detach()).abs().max() <= s.max() / 2 + 1e-7
        w.grad = None
        (q * torch.arange(54.0).reshape(6, 9)).sum().backward()
        assert torch.equal(w.grad, torch.arange(54.0).reshape(6, 9))  # straight through


def test_fake_quant_act_clamp_and_gradient():
    s = 0.1
    a = torch.tensor([-1.0, 0.0, 0.04, 0.06, 12.0, 25.4, 30.0], requires_grad=True)
    q = qat.fake_quant_act(a, s)
    assert torch.allclose(q, torch.tensor([0.0, 0.0, 0.0, 0.1, 12.0, 25.4, 25.5]))
    q.sum().backward()
    # identity inside [0, 255 s], zero where clipped (above 25.5 and below 0)
    assert a.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_ste_gradients_reach_every_parameter(trained):
    net, scales = trained
    model = qat.QNet.from_mlp(net, scales)
    model.train()
    model.observe = False
    model.zero_grad()
    x = torch.rand(32, 784)
    loss = torch.nn.functional.cross_entropy(model(x), torch.arange(32) % 10)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.scales == scales  # observers off: scales unchanged


def test_observer_tracks_batch_max():
    torch.manual_seed(0)
    net = Student()
    model = qat.QNet.from_mlp(net, momentum=1.0)  # no scales yet: the first batch sets them
    model.train()
    x = torch.rand(16, 784)
    model(x)
    h1 = _fake_quant_layer1(net, x)
    assert math.isclose(model.scales[0], float(h1.max()) / 255, rel_tol=1e-6)
    model.momentum = 0.25
    y = 2 * torch.rand(16, 784)
    model(y)
    expected = 0.75 * float(h1.max()) / 255 + 0.25 * float(_fake_quant_layer1(net, y).max()) / 255
    assert math.isclose(model.scales[0], expected, rel_tol=1e-6)
    model.eval()
    before = model.scales
    model(torch.rand(16, 784))
    assert model.scales == before  # eval mode never observes


# --------------------------------------------------------------- fake quant vs the golden
def test_fake_quant_matches_golden_model(trained, mnist):
    net, scales = trained
    _, _, xt, yt = mnist
    images, labels = xt[:2000], yt[:2000]
    model = qat.QNet.from_mlp(net, scales)
    model.eval()
    bundle = qat.to_bundle(model)
    with torch.no_grad():
        fq_pred = model(qat.pixels(images)).argmax(1).numpy()
    int_pred = golden.predict(bundle, images)
    agreement = float(np.mean(fq_pred == int_pred))
    fq_acc = float(np.mean(fq_pred == labels))
    int_acc = float(np.mean(int_pred == labels))
    assert agreement >= 0.99
    assert abs(int_acc - fq_acc) <= 0.003
    assert int_acc > 0.85  # a sanity floor for one epoch of training

    # the exported integers are the fake-quant grid values
    for layer, lin, i in zip(bundle.layers, net.layers, range(3), strict=True):
        per_row = i < 2
        grid = qat.fake_quant_weight(lin.weight, per_row).detach().double().numpy()
        back = layer.weight.astype(np.float64) * layer.weight_scale.astype(np.float64)[:, None]
        assert np.allclose(back, grid, rtol=1e-6, atol=1e-9)

    # hidden layer 1: the uint8 codes agree almost everywhere
    codes = golden.layer_outputs(bundle, images[:500])[0]
    h = _fake_quant_layer1(net, qat.pixels(images[:500]))
    fq_codes = torch.clamp(torch.round(h / scales[0]), 0, 255).numpy()
    assert np.mean(fq_codes == codes) >= 0.999


def test_all_zero_rows_match_the_export(trained, mnist):
    """Structured-pruned (all-zero) rows: the bias grid uses the export's placeholder scale."""
    net, scales = trained
    pruned = Student()
    pruned.load_state_dict(net.state_dict())
    with torch.no_grad():
        pruned.layers[0].weight[3] = 0.0
        pruned.layers[0].bias[3] = 0.37  # relu(b) must come out on the s_out grid
        pruned.layers[1].weight[5] = 0.0
    model = qat.QNet.from_mlp(pruned, scales)
    model.eval()
    bundle = qat.to_bundle(model)
    images = mnist[2][:300]
    codes = golden.layer_outputs(bundle, images)[0]
    assert np.all(codes[:, 3] == round(0.37 / scales[0]))
    with torch.no_grad():
        fq = model(qat.pixels(images)).argmax(1).numpy()
    assert np.mean(fq == golden.predict(bundle, images)) >= 0.99


def test_ptq_calibration_max_and_percentile(trained, mnist):
    net, _ = trained
    xi = mnist[0][:3000]
    s_max = qat.QNet.from_mlp(net).calibrate(xi)
    s_pct = qat.QNet.from_mlp(net).calibrate(xi, percentile=99.0)
    assert len(s_max) == 2
    assert all(p < m for p, m in zip(s_pct, s_max, strict=True))
    # with the maximum, the largest layer-1 activation on the calibration set maps to 255
    bundle = qat.to_bundle(qat.QNet.from_mlp(net, s_max))
    codes = golden.layer_outputs(bundle, xi)[0]
    assert codes.max() == 255
    assert np.mean(codes == 255) < 0.01


def test_ptq_and_qat_bundles_are_valid(trained, mnist, tmp_path):
    net, scales = trained
    _, _, xt, yt = mnist
    ptq_bundle = qat.to_bundle(qat.QNet.from_mlp(net, scales), name="ptq")
    qnet = qat.QNet.from_mlp(net, scales)
    qnet.eval()
    qat_bundle = qat.to_bundle(qnet, name="qat")
    for bundle in (ptq_bundle, qat_bundle):
        path = save_bundle(bundle, tmp_path / bundle.name)
        loaded = load_bundle(path)
        assert [layer.out_features for layer in loaded.layers] == [50, 100, 10]
        assert loaded.layers[0].input_scale == pytest.approx(1 / 255)
        assert loaded.layers[0].output_scale == pytest.approx(scales[0])
        assert loaded.layers[-1].output_scale is None
        assert golden.accuracy(loaded, xt[:1000], yt[:1000]) > 0.85
    with pytest.raises(LwfcError, match="not calibrated"):
        qat.to_bundle(qat.QNet.from_mlp(net))  # uncalibrated scales


# --------------------------------------------------------------------------- KD and rules
def test_kd_loss_hand_values():
    labels = torch.tensor([0])
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[math.log(3.0), 0.0]])
    # tau 1: q_T = (3/4, 1/4), q_S = (1/2, 1/2): KL = 3/4 ln 3/2 + 1/4 ln 1/2
    kl1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    ce = math.log(2.0)
    assert qat.kd_loss(s, t, labels, alpha=1.0, tau=1.0).item() == pytest.approx(kl1, rel=1e-6)
    assert qat.kd_loss(s, t, labels, alpha=0.0, tau=1.0).item() == pytest.approx(ce, rel=1e-6)
    # tau 2: q_T = softmax(ln3 / 2, 0) = (sqrt3, 1) / (sqrt3 + 1), times tau^2 = 4
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    kl2 = p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p))
    got = qat.kd_loss(s, t, labels, alpha=0.5, tau=2.0).item()
    assert got == pytest.approx(0.5 * 4 * kl2 + 0.5 * ce, rel=1e-6)
    # a student equal to its teacher pays only the hard term
    x = torch.randn(5, 10)
    y = torch.arange(5)
    hard = torch.nn.functional.cross_entropy(x, y).item()
    assert qat.kd_loss(x, x, y, alpha=0.7, tau=3.0).item() == pytest.approx(0.3 * hard, rel=1e-5)
    with pytest.raises(ValueError):
        qat.kd_loss(x, x, y, tau=0.0)


def test_bundle_logits_scale_like_float_logits(trained, mnist):
    net, scales = trained
    model = qat.QNet.from_mlp(net, scales)
    model.eval()
    images = mnist[2][:200]
    real = qat.bundle_logits(qat.to_bundle(model), images)
    with torch.no_grad():
        fq = model(qat.pixels(images))
    assert real.shape == (200, 10)
    assert float((real - fq).abs().max()) < 0.05 * float(fq.abs().max())


def test_paper_stopping_rule():
    stop = train.paper_should_stop
    assert not stop([0.9] * 9)  # fewer than 10 epochs
    assert stop([0.9] * 10)
    assert stop([0.5, 0.7, *([0.95] * 10)])  # only the last 10 count
    assert stop([0.95 + 9e-6 * i for i in range(10)])  # spread 8.1e-5 < 1e-4
    assert not stop([0.95 + 2e-5 * i for i in range(10)])  # spread 1.8e-4
    assert not stop([*([0.95] * 9), 0.9502])
    assert not stop([0.95, *([0.9502] * 9)])
    assert not stop([0.95, 0.95 + 1.5e-4, *([0.95] * 8)])
    assert stop([0.95] * 5, window=5)
    assert not stop([0.95, 0.951], window=2, tolerance=1e-3 / 2)


def test_paper_recipe_stops_by_rule(data_dir):
    """With a zero learning rate the training accuracy is constant: stop after 10 epochs."""
    result = train.train(
        "paper",
        data_dir=data_dir,
        epochs=40,
        progress=False,
        log=lambda *a: None,
        train_limit=600,
        test_limit=300,
        overrides={"cyclic_base_lr": 0.0, "cyclic_max_lr": 0.0, "qat_epochs": 1},
    )
    info = result.bundle.provenance["epochs"]
    assert info["float_epochs"] == 10
    assert info["stopped_by"] == "stopping rule"
    assert [r["epoch"] for r in result.history if r["stage"] == "float"] == list(range(1, 11))


# ---------------------------------------------------------------- reproducible, checkpoints
def _tensors(bundle):
    return {
        f"{layer.name}.{k}": getattr(layer, k)
        for layer in bundle.layers
        for k in ("weight", "bias", "multiplier", "shift")
        if getattr(layer, k) is not None
    }


@pytest.mark.parametrize("recipe", ["default", "paper"])
def test_same_seed_same_weights(recipe, data_dir, tmp_path):
    kwargs = dict(
        data_dir=data_dir,
        epochs=2,
        progress=False,
        log=lambda *a: None,
        train_limit=1500,
        test_limit=500,
        overrides={"qat_epochs": 1} if recipe == "paper" else None,
    )
    a = train.train(recipe, seed=3, **kwargs)
    b = train.train(recipe, seed=3, **kwargs)
    c = train.train(recipe, seed=4, **kwargs)
    for key, value in a.state["student"]["state_dict"].items():
        assert torch.equal(value, b.state["student"]["state_dict"][key]), key
    assert a.state["act_scales"] == b.state["act_scales"]
    ta, tb, tc = _tensors(a.bundle), _tensors(b.bundle), _tensors(c.bundle)
    assert all(np.array_equal(ta[k], tb[k]) for k in ta)
    assert not all(np.array_equal(ta[k], tc[k]) for k in ta)  # the seed matters
    pa = save_bundle(a.bundle, tmp_path / "a")
    pb = save_bundle(b.bundle, tmp_path / "b")
    assert (pa / "tensors.npz").read_bytes() == (pb / "tensors.npz").read_bytes()
    m = a.bundle.metrics
    assert m["test_images"] == 500
    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    expect = np.mean(golden.predict(a.bundle, images[:500]) == labels[:500])
    assert m["int8_accuracy"] == pytest.approx(expect, abs=1e-6)
    assert a.bundle.provenance["recipe"] == recipe
    assert a.bundle.provenance["seed"] == 3


def test_checkpoint_export_qat_and_ptq(data_dir, tmp_path):
    result = train.train(
        "default",
        data_dir=data_dir,
        epochs=1,
        progress=False,
        log=lambda *a: None,
        train_limit=1500,
        test_limit=500,
    )
    path = train.save_checkpoint(result, tmp_path / "ck" / "student.pt")
    from_qat = train.export_checkpoint(path, data_dir=data_dir, method="qat")
    ta, tq = _tensors(result.bundle), _tensors(from_qat)
    assert all(np.array_equal(ta[k], tq[k]) for k in ta)  # same integers as at training
    from_ptq = train.export_checkpoint(path, data_dir=data_dir, method="ptq")
    assert from_ptq.provenance["method"] == "ptq"
    assert from_ptq.metrics["test_images"] == 10000
    assert np.array_equal(from_ptq.layers[0].weight, result.bundle.layers[0].weight)
    save_bundle(from_ptq, tmp_path / "ptq")  # validates
    assert abs(from_ptq.metrics["int8_accuracy"] - from_qat.metrics["int8_accuracy"]) < 0.05
    with pytest.raises(LwfcError):
        train.export_checkpoint(path, data_dir=data_dir, method="nope")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LwfcError):
        train.export_checkpoint(bad, data_dir=data_dir)


def test_default_epochs_keep_the_step_count_on_small_data():
    """MNIST-sized data: the recipe's counts; digits' 1,437 images: ~42x the passes (the same
    optimizer steps); an explicit epoch count is taken as given."""
    r = train.DefaultRecipe()
    assert train.default_epochs(r, 60_000, None) == (6, 60, 10, 2)
    assert train.default_epochs(r, 120_000, None) == (6, 60, 10, 2)
    t, s, q, f = train.default_epochs(r, 1437, None)
    assert (t, s, q, f) == (round(6 * 60_000 / 1437), round(60 * 60_000 / 1437),
                            round(10 * 60_000 / 1437), round(2 * 60_000 / 1437))
    assert s * -(-1437 // r.batch) >= 60 * -(-60_000 // r.batch) * 0.98
    assert train.default_epochs(r, 1437, 30) == (3, 30, 5, 2)
