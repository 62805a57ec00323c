"""Low-bit and shared weights (contract / bundle v2): modes, codebooks, storage, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_bundle
from lwfc import arith, golden
from lwfc.bundle import MANIFEST, BundleError, load_bundle, save_bundle
from lwfc.cli import main
from lwfc.compress import pipeline, share
from lwfc.compress.storage import weight_storage
from lwfc.data import load_data
from lwfc.errors import LwfcError
from lwfc.fit import finetune
from lwfc.qat import QNet, net_from_dict, net_to_dict, pixels, to_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.fixture(scope="module")
def small(digits) -> QNet:
    """A 64-32-16-10 network trained briefly on the 8x8 digits (about 0.9 accuracy)."""
    torch.manual_seed(0)
    net = QNet.from_bundle(random_bundle(5, sizes=(64, 32, 16, 10)))
    net.calibrate(digits.x_train)
    finetune(net, digits.x_train, digits.y_train, 15, lr=3e-3, batch=64)
    return net


def test_parse_mode():
    assert share.parse_mode("kmeans:16") == ("kmeans", 16)
    assert share.parse_mode("ternary") == ("ternary", 0)
    for bad in ("int3", "kmeans", "kmeans:1", "sigma:x", "int4:2"):
        with pytest.raises(LwfcError):
            share.parse_mode(bad)


def test_codebooks_from_kmeans_and_the_sigma_rule():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(c, 0.01, 500) for c in (-1.0, 0.2, 0.9)])
    np.testing.assert_allclose(share.kmeans_codebook(v, 3), [-1.0, 0.2, 0.9], atol=0.01)
    w = rng.normal(0.1, 2.0, 10_000)
    mu, sd = w.mean(), w.std()
    cb = share.sigma_codebook(w, 4)
    np.testing.assert_allclose(cb, mu + sd * np.array([-2.25, -0.75, 0.75, 2.25]))


@pytest.mark.parametrize("mode", ["int8", "int4", "ternary", "kmeans:16", "sigma:4"])
def test_modes_export_exact_v2_bundles(small, digits, tmp_path, mode):
    net = QNet.from_bundle(to_bundle(small))
    for layer in net.layers:
        share.apply_layer(layer, mode)
    net.eval()
    bundle = load_bundle(save_bundle(to_bundle(net), tmp_path / "b"))
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert manifest["format_version"] == 2 and manifest["contract"] == arith.CONTRACT
    name, k = share.parse_mode(mode)
    bits = {"int4": 4, "ternary": 2}.get(name, 8)
    for layer in bundle.layers:
        assert layer.weight_bits == bits
        assert np.abs(layer.weight.astype(int)).max() <= arith.weight_max(bits)
        if k:
            assert layer.codebook is not None and len(layer.codebook) <= k
            assert len(np.unique(layer.weight[layer.weight != 0])) <= k
        else:
            assert layer.codebook is None
    with torch.no_grad():
        fq = net(pixels(digits.x_test)).argmax(1).numpy()
    assert np.mean(fq == golden.predict(bundle, digits.x_test)) >= 0.99
    again = to_bundle(QNet.from_bundle(bundle))  # v2 bundles round-trip exactly
    for a, c in zip(bundle.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a.weight, c.weight)
        np.testing.assert_array_equal(a.bias, c.bias)
        assert a.weight_bits == c.weight_bits
        if a.codebook is not None:
            np.testing.assert_array_equal(a.codebook, c.codebook)


def test_learned_codebook_trains_and_state_round_trips(small, digits):
    net = QNet.from_bundle(to_bundle(small))
    share.apply_layer(net.layers[0], "kmeans:8", learn=True)
    before = net.layers[0].codebook.detach().clone()
    finetune(net, digits.x_train, digits.y_train, 1, lr=1e-3, batch=64)
    after = net.layers[0].codebook.detach()
    assert not torch.equal(before, after)  # the shared values moved
    idx = net.layers[0].index.clone()
    assert torch.equal(net.layers[0].index, idx)  # assignments are fixed
    back = net_from_dict(net_to_dict(net))
    x = digits.x_test[:100]
    np.testing.assert_array_equal(
        golden.forward(to_bundle(net), x), golden.forward(to_bundle(back), x)
    )
    frozen = QNet.from_bundle(to_bundle(small))
    share.apply_layer(frozen.layers[0], "sigma:8", learn=False)
    cb = frozen.layers[0].codebook.detach().clone()
    finetune(frozen, digits.x_train, digits.y_train, 1, lr=1e-3, batch=64)
    assert torch.equal(frozen.layers[0].codebook.detach(), cb)


def test_version_1_bundles_load_and_v2_rules_are_checked(tmp_path):
    old = load_bundle(ROOT / "deploy" / "models" / "mnist-dense")
    manifest = json.loads((ROOT / "deploy/models/mnist-dense" / MANIFEST).read_text())
    assert manifest["format_version"] == 1 and old.layers[0].weight_bits == 8
    b = random_bundle(0, sizes=(64, 16, 10))
    path = save_bundle(b, tmp_path / "b")
    m = json.loads((path / MANIFEST).read_text())
    m["format_version"], m["contract"] = 1, "lwfc-int8-v1"
    m["layers"][0]["weight_bits"] = 4
    (path / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BundleError, match="format version 1 has 8-bit weights"):
        load_bundle(path)
    b.layers[0].weight_bits = 4  # int8 values do not fit 4 bits
    with pytest.raises(BundleError, match=r"4-bit weights must lie in -7 \.\.\. 7"):
        save_bundle(b, tmp_path / "c")
    b.layers[0].weight_bits = 8
    b.layers[0].codebook = np.array([-3, 5], dtype=np.int8)
    with pytest.raises(BundleError, match="neither 0 nor a codebook entry"):
        save_bundle(b, tmp_path / "d")


def test_weight_storage_by_hand():
    b = random_bundle(1, sizes=(16, 8, 4))
    s = weight_storage(b)
    # int8, no zeros to exploit: 1 byte a weight (16*8 + 8*4 = 160)
    assert s["layers"][0]["encoding"] == "dense"
    assert s["weight_bytes"] == 160
    fc1 = b.layers[0]
    fc1.weight[:, :] = 0
    fc1.weight[0, 0] = 5  # one nonzero of 128: relative index beats bitmap and dense
    s = weight_storage(b)
    assert s["layers"][0]["encoding"] == "relative"
    assert s["layers"][0]["weight_bytes"] == 2  # r=1 bit gap + 8 bits code = 9 bits
    fc1.weight[:, :] = np.where(np.arange(128).reshape(8, 16) % 2, 1, -1)
    fc1.weight_bits = 2
    assert weight_storage(b)["layers"][0]["weight_bytes"] == int(np.ceil(128 * np.log2(3) / 8))
    fc1.weight_bits, fc1.codebook = 8, np.array([-1, 1], dtype=np.int8)
    assert weight_storage(b)["layers"][0]["weight_bytes"] == 16 + 2  # 1-bit indices + codebook
    # ternary, half the weights zero at random positions (as TWN leaves them): a bitmap
    # (128 bits) plus one sign bit per nonzero beats log2(3) bits a weight (203 bits) and
    # the relative index (1.58-bit codes, since a filler must be able to say 0)
    fc1.codebook = None
    fc1.weight_bits = 2
    rng = np.random.default_rng(0)
    fc1.weight[:, :] = rng.choice([-1, 0, 0, 1], size=(8, 16))
    nnz = int(np.count_nonzero(fc1.weight))
    t = weight_storage(b)["layers"][0]
    assert (t["encoding"], t["weight_bytes"]) == ("bitmap", int(np.ceil((128 + nnz) / 8)))
    assert t["weight_bytes"] < int(np.ceil(128 * np.log2(3) / 8))
    assert s["other_bytes"] == 4 * (8 + 4) + 3 * 8


def test_pipeline_weights_in_layer_order(small, digits, tmp_path, capsys):
    cfg = pipeline.CompressConfig(
        prune_method="l1",
        prune_ratio=0.5,
        weights="kmeans:4",
        layer_epochs=0.5,
        finetune_epochs=0.5,
        calib_images=500,
    )
    res = pipeline.compress(
        QNet.from_bundle(to_bundle(small)),
        cfg,
        (digits.x_train, digits.y_train),
        (digits.x_test, digits.y_test),
        dataset="digits",
    )
    stages = [s["stage"] for s in res.steps]
    assert stages.index("weights kmeans:4 fc1") < stages.index("finetune (after fc1)")
    assert stages.index("finetune (after fc1)") < stages.index("weights kmeans:4 fc2")
    assert all(layer.codebook is not None for layer in res.bundle.layers)
    assert res.bundle.metrics["weight_bytes"] == weight_storage(res.bundle)["weight_bytes"]
    assert res.bundle.metrics["int8_accuracy"] > 0.6
    src = save_bundle(to_bundle(small, dataset="digits"), tmp_path / "src")
    for bad, message in (("kmeans:1", "codebook size"), ("int5", "unknown mode")):
        code = main(["compress", str(src), "--out", str(tmp_path / "o"), "--weights", bad])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_weight_plan_per_layer_modes():
    dense = ["fc1", "fc2", "fc3"]
    assert share.parse_plan("ternary", dense) == [(n, "ternary") for n in dense]
    assert share.parse_plan("int4", dense, ["fc2"]) == [("fc2", "int4")]
    # per layer, returned in layer order whatever the order given
    assert share.parse_plan("fc3=ternary, fc1=kmeans:16", dense) == [
        ("fc1", "kmeans:16"), ("fc3", "ternary")]
    for bad, message in (("fc4=int4", "not a dense layer"), ("fc1=int5", "unknown mode"),
                         ("fc1=int4,fc1=ternary", "named twice"), ("fc1", "unknown mode"),
                         ("fc1=", "not LAYER=MODE")):
        with pytest.raises(LwfcError, match=message):
            share.parse_plan(bad, dense)
    with pytest.raises(LwfcError, match="together"):
        share.parse_plan("fc1=int4", dense, ["fc1"])


def test_pipeline_mixed_modes_and_cli_errors(small, digits, tmp_path, capsys):
    cfg = pipeline.CompressConfig(weights="fc1=ternary,fc2=int4", layer_epochs=0.5,
                                  finetune_epochs=0.5, calib_images=500)
    res = pipeline.compress(QNet.from_bundle(to_bundle(small)), cfg,
                            (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                            dataset="digits")
    stages = [s["stage"] for s in res.steps]
    assert stages.index("weights ternary fc1") < stages.index("weights int4 fc2")
    fc1, fc2, fc3 = res.bundle.layers
    assert set(np.unique(fc1.weight)) <= {-1, 0, 1} and fc1.weight_bits == 2
    assert np.abs(fc2.weight).max() <= 7 and fc2.weight_bits == 4
    assert fc3.weight_bits == 8
    src = save_bundle(to_bundle(small, dataset="digits"), tmp_path / "src")
    for args, message in ((["--weights", "fc9=int4"], "not a dense layer"),
                          (["--weights", "fc1=int5"], "unknown mode"),
                          (["--weights", "fc1=int4", "--weight-layers", "fc2"], "together")):
        code = main(["compress", str(src), "--out", str(tmp_path / "o"), *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
