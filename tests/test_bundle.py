"""Bundle round trip, validation of every kind of corruption, and atomic writes."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import random_bundle
from lwfc import golden
from lwfc.bundle import MANIFEST, TENSORS, load_bundle, save_bundle
from lwfc.errors import BundleError


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_bundle(random_bundle(1, lowrank={1: 8}), tmp_path / "b")


def rewrite(folder: Path, arrays=None, manifest=None, fix_checksum: bool = True) -> None:
    """Mutate a saved bundle's tensors and/or manifest, keeping the checksum consistent."""
    mpath = folder / MANIFEST
    man = json.loads(mpath.read_text())
    with np.load(folder / TENSORS) as npz:
        data = {k: npz[k] for k in npz.files}
    if arrays:
        arrays(data)
        buf = io.BytesIO()
        np.savez(buf, **data)
        (folder / TENSORS).write_bytes(buf.getvalue())
    if fix_checksum:
        man["files"][TENSORS]["sha256"] = hashlib.sha256(
            (folder / TENSORS).read_bytes()
        ).hexdigest()
    if manifest:
        manifest(man)
    mpath.write_text(json.dumps(man))


def test_round_trip_is_exact(saved: Path):
    original = random_bundle(1, lowrank={1: 8})
    loaded = load_bundle(saved)
    x = np.random.default_rng(0).integers(0, 256, (64, 784), dtype=np.uint8)
    assert np.array_equal(golden.forward(original, x), golden.forward(loaded, x))
    assert loaded.info()["weights_stored"] == original.weights_stored
    assert [layer.kind for layer in loaded.layers] == ["dense", "lowrank", "dense"]
    # loading through the manifest path works too
    assert load_bundle(saved / MANIFEST).name == loaded.name


def test_save_is_deterministic(tmp_path: Path):
    a = save_bundle(random_bundle(2), tmp_path / "a")
    b = save_bundle(random_bundle(2), tmp_path / "b")
    assert (a / TENSORS).read_bytes() == (b / TENSORS).read_bytes()


def test_weights_counts_and_masks(tmp_path: Path):
    bundle = random_bundle(4)
    layer = bundle.layers[0]
    layer.mask = (np.random.default_rng(0).random(layer.weight.shape) > 0.5).astype(np.uint8)
    layer.weight = (layer.weight * layer.mask).astype(np.int8)
    loaded = load_bundle(save_bundle(bundle, tmp_path / "m"))
    assert np.array_equal(loaded.layers[0].mask, layer.mask)  # the mask itself round-trips
    assert np.array_equal(loaded.layers[0].weight, layer.weight)
    nonzero = sum(int(np.count_nonzero(la.weight)) for la in bundle.layers)
    assert loaded.weights_nonzero == bundle.weights_nonzero == nonzero < bundle.weights_stored


CORRUPTIONS = {
    "missing manifest": (lambda f: (f / MANIFEST).unlink(), "missing manifest"),
    "missing tensors": (lambda f: (f / TENSORS).unlink(), "missing tensor file"),
    "extra file": (lambda f: (f / "notes.txt").write_text("x"), "unexpected file"),
    "checksum": (
        lambda f: (f / TENSORS).write_bytes((f / TENSORS).read_bytes() + b"\0"),
        "SHA-256 mismatch",
    ),
    "bad json": (lambda f: (f / MANIFEST).write_text("{not json"), "not valid JSON"),
    "nan in json": (
        lambda f: (f / MANIFEST).write_text(
            (f / MANIFEST)
            .read_text()
            .replace('"input_scale": 0.00392', '"input_scale": NaN, "x": 0.00392', 1)
        ),
        "NaN",
    ),
    "format version": (
        lambda f: rewrite(f, manifest=lambda m: m.update(format_version=99)),
        "unknown format_version 99",
    ),
    "format name": (lambda f: rewrite(f, manifest=lambda m: m.update(format="zip")), "'format'"),
    "contract": (lambda f: rewrite(f, manifest=lambda m: m.update(contract="v0")), "'contract'"),
    "weight -128": (
        lambda f: rewrite(f, arrays=lambda d: d["fc1.weight"].__setitem__((0, 0), -128)),
        "'weight' has values -128",
    ),
    "weight dtype": (
        lambda f: rewrite(
            f, arrays=lambda d: d.update({"fc1.weight": d["fc1.weight"].astype(np.int16)})
        ),
        "dtype int16",
    ),
    "weight shape": (
        lambda f: rewrite(f, arrays=lambda d: d.update({"fc3.weight": d["fc3.weight"][:, :50]})),
        "inputs but the previous layer",
    ),
    "shift out of range": (
        lambda f: rewrite(f, arrays=lambda d: d["fc1.shift"].__setitem__(0, 0)),
        "'shift' has values 0",
    ),
    "inf scale tensor": (
        lambda f: rewrite(f, arrays=lambda d: d["fc1.weight_scale"].__setitem__(0, np.inf)),
        "NaN or inf",
    ),
    "missing tensor": (
        lambda f: rewrite(f, arrays=lambda d: d.pop("fc2.u")),
        "missing tensor 'fc2.u'",
    ),
    "unreferenced tensor": (
        lambda f: rewrite(f, arrays=lambda d: d.update(extra=np.zeros(3, np.int8))),
        "not referenced",
    ),
    "unknown kind": (
        lambda f: rewrite(f, manifest=lambda m: m["layers"][0].update(kind="conv")),
        "field 'kind'",
    ),
    "last layer relu": (
        lambda f: rewrite(f, manifest=lambda m: m["layers"][2].update(activation="relu")),
        "field 'activation'",
    ),
    "negative scale": (
        lambda f: rewrite(f, manifest=lambda m: m["layers"][0].update(output_scale=-1.0)),
        "positive scale",
    ),
    "classes": (lambda f: rewrite(f, manifest=lambda m: m.update(classes=11)), "'classes'"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corruption_is_a_clear_error(saved: Path, case: str):
    corrupt, message = CORRUPTIONS[case]
    corrupt(saved)
    with pytest.raises(BundleError) as info:
        load_bundle(saved)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert str(saved) in text  # names the file


def test_mask_must_not_hide_nonzero_weights(tmp_path: Path):
    bundle = random_bundle(5)
    bundle.layers[0].mask = np.zeros_like(bundle.layers[0].weight, dtype=np.uint8)
    with pytest.raises(BundleError, match="marks nonzero weights as pruned"):
        save_bundle(bundle, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_not_a_bundle_folder(tmp_path: Path):
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="not a folder"):
        load_bundle(tmp_path / "file")


def test_refuses_to_overwrite_a_non_bundle_folder(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep")
    with pytest.raises(BundleError, match="refusing to overwrite"):
        save_bundle(random_bundle(0), tmp_path / "data")
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep"


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch):
    def boom(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(random_bundle(0), tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_an_old_bundle(tmp_path: Path):
    out = save_bundle(random_bundle(0), tmp_path / "b")
    save_bundle(random_bundle(1), out)
    assert load_bundle(out).name == "random-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
