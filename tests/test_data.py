"""Tests of lwfc.data: real MNIST / Fashion-MNIST loads, every corruption check, downloads.

The real MNIST files come from ``$LWFC_DATA``, else from ``shared/datasets/mnist`` beside the
repository checkout. Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package.
Corruption cases work on modified copies in ``tmp_path``; the download path is tested against a
local ``http.server`` on 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from conftest import require_tool
from lwfc import data
from lwfc.data import DATASETS, load_dataset, read_idx, resolve_data_dir
from lwfc.errors import DataError, LwfcError

DEFAULT_MNIST = Path(__file__).resolve().parents[1].parent / "shared/datasets/mnist"
MNIST_DIR = Path(os.environ.get("LWFC_DATA") or DEFAULT_MNIST)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

# Class counts of the canonical files (digits 0..9).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _need_mnist() -> None:
    # Skip (fail in CI) only when nobody said where the data is and the default place lacks
    # it; an explicit LWFC_DATA that lacks the files makes the tests fail.
    require_tool("mnist")


def _raw(directory: Path, name: str) -> bytes:
    for path in (directory / name, directory / f"{name}.gz"):
        if path.is_file():
            content = path.read_bytes()
            return gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
    raise FileNotFoundError(directory / name)


@pytest.fixture(scope="module")
def mnist_test_bytes() -> dict[str, bytes]:
    """Uncompressed bytes of the two canonical MNIST test files."""
    _need_mnist()
    return {name: _raw(MNIST_DIR, name) for name in (TEST_IMAGES, TEST_LABELS)}


def _write(directory: Path, name: str, content: bytes, gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (f"{name}.gz" if gz else name)
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=0) if gz else content)
    return path


def _header(magic: int, *dims: int) -> bytes:
    return b"".join(v.to_bytes(4, "big") for v in (magic, *dims))


def _reference(content: bytes) -> np.ndarray:
    """Decode canonical IDX bytes independently of lwfc.data (header length from ndim)."""
    ndim = content[3]
    dims = [int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(content, np.uint8, offset=4 + 4 * ndim).reshape(dims)


# ---------------------------------------------------------------------------------------------
# Real data


def test_mnist_test_split_loads_and_is_sane() -> None:
    _need_mnist()
    images, labels = load_dataset("mnist", "test", MNIST_DIR, download=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[0] == 7
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert images.min() == 0 and images.max() == 255
    assert images.flags.writeable and images.flags.c_contiguous


def test_mnist_train_split_loads_fast_and_is_sane() -> None:
    _need_mnist()
    start = time.perf_counter()
    images, labels = load_dataset("mnist", "train", MNIST_DIR, download=False)
    elapsed = time.perf_counter() - start
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert 30.0 < float(images.mean()) < 37.0  # MNIST train mean pixel is about 33.3
    assert elapsed < 5.0, f"loading 60k images took {elapsed:.2f} s"


def test_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _need_mnist()
    monkeypatch.setenv("LWFC_DATA", str(MNIST_DIR))
    _, labels = load_dataset("mnist", "test", download=False, progress=False)
    assert labels[0] == 7


def test_resolve_data_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LWFC_DATA", raising=False)
    cache = Path(platformdirs.user_cache_dir("lwfc"))
    assert resolve_data_dir() == cache / "mnist"
    assert resolve_data_dir(None, "fashion-mnist") == cache / "fashion-mnist"
    monkeypatch.setenv("LWFC_DATA", "")  # empty counts as unset
    assert resolve_data_dir() == cache / "mnist"
    monkeypatch.setenv("LWFC_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg"), "fashion-mnist") == tmp_path / "arg"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_dir("~/d") == tmp_path / "d"


def test_gz_and_raw_both_accepted(tmp_path: Path, mnist_test_bytes: dict[str, bytes]) -> None:
    raw_dir, gz_dir, mixed_dir = tmp_path / "raw", tmp_path / "gz", tmp_path / "mixed"
    for name, content in mnist_test_bytes.items():
        _write(raw_dir, name, content)
        _write(gz_dir, name, content, gz=True)
    _write(mixed_dir, TEST_IMAGES, mnist_test_bytes[TEST_IMAGES], gz=True)
    _write(mixed_dir, TEST_LABELS, mnist_test_bytes[TEST_LABELS])
    ref_images = _reference(mnist_test_bytes[TEST_IMAGES])
    ref_labels = _reference(mnist_test_bytes[TEST_LABELS])
    for directory in (raw_dir, gz_dir, mixed_dir):
        images, labels = load_dataset("mnist", "test", directory, download=False)
        np.testing.assert_array_equal(images, ref_images)
        np.testing.assert_array_equal(labels, ref_labels)


def test_dataset_table_is_consistent() -> None:
    assert set(DATASETS) == {"mnist", "fashion-mnist"}
    for key, spec in DATASETS.items():
        assert spec.name == key
        assert set(spec.splits) == {"train", "test"}
        assert len(spec.mirrors) >= 2
        assert all(m.startswith(("http://", "https://")) and m.endswith("/") for m in spec.mirrors)
        for split, (images, labels) in spec.splits.items():
            n = 60000 if split == "train" else 10000
            assert images.shape == (n, 28, 28) and labels.shape == (n,)
            assert images.magic == 0x803 and labels.magic == 0x801
            assert images.size == 16 + n * 784 and labels.size == 8 + n
            for f in (images, labels):
                assert len(f.md5) == 32 and int(f.md5, 16) >= 0
    mnist_md5s = {f.md5 for f in DATASETS["mnist"].files}
    assert "2646ac647ad5339dbf082846283269ea" in mnist_md5s
    assert mnist_md5s.isdisjoint(f.md5 for f in DATASETS["fashion-mnist"].files)


# ---------------------------------------------------------------------------------------------
# Bad input: each case writes the canonical test split to tmp_path, spoils one file, and checks
# that the DataError names that file and says what is wrong.


def _set_magic(magic: int) -> Callable[[bytes], bytes]:
    return lambda b: magic.to_bytes(4, "big") + b[4:]


def _flip_pixel(b: bytes) -> bytes:
    out = bytearray(b)
    out[16 + 5000] ^= 0x01
    return bytes(out)


def _rows_27(b: bytes) -> bytes:
    return b[:8] + (27).to_bytes(4, "big") + b[12:]


def _images_9999(b: bytes) -> bytes:
    return _header(0x803, 9999, 28, 28) + b[16 : 16 + 9999 * 784]


def _labels_9999(b: bytes) -> bytes:
    return _header(0x801, 9999) + b[8 : 8 + 9999]


BAD_CASES: dict[str, tuple[str, Callable[[bytes], bytes], bool, str]] = {
    # case id: (file spoiled, how, write it gzipped, fragment of the message)
    "bad-magic-images-gz": (
        TEST_IMAGES,
        _set_magic(0x801),
        True,
        "t10k-images-idx3-ubyte.gz: bad magic 0x00000801, expected 0x00000803",
    ),
    "bad-magic-labels": (TEST_LABELS, _set_magic(0x803), False, "bad magic 0x00000803"),
    "not-uint8-idx": (TEST_IMAGES, _set_magic(0x0D03), False, "expected 0x00000803"),
    "truncated-images": (TEST_IMAGES, lambda b: b[:-100], False, "truncated, 7839916 bytes"),
    "truncated-images-gz": (TEST_IMAGES, lambda b: b[:-1], True, "truncated"),
    "trailing-bytes-labels": (TEST_LABELS, lambda b: b + b"\x00", False, "1 trailing bytes"),
    "trailing-bytes-images-gz": (TEST_IMAGES, lambda b: b + b"xyz", True, "3 trailing bytes"),
    "wrong-dims-images": (
        TEST_IMAGES,
        _rows_27,
        False,
        "bad dimensions 10000x27x28, expected Nx28x28",
    ),
    "md5-mismatch-images": (TEST_IMAGES, _flip_pixel, False, "MD5"),
    "md5-mismatch-labels-gz": (
        TEST_LABELS,
        lambda b: b[:8] + bytes([(b[8] + 1) % 10]) + b[9:],
        True,
        "MD5",
    ),
    "count-mismatch": (TEST_LABELS, _labels_9999, False, "9999 labels but"),
    "empty-file": (TEST_LABELS, lambda b: b"", False, "too short for an IDX header"),
    "header-only": (TEST_IMAGES, lambda b: b[:10], False, "truncated header"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_file_is_rejected_with_its_name(
    case: str, tmp_path: Path, mnist_test_bytes: dict[str, bytes]
) -> None:
    target, spoil, gz, fragment = BAD_CASES[case]
    for name, content in mnist_test_bytes.items():
        if name == target:
            _write(tmp_path, name, spoil(content), gz=gz)
        else:
            _write(tmp_path, name, content)
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test", tmp_path, download=False)
    message = str(info.value)
    assert target in message
    assert str(tmp_path) in message
    assert fragment in message
    assert "\n" not in message


def test_same_wrong_count_in_both_files(tmp_path: Path, mnist_test_bytes: dict[str, bytes]) -> None:
    """Files that agree with each other but not with the split's size are rejected."""
    _write(tmp_path, TEST_IMAGES, _images_9999(mnist_test_bytes[TEST_IMAGES]))
    _write(tmp_path, TEST_LABELS, _labels_9999(mnist_test_bytes[TEST_LABELS]))
    with pytest.raises(DataError, match="bad dimensions 9999x28x28, expected 10000x28x28") as info:
        load_dataset("mnist", "test", tmp_path, download=False)
    assert TEST_IMAGES in str(info.value)


def test_corrupt_gzip_stream(tmp_path: Path, mnist_test_bytes: dict[str, bytes]) -> None:
    _write(tmp_path, TEST_LABELS, mnist_test_bytes[TEST_LABELS])
    compressed = gzip.compress(mnist_test_bytes[TEST_IMAGES], compresslevel=1, mtime=0)
    spoilt = bytearray(compressed)
    spoilt[len(spoilt) // 2 : len(spoilt) // 2 + 64] = bytes(64)
    (tmp_path / f"{TEST_IMAGES}.gz").write_bytes(bytes(spoilt))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: .*gzip"):
        load_dataset("mnist", "test", tmp_path, download=False)
    (tmp_path / f"{TEST_IMAGES}.gz").write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: truncated gzip stream"):
        load_dataset("mnist", "test", tmp_path, download=False)


def test_missing_files_with_download_disabled(
    tmp_path: Path, mnist_test_bytes: dict[str, bytes]
) -> None:
    _write(tmp_path, TEST_LABELS, mnist_test_bytes[TEST_LABELS], gz=True)
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test", tmp_path, download=False)
    message = str(info.value)
    assert TEST_IMAGES in message and TEST_LABELS not in message
    assert str(tmp_path) in message
    assert "LWFC_DATA" in message and "--data" in message
    assert "download disabled" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{TEST_LABELS}.gz"]


def test_missing_data_dir_with_download_disabled(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*train-labels-idx1-ubyte"):
        load_dataset("mnist", "train", missing, download=False)
    assert not missing.exists()


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("mnist", "test", not_a_dir, download=False)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: load_dataset("emnist", "test", download=False), "dataset: unknown name 'emnist'"),
        (lambda: load_dataset("MNIST", "test", download=False), "dataset: unknown name 'MNIST'"),
        (lambda: load_dataset("mnist", "valid", download=False), "split: unknown name 'valid'"),
        (lambda: load_dataset("fashion-mnist", "t10k"), "split: unknown name 't10k'"),
        (lambda: resolve_data_dir(None, "cifar10"), "dataset: unknown name 'cifar10'"),
    ],
)
def test_unknown_names(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(DataError) as info:
        call()
    assert fragment in str(info.value)
    assert "mnist" in str(info.value)  # lists the known names
    assert isinstance(info.value, LwfcError)


# ---------------------------------------------------------------------------------------------
# read_idx on its own


def test_read_idx_direct(tmp_path: Path, mnist_test_bytes: dict[str, bytes]) -> None:
    labels_path = _write(tmp_path, TEST_LABELS, mnist_test_bytes[TEST_LABELS])
    images_path = _write(tmp_path, TEST_IMAGES, mnist_test_bytes[TEST_IMAGES], gz=True)
    labels = read_idx(labels_path)
    assert labels.shape == (10000,) and labels.dtype == np.uint8 and labels[0] == 7
    images = read_idx(images_path, shape=(None, 28, 28), md5=DATASETS["mnist"].files[2].md5)
    assert images.shape == (10000, 28, 28)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: MD5 .* expected 0{32}"):
        read_idx(labels_path, md5="0" * 32)
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte: bad dimensions 10000, expected 5"
    ):
        read_idx(labels_path, shape=(5,))
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "absent-idx1-ubyte")
    # The magic expected from the name: idx3 means three dimensions.
    misnamed = _write(tmp_path, "labels-idx3-ubyte", mnist_test_bytes[TEST_LABELS])
    with pytest.raises(
        DataError, match="labels-idx3-ubyte: bad magic 0x00000801, expected 0x00000803"
    ):
        read_idx(misnamed)


def test_read_idx_generic_files(tmp_path: Path) -> None:
    """Any well-formed uint8 IDX file parses; other data types and non-IDX bytes do not."""
    path = _write(tmp_path, "small", _header(0x0802, 2, 3) + bytes(range(6)))
    np.testing.assert_array_equal(read_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 3))
    floats = _write(tmp_path, "floats", _header(0x0D01, 1) + bytes(4))
    with pytest.raises(DataError, match=r"floats: IDX data type 0x0d not supported"):
        read_idx(floats)
    text = _write(tmp_path, "text", b"hello world\n")
    with pytest.raises(DataError, match=r"text: bad magic 0x68656c6c, not an IDX file"):
        read_idx(text)
    with pytest.raises(DataError, match="is a directory"):
        read_idx(tmp_path)


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST from Debian's dataset-fashion-mnist


needs_fashion = pytest.mark.tools("fashion-mnist")


@needs_fashion
@pytest.mark.parametrize(("split", "n"), [("test", 10000), ("train", 60000)])
def test_fashion_mnist_loads_from_debian_dir(tmp_path: Path, split: str, n: int) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    images, labels = load_dataset("fashion-mnist", split, empty, download=False)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [n // 10] * 10
    if split == "test":
        assert labels[0] == 9  # ankle boot
    assert list(empty.iterdir()) == []  # nothing copied or cached


@needs_fashion
def test_fashion_mnist_in_data_dir_wins_and_is_checked(tmp_path: Path) -> None:
    for name in (TEST_IMAGES, TEST_LABELS):
        _write(tmp_path, name, _raw(FASHION_DIR, name))
    images, _ = load_dataset("fashion-mnist", "test", tmp_path, download=False)
    assert images.shape == (10000, 28, 28)
    # MNIST asked for in a Fashion-MNIST folder (same file names): the MD5 tells which dataset
    # the files are, and nothing is downloaded over them.
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DataError, match=r"holds fashion-mnist's t10k-images.*not mnist's") as info:
        load_dataset("mnist", "test", tmp_path, download=True)
    assert str(info.value).startswith(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@needs_fashion
def test_fashion_mnist_passes_over_mnist_files_of_the_same_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LWFC_DATA names the MNIST folder (as CI sets it): Fashion-MNIST still loads, from
    # Debian's folder, and a truly corrupt file in the data folder is still an error.
    for name in (TEST_IMAGES, TEST_LABELS):
        _write(tmp_path, name, _raw(MNIST_DIR, name))
    monkeypatch.setenv("LWFC_DATA", str(tmp_path))
    images, labels = load_dataset("fashion-mnist", "test", download=False)
    assert images.shape == (10000, 28, 28) and labels[0] == 9  # ankle boot
    _write(tmp_path, TEST_IMAGES, _raw(MNIST_DIR, TEST_IMAGES)[:-1] + b"\x01")
    with pytest.raises(DataError, match=r"MD5 .*expected") as info:
        load_dataset("fashion-mnist", "test", download=False)
    assert str(info.value).startswith(str(tmp_path / TEST_IMAGES))


# ---------------------------------------------------------------------------------------------
# Downloads from a local HTTP server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1; yields (directory, base URL)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _use_mirrors(monkeypatch: pytest.MonkeyPatch, *mirrors: str) -> None:
    spec = dataclasses.replace(DATASETS["mnist"], mirrors=tuple(mirrors))
    monkeypatch.setitem(DATASETS, "mnist", spec)


def _serve(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / f"{name}.gz").write_bytes(gzip.compress(content, compresslevel=1, mtime=0))


def test_download_from_mirrors(
    http_root: tuple[Path, str],
    tmp_path: Path,
    mnist_test_bytes: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, url = http_root
    _serve(root / "good", mnist_test_bytes)
    # An unreachable mirror and one without the files come first: both are skipped.
    _use_mirrors(monkeypatch, _closed_port_url(), f"{url}empty/", f"{url}good/")
    target = tmp_path / "cache" / "mnist"
    images, labels = load_dataset("mnist", "test", target, progress=True)
    np.testing.assert_array_equal(images, _reference(mnist_test_bytes[TEST_IMAGES]))
    np.testing.assert_array_equal(labels, _reference(mnist_test_bytes[TEST_LABELS]))
    assert sorted(p.name for p in target.iterdir()) == [f"{TEST_IMAGES}.gz", f"{TEST_LABELS}.gz"]
    # Second load: no network needed.
    _use_mirrors(monkeypatch)
    _, again = load_dataset("mnist", "test", target, download=True)
    np.testing.assert_array_equal(again, labels)


def test_download_only_missing_file(
    http_root: tuple[Path, str],
    tmp_path: Path,
    mnist_test_bytes: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, url = http_root
    _serve(root, {TEST_LABELS: mnist_test_bytes[TEST_LABELS]})
    _use_mirrors(monkeypatch, url)
    target = tmp_path / "data"
    _write(target, TEST_IMAGES, mnist_test_bytes[TEST_IMAGES])
    _, labels = load_dataset("mnist", "test", target, progress=False)
    assert labels[0] == 7
    assert sorted(p.name for p in target.iterdir()) == [TEST_IMAGES, f"{TEST_LABELS}.gz"]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_flip_pixel, "MD5"),
        (lambda b: b[:-784], "truncated"),
        (_set_magic(0x801), "bad magic"),
    ],
    ids=["md5", "truncated", "magic"],
)
def test_corrupted_download_rejected_and_nothing_left(
    http_root: tuple[Path, str],
    tmp_path: Path,
    mnist_test_bytes: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    spoil: Callable[[bytes], bytes],
    reason: str,
) -> None:
    root, url = http_root
    _serve(
        root,
        {
            TEST_IMAGES: spoil(mnist_test_bytes[TEST_IMAGES]),
            TEST_LABELS: mnist_test_bytes[TEST_LABELS],
        },
    )
    _use_mirrors(monkeypatch, url)
    target = tmp_path / "data"
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test", target, progress=False)
    message = str(info.value)
    assert f"missing {TEST_IMAGES}" in message and str(target) in message
    assert reason in message and "LWFC_DATA" in message
    # The good labels file was kept; nothing of the bad images file, no temporary file.
    assert sorted(p.name for p in target.iterdir()) == [f"{TEST_LABELS}.gz"]


def test_corrupt_mirror_then_good_mirror(
    http_root: tuple[Path, str],
    tmp_path: Path,
    mnist_test_bytes: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, url = http_root
    bad = dict(mnist_test_bytes)
    bad[TEST_IMAGES] = _flip_pixel(bad[TEST_IMAGES])
    _serve(root / "bad", bad)
    _serve(root / "good", mnist_test_bytes)
    _use_mirrors(monkeypatch, f"{url}bad/", f"{url}good/")
    target = tmp_path / "data"
    images, _ = load_dataset("mnist", "test", target, progress=False)
    np.testing.assert_array_equal(images, _reference(mnist_test_bytes[TEST_IMAGES]))
    assert sorted(p.name for p in target.iterdir()) == [f"{TEST_IMAGES}.gz", f"{TEST_LABELS}.gz"]


def test_download_failure_is_quick_and_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One mirror refuses connections, one accepts them but never answers (times out).
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        _use_mirrors(monkeypatch, _closed_port_url(), silent_url)
        target = tmp_path / "new" / "dir"
        start = time.perf_counter()
        with pytest.raises(DataError) as info:
            load_dataset("mnist", "test", target, progress=False)
        elapsed = time.perf_counter() - start
    message = str(info.value)
    assert TEST_IMAGES in message and TEST_LABELS in message
    assert str(target) in message and "download failed" in message
    assert "LWFC_DATA" in message and "--data" in message
    assert elapsed < 3.0
    assert not target.exists()  # the directory made for the download is removed again
