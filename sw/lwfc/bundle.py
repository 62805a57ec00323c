"""The model bundle: one folder that hardware, simulation and driver all read.

Layout (format version 2; version 1 bundles are read too)::

    BUNDLE/
      manifest.json   format, dataset, layer list, scales, SHA-256 of every payload, provenance
      tensors.npz     the integer tensors, canonical layout, no pickles

Tensor keys in ``tensors.npz`` are ``<layer>.<field>``. Canonical layout and dtypes:

=================  ========  =====================  =======================================
field              dtype     shape                  meaning
=================  ========  =====================  =======================================
weight             int8      (out, in)              dense weights, -127 ... 127
u                  int8      (rank, in)             low-rank first factor (DCL)
v                  int8      (out, rank)            low-rank second factor (DIL)
bias               int32     (out,)                 |b| <= 2**23 - 1
multiplier, shift  int32     (out,)                 requantization of hidden outputs
u_multiplier/shift int32     (rank,)                requantization of low-rank latents
weight_scale etc.  float32   (out,) / (rank,)       real scale per row (information only)
*_mask             uint8     like the weight        1 = kept, 0 = pruned (optional)
codebook           int8      (K,)                   v2, dense: shared codes, sorted (optional)
=================  ========  =====================  =======================================

Version 2 (contract ``lwfc-int8-v2``) adds per dense layer the manifest field ``weight_bits``
(2 ... 8; every code ``|w| <= 2**(bits-1) - 1``) and the optional ``codebook`` (every weight an
entry or 0); the weight tensor still holds the int8 codes, so the arithmetic is unchanged.

The arithmetic these tensors feed is ``docs/arithmetic.md``. :func:`load_bundle` validates
everything and raises :class:`~lwfc.errors.BundleError` with a one-line message naming the file
and the field; :func:`save_bundle` writes atomically (temp folder + rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import arith
from .errors import BundleError

FORMAT = "lwfc-bundle"
FORMAT_VERSION = 2
#: Format versions :func:`load_bundle` reads (version 1: 8-bit weights, no codebooks).
READ_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
TENSORS = "tensors.npz"
#: Weights of the dense 784-50-100-10 network, the default dense reference (45,200).
DENSE_REFERENCE_WEIGHTS = 784 * 50 + 50 * 100 + 100 * 10


class DenseShape:
    """Sizes of a dense layer, from its ``weight`` of shape ``(out, in)``.

    Shared by the bundle's :class:`DenseLayer` (numpy) and the training layers of
    :mod:`lwfc.qat` (torch): anything with a 2-D ``weight`` may use it.
    """

    weight: Any

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image: ``in * out``."""
        return self.in_features * self.out_features

    @property
    def weights_stored(self) -> int:
        return self.macs


class LowRankShape:
    """Sizes of a low-rank layer ``V (U x)``, from ``u`` ``(rank, in)`` and ``v`` ``(out, rank)``.

    Shared by :class:`LowRankLayer` (numpy) and :mod:`lwfc.qat` (torch).
    """

    u: Any
    v: Any

    @property
    def in_features(self) -> int:
        return int(self.u.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.v.shape[0])

    @property
    def rank(self) -> int:
        return int(self.u.shape[0])

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image: ``rank * (in + out)``."""
        return self.rank * (self.in_features + self.out_features)

    @property
    def weights_stored(self) -> int:
        return self.macs


@dataclass
class DenseLayer(DenseShape):
    """A dense layer ``acc = b + W x``; hidden layers requantize to uint8, the last gives logits."""

    name: str
    weight: np.ndarray  # int8 (out, in)
    bias: np.ndarray  # int32 (out,)
    multiplier: np.ndarray | None  # int32 (out,), None on the last layer
    shift: np.ndarray | None  # int32 (out,), None on the last layer
    weight_scale: np.ndarray  # float32 (out,), real value of one weight step per row
    input_scale: float
    output_scale: float | None  # real value of one output step; None on the last layer
    mask: np.ndarray | None = None  # uint8 (out, in), 1 kept / 0 pruned
    #: contract v2: weights are codes of this width, |w| <= 2**(bits-1) - 1 (2 = ternary)
    weight_bits: int = 8
    #: contract v2: int8 (K,) sorted distinct shared values; every weight is one or 0
    codebook: np.ndarray | None = None

    kind = "dense"

    @property
    def relu(self) -> bool:
        return self.multiplier is not None

    @property
    def weights_nonzero(self) -> int:
        return int(np.count_nonzero(self.weight))


@dataclass
class LowRankLayer(LowRankShape):
    """A low-rank layer ``acc = b + V z``, ``z = int8(requant(U x))`` (DCL then DIL stage)."""

    name: str
    u: np.ndarray  # int8 (rank, in)
    v: np.ndarray  # int8 (out, rank)
    u_multiplier: np.ndarray  # int32 (rank,)
    u_shift: np.ndarray  # int32 (rank,)
    bias: np.ndarray  # int32 (out,)
    multiplier: np.ndarray | None  # int32 (out,), None on the last layer
    shift: np.ndarray | None
    u_scale: np.ndarray  # float32 (rank,)
    v_scale: np.ndarray  # float32 (out,)
    input_scale: float
    latent_scale: float
    output_scale: float | None
    u_mask: np.ndarray | None = None
    v_mask: np.ndarray | None = None

    kind = "lowrank"

    @property
    def relu(self) -> bool:
        return self.multiplier is not None

    @property
    def weights_nonzero(self) -> int:
        return int(np.count_nonzero(self.u) + np.count_nonzero(self.v))


Layer = DenseLayer | LowRankLayer


@dataclass
class Bundle:
    """An integer model: its layers plus what is known about where it came from."""

    layers: list[Layer]
    name: str = "model"
    dataset: str = "mnist"
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: Weights of the dense network this one was made from ("weights removed" is relative to
    #: it); None: the dense equivalent of this bundle's own shapes (``sum in * out``).
    dense_reference: int | None = None
    #: the format version it was read from (what :func:`save_bundle` writes: the current)
    format_version: int = FORMAT_VERSION

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def classes(self) -> int:
        return self.layers[-1].out_features

    @property
    def weights_stored(self) -> int:
        return sum(layer.weights_stored for layer in self.layers)

    @property
    def weights_nonzero(self) -> int:
        return sum(layer.weights_nonzero for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def reference_weights(self) -> int:
        """The dense reference: :attr:`dense_reference`, else ``sum(in * out)`` of the layers."""
        if self.dense_reference is not None:
            return int(self.dense_reference)
        return sum(layer.in_features * layer.out_features for layer in self.layers)

    def weights_removed(self, reference: int | None = None) -> float:
        """``1 - weights_nonzero / reference`` (zeros and low-rank savings counted together).

        ``reference``: default :attr:`reference_weights` (45,200 for the 784-50-100-10 network).
        """
        return 1.0 - self.weights_nonzero / (reference or self.reference_weights)

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``lwfc info --json`` prints)."""
        layers = []
        for layer in self.layers:
            entry: dict[str, Any] = {
                "name": layer.name,
                "kind": layer.kind,
                "in_features": layer.in_features,
                "out_features": layer.out_features,
                "activation": "relu" if layer.relu else "none",
                "weights_stored": layer.weights_stored,
                "weights_nonzero": layer.weights_nonzero,
                "weight_bits": int(getattr(layer, "weight_bits", 8)),
                "macs": layer.macs,
            }
            if getattr(layer, "codebook", None) is not None:
                entry["codebook_size"] = len(layer.codebook)  # type: ignore[union-attr]
            if isinstance(layer, LowRankLayer):
                entry["rank"] = layer.rank
            layers.append(entry)
        return {
            "name": self.name,
            "dataset": self.dataset,
            "contract": arith.CONTRACTS[self.format_version - 1],
            "format_version": self.format_version,
            "layers": layers,
            "weights_stored": self.weights_stored,
            "weights_nonzero": self.weights_nonzero,
            "dense_reference_weights": self.reference_weights,
            "weights_removed": round(self.weights_removed(), 6),
            "macs": self.macs,
            "metrics": self.metrics,
            "provenance": self.provenance,
        }


# --------------------------------------------------------------------------- field tables
# (field, dtype, shape spec, required) per layer kind and role; shape spec names dimensions.
_INT = {"int8": np.int8, "int32": np.int32, "uint8": np.uint8, "float32": np.float32}

_DENSE_FIELDS = [
    ("weight", "int8", ("out", "in"), True),
    ("bias", "int32", ("out",), True),
    ("weight_scale", "float32", ("out",), True),
    ("multiplier", "int32", ("out",), "hidden"),
    ("shift", "int32", ("out",), "hidden"),
    ("mask", "uint8", ("out", "in"), False),
    ("codebook", "int8", ("codes",), False),
]
_LOWRANK_FIELDS = [
    ("u", "int8", ("rank", "in"), True),
    ("v", "int8", ("out", "rank"), True),
    ("u_multiplier", "int32", ("rank",), True),
    ("u_shift", "int32", ("rank",), True),
    ("bias", "int32", ("out",), True),
    ("u_scale", "float32", ("rank",), True),
    ("v_scale", "float32", ("out",), True),
    ("multiplier", "int32", ("out",), "hidden"),
    ("shift", "int32", ("out",), "hidden"),
    ("u_mask", "uint8", ("rank", "in"), False),
    ("v_mask", "uint8", ("out", "rank"), False),
]
_RANGES = {
    "weight": (-arith.WEIGHT_MAX, arith.WEIGHT_MAX),
    "u": (-arith.WEIGHT_MAX, arith.WEIGHT_MAX),
    "v": (-arith.WEIGHT_MAX, arith.WEIGHT_MAX),
    "bias": (-arith.BIAS_MAX, arith.BIAS_MAX),
    "multiplier": (0, arith.MULT_MAX),
    "u_multiplier": (0, arith.MULT_MAX),
    "shift": (arith.SHIFT_MIN, arith.SHIFT_MAX),
    "u_shift": (arith.SHIFT_MIN, arith.SHIFT_MAX),
    "mask": (0, 1),
    "u_mask": (0, 1),
    "v_mask": (0, 1),
}
_MASKED = {"mask": "weight", "u_mask": "u", "v_mask": "v"}


def _layer_tensors(layer: Layer) -> dict[str, np.ndarray]:
    fields = _DENSE_FIELDS if isinstance(layer, DenseLayer) else _LOWRANK_FIELDS
    out = {}
    for name, dtype, _, _ in fields:
        value = getattr(layer, name)
        if value is not None:
            out[name] = np.ascontiguousarray(np.asarray(value).astype(_INT[dtype], copy=False))
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _finite(value: Any, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise BundleError(f"{where}: expected a finite number, got {value!r}")
    if value <= 0:
        raise BundleError(f"{where}: expected a positive scale, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------- save
def check_output_dir(out_dir: str | os.PathLike) -> Path:
    """Check that a bundle may be written to ``out_dir`` (before long work); return it.

    Raises:
        BundleError: ``out_dir`` is a file, or a non-empty folder that holds no bundle.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise BundleError(f"{out}: folder is not empty and holds no bundle; refusing to overwrite")
    return out


def save_bundle(bundle: Bundle, out_dir: str | os.PathLike) -> Path:
    """Validate ``bundle`` and write it to ``out_dir`` atomically; return the folder's path.

    The folder is assembled under a temporary name beside ``out_dir`` and renamed into place,
    so an interrupted or failed write never leaves a half-written bundle. An existing bundle
    at ``out_dir`` is replaced; any other existing folder content is refused.
    """
    validate(bundle)
    out = check_output_dir(out_dir)

    arrays: dict[str, np.ndarray] = {}
    layer_entries = []
    for layer in bundle.layers:
        tensors = _layer_tensors(layer)
        entry: dict[str, Any] = {
            "name": layer.name,
            "kind": layer.kind,
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "activation": "relu" if layer.relu else "none",
            "output": "uint8" if layer.relu else "int32",
            "weight_bits": int(getattr(layer, "weight_bits", 8)),
            "acc_bits": arith.ACC_BITS,
            "input_scale": float(layer.input_scale),
            "output_scale": None if layer.output_scale is None else float(layer.output_scale),
            "weights_nonzero": layer.weights_nonzero,
            "tensors": {k: f"{layer.name}.{k}" for k in tensors},
        }
        if isinstance(layer, LowRankLayer):
            entry["rank"] = layer.rank
            entry["latent_bits"] = 8
            entry["latent_scale"] = float(layer.latent_scale)
        layer_entries.append(entry)
        arrays.update({f"{layer.name}.{k}": v for k, v in tensors.items()})

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    payload = buf.getvalue()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "contract": arith.CONTRACT,
        "name": bundle.name,
        "dataset": bundle.dataset,
        "input": {"features": bundle.in_features, "dtype": "uint8", "scale": arith.INPUT_SCALE},
        "classes": bundle.classes,
        "layers": layer_entries,
        "weights_stored": bundle.weights_stored,
        "weights_nonzero": bundle.weights_nonzero,
        "dense_reference_weights": bundle.reference_weights,
        "files": {TENSORS: {"sha256": _sha256(payload), "bytes": len(payload)}},
        "metrics": bundle.metrics,
        "provenance": bundle.provenance,
    }
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (tmp / TENSORS).write_bytes(payload)
        (tmp / MANIFEST).write_text(text)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    bundle.path = out
    return out


# --------------------------------------------------------------------------------- load
def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read and validate a bundle folder (or its ``manifest.json``).

    Raises:
        BundleError: missing or extra files, checksum mismatch, unknown format version,
            wrong shapes or dtypes, out-of-range values, NaN/inf, inconsistent layers.
    """
    folder = Path(path)
    if folder.name == MANIFEST and folder.is_file():
        folder = folder.parent
    if not folder.exists():
        raise BundleError(f"{folder}: no such bundle folder")
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a folder (a bundle is a folder with {MANIFEST})")
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{mpath}: missing manifest")
    try:
        manifest = json.loads(mpath.read_text(), parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{mpath}: not valid JSON ({exc})") from None
    except ValueError as exc:
        raise BundleError(f"{mpath}: {exc}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{mpath}: top level must be a JSON object")

    where = str(mpath)
    if manifest.get("format") != FORMAT:
        got = manifest.get("format")
        raise BundleError(f"{where}: field 'format' is {got!r}, expected {FORMAT!r}")
    version = manifest.get("format_version")
    if version not in READ_VERSIONS:
        raise BundleError(
            f"{where}: unknown format_version {version!r} (this lwfc reads "
            f"{', '.join(map(str, READ_VERSIONS))})"
        )
    contract = arith.CONTRACTS[version - 1]
    if manifest.get("contract") != contract:
        got = manifest.get("contract")
        raise BundleError(f"{where}: field 'contract' is {got!r}, expected {contract!r}")

    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {TENSORS}:
        raise BundleError(f"{where}: field 'files' must list exactly {TENSORS!r}")
    present = {p.name for p in folder.iterdir()}
    extra = sorted(present - {MANIFEST, TENSORS})
    if extra:
        raise BundleError(f"{folder / extra[0]}: unexpected file in bundle")
    tpath = folder / TENSORS
    if not tpath.is_file():
        raise BundleError(f"{tpath}: missing tensor file")
    payload = tpath.read_bytes()
    expected = files[TENSORS].get("sha256") if isinstance(files[TENSORS], dict) else None
    if _sha256(payload) != expected:
        raise BundleError(f"{tpath}: SHA-256 mismatch with {MANIFEST} (file changed or corrupt)")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # a corrupt zip raises many types
        raise BundleError(f"{tpath}: cannot read tensors ({type(exc).__name__}: {exc})") from None

    entries = manifest.get("layers")
    if not isinstance(entries, list) or not entries:
        raise BundleError(f"{where}: field 'layers' must be a non-empty list")
    layers: list[Layer] = []
    used: set[str] = set()
    for index, entry in enumerate(entries):
        layers.append(
            _layer_from_entry(entry, index, len(entries), arrays, used, where, tpath, version)
        )
    unused = sorted(set(arrays) - used)
    if unused:
        raise BundleError(f"{tpath}: tensor {unused[0]!r} is not referenced by {MANIFEST}")

    reference = manifest.get("dense_reference_weights")
    if reference is not None and (
        not isinstance(reference, int) or isinstance(reference, bool) or reference < 1
    ):
        raise BundleError(
            f"{where}: field 'dense_reference_weights' must be a positive integer, "
            f"got {reference!r}"
        )
    bundle = Bundle(
        layers=layers,
        dense_reference=reference,
        format_version=version,
        name=str(manifest.get("name", folder.name)),
        dataset=str(manifest.get("dataset", "mnist")),
        provenance=manifest.get("provenance") or {},
        metrics=manifest.get("metrics") or {},
        path=folder,
    )
    inp = manifest.get("input", {})
    if not isinstance(inp, dict) or inp.get("features") != bundle.in_features:
        raise BundleError(f"{where}: field 'input.features' does not match layer 1's inputs")
    if manifest.get("classes") != bundle.classes:
        raise BundleError(f"{where}: field 'classes' does not match the last layer's outputs")
    validate(bundle, where=str(tpath))
    return bundle


def _reject_constant(name: str) -> None:
    raise ValueError(f"NaN/Infinity ({name}) is not allowed in a manifest")


def _layer_from_entry(
    entry: Any,
    index: int,
    count: int,
    arrays: dict[str, np.ndarray],
    used: set[str],
    where: str,
    tpath: Path,
    version: int = FORMAT_VERSION,
) -> Layer:
    if not isinstance(entry, dict):
        raise BundleError(f"{where}: layers[{index}] must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise BundleError(f"{where}: layers[{index}].name must be a non-empty string")
    at = f"{where}: layer {name!r}"
    kind = entry.get("kind")
    if kind not in ("dense", "lowrank"):
        raise BundleError(f"{at}: field 'kind' is {kind!r}, expected 'dense' or 'lowrank'")
    hidden = index < count - 1
    activation = entry.get("activation")
    if activation != ("relu" if hidden else "none"):
        raise BundleError(
            f"{at}: field 'activation' is {activation!r}; hidden layers are 'relu', the last 'none'"
        )
    tensors = entry.get("tensors")
    if not isinstance(tensors, dict):
        raise BundleError(f"{at}: field 'tensors' must be an object")
    fields = _DENSE_FIELDS if kind == "dense" else _LOWRANK_FIELDS
    known = {f[0] for f in fields}
    unknown = sorted(set(tensors) - known)
    if unknown:
        raise BundleError(f"{at}: unknown tensor field {unknown[0]!r}")

    values: dict[str, np.ndarray | None] = {}
    for fname, dtype, _, required in fields:
        key = tensors.get(fname)
        need = required is True or (required == "hidden" and hidden)
        if key is None:
            if need:
                raise BundleError(f"{at}: missing tensor field {fname!r}")
            values[fname] = None
            continue
        if required == "hidden" and not hidden:
            raise BundleError(f"{at}: field {fname!r} is not allowed on the last layer")
        if key not in arrays:
            raise BundleError(f"{tpath}: missing tensor {key!r} (layer {name!r}, field {fname!r})")
        arr = arrays[key]
        if arr.dtype != _INT[dtype]:
            raise BundleError(f"{tpath}: tensor {key!r} has dtype {arr.dtype}, expected {dtype}")
        values[fname] = arr
        used.add(key)

    try:
        input_scale = _finite(entry.get("input_scale"), f"{at}: field 'input_scale'")
        output_scale = (
            _finite(entry.get("output_scale"), f"{at}: field 'output_scale'") if hidden else None
        )
        bits = entry.get("weight_bits", 8)
        if bits not in arith.WEIGHT_BITS or isinstance(bits, bool):
            raise BundleError(f"{at}: field 'weight_bits' is {bits!r}, allowed {arith.WEIGHT_BITS}")
        if version == 1 and (bits != 8 or values.get("codebook") is not None):
            raise BundleError(f"{at}: format version 1 has 8-bit weights and no codebooks")
        if kind == "dense":
            return DenseLayer(
                name=name,
                input_scale=input_scale,
                output_scale=output_scale,
                weight_bits=int(bits),
                **values,  # type: ignore[arg-type]
            )
        if bits != 8:
            raise BundleError(f"{at}: low-rank layers have 8-bit factors (weight_bits 8)")
        latent_scale = _finite(entry.get("latent_scale"), f"{at}: field 'latent_scale'")
        return LowRankLayer(
            name=name,
            input_scale=input_scale,
            output_scale=output_scale,
            latent_scale=latent_scale,
            **values,  # type: ignore[arg-type]
        )
    except TypeError as exc:
        raise BundleError(f"{at}: {exc}") from None


# ----------------------------------------------------------------------------- validate
def _check_codes(layer: DenseLayer, at: str) -> None:
    """Contract v2: weights fit ``weight_bits``; with a codebook, every weight is an entry or 0."""
    bits = layer.weight_bits
    if bits not in arith.WEIGHT_BITS:
        raise BundleError(f"{at}: weight_bits is {bits!r}, allowed {arith.WEIGHT_BITS}")
    w = np.asarray(layer.weight)
    top = arith.weight_max(bits)
    if w.size and int(np.abs(w.astype(np.int64)).max()) > top:
        raise BundleError(f"{at}: {bits}-bit weights must lie in -{top} ... {top}")
    if layer.codebook is None:
        return
    cb = np.asarray(layer.codebook)
    if cb.ndim != 1 or not 1 <= cb.size <= arith.CODEBOOK_MAX:
        raise BundleError(f"{at}: field 'codebook' must hold 1 ... {arith.CODEBOOK_MAX} values")
    if cb.dtype != np.int8:
        raise BundleError(f"{at}: field 'codebook' must be int8")
    if np.any(np.diff(cb.astype(np.int64)) <= 0):
        raise BundleError(f"{at}: field 'codebook' must be sorted and distinct")
    if int(np.abs(cb.astype(np.int64)).max()) > top:
        raise BundleError(f"{at}: codebook values must lie in -{top} ... {top}")
    if not np.all(np.isin(w[w != 0], cb)):
        raise BundleError(f"{at}: a weight is neither 0 nor a codebook entry")


def validate(bundle: Bundle, where: str = "bundle") -> None:
    """Check shapes, dtypes, value ranges, chaining and the overflow bound of every layer."""
    if not bundle.layers:
        raise BundleError(f"{where}: a bundle needs at least one layer")
    names = [layer.name for layer in bundle.layers]
    if len(set(names)) != len(names):
        raise BundleError(f"{where}: layer names must be unique, got {names}")
    prev_out: int | None = None
    for index, layer in enumerate(bundle.layers):
        hidden = index < len(bundle.layers) - 1
        at = f"{where}: layer {layer.name!r}"
        if not isinstance(layer, (DenseLayer, LowRankLayer)):
            raise BundleError(f"{at}: unknown layer type {type(layer).__name__}")
        if "." in layer.name or "/" in layer.name:
            raise BundleError(f"{at}: layer names may not contain '.' or '/'")
        if layer.relu != hidden:
            raise BundleError(
                f"{at}: hidden layers need multiplier/shift (ReLU, uint8 out); the last has none"
            )
        dims = {"in": layer.in_features, "out": layer.out_features}
        if isinstance(layer, LowRankLayer):
            dims["rank"] = layer.rank
        elif layer.codebook is not None:
            dims["codes"] = int(np.asarray(layer.codebook).size)
        fields = _DENSE_FIELDS if isinstance(layer, DenseLayer) else _LOWRANK_FIELDS
        for fname, dtype, shape_spec, required in fields:
            value = getattr(layer, fname)
            if value is None:
                if required is True or (required == "hidden" and hidden):
                    raise BundleError(f"{at}: field {fname!r} is missing")
                continue
            arr = np.asarray(value)
            shape = tuple(dims[d] for d in shape_spec)
            if arr.shape != shape:
                raise BundleError(f"{at}: field {fname!r} has shape {arr.shape}, expected {shape}")
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                raise BundleError(f"{at}: field {fname!r} contains NaN or inf")
            if dtype != "float32" and arr.dtype.kind not in "iu":
                raise BundleError(f"{at}: field {fname!r} must be an integer array ({dtype})")
            if fname in _RANGES and arr.size:
                lo, hi = _RANGES[fname]
                amin, amax = int(arr.min()), int(arr.max())
                if amin < lo or amax > hi:
                    raise BundleError(
                        f"{at}: field {fname!r} has values {amin} ... {amax}, allowed {lo} ... {hi}"
                    )
            if fname in _MASKED:
                weights = np.asarray(getattr(layer, _MASKED[fname]))
                if np.any((arr == 0) & (weights != 0)):
                    raise BundleError(f"{at}: field {fname!r} marks nonzero weights as pruned")
            if fname.endswith("scale") and np.any(arr <= 0):
                raise BundleError(f"{at}: field {fname!r} must be positive")
        if isinstance(layer, DenseLayer):
            _check_codes(layer, at)
        if prev_out is not None and layer.in_features != prev_out:
            raise BundleError(
                f"{at}: takes {layer.in_features} inputs but the previous layer gives {prev_out}"
            )
        prev_out = layer.out_features
        # Overflow bound of docs/arithmetic.md: inputs are uint8 (255), latents int8 (128).
        stages = [(layer.in_features, arith.ACT_MAX)]
        if isinstance(layer, LowRankLayer):
            stages.append((layer.rank, -arith.LATENT_MIN))
        for n, xmax in stages:
            if arith.acc_bound(n, xmax) > 2 ** (arith.ACC_BITS - 1) - 1:
                bits = arith.ACC_BITS
                raise BundleError(f"{at}: {n} inputs can overflow the {bits}-bit accumulator")
