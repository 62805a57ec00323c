"""Import a float MLP trained outside lwfc: PyTorch (TorchScript, ``torch.export``, state dict,
opt-in pickles) or ONNX, folded into dense layers, PTQ-calibrated, optionally fine-tuned.

What an imported model may hold, in order (anything else is an error naming the node):

* at the input: ``Flatten`` / ``Reshape`` / ``view`` to ``(N, features)``; in ONNX also
  ``Sub`` / ``Div`` / ``Mul`` / ``Add`` by constants (input normalisation);
* ``Linear`` (ONNX ``Gemm``, or ``MatMul`` + ``Add``), each optionally followed by
  ``BatchNorm1d`` (``BatchNormalization``), then ``ReLU`` between linear layers;
* ``Dropout`` / ``Identity`` anywhere (no-ops at inference);
* a final ``Softmax`` / ``LogSoftmax`` (dropped: the argmax is unchanged).

The model is assumed to take pixels / 255 in ``[0, 1]``; one trained on normalised inputs
``(x / 255 - mean) / std`` gives ``normalize=(mean, std)``, which is folded into the first
layer: ``W' = W / std``, ``b' = b - W' 1 * mean``. BatchNorm in eval mode is
``y = gamma (x - mu) / sqrt(var + eps) + beta``, folded into the preceding linear layer.

Loading never runs the user's pickled code unless ``allow_pickle`` is set: TorchScript and
``torch.export`` programs are data plus a restricted graph, state dicts load with
``weights_only=True``, ONNX is a protobuf.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LwfcError

#: Formats :func:`read_model` accepts (``auto``: by file suffix).
FORMATS = ("auto", "torchscript", "export", "state-dict", "pickle", "onnx")


@dataclass
class FloatMLP:
    """A float ReLU MLP read from a file: ``weights[i]`` ``(out, in)``, ``biases[i]`` ``(out,)``.

    ``notes`` lists what was folded or dropped (BatchNorm, normalisation, Softmax, Dropout).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        return [int(self.weights[0].shape[1]), *(int(w.shape[0]) for w in self.weights)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float64 logits of pixels / 255 ``x`` ``(N, features)``."""
        h = np.asarray(x, dtype=np.float64)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h


# ------------------------------------------------------------------ the op chain and folding
@dataclass
class _Op:
    """One step of the chain: ``kind`` in linear / bn / relu / flatten / skip / softmax /
    affine (input ``x * scale + shift``); ``where`` names the node for error messages."""

    kind: str
    where: str
    params: dict[str, np.ndarray] = field(default_factory=dict)


def _fold(ops: list[_Op], source: str) -> FloatMLP:
    """Check the op chain's pattern and fold it into dense layers."""
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    notes: list[str] = []
    pre_scale: np.ndarray | float = 1.0
    pre_shift: np.ndarray | float = 0.0
    need_relu = False  # a ReLU must come between two linear layers
    done = False
    for op in ops:
        if done and op.kind not in ("skip",):
            raise LwfcError(f"{source}: node {op.where}: nothing may follow the final Softmax")
        if op.kind == "skip":
            continue
        if op.kind == "flatten":
            if weights:
                raise LwfcError(f"{source}: node {op.where}: a reshape between layers")
            continue
        if op.kind == "affine":
            if weights:
                raise LwfcError(
                    f"{source}: node {op.where}: elementwise arithmetic is only allowed at the "
                    "input (normalisation)"
                )
            pre_scale = pre_scale * op.params["scale"]
            pre_shift = pre_shift * op.params["scale"] + op.params["shift"]
            continue
        if op.kind == "linear":
            if need_relu:
                raise LwfcError(f"{source}: node {op.where}: two linear layers without a ReLU")
            w = np.asarray(op.params["weight"], dtype=np.float64)
            b = op.params.get("bias")
            b = np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise LwfcError(f"{source}: node {op.where}: weight {w.shape}, bias {b.shape}")
            if weights and w.shape[1] != weights[-1].shape[0]:
                raise LwfcError(
                    f"{source}: node {op.where}: takes {w.shape[1]} inputs but the previous "
                    f"layer gives {weights[-1].shape[0]}"
                )
            if not weights:  # fold the input affine x' = x * scale + shift
                scale = np.broadcast_to(np.asarray(pre_scale, dtype=np.float64), (w.shape[1],))
                shift = np.broadcast_to(np.asarray(pre_shift, dtype=np.float64), (w.shape[1],))
                if np.any(scale != 1.0) or np.any(shift != 0.0):
                    notes.append("input normalisation folded into the first layer")
                b = b + w @ shift
                w = w * scale[None, :]
            weights.append(w)
            biases.append(b)
            need_relu = True
            continue
        if op.kind == "bn":
            if not weights or not need_relu:
                raise LwfcError(f"{source}: node {op.where}: BatchNorm must follow a linear layer")
            p = op.params
            g = p["weight"] / np.sqrt(p["var"] + float(p["eps"]))
            if g.shape != (weights[-1].shape[0],):
                raise LwfcError(f"{source}: node {op.where}: BatchNorm over {g.shape} features")
            weights[-1] = weights[-1] * g[:, None]
            biases[-1] = (biases[-1] - p["mean"]) * g + p["bias"]
            notes.append(f"BatchNorm {op.where} folded into layer {len(weights)}")
            continue
        if op.kind == "relu":
            if not need_relu:
                raise LwfcError(f"{source}: node {op.where}: a ReLU must follow a linear layer")
            need_relu = False
            continue
        if op.kind == "softmax":
            done = True
            notes.append("final Softmax dropped (argmax unchanged)")
            continue
        raise AssertionError(op.kind)  # pragma: no cover
    if not weights:
        raise LwfcError(f"{source}: no linear layer found")
    if not need_relu:
        raise LwfcError(f"{source}: the model ends with a ReLU; the last layer must be linear")
    if len(weights) < 2:
        raise LwfcError(f"{source}: a single linear layer; lwfc needs at least one hidden layer")
    return FloatMLP(weights, biases, notes)


# ------------------------------------------------------------------------------ PyTorch
_MODULE_KINDS = {
    "Linear": "linear",
    "ReLU": "relu",
    "Flatten": "flatten",
    "Dropout": "skip",
    "Identity": "skip",
    "BatchNorm1d": "bn",
    "Softmax": "softmax",
    "LogSoftmax": "softmax",
}


def _module_ops(module: Any, prefix: str = "") -> list[_Op]:
    """Ops of an ``nn.Module`` / ScriptModule tree (containers are walked in order)."""
    ops: list[_Op] = []
    children = list(module.named_children())
    kind_name = getattr(module, "original_name", None) or type(module).__name__
    if children and kind_name not in _MODULE_KINDS:
        if kind_name not in ("Sequential", "ModuleList", "RecursiveScriptModule"):
            # a custom container: its forward is unknown, so only a Sequential is trusted
            raise LwfcError(
                f"node {prefix or '<model>'!r} ({kind_name}): only nn.Sequential containers "
                "are supported"
            )
        for name, child in children:
            ops += _module_ops(child, f"{prefix}.{name}" if prefix else name)
        return ops
    where = f"{prefix or '<model>'!r} ({kind_name})"
    kind = _MODULE_KINDS.get(kind_name)
    if kind is None:
        raise LwfcError(f"node {where} is not supported (supported: {', '.join(_MODULE_KINDS)})")
    params: dict[str, np.ndarray] = {}
    if kind == "linear":
        params["weight"] = _np(module.weight)
        if getattr(module, "bias", None) is not None:
            params["bias"] = _np(module.bias)
    elif kind == "bn":
        params = {
            "weight": _np(module.weight) if module.weight is not None else None,
            "bias": _np(module.bias) if module.bias is not None else None,
            "mean": _np(module.running_mean),
            "var": _np(module.running_var),
            "eps": np.float64(module.eps),
        }
        n = len(params["mean"])
        params["weight"] = np.ones(n) if params["weight"] is None else params["weight"]
        params["bias"] = np.zeros(n) if params["bias"] is None else params["bias"]
    elif kind == "flatten" and hasattr(module, "start_dim") and int(module.start_dim) != 1:
        raise LwfcError(f"node {where}: only Flatten(start_dim=1) is supported")
    return [_Op(kind, where, params)]


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _export_ops(program: Any) -> list[_Op]:
    """Ops of a ``torch.export`` program (the ATen graph, walked in order)."""
    sig = program.graph_signature
    state = {**program.state_dict, **getattr(program, "constants", {})}
    names = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}

    def tensor(arg: Any) -> np.ndarray | None:
        if arg is None:
            return None
        key = names.get(getattr(arg, "name", ""))
        if key is None or key not in state:
            raise LwfcError(f"node {arg}: expected a parameter or buffer of the model")
        return _np(state[key])

    ops: list[_Op] = []
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        target = str(node.target).replace("aten.", "").split(".")[0]
        where = f"{node.name!r} ({node.target})"
        args = list(node.args)
        if target == "linear":
            ops.append(
                _Op(
                    "linear",
                    where,
                    {"weight": tensor(args[1]), "bias": tensor(args[2]) if len(args) > 2 else None},
                )
            )
        elif target == "relu":
            ops.append(_Op("relu", where))
        elif target in ("flatten", "view", "reshape", "_unsafe_view"):
            ops.append(_Op("flatten", where))
        elif target in ("dropout", "clone", "detach", "getitem", "alias"):
            ops.append(_Op("skip", where))
        elif target in ("batch_norm", "_native_batch_norm_legit_no_training"):
            eps_index = 7 if target == "batch_norm" else 6
            params = {
                "weight": tensor(args[1]),
                "bias": tensor(args[2]),
                "mean": tensor(args[3]),
                "var": tensor(args[4]),
                "eps": np.float64(args[eps_index]),
            }
            n = len(params["mean"])
            params["weight"] = np.ones(n) if params["weight"] is None else params["weight"]
            params["bias"] = np.zeros(n) if params["bias"] is None else params["bias"]
            ops.append(_Op("bn", where, params))
        elif target in ("softmax", "_softmax", "log_softmax", "_log_softmax"):
            ops.append(_Op("softmax", where))
        else:
            raise LwfcError(
                f"node {where} is not supported (supported: linear, relu, flatten/view, "
                "dropout, batch_norm, softmax)"
            )
    return ops


def _state_dict_ops(state: dict[str, Any], arch: list[int] | None) -> list[_Op]:
    """Ops from a state dict: Linear layers (2-D ``weight``) and BatchNorm (``running_mean``)
    in key order, ReLU between the linear layers; checked against ``arch`` if given."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, {})[leaf] = value
    ops: list[_Op] = []
    for prefix, g in groups.items():
        where = f"{prefix or '<root>'!r}"
        if "running_mean" in g:
            n = len(g["running_mean"])
            ops.append(
                _Op(
                    "bn",
                    where + " (BatchNorm)",
                    {
                        "weight": _np(g["weight"]) if "weight" in g else np.ones(n),
                        "bias": _np(g["bias"]) if "bias" in g else np.zeros(n),
                        "mean": _np(g["running_mean"]),
                        "var": _np(g["running_var"]),
                        "eps": np.float64(1e-5),
                    },
                )
            )
        elif "weight" in g and getattr(g["weight"], "ndim", 0) == 2:
            if ops and ops[-1].kind in ("linear", "bn"):
                ops.append(_Op("relu", where + " (implied ReLU)"))
            ops.append(
                _Op(
                    "linear",
                    where + " (Linear)",
                    {
                        "weight": _np(g["weight"]),
                        "bias": _np(g["bias"]) if "bias" in g else None,
                    },
                )
            )
        else:
            raise LwfcError(f"state dict entry {where}: neither a Linear nor a BatchNorm1d")
    linear = [op.params["weight"].shape for op in ops if op.kind == "linear"]
    if arch is not None:
        got = [linear[0][1], *(s[0] for s in linear)] if linear else []
        if got != list(arch):
            shown = "-".join(map(str, got)) or "none"
            raise LwfcError(
                f"--arch {'-'.join(map(str, arch))} does not match the state dict's layers {shown}"
            )
    return ops


# --------------------------------------------------------------------------------- ONNX
def _onnx_ops(model: Any) -> list[_Op]:
    """Ops of an ONNX graph that is a single chain from its one input."""
    from onnx import numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    for node in graph.node:  # Constant nodes and Identity of an initializer are constants too
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t).astype(np.float64)
        elif node.op_type == "Identity" and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise LwfcError(f"the ONNX graph has {len(inputs)} data inputs, expected one")
    current = inputs[0]
    ops: list[_Op] = []
    pending_matmul: _Op | None = None

    def attr(node: Any, name: str, default: Any) -> Any:
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    for node in graph.node:
        if node.op_type == "Constant" or (node.op_type == "Identity" and node.input[0] in consts):
            continue
        where = f"{node.name or node.output[0]!r} ({node.op_type})"
        data = [i for i in node.input if i and i not in consts]
        if data != [current]:
            raise LwfcError(f"node {where}: the graph is not a single chain of layers")
        const = [consts[i] for i in node.input[1:] if i in consts]
        op = node.op_type
        if pending_matmul is not None and op != "Add":
            ops.append(pending_matmul)
            pending_matmul = None
        if op == "Gemm":
            w, b = const[0], (const[1] if len(const) > 1 else None)
            if attr(node, "transA", 0):
                raise LwfcError(f"node {where}: transA is not supported")
            if not attr(node, "transB", 0):
                w = w.T
            w = w * float(attr(node, "alpha", 1.0))
            if b is not None:
                b = np.broadcast_to(b * float(attr(node, "beta", 1.0)), (w.shape[0],)).copy()
            ops.append(_Op("linear", where, {"weight": w, "bias": b}))
        elif op == "MatMul":
            if len(const) != 1 or const[0].ndim != 2:
                raise LwfcError(f"node {where}: MatMul needs a constant 2-D weight")
            pending_matmul = _Op("linear", where, {"weight": const[0].T, "bias": None})
        elif op == "Add" and pending_matmul is not None:
            pending_matmul.params["bias"] = np.broadcast_to(
                const[0], (pending_matmul.params["weight"].shape[0],)
            ).copy()
            ops.append(pending_matmul)
            pending_matmul = None
        elif op in ("Sub", "Div", "Mul", "Add"):
            if len(const) != 1 or node.input[0] != current:
                raise LwfcError(f"node {where}: only (input op constant) is supported")
            c = const[0].reshape(-1) if const[0].size > 1 else float(const[0].reshape(-1)[0])
            scale, shift = {
                "Sub": (1.0, -np.asarray(c)),
                "Add": (1.0, np.asarray(c)),
                "Mul": (np.asarray(c), 0.0),
                "Div": (1.0 / np.asarray(c), 0.0),
            }[op]
            ops.append(_Op("affine", where, {"scale": scale, "shift": shift}))
        elif op == "Relu":
            ops.append(_Op("relu", where))
        elif op in ("Flatten", "Reshape"):
            ops.append(_Op("flatten", where))
        elif op in ("Dropout", "Identity"):
            ops.append(_Op("skip", where))
        elif op == "BatchNormalization":
            g, beta, mean, var = const[:4]
            ops.append(
                _Op(
                    "bn",
                    where,
                    {
                        "weight": g,
                        "bias": beta,
                        "mean": mean,
                        "var": var,
                        "eps": np.float64(attr(node, "epsilon", 1e-5)),
                    },
                )
            )
        elif op in ("Softmax", "LogSoftmax"):
            ops.append(_Op("softmax", where))
        else:
            raise LwfcError(
                f"node {where} is not supported (supported: Gemm, MatMul + Add, Relu, Flatten, "
                "Reshape, BatchNormalization, Dropout, Identity, Softmax, input Sub/Div/Mul/Add)"
            )
        current = node.output[0]
    if pending_matmul is not None:
        ops.append(pending_matmul)
    return ops


def _check_onnx(model_path: Path, mlp: FloatMLP, probe: np.ndarray) -> float:
    """Max |logit difference| between onnxruntime and the folded network on ``probe`` images."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    rest = [int(d) if isinstance(d, int) else -1 for d in inp.shape[1:]]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else len(probe)
    probe = probe[: max(batch, len(probe) // batch * batch)]
    outs = []
    for i in range(0, len(probe), batch):  # a graph exported with a fixed batch size
        x = probe[i : i + batch].astype(np.float32).reshape([batch, *rest])
        outs.append(np.asarray(sess.run(None, {inp.name: x})[0], dtype=np.float64))
    out = np.concatenate(outs)
    ref = mlp.forward(probe.reshape(len(probe), -1))
    if out.shape != ref.shape:
        raise LwfcError(
            f"{model_path}: onnxruntime gives outputs {out.shape}, expected {ref.shape}"
        )
    ends_softmax = any("Softmax" in n for n in mlp.notes)
    if ends_softmax:
        ref = np.exp(ref - ref.max(1, keepdims=True))
        ref = ref / ref.sum(1, keepdims=True)
        if np.all(out <= 0):  # LogSoftmax
            out = np.exp(out)
    return float(np.max(np.abs(out - ref)))


# ------------------------------------------------------------------------------ reading
def detect_format(path: Path) -> str:
    """The model format from the file suffix: ``.onnx``, ``.pt2`` (torch.export), else a torch
    file (TorchScript archive or state dict: told apart by content)."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".pt2":
        return "export"
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(n.endswith("/code/__torch__.py") or "/code/" in n for n in z.namelist()):
                return "torchscript"
    return "state-dict"


def read_model(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    *,
    arch: list[int] | None = None,
    allow_pickle: bool = False,
    normalize: tuple[float, float] | None = None,
) -> FloatMLP:
    """Read a float MLP from ``path`` and fold it into dense layers (see the module docstring).

    Args:
        fmt: one of :data:`FORMATS`.
        arch: layer widths a state dict must have (``state-dict`` only; required there).
        allow_pickle: permit a full-module pickle (``torch.save(model)``): runs its code.
        normalize: ``(mean, std)`` of the model's input normalisation ``(x/255 - mean)/std``.

    Raises:
        LwfcError: missing file, unknown format, unsupported node or shape (named).
    """
    p = Path(path)
    if not p.is_file():
        raise LwfcError(f"{p}: no such model file")
    if fmt not in FORMATS:
        raise LwfcError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = "pickle" if allow_pickle and p.suffix.lower() not in (".onnx", ".pt2") else None
        fmt = fmt or detect_format(p)
    source = str(p)
    try:
        ops = _read_ops(p, fmt, arch, allow_pickle)
    except LwfcError as exc:
        msg = str(exc)
        raise LwfcError(msg if msg.startswith(source) else f"{source}: {msg}") from None
    if normalize is not None:
        mean, std = (float(v) for v in normalize)
        if not std > 0:
            raise LwfcError(f"normalize: std must be > 0, got {std}")
        ops.insert(
            0,
            _Op(
                "affine",
                "--normalize",
                {"scale": np.float64(1 / std), "shift": np.float64(-mean / std)},
            ),
        )
    mlp = _fold(ops, source)
    mlp.notes.insert(0, f"format {fmt}")
    return mlp


def _read_ops(p: Path, fmt: str, arch: list[int] | None, allow_pickle: bool) -> list[_Op]:
    import torch

    loaders: dict[str, Callable[[], list[_Op]]] = {}

    def torchscript() -> list[_Op]:
        return _module_ops(torch.jit.load(str(p), map_location="cpu"))

    def export() -> list[_Op]:
        return _export_ops(torch.export.load(str(p)))

    def state_dict() -> list[_Op]:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise LwfcError(
                f"not a tensors-only state dict ({type(exc).__name__}); a full-module pickle "
                "needs --allow-pickle (it runs the file's code)"
            ) from None
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise LwfcError("not a state dict of tensors")
        if arch is None:
            raise LwfcError("a state dict needs --arch (its layer widths) to be read")
        return _state_dict_ops(obj, arch)

    def pickle() -> list[_Op]:
        if not allow_pickle:
            raise LwfcError("full-module pickles run code on load: pass --allow-pickle")
        obj = torch.load(p, map_location="cpu", weights_only=False)
        if not isinstance(obj, torch.nn.Module):
            raise LwfcError(f"the pickle holds a {type(obj).__name__}, not an nn.Module")
        return _module_ops(obj)

    def onnx_model() -> list[_Op]:
        try:
            import onnx
        except ImportError:
            raise LwfcError(
                "ONNX import needs the onnx package (pip install 'lwfc[onnx]')"
            ) from None
        try:
            model = onnx.load(str(p))
            onnx.checker.check_model(model)
        except Exception as exc:
            raise LwfcError(f"not a valid ONNX model ({type(exc).__name__}: {exc})") from None
        return _onnx_ops(model)

    loaders = {
        "torchscript": torchscript,
        "export": export,
        "state-dict": state_dict,
        "pickle": pickle,
        "onnx": onnx_model,
    }
    try:
        return loaders[fmt]()
    except LwfcError:
        raise
    except Exception as exc:
        raise LwfcError(f"cannot read as {fmt} ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------------------ import
@dataclass
class ImportResult:
    """What :func:`import_model` made: the bundle, the float network and the quantized one."""

    bundle: Any
    mlp: FloatMLP
    net: Any
    metrics: dict[str, Any]


def import_model(
    path: str | os.PathLike[str],
    data: Any,
    *,
    fmt: str = "auto",
    arch: list[int] | None = None,
    allow_pickle: bool = False,
    normalize: tuple[float, float] | None = None,
    calib_images: int = 10_000,
    percentile: float | None = None,
    finetune_epochs: float = 0.0,
    lr: float = 1e-4,
    kd_alpha: float = 0.5,
    seed: int = 0,
    name: str = "imported",
    log: Callable[[str], None] = lambda _s: None,
) -> ImportResult:
    """Read, fold, PTQ-calibrate (and optionally QAT/KD fine-tune) a float MLP into a bundle.

    Args:
        data: an :class:`lwfc.data.ImageData` (calibration on its first ``calib_images``
            training images; accuracies on its test split).
        finetune_epochs: QAT epochs distilled from the float import itself (0: PTQ only).
        Other arguments: see :func:`read_model`.

    Raises:
        LwfcError: see :func:`read_model`; the model's input width is not the data's, or it
            has fewer outputs than the data has classes.
    """
    import torch

    from . import golden
    from .fit import finetune
    from .qat import QNet, to_bundle

    mlp = read_model(path, fmt, arch=arch, allow_pickle=allow_pickle, normalize=normalize)
    source = Path(path)
    if mlp.sizes[0] != data.features:
        raise LwfcError(
            f"{source}: the model takes {mlp.sizes[0]} inputs but {data.name} images have "
            f"{data.features} pixels"
        )
    if mlp.sizes[-1] < data.classes:
        raise LwfcError(
            f"{source}: the model has {mlp.sizes[-1]} outputs but {data.name} has "
            f"{data.classes} classes"
        )
    from .qat import pixels  # the one uint8 -> pixels / 255 conversion

    test_x = pixels(data.x_test, data.features).double().numpy()
    float_acc = float(np.mean(np.argmax(mlp.forward(test_x), 1) == data.y_test))
    if mlp.notes[0] == "format onnx" and normalize is None:  # (normalize: outside the graph)
        probe = pixels(data.x_test[:64], data.features).numpy()
        diff = _check_onnx(source, mlp, probe)
        mlp.notes.append(f"onnxruntime check: max |difference| {diff:.2e}")
        if diff > 1e-3:
            raise LwfcError(f"{source}: the folded network differs from onnxruntime by {diff:.3g}")
    log(f"read {'-'.join(map(str, mlp.sizes))}: {'; '.join(mlp.notes)}")
    log(f"float accuracy {float_acc:.4f} on {len(data.y_test)} test images")
    torch.manual_seed(seed)
    net = QNet.from_dense(mlp.weights, mlp.biases)
    net.calibrate(data.x_train[:calib_images], percentile=percentile)
    ptq = golden.accuracy(to_bundle(net), data.x_test, data.y_test)
    log(f"PTQ int8 accuracy {ptq:.4f}")
    metrics: dict[str, Any] = {"float_accuracy": round(float_acc, 6), "ptq_accuracy": round(ptq, 6)}
    if finetune_epochs > 0:
        teacher = QNet.from_dense(mlp.weights, mlp.biases)
        teacher.quant = False
        finetune(
            net,
            data.x_train,
            data.y_train,
            finetune_epochs,
            lr=lr,
            seed=seed,
            teacher=teacher,
            alpha=kd_alpha,
            schedule="onecycle",
            log=log,
        )
    bundle = to_bundle(net, name=name, dataset=data.name)
    acc = golden.accuracy(bundle, data.x_test, data.y_test)
    metrics.update(int8_accuracy=round(acc, 6), test_images=len(data.y_test))
    log(f"int8 accuracy {acc:.4f}" + (" after fine-tuning" if finetune_epochs > 0 else ""))
    bundle.metrics = metrics
    bundle.provenance = {
        "imported_from": source.name,
        "notes": mlp.notes,
        "method": "qat-kd" if finetune_epochs > 0 else "ptq",
        "calibration_images": min(calib_images, len(data.x_train)),
        "finetune_epochs": finetune_epochs,
        "seed": seed,
    }
    return ImportResult(bundle=bundle, mlp=mlp, net=net, metrics=metrics)
