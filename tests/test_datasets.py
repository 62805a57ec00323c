"""Any uint8 image dataset (lwfc.data.load_data), any MLP architecture, the dense reference.

Tiny data and networks only: every test here runs in seconds.
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import random_bundle
from lwfc import golden
from lwfc.bundle import MANIFEST, load_bundle, save_bundle
from lwfc.cli import main
from lwfc.data import DIGITS_TEST, load_data
from lwfc.errors import DataError
from lwfc.models import parse_arch


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _toy(n: int = 120, shape: tuple[int, ...] = (6, 6), classes: int = 3, seed: int = 0):
    """Separable toy images: class k lights up block k of the image."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.integers(0, 40, (n, *shape)).astype(np.uint8)
    flat = x.reshape(n, -1)
    block = flat.shape[1] // classes
    for i, k in enumerate(y):
        flat[i, k * block : (k + 1) * block] = 220
    return x, y


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


# ------------------------------------------------------------------------------ loading
def test_digits_scaling_and_fixed_split():
    a, b = load_data("digits"), load_data("digits")
    assert a.x_train.shape[1:] == (8, 8) and a.features == 64 and a.classes == 10
    assert len(a.x_test) == DIGITS_TEST and len(a.x_train) + len(a.x_test) == 1797
    assert a.x_train.dtype == np.uint8 and a.x_train.max() == 255  # 16 -> 255
    values = set(np.unique(np.concatenate([a.x_train.ravel(), a.x_test.ravel()])).tolist())
    assert values <= {round(v * 255 / 16) for v in range(17)}
    np.testing.assert_array_equal(a.x_test, b.x_test)  # seeded: the same split every time
    assert np.bincount(a.y_test).min() >= 35  # stratified


def test_npz_and_idx_folder_load(tmp_path):
    x, y = _toy()
    data = load_data(
        str(
            _npz(
                tmp_path / "toy.npz",
                x_train=x[:100],
                y_train=y[:100],
                x_test=x[100:],
                y_test=y[100:],
            )
        )
    )
    assert (data.features, data.classes, data.shape) == (36, 3, (6, 6))
    assert data.name == str((tmp_path / "toy.npz").resolve())
    folder = tmp_path / "idx"
    folder.mkdir()
    for name, arr in (
        ("train-images-idx3-ubyte", x[:100]),
        ("train-labels-idx1-ubyte", y[:100]),
        ("t10k-images-idx3-ubyte", x[100:]),
        ("t10k-labels-idx1-ubyte", y[100:]),
    ):
        _write_idx(folder / f"{name}.gz", arr)
    again = load_data(str(folder))
    np.testing.assert_array_equal(again.x_test, data.x_test)
    np.testing.assert_array_equal(again.y_train, data.y_train)


BAD = {
    "dtype": ({"x_train": np.zeros((4, 3, 3), np.float32)}, "dtype float32, expected uint8"),
    "label dtype": ({"y_train": np.zeros(4, np.float64)}, "expected integer labels"),
    "label count": ({"y_train": np.zeros(3, np.int64)}, "expected (4,) labels"),
    "negative": ({"y_train": np.array([0, 1, -1, 1])}, "negative label"),
    "range": ({"y_test": np.array([0, 5])}, "y_test has label 5"),
    "mismatch": ({"x_test": np.zeros((2, 4, 4), np.uint8)}, "train images are (3, 3)"),
    "one class": (
        {"y_train": np.zeros(4, np.int64), "y_test": np.zeros(2, np.int64)},
        "single class",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_npz_is_one_clear_error(tmp_path, case):
    arrays = {
        "x_train": np.zeros((4, 3, 3), np.uint8),
        "y_train": np.array([0, 1, 2, 1]),
        "x_test": np.zeros((2, 3, 3), np.uint8),
        "y_test": np.array([0, 1]),
    }
    change, message = BAD[case]
    arrays.update(change)
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=None) as info:
        load_data(str(path))
    assert message in str(info.value) and str(path) in str(info.value)


def test_ragged_missing_and_unknown(tmp_path):
    ragged = tmp_path / "ragged.npz"
    np.savez(
        ragged,
        x_train=np.array([np.zeros(3), np.zeros(4)], dtype=object),
        y_train=np.array([0, 1]),
        x_test=np.zeros((1, 3), np.uint8),
        y_test=np.array([0]),
    )
    with pytest.raises(DataError, match="ragged"):
        load_data(str(ragged))
    with pytest.raises(DataError, match="missing array 'y_test'"):
        load_data(
            str(
                _npz(
                    tmp_path / "m.npz",
                    x_train=np.zeros((2, 2), np.uint8),
                    y_train=np.array([0, 1]),
                    x_test=np.zeros((2, 2), np.uint8),
                )
            )
        )
    with pytest.raises(DataError, match="neither a known name"):
        load_data("cifar")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="train-images-idx3-ubyte: missing"):
        load_data(str(tmp_path / "empty"))


# ------------------------------------------------------------------------ architectures
def test_parse_arch():
    assert parse_arch("784-128-64-10") == (784, 128, 64, 10)
    for bad in ("784-10", "784-a-10", "784-0-10", ""):
        with pytest.raises(ValueError):
            parse_arch(bad)


@pytest.mark.parametrize("arch", ["36-3", "36-12-3", "36-16-12-8-3"])
def test_train_any_depth_on_an_npz(tmp_path, arch):
    from lwfc import train

    x, y = _toy(300)
    path = _npz(
        tmp_path / "toy.npz", x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:]
    )
    if arch == "36-3":  # no hidden layer: refused with a clear message
        with pytest.raises(Exception, match="hidden"):
            train.train(
                "default",
                dataset=str(path),
                arch=arch,
                epochs=1,
                progress=False,
                log=lambda *a: None,
            )
        return
    res = train.train(
        "default", dataset=str(path), arch=arch, epochs=30, progress=False, log=lambda *a: None
    )
    b = res.bundle
    sizes = [int(s) for s in arch.split("-")]
    assert [layer.out_features for layer in b.layers] == sizes[1:]
    assert b.dataset == str(path.resolve()) and b.name == "toy-dense"
    assert b.reference_weights == sum(a * c for a, c in itertools.pairwise(sizes))
    assert golden.accuracy(b, x[240:], y[240:]) == pytest.approx(b.metrics["int8_accuracy"])
    assert b.metrics["int8_accuracy"] > 0.6  # separable toy data


def test_arch_must_match_the_data(tmp_path, capsys):
    x, y = _toy(60)
    path = _npz(tmp_path / "t.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    for arch, message in (
        ("30-8-3", "input width 30 but the data has 36"),
        ("36-8-4", "output width 4 but the data has 3 classes"),
        ("36-x8", "--arch"),
    ):
        code = main(
            [
                "train",
                "--dataset",
                str(path),
                "--arch",
                arch,
                "--out",
                str(tmp_path / "o"),
                "--epochs",
                "1",
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------- dense reference
def test_dense_reference_stored_and_computed_for_old_bundles(tmp_path):
    b = random_bundle(0)
    assert b.reference_weights == 45_200
    path = save_bundle(b, tmp_path / "b")
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["dense_reference_weights"] == 45_200
    del manifest["dense_reference_weights"]  # an old bundle
    (path / MANIFEST).write_text(json.dumps(manifest))
    old = load_bundle(path)
    assert old.dense_reference is None and old.reference_weights == 45_200
    small = random_bundle(1, sizes=(64, 32, 16, 10))
    assert small.reference_weights == 64 * 32 + 32 * 16 + 16 * 10
    assert small.weights_removed() == pytest.approx(1 - small.weights_nonzero / 2720)
    manifest["dense_reference_weights"] = -3
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="dense_reference_weights"):
        load_bundle(path)


def test_eval_with_a_dataset_path_and_size_mismatch(tmp_path, capsys):
    x, y = _toy(50, shape=(8, 8), classes=10)
    y = np.arange(50) % 10
    path = _npz(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    small = save_bundle(random_bundle(2, sizes=(64, 16, 10)), tmp_path / "small")
    assert main(["eval", str(small), "--dataset", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 50
    big = save_bundle(random_bundle(3), tmp_path / "big")
    assert main(["eval", str(big), "--dataset", str(path)]) == 2
    assert "images have 64 pixels but the bundle takes 784 inputs" in capsys.readouterr().err


def test_eval_needs_only_the_test_split(tmp_path, capsys):
    """eval / sim / infer read the test files only: a folder without train files works, and the
    result equals the golden model's accuracy on those images."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (30, 8, 8)).astype(np.uint8)
    y = np.arange(30) % 10
    folder = tmp_path / "testonly"
    folder.mkdir()
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", x)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", y)
    bundle = random_bundle(4, sizes=(64, 16, 10))
    path = save_bundle(bundle, tmp_path / "b")
    assert main(["eval", str(path), "--dataset", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    pred = golden.predict(bundle, golden.as_pixels(x, 64))
    assert out["images"] == 30
    assert out["accuracy"] == pytest.approx(float(np.mean(pred == y)))
    bad = tmp_path / "bad"
    bad.mkdir()
    _write_idx(bad / "t10k-images-idx3-ubyte.gz", x)
    _write_idx(bad / "t10k-labels-idx1-ubyte.gz", y + 5)
    assert main(["eval", str(path), "--dataset", str(bad)]) == 2
    assert "y_test has label 14 but the bundle has 10 classes" in capsys.readouterr().err
    assert main(["eval", str(path), "--dataset", str(tmp_path / "none")]) == 2
