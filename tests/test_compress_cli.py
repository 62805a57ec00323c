"""The compression pipeline end to end: lwfc compress / search / report on small data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_bundle
from lwfc import golden
from lwfc.bundle import LowRankLayer, load_bundle, save_bundle
from lwfc.cli import main
from lwfc.compress import pipeline
from lwfc.data import load_dataset
from lwfc.fit import accuracy as float_accuracy
from lwfc.qat import QNet, to_bundle


@pytest.fixture(scope="module")
def mnist(data_dir: Path) -> tuple:
    train = load_dataset("mnist", "train", data_dir, progress=False)
    test = load_dataset("mnist", "test", data_dir, progress=False)
    return (train[0][:3000], train[1][:3000]), (test[0][:1000], test[1][:1000])


@pytest.fixture(scope="module")
def trained(mnist: tuple) -> QNet:
    """A small network trained for two epochs on 3,000 images (about 0.85-0.9 accuracy)."""
    torch.set_num_threads(1)  # tiny matrices: threads only contend
    torch.manual_seed(0)
    net = QNet.from_bundle(random_bundle(7))
    train, _ = mnist
    pipeline.finetune(net, *train, 2.0, lr=3e-3, batch=64)
    return net


def test_fake_quant_forward_matches_the_golden_model(trained: QNet, mnist: tuple) -> None:
    _, (x, y) = mnist
    net = QNet.from_bundle(to_bundle(trained))
    pipeline.prune_net(net, "l1", 0.4)
    pipeline.apply_lowrank(net, "fc1", rank=12, learn="identity", learn_steps=20, calib_images=x)
    pipeline.prune_factors(net, "fc1", 0.3, 0.2)
    bundle = to_bundle(net)
    assert isinstance(bundle.layers[0], LowRankLayer) and bundle.layers[0].rank == 12
    assert bundle.layers[0].u_mask is not None and bundle.layers[1].mask is not None
    net.eval()
    with torch.no_grad():
        fq = net(torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255)).argmax(1)
    agree = float((fq.numpy() == golden.predict(bundle, x)).mean())
    assert agree >= 0.995  # identical grids; only rounding ties and the 15-bit multiplier differ
    assert float_accuracy(net, x, y) == pytest.approx(golden.accuracy(bundle, x, y), abs=0.006)


def test_finetune_recovers_after_compression(trained: QNet, mnist: tuple) -> None:
    train, test = mnist
    base = pipeline.int8_accuracy(trained, *test)
    net = QNet.from_bundle(to_bundle(trained))
    cfg = pipeline.CompressConfig(
        prune_method="l1",
        prune_ratio=0.5,
        lowrank_layer="fc1",
        rank=10,
        lra_steps=20,
        factor_prune_u=0.5,
        finetune_epochs=2,
        lr=1e-3,
        batch=64,
    )
    res = pipeline.compress(net, cfg, train, test)
    stages = [s["stage"] for s in res.steps]
    assert stages[0] == "input" and stages[-1] == "finetune (final)"
    final = res.steps[-1]["int8_accuracy"]
    assert final == golden.accuracy(res.bundle, *test)
    assert res.bundle.weights_removed() > 0.7
    assert final > min(s["int8_accuracy"] for s in res.steps[1:-1])  # fine-tuning helps
    assert final > base - 0.08


def test_cli_compress_search_report(
    tmp_path: Path, trained: QNet, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    src = save_bundle(to_bundle(trained), tmp_path / "dense")
    out = tmp_path / "small"
    argv = ["compress", str(src), "--out", str(out), "--data", str(data_dir), "--json"]
    argv += ["--prune", "l1", "--ratio", "0.3", "--lowrank", "1", "--rank", "16"]
    argv += ["--lra", "none", "--prune-u", "0.4", "--finetune", "0.05", "--teacher", "self"]
    argv += ["--save-state", str(tmp_path / "state.pt")]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    bundle = load_bundle(out)
    assert summary["weights_nonzero"] == bundle.weights_nonzero
    assert bundle.layers[0].kind == "lowrank" and bundle.layers[0].rank == 16
    assert bundle.metrics["int8_accuracy"] == summary["int8_accuracy"]
    assert bundle.provenance["compress"]["prune_method"] == "l1"
    # the saved state continues the compression (prune fc2 further), no training
    out2 = tmp_path / "again"
    argv2 = ["compress", str(tmp_path / "state.pt"), "--out", str(out2), "--data", str(data_dir)]
    assert main([*argv2, "--prune", "l1", "--ratio", "0.6", "--prune-layers", "fc2"]) == 0
    again = load_bundle(out2)
    assert again.layers[1].weights_nonzero == round(0.4 * 5000)
    capsys.readouterr()

    sdir = tmp_path / "search"
    argv3 = ["search", "--out", str(sdir), "--grid", "smoke", "--from", str(src)]
    argv3 += ["--workers", "0", "--data", str(data_dir), "--rcomps", "0.4", "--lra-locs", "1"]
    assert main(argv3) == 0
    assert (sdir / "best" / "manifest.json").is_file()
    assert main(["report", str(sdir)]) == 0
    md = (sdir / "report" / "report.md").read_text()
    assert "Table 2" in md and "Table 3" in md and "Pareto" in md
    assert (sdir / "report" / "pareto.png").stat().st_size > 1000
    assert (sdir / "report" / "fig13_escore.png").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--prune", "l1"], "--ratio"),
        (["--lowrank", "fc1"], "--rcomp"),
        (["--prune-u", "0.5"], "--lowrank"),
        (["--lowrank", "fc9", "--rank", "3"], "fc9"),
        (["--ratio", "1.5"], "--ratio"),
    ],
)
def test_cli_compress_user_errors(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture, args: list, needle: str
) -> None:
    src = save_bundle(random_bundle(1), tmp_path / "b")
    argv = ["compress", str(src), "--out", str(tmp_path / "o"), "--data", str(data_dir), *args]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_cli_report_and_compress_missing_inputs(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert main(["compress", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no results" in err and "no such" in err


def test_load_net_from_a_train_checkpoint_and_its_teacher(tmp_path: Path) -> None:
    from lwfc.checkpoints import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, save_checkpoint
    from lwfc.compress.checkpoint import load_net, load_teacher
    from lwfc.models import ConvTeacher, Student

    torch.manual_seed(0)
    student, teacher = Student(), ConvTeacher()
    state = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "student": {"config": student.config(), "state_dict": student.state_dict()},
        "act_scales": [0.05, 0.07],
        "teacher": {"config": teacher.config(), "state_dict": teacher.state_dict()},
    }
    path = save_checkpoint(state, tmp_path / "ckpt.pt")
    net = load_net(path)
    assert net.names == ["fc1", "fc2", "fc3"]
    assert [float(s) for s in net.act_scale] == pytest.approx([0.05, 0.07])
    torch.testing.assert_close(net.layers[0].weight, student.layers[0].weight)
    x = torch.rand(5, 784)
    net.quant = False
    torch.testing.assert_close(net(x), student(x))
    t = load_teacher(path)
    torch.testing.assert_close(t(x), teacher(x))
    ti = load_teacher(path, integer=True)
    assert not torch.equal(ti(x), teacher(x))
