"""MNIST and Fashion-MNIST from their four IDX files.

Both datasets ship as four files in the IDX format of the original MNIST database::

    train-images-idx3-ubyte   magic 0x00000803, 60000 x 28 x 28 uint8
    train-labels-idx1-ubyte   magic 0x00000801, 60000 uint8
    t10k-images-idx3-ubyte    magic 0x00000803, 10000 x 28 x 28 uint8
    t10k-labels-idx1-ubyte    magic 0x00000801, 10000 uint8

An IDX file is a big-endian header (two zero bytes, a data-type byte, 0x08 for uint8, and the
number of dimensions), one big-endian uint32 per dimension, then the elements in C order. Each
file may sit in the data directory raw (``name``) or gzip-compressed (``name.gz``); gzip is
recognised by its content, so a ``.gz`` that a browser already decompressed still loads.

Every file is checked before use: magic number, dimensions, exact byte size (truncated data and
trailing bytes are both errors), and the canonical MD5 of the *uncompressed* bytes (the MD5 of a
``.gz`` differs between mirrors, that of its content does not). Any failure is a
:class:`~lwfc.errors.DataError` whose one-line message names the file and what is wrong.

Where the files are looked for, in order (see :func:`resolve_data_dir`):

1. the ``data_dir`` argument (the CLI's ``--data DIR``);
2. the ``LWFC_DATA`` environment variable;
3. the user cache directory, ``platformdirs.user_cache_dir("lwfc")/<dataset>``.

The chosen directory holds the four files directly (no sub-folder per dataset). For
Fashion-MNIST, Debian's package ``dataset-fashion-mnist`` installs the four ``.gz`` files in
``/usr/share/datasets/fashion-mnist``; a file missing from the data directory is also looked for
there. MNIST and Fashion-MNIST use the same file names: a file that is the *other* dataset's
(by its MD5) is passed over, and never downloaded over. Files found nowhere are downloaded
into the data directory from the public mirrors (when ``download=True``): each one goes to a
temporary file in that directory, is verified, and only then renamed to its final name, so no
half-written or unverified file is ever left behind.
Nothing else is written to disk.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lwfc.errors import DataError

__all__ = [
    "DATASETS",
    "DOWNLOAD_TIMEOUT",
    "ENV_VAR",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "DatasetSpec",
    "IdxFileSpec",
    "load_dataset",
    "read_idx",
    "resolve_data_dir",
]

ENV_VAR = "LWFC_DATA"
"""Environment variable naming the data directory when no ``data_dir`` argument is given."""

DOWNLOAD_TIMEOUT = 5.0
"""Seconds to wait for a mirror to connect or send data before trying the next one."""

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_SHAPE = (28, 28)

_UINT8_TYPE = 0x08
_CHUNK = 1 << 16


@dataclass(frozen=True)
class IdxFileSpec:
    """One of a dataset's four IDX files.

    Attributes:
        name: file name without ``.gz`` (e.g. ``"t10k-images-idx3-ubyte"``).
        md5: canonical MD5 (hex) of the uncompressed file.
        magic: expected magic number, :data:`IMAGES_MAGIC` or :data:`LABELS_MAGIC`.
        shape: expected array shape, ``(N, 28, 28)`` for images, ``(N,)`` for labels.
    """

    name: str
    md5: str
    magic: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Exact size in bytes of the uncompressed file: header plus one byte per element."""
        return 4 + 4 * len(self.shape) + int(np.prod(self.shape))


@dataclass(frozen=True)
class DatasetSpec:
    """What defines a dataset: its files per split, where to download them, where else to look.

    Attributes:
        name: the dataset's name, a key of :data:`DATASETS`.
        splits: split name (``"train"``, ``"test"``) to its ``(images, labels)`` file specs.
        mirrors: base URLs, tried in order; a file is fetched as ``mirror + name + ".gz"``.
        system_dirs: directories where a system package installs the files; a file missing
            from the data directory is looked for there before it is downloaded.
    """

    name: str
    splits: dict[str, tuple[IdxFileSpec, IdxFileSpec]]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[IdxFileSpec, ...]:
        """All files of the dataset, images then labels for each split."""
        return tuple(f for pair in self.splits.values() for f in pair)


def _split(
    prefix: str, count: int, images_md5: str, labels_md5: str
) -> tuple[IdxFileSpec, IdxFileSpec]:
    return (
        IdxFileSpec(f"{prefix}-images-idx3-ubyte", images_md5, IMAGES_MAGIC, (count, *IMAGE_SHAPE)),
        IdxFileSpec(f"{prefix}-labels-idx1-ubyte", labels_md5, LABELS_MAGIC, (count,)),
    )


DATASETS: dict[str, DatasetSpec] = {
    # MD5s as published with the MNIST database (of the uncompressed files).
    "mnist": DatasetSpec(
        name="mnist",
        splits={
            "train": _split(
                "train",
                60000,
                "6bbc9ace898e44ae57da46a324031adb",
                "a25bea736e30d166cdddb491f175f624",
            ),
            "test": _split(
                "t10k",
                10000,
                "2646ac647ad5339dbf082846283269ea",
                "27ae3e4e09519cfbb04c329615203637",
            ),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    # MD5s of the uncompressed files installed by Debian's dataset-fashion-mnist
    # (0.0~git20200523.55506a9-1). Debian recompressed the .gz files, so their own MD5s differ
    # from the ones upstream publishes; the uncompressed content is the same.
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        splits={
            "train": _split(
                "train",
                60000,
                "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "9018921c3c673c538a1fc5bad174d6f9",
            ),
            "test": _split(
                "t10k",
                10000,
                "8181f5470baa50b63fa0f6fddb340f0a",
                "15d484375f8d13e6eb1aabb0c3f46965",
            ),
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    ),
}
"""Known datasets by name: ``"mnist"`` and ``"fashion-mnist"``."""


def _spec(dataset: str) -> DatasetSpec:
    try:
        return DATASETS[dataset]
    except (KeyError, TypeError):
        known = ", ".join(DATASETS)
        raise DataError(f"dataset: unknown name {dataset!r} (known: {known})") from None


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, dataset: str = "mnist"
) -> Path:
    """The directory that holds (or will receive) the dataset's files.

    Args:
        data_dir: explicit directory (the CLI's ``--data``); wins when given.
        dataset: a key of :data:`DATASETS`, used to name the cache sub-directory.

    Returns:
        ``data_dir`` if given, else ``$LWFC_DATA`` if set and non-empty, else
        ``platformdirs.user_cache_dir("lwfc") / dataset``. ``~`` is expanded; the directory
        need not exist yet.

    Raises:
        DataError: unknown dataset name.
    """
    _spec(dataset)
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env:
        return env_data_dir(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("lwfc")) / dataset


def env_data_dir(value: str) -> Path:
    """``$LWFC_DATA`` as an absolute path.

    A relative value means relative to the folder the user typed the command in. A process
    that a tool started in another folder (FuseSoC runs its generators in a cache folder)
    still sees the shell's ``$PWD``, so a relative value that does not exist here is looked up
    there before it is taken relative to the current folder.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    here = Path.cwd() / path
    shell = os.environ.get("PWD", "")
    if not here.exists() and shell and (Path(shell) / path).exists():
        return (Path(shell) / path).resolve()
    return here.resolve()


def absolute_data_env() -> None:
    """Make ``$LWFC_DATA`` absolute in this process's environment, so that every subprocess
    (FuseSoC, its generator, simulators) finds the same folder whatever its working folder."""
    value = os.environ.get(ENV_VAR, "")
    if value:
        os.environ[ENV_VAR] = str(env_data_dir(value))


def _dims(shape: Sequence[int | None]) -> str:
    return "x".join("N" if d is None else str(d) for d in shape)


def _read_bytes(path: Path, label: str) -> bytes:
    """The uncompressed content of ``path`` (gzip recognised by its magic bytes)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{label}: is a directory, not an IDX file") from None
    except OSError as e:
        raise DataError(f"{label}: cannot read ({e.strerror or e})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{label}: truncated gzip stream") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{label}: corrupt gzip data ({e})") from None


def _parse_idx(
    data: bytes,
    label: str,
    magic: int | None,
    shape: Sequence[int | None] | None,
) -> np.ndarray:
    """Check the header of IDX bytes against expectations and return the elements."""
    if len(data) < 4:
        raise DataError(f"{label}: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise DataError(f"{label}: bad magic 0x{found:08x}, expected 0x{magic:08x}")
    if data[:2] != b"\0\0" or data[3] == 0:
        raise DataError(f"{label}: bad magic 0x{found:08x}, not an IDX file")
    if data[2] != _UINT8_TYPE:
        raise DataError(
            f"{label}: IDX data type 0x{data[2]:02x} not supported, only 0x08 (unsigned byte)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{label}: truncated header, {len(data)} bytes but {ndim} dimensions need {header}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if shape is not None and (
        len(dims) != len(shape)
        or any(e is not None and d != e for d, e in zip(dims, shape, strict=True))
    ):
        raise DataError(f"{label}: bad dimensions {_dims(dims)}, expected {_dims(shape)}")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise DataError(
            f"{label}: truncated, {len(data)} bytes but header {_dims(dims)} needs {expected}"
        )
    if len(data) > expected:
        raise DataError(
            f"{label}: {len(data) - expected} trailing bytes after the data "
            f"({len(data)} bytes, header {_dims(dims)} needs {expected})"
        )
    # frombuffer is a zero-copy view of the (read-only) bytes; copy once so callers get an
    # ordinary writable array that owns its memory.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _read_checked(
    path: Path,
    magic: int | None,
    shape: Sequence[int | None] | None,
    label: str | None = None,
) -> tuple[np.ndarray, str]:
    """Read and check one IDX file; return its array and the MD5 of its uncompressed bytes."""
    label = label if label is not None else str(path)
    data = _read_bytes(path, label)
    array = _parse_idx(data, label, magic, shape)
    return array, hashlib.md5(data, usedforsecurity=False).hexdigest()


def read_idx(
    path: str | os.PathLike[str],
    *,
    magic: int | None = None,
    shape: Sequence[int | None] | None = None,
    md5: str | None = None,
) -> np.ndarray:
    """Parse one IDX file of unsigned bytes, raw or gzip-compressed.

    Always checked: the magic number is that of an IDX uint8 file, and the file's uncompressed
    size is exactly the header plus one byte per element. When the keyword arguments are given,
    also the exact magic number (``0x00000803`` images, ``0x00000801`` labels), the dimensions
    (``None`` in ``shape`` matches any size) and the MD5 of the uncompressed bytes. Without
    ``magic``, a name containing ``idx1``/``idx2``/``idx3`` fixes the expected magic as the
    standard MNIST file names do.

    Args:
        path: the file.
        magic: expected magic number, or ``None``.
        shape: expected dimensions, e.g. ``(None, 28, 28)``, or ``None``.
        md5: expected hex MD5 of the uncompressed bytes, or ``None``.

    Returns:
        A writable uint8 array shaped as the header says: ``(N, 28, 28)`` for an MNIST image
        file, ``(N,)`` for a label file.

    Raises:
        DataError: the file is missing, unreadable, not IDX, or fails a check; the message
            starts with the file's path.
    """
    path = Path(path)
    if magic is None:
        for ndim in (1, 2, 3):
            if f"idx{ndim}" in path.name:
                magic = (_UINT8_TYPE << 8) | ndim
                break
    array, digest = _read_checked(path, magic, shape)
    if md5 is not None and digest != md5.lower():
        raise DataError(f"{path}: MD5 {digest} of the uncompressed data, expected {md5.lower()}")
    return array


def _candidates(directory: Path, name: str) -> list[Path]:
    return [directory / name, directory / f"{name}.gz"]


def _known_file(digest: str) -> tuple[str, str] | None:
    """``(dataset, file name)`` of the known IDX file whose uncompressed MD5 is ``digest``."""
    for spec in DATASETS.values():
        for f in spec.files:
            if f.md5 == digest:
                return spec.name, f.name
    return None


def _md5_owner(digest: str, expected: IdxFileSpec, dataset: str) -> str:
    """A hint naming the dataset whose file has this MD5, when it is another known one."""
    owner = _known_file(digest)
    if owner is None or owner == (dataset, expected.name):
        return ""
    return f" (that is {owner[0]}'s {owner[1]})"


def _fetch(url: str, dest_dir: Path, spec: IdxFileSpec, progress: bool) -> Path:
    """Download ``url`` into ``dest_dir``, verify it as ``spec``, then rename it into place.

    The bytes go to a hidden temporary file in ``dest_dir`` (same filesystem, so the final
    :func:`os.replace` is atomic); the temporary file is removed on any failure.

    Raises:
        OSError, urllib.error.URLError: network or disk failure.
        DataError: the downloaded file fails verification.
    """
    from tqdm import tqdm

    final = dest_dir / f"{spec.name}.gz"
    request = urllib.request.Request(url, headers={"User-Agent": "lwfc (python urllib)"})
    # A gzip of MNIST data is far smaller than the raw file; a mirror sending more than twice
    # the raw size is sending something else.
    limit = 2 * spec.size + (1 << 20)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=final.name,
                disable=not progress,
                leave=False,
            ) as bar:
                received = 0
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise DataError(f"{url}: more than {limit} bytes, not an MNIST file")
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise DataError(f"{url}: got {received} of {total} bytes")
        _, digest = _read_checked(tmp, spec.magic, spec.shape, label=url)
        if digest != spec.md5:
            raise DataError(f"{url}: MD5 {digest} of the uncompressed data, expected {spec.md5}")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return final


def _download(
    spec: DatasetSpec, files: Sequence[IdxFileSpec], dest_dir: Path, progress: bool
) -> list[tuple[str, str]]:
    """Fetch each of ``files`` from the first mirror that serves a valid copy.

    Returns:
        ``(file name, short reason)`` for each failed attempt, including attempts at files that
        a later mirror then served.
    """
    created = not dest_dir.exists()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [(f.name, f"cannot create {dest_dir} ({e.strerror or e})") for f in files]
    failures: list[tuple[str, str]] = []
    dead: set[str] = set()  # mirrors that could not be reached at all: not retried
    for f in files:
        for mirror in spec.mirrors:
            if mirror in dead:
                continue
            url = f"{mirror}{f.name}.gz"
            try:
                _fetch(url, dest_dir, f, progress)
                break
            except urllib.error.HTTPError as e:
                failures.append((f.name, f"{url}: HTTP {e.code}"))
            except urllib.error.URLError as e:
                failures.append((f.name, f"{url}: {e.reason}"))
                dead.add(mirror)
            except DataError as e:
                failures.append((f.name, str(e)))
            except (OSError, ValueError) as e:  # timeouts, resets, disk errors, bad URLs
                failures.append((f.name, f"{url}: {e}"))
                if isinstance(e, TimeoutError | ConnectionError):
                    dead.add(mirror)
    if created and failures:
        with contextlib.suppress(OSError):
            dest_dir.rmdir()  # only succeeds if nothing was downloaded into it
    return failures


def load_dataset(
    dataset: str = "mnist",
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST or Fashion-MNIST, verified.

    Args:
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` (60000 examples) or ``"test"`` (10000 examples).
        data_dir: directory with the files; ``None`` resolves it as :func:`resolve_data_dir`.
        download: fetch missing files from the mirrors into the data directory.
        progress: show a tqdm progress bar (on stderr) while downloading.

    Returns:
        ``(images, labels)``: images uint8 of shape ``(N, 28, 28)`` (0 = background,
        255 = ink for MNIST), labels uint8 of shape ``(N,)`` with values 0..9, in the files'
        original order.

    Raises:
        DataError: unknown dataset or split, files missing (and not downloadable), or a file
            that fails a check (magic, dimensions, byte size, MD5, images/labels count).
    """
    spec = _spec(dataset)
    if split not in spec.splits:
        known = ", ".join(spec.splits)
        raise DataError(f"split: unknown name {split!r} for {dataset} (known: {known})")
    directory = resolve_data_dir(data_dir, dataset)
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory}: data directory is not a directory")
    search = [directory, *spec.system_dirs]
    pair = spec.splits[split]
    where = f"{directory}" + "".join(f" or {d}" for d in spec.system_dirs)
    fix = f"put the files there or point {ENV_VAR} / --data at a directory that has them"

    found = {f.name: _locate(f, search, dataset) for f in pair}
    missing = [f for f in pair if found[f.name] is None]
    if missing:
        for f in missing:
            other = _foreign(f, directory, dataset)
            if other:
                raise DataError(
                    f"{directory}: holds {other} under the name {f.name}, not {dataset}'s; "
                    f"point --data at a directory for {dataset} (nothing downloaded over it)"
                )
        names = ", ".join(f"{f.name}[.gz]" for f in missing)
        if not download:
            raise DataError(
                f"{dataset} {split}: missing {names} in {where} (download disabled); {fix}"
            )
        failures = _download(spec, missing, directory, progress)
        found = {f.name: _locate(f, search, dataset) for f in pair}
        missing = [f for f in pair if found[f.name] is None]
        if missing:
            names = ", ".join(f"{f.name}[.gz]" for f in missing)
            reasons = [r for name, r in failures if name in {f.name for f in missing}]
            last = reasons[-1] if reasons else "no mirror"
            raise DataError(
                f"{dataset} {split}: missing {names} in {where}, download failed "
                f"({len(reasons)} attempts, last: {last}); {fix}"
            )

    (images_path, images, images_md5), (labels_path, labels, labels_md5) = (
        found[f.name] for f in pair
    )
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels but {images_path} has {len(images)} images"
        )
    for path, array, digest, f in (
        (images_path, images, images_md5, pair[0]),
        (labels_path, labels, labels_md5, pair[1]),
    ):
        if array.shape != f.shape:
            raise DataError(
                f"{path}: bad dimensions {_dims(array.shape)}, expected {_dims(f.shape)} "
                f"for {dataset} {split}"
            )
        if digest != f.md5:
            raise DataError(
                f"{path}: MD5 {digest} of the uncompressed data, expected {f.md5} "
                f"for {dataset}{_md5_owner(digest, f, dataset)}"
            )
    return images, labels


def _other_owner(digest: str, dataset: str) -> str | None:
    """``"<dataset>'s <file>"`` when ``digest`` is the MD5 of a file of *another* dataset."""
    owner = _known_file(digest)
    if owner is None or owner[0] == dataset:
        return None
    return f"{owner[0]}'s {owner[1]}"


def _locate(
    f: IdxFileSpec, dirs: Sequence[Path], dataset: str
) -> tuple[Path, np.ndarray, str] | None:
    """The first copy of ``f`` in ``dirs`` (raw preferred to ``.gz``): path, array and MD5.

    A same-named file that is *another* known dataset's (MNIST and Fashion-MNIST share their
    file names, so ``LWFC_DATA`` may point at the other one) is passed over and the search goes
    on; the caller checks the copy returned (count, dimensions, MD5) and names it in errors.
    """
    for directory in dirs:
        for candidate in _candidates(directory, f.name):
            if not candidate.is_file():
                continue
            array, digest = _read_checked(candidate, f.magic, (None, *f.shape[1:]))
            if digest != f.md5 and _other_owner(digest, dataset) is not None:
                break  # another dataset's copy: try the next directory
            return candidate, array, digest
    return None


def _foreign(f: IdxFileSpec, directory: Path, dataset: str) -> str | None:
    """The other dataset's file that occupies ``f``'s name in ``directory``, if one does."""
    for candidate in _candidates(directory, f.name):
        if candidate.is_file():
            try:
                _, digest = _read_checked(candidate, f.magic, None)
            except DataError:
                return None
            return _other_owner(digest, dataset)
    return None


# ------------------------------------------------------------------ any uint8 image dataset
#: Names :func:`load_data` knows besides a path.
KNOWN_DATASETS = ("mnist", "fashion-mnist", "digits")
#: scikit-learn's 8x8 digits: test images held out (stratified, seeded split) and the seed.
DIGITS_TEST = 360
DIGITS_SEED = 0
#: IDX file names looked for in a dataset folder (raw or ``.gz``), per split.
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class ImageData:
    """A classification dataset of uint8 images, both splits, checked.

    Attributes:
        name: what the bundle records as its ``dataset`` (a known name or the resolved path).
        x_train, x_test: uint8 images ``(N, ...)``, the same shape after the first axis.
        y_train, y_test: int64 labels ``(N,)`` in ``0 .. classes - 1``.
        classes: ``max(y_train) + 1`` (at least 2).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def features(self) -> int:
        """Pixels per image (the first layer's inputs)."""
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(H, W)`` for 2-D images (single channel), None for flat feature vectors."""
        s = self.x_train.shape[1:]
        return (int(s[0]), int(s[1])) if len(s) == 2 else None


def is_dataset_path(dataset: str) -> bool:
    """True when ``dataset`` names a path (a folder or an ``.npz``), not a known name."""
    return dataset not in KNOWN_DATASETS


def dataset_label(dataset: str) -> str:
    """A short name for bundle names: the known name, or the path's stem."""
    return Path(dataset).stem if is_dataset_path(dataset) else dataset


def load_data(
    dataset: str = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
) -> ImageData:
    """Load a whole dataset: a known name or a path, checked (see ``docs/bundle.md``).

    Args:
        dataset: ``"mnist"``, ``"fashion-mnist"`` (IDX files, :func:`load_dataset`),
            ``"digits"`` (scikit-learn's 8x8 digits: 1,797 images of 0 ... 16 scaled to uint8
            as ``round(v * 255 / 16)``, a stratified split with :data:`DIGITS_TEST` test
            images and ``random_state`` :data:`DIGITS_SEED`), or a path: a folder holding the
            four IDX files of :data:`IDX_NAMES` (raw or ``.gz``, any image size, uint8 labels),
            or an ``.npz`` with ``x_train, y_train, x_test, y_test`` (uint8 images of any
            size, integer labels).
        data_dir: the MNIST / Fashion-MNIST folder (ignored for the others).

    Raises:
        DataError: unknown name, missing file, ragged or non-uint8 images, labels that are
            not integers in ``0 .. classes - 1``, or train and test images of different sizes.
    """
    if dataset in ("mnist", "fashion-mnist"):
        xi, yi = load_dataset(dataset, "train", data_dir, progress=progress)
        xt, yt = load_dataset(dataset, "test", data_dir, progress=progress)
        return _checked(dataset, dataset, xi, yi, xt, yt)
    if dataset == "digits":
        return _digits()
    name, where, arrays = _path_arrays(dataset, ("train", "test"))
    return _checked(name, where, *arrays)


def load_test_data(
    dataset: str = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
) -> tuple[str, np.ndarray, np.ndarray]:
    """``(name, x_test, y_test)`` of a dataset, reading only what the test split needs.

    The same forms as :func:`load_data`; MNIST / Fashion-MNIST and IDX folders need only their
    two ``t10k`` files, an ``.npz`` only ``x_test`` and ``y_test``. Images are flattened as
    :func:`load_data` does (``(N, H, W)`` kept, more axes flattened).

    Raises:
        DataError: as :func:`load_data`, for the test split's files.
    """
    if dataset in ("mnist", "fashion-mnist"):
        xt, yt = load_dataset(dataset, "test", data_dir, progress=progress)
        name, where = dataset, dataset
    elif dataset == "digits":
        d = _digits()
        return d.name, d.x_test, d.y_test
    else:
        name, where, (xt, yt) = _path_arrays(dataset, ("test",))
    _check_split(where, "test", xt, yt)
    if xt.ndim > 3:
        xt = xt.reshape(len(xt), -1)
    return name, np.ascontiguousarray(xt), yt.astype(np.int64)


def _path_arrays(
    dataset: str, splits: tuple[str, ...]
) -> tuple[str, str, list[np.ndarray]]:
    """``(name, where, [x, y per split])`` of a dataset path: a folder of IDX files
    (:data:`IDX_NAMES`, raw or ``.gz``) or an ``.npz`` (``x_<split>``, ``y_<split>``).

    Raises:
        DataError: not an existing folder or ``.npz``, a file or array missing, an unreadable
            ``.npz`` or one holding ragged (object) arrays.
    """
    path = Path(dataset).expanduser()
    if not path.exists():
        raise DataError(
            f"dataset {dataset!r}: neither a known name ({', '.join(KNOWN_DATASETS)}) "
            "nor an existing folder or .npz file"
        )
    name, where = str(path.resolve()), str(path)
    if path.is_dir():
        hint = ("a dataset folder holds 4 IDX files" if len(splits) == 2
                else f"the {splits[0]} split needs 2 IDX files")
        arrays = []
        for split in splits:
            for fname in IDX_NAMES[split]:
                found = [p for p in _candidates(path, fname) if p.is_file()]
                if not found:
                    raise DataError(f"{path / fname}: missing ({hint})")
                arrays.append(read_idx(found[0]))
        return name, where, arrays
    if path.suffix != ".npz":
        raise DataError(f"{path}: a dataset file must be an .npz (or give a folder of IDX files)")
    keys = [f"{k}_{split}" for split in splits for k in ("x", "y")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz]
            if missing:
                raise DataError(
                    f"{path}: missing array {missing[0]!r} (needs {', '.join(keys)})"
                )
            arrays = [npz[k] for k in keys]
    except DataError:
        raise
    except ValueError as exc:  # object arrays (ragged lists) need pickles
        raise DataError(f"{path}: ragged or object arrays are not supported ({exc})") from None
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    return name, where, arrays


def _digits() -> ImageData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.rint(d.images * 255.0 / 16.0).astype(np.uint8)
    y = d.target.astype(np.int64)
    xi, xt, yi, yt = train_test_split(
        x, y, test_size=DIGITS_TEST, random_state=DIGITS_SEED, stratify=y
    )
    return _checked("digits", "digits", xi, yi, xt, yt)


def _check_split(where: str, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """Raise :class:`DataError` unless ``x`` is uint8 images ``(N, ...)`` and ``y`` their
    ``N`` non-negative integer labels."""
    key, ykey = f"x_{split}", f"y_{split}"
    if x.dtype != np.uint8:
        raise DataError(f"{where}: {key} has dtype {x.dtype}, expected uint8 pixels 0 ... 255")
    if x.ndim < 2 or x.shape[0] == 0 or int(np.prod(x.shape[1:])) == 0:
        raise DataError(f"{where}: {key} has shape {x.shape}, expected (N, ...) images, N >= 1")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where}: {ykey} has shape {y.shape}, expected ({len(x)},) labels")
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: {ykey} has dtype {y.dtype}, expected integer labels")
    if int(y.min()) < 0:
        raise DataError(f"{where}: {ykey} has a negative label {int(y.min())}")


def _checked(
    name: str,
    where: str,
    xi: np.ndarray,
    yi: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
) -> ImageData:
    _check_split(where, "train", xi, yi)
    _check_split(where, "test", xt, yt)
    if xi.shape[1:] != xt.shape[1:]:
        raise DataError(
            f"{where}: train images are {xi.shape[1:]} but test images are {xt.shape[1:]}"
        )
    classes = int(yi.max()) + 1
    if classes < 2:
        raise DataError(f"{where}: y_train holds a single class; a classifier needs two or more")
    if int(yt.max()) >= classes:
        raise DataError(
            f"{where}: y_test has label {int(yt.max())}, outside y_train's 0 ... {classes - 1}"
        )
    if xi.ndim > 3:  # e.g. (N, H, W, C): flat feature vectors in C order
        xi, xt = xi.reshape(len(xi), -1), xt.reshape(len(xt), -1)
    return ImageData(
        name=name,
        x_train=np.ascontiguousarray(xi),
        y_train=yi.astype(np.int64),
        x_test=np.ascontiguousarray(xt),
        y_test=yt.astype(np.int64),
        classes=classes,
    )
