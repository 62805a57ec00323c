"""The CLI: bad arguments and bad inputs give one clear line on stderr and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import random_bundle
from lwfc import golden
from lwfc.bundle import MANIFEST, load_bundle, save_bundle
from lwfc.cli import main
from lwfc.data import load_dataset


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return save_bundle(random_bundle(0), tmp_path / "bundle")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits directly
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


BAD = [
    (["info", "{missing}"], "no such bundle folder"),
    (["eval", "{missing}"], "no such bundle folder"),
    (["eval", "{bundle}", "--limit", "0"], "--limit"),
    (["eval", "{bundle}", "--limit", "ten"], "--limit"),
    (["eval", "{bundle}", "--dataset", "cifar"], "dataset 'cifar': neither a known name"),
    (["eval", "{bundle}", "--data", "{missing}"], "{missing}"),
    (["train", "--recipe", "fast", "--out", "{tmp}/x"], "--recipe"),
    (["train", "--recipe", "default"], "--out"),
    (["export", "{tmp}/none.pt", "--out", "{tmp}/y"], "none.pt"),
    (["frobnicate"], "invalid choice"),
    (["info", "{corrupt}"], "SHA-256 mismatch"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exit_2_one_line(capsys, tmp_path, bundle_dir, argv, message):
    corrupt = save_bundle(random_bundle(1), tmp_path / "corrupt")
    (corrupt / "tensors.npz").write_bytes(b"garbage")
    names = {
        "missing": str(tmp_path / "missing"),
        "bundle": str(bundle_dir),
        "corrupt": str(corrupt),
        "tmp": str(tmp_path),
    }
    argv = [a.format(**names) for a in argv]
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert message.format(**names) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_info_json(capsys, bundle_dir):
    code, out, _ = run(capsys, "info", str(bundle_dir), "--json")
    assert code == 0
    info = json.loads(out)
    bundle = load_bundle(bundle_dir)
    assert info["weights_stored"] == 45_200
    assert info["weights_nonzero"] == sum(int((layer.weight != 0).sum()) for layer in bundle.layers)
    assert [layer["name"] for layer in info["layers"]] == ["fc1", "fc2", "fc3"]


def test_info_text(capsys, bundle_dir):
    code, out, _ = run(capsys, "info", str(bundle_dir))
    info = load_bundle(bundle_dir).info()
    assert code == 0
    assert f"weights  45200 stored, {info['weights_nonzero']} nonzero" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("fc")]
    assert rows == [[la["name"], "dense", f"{la['in_features']}->{la['out_features']}",
                     str(la["weights_stored"]), str(la["weights_nonzero"]), la["activation"],
                     str(la["weight_bits"])]
                    for la in info["layers"]]


def test_eval_json_on_mnist(capsys, bundle_dir, data_dir):
    code, out, _ = run(
        capsys, "eval", str(bundle_dir), "--data", str(data_dir), "--limit", "300", "--json"
    )
    assert code == 0
    result = json.loads(out)
    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    correct = int((golden.predict(load_bundle(bundle_dir), images[:300]) == labels[:300]).sum())
    assert result["images"] == 300 and result["correct"] == correct
    assert result["accuracy"] == correct / 300


def test_console_script_has_no_traceback(tmp_path):
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / MANIFEST).write_text("[]")
    proc = subprocess.run(
        [sys.executable, "-m", "lwfc.cli", "info", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("lwfc info: error:")
    assert "Traceback" not in proc.stderr
