"""Algorithm 1 of the paper on Ray: dropout x pruning x low-rank grid, E-score, Pareto front.

The search has two kinds of work, both resumable:

* **bases**: one QAT network per dropout setting ``(L_drop, P_drop)``. Either derived from a
  given network (``source``: a bundle or checkpoint) by ``base_epochs`` of QAT fine-tuning with
  that dropout, or trained from scratch by :func:`lwfc.train.train` (``source=None``). Each is
  stored as ``OUT/bases/<key>.pt`` and recorded in the results file.
* **trials**, independent of one another:

  - ``prune``: a base pruned by one of the five methods at ``R_prune`` (figures 8-11);
  - ``lra``: a base pruned by unstructured L1 at ``R_prune``, then layer ``L_LRA`` factorised at
    ``R_comp`` by plain LRA and by LRA-learn (Table 2, figures 12-13, Table 3).

  Optional ``finetune_epochs`` of QAT after pruning/LRA (0 = the paper's Algorithm 1).

Every finished trial is appended as one JSON line to ``OUT/results.jsonl`` by the driver (a
single writer, flushed and fsync'ed), keyed by a hash of its specification. A rerun with the
same folder skips every trial whose key is already there, so an interrupted search simply
continues. Trials run as Ray tasks: a local Ray instance by default
(``ray.init(num_cpus=workers)``), or an existing cluster with ``address``. Base weights travel
through Ray's object store, so remote workers need only the ``lwfc`` package and the dataset.

Each record carries the int8 golden-model accuracy on the test split, the weights removed, the
E-score (eq. 11) and the hardware objectives (:mod:`lwfc.compress.hwcost`). Algorithm 1's
answer, the trial with the best E-score, is re-run and saved as ``OUT/best`` (a bundle).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..compress.escore import BETA, escore
from ..compress.hwcost import hardware_cost
from ..errors import LwfcError

if TYPE_CHECKING:
    from ..qat import QNet

RESULTS = "results.jsonl"
RUNS = "runs.jsonl"
BASES = "bases"
BEST = "best"

Log = Callable[[str], None]


def _r(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in values)


# ------------------------------------------------------------------------------ the grid
@dataclass(frozen=True)
class Grid:
    """The sets of Algorithm 1 (``S_drop-loc``, ``S_drop-prob``, ``S_prune-method`` ...).

    Attributes:
        drop_locs, drop_probs: dropout location (1, 2) and probability of each base.
        prune_methods, prune_ratios: the pruning comparison (``prune`` trials).
        lra_prune_method, lra_prune_ratios: pruning applied before LRA (``lra`` trials).
        lra_locs, r_comps: LRA location (layer 1, 2, 3) and compression rate ``R_comp``.
        lra_learn: ``identity`` (eq. 10) or ``data``; ``lra_steps``: its Adam steps;
            ``lra_grid``: ``int8`` or ``paper`` factor grid (eq. 8-9).
        base_epochs: QAT-with-dropout epochs deriving each base from the source network.
        train_epochs: epoch cap of the ``paper`` recipe when training bases from scratch
            (None: the recipe's own, 100 with the paper's stopping rule).
        finetune_epochs: QAT after pruning / LRA inside each trial (0: the paper's algorithm).
        train_limit, test_limit: use only the first N images (tests, smoke runs).
    """

    name: str
    drop_locs: tuple[int, ...] = (1, 2)
    drop_probs: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    prune_methods: tuple[str, ...] = (
        "random_layer",
        "random_global",
        "l1",
        "l1_structured",
        "l2_structured",
    )
    prune_ratios: tuple[float, ...] = _r(0.1 + 0.05 * i for i in range(13))
    lra_prune_method: str = "l1"
    lra_prune_ratios: tuple[float, ...] = _r(0.05 + 0.05 * i for i in range(14))
    lra_locs: tuple[int, ...] = (1, 2, 3)
    r_comps: tuple[float, ...] = _r(0.02 * i for i in range(1, 26))
    lra_learn: str = "identity"
    lra_steps: int = 300
    lra_grid: str = "int8"
    base_epochs: float = 3.0
    train_epochs: int | None = None
    finetune_epochs: float = 0.0
    train_limit: int | None = None
    test_limit: int | None = None
    seed: int = 0

    def bases(self, derived: bool = True) -> list[dict[str, Any]]:
        """One specification per dropout setting (``derived`` from a source, or from scratch)."""
        how = {"from": "source", "epochs": self.base_epochs}
        if not derived:
            how = {"from": "scratch", "epochs": self.train_epochs}
        return [
            {"kind": "base", "drop_loc": loc, "drop_p": p, **how}
            for loc in self.drop_locs
            for p in self.drop_probs
        ]

    def trials(self) -> list[dict[str, Any]]:
        """Every trial specification, base by base (each names its base by ``base_key``)."""
        out: list[dict[str, Any]] = []
        common = {
            "finetune_epochs": self.finetune_epochs,
            "test_limit": self.test_limit,
            "seed": self.seed,
        }
        for base in self.bases():
            key = base_key(base)
            for method in self.prune_methods:
                for ratio in self.prune_ratios:
                    out.append(
                        {"kind": "prune", "base": key, "method": method, "ratio": ratio, **common}
                    )
            for ratio in self.lra_prune_ratios:
                for loc in self.lra_locs:
                    for r_comp in self.r_comps:
                        out.append(
                            {
                                "kind": "lra",
                                "base": key,
                                "method": self.lra_prune_method,
                                "ratio": ratio,
                                "lra_loc": loc,
                                "r_comp": r_comp,
                                "lra_learn": self.lra_learn,
                                "lra_steps": self.lra_steps,
                                "lra_grid": self.lra_grid,
                                **common,
                            }
                        )
        return out


GRIDS: dict[str, Grid] = {
    # the paper's sweep: 10 bases, 650 pruning trials, 10 x 14 x 3 x 25 = 10,500 LRA trials
    "paper": Grid("paper"),
    # a sweep that finishes in <= 10 minutes on 2 cores: 6 bases, 210 + 270 trials
    "small": Grid(
        "small",
        drop_locs=(1, 2),
        drop_probs=(0.1, 0.3, 0.5),
        prune_ratios=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        lra_prune_ratios=(0.05, 0.35, 0.65),
        lra_locs=(1, 2, 3),
        r_comps=(0.1, 0.2, 0.3, 0.4, 0.5),
        base_epochs=1.0,
        train_epochs=30,
        lra_steps=200,
    ),
    # for tests: one base on 2,000 training images, a handful of trials on 500 test images
    "smoke": Grid(
        "smoke",
        drop_locs=(2,),
        drop_probs=(0.2,),
        prune_methods=("l1", "random_layer"),
        prune_ratios=(0.3, 0.6),
        lra_prune_ratios=(0.3,),
        lra_locs=(1, 2),
        r_comps=(0.3,),
        lra_steps=20,
        base_epochs=0.5,
        train_limit=2000,
        test_limit=500,
    ),
}


def grid_from_args(name: str, **overrides: Any) -> Grid:
    """A preset grid with some sets replaced (``None`` values are ignored)."""
    if name not in GRIDS:
        raise LwfcError(f"unknown grid {name!r}; choose from {', '.join(GRIDS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(GRIDS[name], **changes)


def base_key(spec: dict[str, Any]) -> str:
    """``d<loc>p<prob>``, e.g. ``d2p0.3`` (``d0p0`` = no dropout)."""
    return f"d{spec['drop_loc']}p{spec['drop_p']:g}"


def trial_id(spec: dict[str, Any]) -> str:
    """A stable 16-hex key of a specification (its canonical JSON)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------- results file
class ResultStore:
    """Append-only JSON-lines file of finished work; the driver is its only writer."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        """All complete records (a torn last line from an interrupted write is skipped)."""
        if not self.path.is_file():
            return []
        out = []
        with self.path.open() as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and "id" in rec:
                    out.append(rec)
        return out

    def done(self) -> set[str]:
        return {r["id"] for r in self.records() if r.get("status", "ok") == "ok"}

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, sort_keys=True, allow_nan=False)
        with self.path.open("a") as fh:
            # a torn line left by a crash is terminated first, so it cannot swallow this one
            if fh.tell() > 0 and not self.path.read_bytes().endswith(b"\n"):
                fh.write("\n")
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# ------------------------------------------------------------------------- worker side
@functools.lru_cache(maxsize=4)
def _data(
    data_dir: str | None, dataset: str, train_limit: int | None, test_limit: int | None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Train and test splits, cached per worker process."""
    from ..data import load_data

    data = load_data(dataset, data_dir)
    xi, yi, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    return (xi[:train_limit], yi[:train_limit]), (xt[:test_limit], yt[:test_limit])


def _set_threads() -> None:
    import torch

    torch.set_num_threads(1)


def make_base(
    spec: dict[str, Any],
    source_state: dict[str, Any] | None,
    data_dir: str | None,
    dataset: str,
    train_limit: int | None,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build one base network; returns ``(record, net state)`` (see :func:`net_to_dict`)."""
    from ..compress import pipeline
    from ..qat import Dropout, net_from_dict, net_to_dict

    _set_threads()
    start = time.perf_counter()
    train, test = _data(data_dir, dataset, train_limit, None)
    if source_state is not None:
        net = net_from_dict(source_state)
        net.dropout = Dropout(spec["drop_loc"], spec["drop_p"])
        pipeline.finetune(net, *train, float(spec["epochs"] or 0.0), seed=seed)
    else:

        net = train_base(spec["drop_loc"], spec["drop_p"], data_dir, dataset, seed, spec["epochs"])
    net.dropout = Dropout(spec["drop_loc"], spec["drop_p"])
    acc = pipeline.int8_accuracy(net, *test)
    record = {
        **spec,
        "int8_accuracy": acc,
        "seconds": round(time.perf_counter() - start, 3),
        "host": platform.node(),
    }
    return record, net_to_dict(net)


def run_trial(
    spec: dict[str, Any],
    base_state: dict[str, Any],
    data_dir: str | None,
    dataset: str,
    train_limit: int | None,
    save: str | None = None,
) -> dict[str, Any]:
    """Run one trial specification on a base network; return its result record.

    ``save``: also write the resulting bundle to this folder (used for Algorithm 1's best).
    """
    from .. import golden
    from ..bundle import save_bundle
    from ..compress import pipeline
    from ..qat import net_from_dict, to_bundle

    _set_threads()
    start = time.perf_counter()
    train, test = _data(data_dir, dataset, train_limit, spec.get("test_limit"))
    net = net_from_dict(base_state)
    net.dropout = type(net.dropout)()  # dropout is a training-time property of the base
    seed = int(spec.get("seed", 0))
    rec: dict[str, Any] = {}
    pipeline.prune_net(net, spec["method"], spec["ratio"], seed=seed)
    # every LRA trial of one (base, pruning) pair shares this number: computed once per worker
    key = (
        _fingerprint(base_state),
        spec["method"],
        spec["ratio"],
        seed,
        spec.get("test_limit"),
        dataset,
        data_dir,
    )
    if key not in _PRUNED_ACCURACY:
        _PRUNED_ACCURACY[key] = pipeline.int8_accuracy(net, *test)
    rec["accuracy_pruned"] = _PRUNED_ACCURACY[key]
    rng = np.random.default_rng(seed)
    calib = train[0][np.sort(rng.choice(len(train[0]), min(5000, len(train[0])), replace=False))]
    if spec["kind"] == "lra":
        layer = net.names[spec["lra_loc"] - 1]
        res = pipeline.apply_lowrank(
            net,
            layer,
            r_comp=spec["r_comp"],
            learn=spec.get("lra_learn", "identity"),
            learn_steps=spec.get("lra_steps", 300),
            grid=spec.get("lra_grid", "int8"),
            calib_images=calib,
            eval_data=test,
        )
        acc_lra = res.accuracy_lra or 0.0
        acc_learn = res.accuracy_learn if res.accuracy_learn is not None else acc_lra
        rec.update(
            rank=res.rank,
            r_comp_actual=round(res.r_comp, 6),
            n_reduced=res.weights_removed_layer,
            accuracy_lra=acc_lra,
            accuracy_lra_learn=acc_learn,
            learn_ratio=acc_learn / acc_lra if acc_lra > 0 else None,
            error_svd=round(res.error_svd, 6),
            error_learn=None if res.error_learn is None else round(res.error_learn, 6),
            # the paper's E-score: accuracy after LRA-learn vs the fraction LRA removed
            escore=escore(acc_learn, max(0.0, min(1.0, res.r_comp)), BETA),
        )
    ft = float(spec.get("finetune_epochs") or 0.0)
    if ft > 0:
        pipeline.finetune(net, *train, ft, seed=seed)
    bundle = to_bundle(net, name=f"search-{trial_id(spec)}", provenance={"search": spec})
    if ft > 0 or save:
        acc = golden.accuracy(bundle, *test)
    elif spec["kind"] == "lra":
        acc = rec["accuracy_lra_learn"]  # the same bundle was just evaluated
    else:
        acc = rec["accuracy_pruned"]
    cost = hardware_cost(bundle)
    rec.update(
        accuracy=acc,
        escore_net=escore(acc, max(0.0, min(1.0, cost["weights_removed"])), BETA),
        **cost,
    )
    if spec["kind"] == "lra" and ft > 0:  # the E-score of what the trial ends with
        rec["escore_before_finetune"] = rec["escore"]
        rec["escore"] = escore(acc, max(0.0, min(1.0, rec["r_comp_actual"])), BETA)
    if "escore" not in rec:
        rec["escore"] = rec["escore_net"]
    rec["seconds"] = round(time.perf_counter() - start, 3)
    rec["host"] = platform.node()
    rec["pid"] = os.getpid()
    if save:
        bundle.metrics.update({"int8_accuracy": acc, "test_images": len(test[1])})
        save_bundle(bundle, save)
    return rec


_PRUNED_ACCURACY: dict[tuple[Any, ...], float] = {}


def _fingerprint(state: dict[str, Any]) -> str:
    """A short digest of a network state (its first layer's weights and its scales)."""
    first = state["layers"][0]
    arr = first.get("weight", first.get("u"))
    h = hashlib.sha1(np.ascontiguousarray(arr).tobytes())
    h.update(np.asarray(state["act_scale"], dtype=np.float64).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------- driver side
@dataclass
class SearchResult:
    """Summary of a :func:`run_search` call."""

    out: Path
    submitted: int
    finished: int
    skipped: int
    failed: int
    seconds: float
    best: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)


class _Executor:
    """Runs functions either as Ray tasks or inline (``workers=0``), with one ``map`` API."""

    def __init__(self, workers: int, address: str | None, log: Log) -> None:
        self.inline = workers == 0 and address is None
        self.workers = workers
        self.started_ray = False
        if self.inline:
            return
        import ray

        if not ray.is_initialized():
            # Ray nices its local workers to 15; a trial should run at the priority an inline
            # run gets (and wall times stay comparable between 0, 1 and 2 workers).
            os.environ.setdefault("RAY_worker_niceness", "0")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            self.started_ray = True
        self.ray = ray
        resources = ray.cluster_resources()
        log(f"ray: {int(resources.get('CPU', 0))} CPUs ({address or 'local instance'})")
        self.capacity = max(1, int(resources.get("CPU", 1)))

    def put(self, obj: Any) -> Any:
        return obj if self.inline else self.ray.put(obj)

    def imap(
        self,
        fn: Callable[..., Any],
        calls: list[tuple[Any, tuple[Any, ...]]],
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[Any, Any, BaseException | None]]:
        """Yield ``(tag, result, error)`` as calls finish (unordered on Ray).

        ``stop()`` is asked before each submission; once true, nothing new is submitted (what
        is running still finishes and is yielded).
        """
        stop = stop or (lambda: False)
        if self.inline:
            for tag, args in calls:
                if stop():
                    return
                try:
                    yield tag, fn(*args), None
                except Exception as exc:
                    yield tag, None, exc
            return
        remote = self.ray.remote(num_cpus=1, max_retries=1)(fn)
        pending: dict[Any, Any] = {}
        queue = list(calls)
        window = 2 * self.capacity
        while queue or pending:
            if queue and stop():
                queue.clear()
            while queue and len(pending) < window:
                tag, args = queue.pop(0)
                pending[remote.remote(*args)] = tag
            if not pending:
                break
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                tag = pending.pop(ref)
                try:
                    yield tag, self.ray.get(ref), None
                except Exception as exc:
                    yield tag, None, exc

    def close(self) -> None:
        if not self.inline and self.started_ray:
            self.ray.shutdown()


def run_search(
    grid: Grid,
    out: str | os.PathLike,
    *,
    source_state: dict[str, Any] | None = None,
    data_dir: str | os.PathLike | None = None,
    dataset: str = "mnist",
    workers: int = 2,
    address: str | None = None,
    max_trials: int | None = None,
    time_budget: float | None = None,
    save_best: bool = True,
    log: Log = print,
) -> SearchResult:
    """Run (or resume) Algorithm 1 on ``grid``; results go to ``out/results.jsonl``.

    Args:
        source_state: a :func:`net_to_dict` state to derive the bases from; ``None`` trains
            each base from scratch with :mod:`lwfc.train`.
        workers: local Ray CPUs (0 runs everything inline in this process, without Ray).
        address: join this Ray cluster instead of starting a local instance.
        max_trials: stop after submitting this many new trials (the rest on a rerun).
        time_budget: stop submitting new trials after this many seconds.
    """
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out / RESULTS)
    done = store.done()
    ddir = None if data_dir is None else str(data_dir)
    meta = {"grid": asdict(grid), "dataset": dataset, "source": source_state is not None}
    (out / "grid.json").write_text(json.dumps(meta, indent=2) + "\n")

    ex = _Executor(workers, address, log)
    finished = failed = skipped = submitted = 0
    try:
        # ---- bases (resumable: weights on disk + a record in the results file)
        base_dir = out / BASES
        base_dir.mkdir(exist_ok=True)
        base_states: dict[str, Any] = {}
        todo = []
        for spec in grid.bases(derived=source_state is not None):
            spec = {**spec, "train_limit": grid.train_limit, "seed": grid.seed}
            key = base_key(spec)
            path = base_dir / f"{key}.pt"
            if trial_id(spec) in done and path.is_file():
                base_states[key] = _load_state(path)
                skipped += 1
            else:
                todo.append((key, (spec, source_state, ddir, dataset, grid.train_limit, grid.seed)))
        if todo:
            log(f"bases: training {len(todo)} ({', '.join(k for k, _ in todo)})")
        base_specs = {k: args[0] for k, args in todo}
        for key, result, error in ex.imap(make_base, todo):
            spec = base_specs[key]
            if error is not None:  # its trials are skipped; a rerun tries the base again
                failed += 1
                store.append({**_failure(spec, error), "key": key})
                msg = str(error).strip().splitlines()[-1][:300]
                log(f"base {key} failed, its trials are skipped: {msg}")
                continue
            record, state = result
            _save_state(state, base_dir / f"{key}.pt")
            store.append({"id": trial_id(spec), "key": key, "status": "ok", **record})
            base_states[key] = state
            log(f"base {key}: int8 accuracy {record['int8_accuracy']:.4f}")

        # ---- trials
        refs = {k: ex.put(s) for k, s in base_states.items()}
        trials = [t for t in grid.trials() if t["base"] in base_states]
        if not base_states:
            raise LwfcError("no base network could be built; see the failures in the results")
        pending_specs = [s for s in trials if trial_id(s) not in done]
        skipped += len(trials) - len(pending_specs)
        if max_trials is not None:
            pending_specs = pending_specs[:max_trials]
        log(
            f"trials: {len(trials)} in grid {grid.name!r}, {len(trials) - len(pending_specs)}"
            f" already done or deferred, {len(pending_specs)} to run"
        )
        calls = [
            (trial_id(s), (s, refs[s["base"]], ddir, dataset, grid.train_limit))
            for s in pending_specs
        ]
        by_id = {trial_id(s): s for s in pending_specs}

        def over_budget() -> bool:
            return time_budget is not None and time.perf_counter() - start > time_budget

        for tid, rec, error in ex.imap(run_trial, calls, stop=over_budget):
            submitted += 1
            spec = by_id[tid]
            if error is not None:
                failed += 1
                store.append(_failure(spec, error))
                log(f"trial {tid} failed: {type(error).__name__}: {error}")
                continue
            finished += 1
            store.append({"id": tid, "status": "ok", **spec, **rec})
            if finished % 25 == 0 or finished == len(calls):
                log(
                    f"  {finished}/{len(calls)} trials, {time.perf_counter() - start:.0f} s "
                    f"(last: {spec['kind']} {spec['base']} {spec['method']} {spec['ratio']} "
                    f"acc {rec['accuracy']:.4f})"
                )

        records = [r for r in store.records() if r.get("status") == "ok"]
        best = best_trial(records)
        if best is not None and save_best:
            spec = {k: best[k] for k in _spec_keys(best)}
            state = base_states[spec["base"]]
            for _, _, error in ex.imap(
                run_trial,
                [("best", (spec, state, ddir, dataset, grid.train_limit, str(out / BEST)))],
            ):
                if error is not None:
                    log(f"saving the best trial failed: {error}")
            log(f"best E-score {best['escore']:.4f}: {spec} -> {out / BEST}")
    finally:
        ex.close()
    seconds = time.perf_counter() - start
    run = {
        "grid": grid.name,
        "workers": workers,
        "address": address,
        "finished": finished,
        "failed": failed,
        "skipped": skipped,
        "seconds": round(seconds, 2),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
    }
    with (out / RUNS).open("a") as fh:
        fh.write(json.dumps(run) + "\n")
    return SearchResult(out, submitted, finished, skipped, failed, seconds, best, records)


_SPEC_FIELDS = (
    "kind",
    "base",
    "method",
    "ratio",
    "lra_loc",
    "r_comp",
    "lra_learn",
    "lra_steps",
    "lra_grid",
    "finetune_epochs",
    "test_limit",
    "seed",
)


def _spec_keys(record: dict[str, Any]) -> list[str]:
    return [k for k in _SPEC_FIELDS if k in record]


def best_trial(records: list[dict[str, Any]], key: str = "escore") -> dict[str, Any] | None:
    """Algorithm 1's choice: the ``lra`` trial with the highest E-score (else any trial)."""
    trials = [r for r in records if r.get("kind") == "lra"] or [
        r for r in records if r.get("kind") == "prune"
    ]
    if not trials:
        return None
    return max(trials, key=lambda r: (r.get(key) or 0.0, r.get("accuracy", 0.0)))


def _failure(spec: dict[str, Any], error: BaseException) -> dict[str, Any]:
    return {
        "id": trial_id(spec),
        "status": "failed",
        "error": f"{type(error).__name__}: {error}"[:500],
        **spec,
    }


def _save_state(state: dict[str, Any], path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _load_state(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, weights_only=False)


def train_base(
    drop_loc: int,
    drop_p: float,
    data_dir: str | None,
    dataset: str,
    seed: int,
    epochs: float | None,
    recipe: str = "paper",
) -> QNet:
    """Train one search base from scratch with :func:`lwfc.train.train` (QAT, dropout given).

    ``epochs``: the recipe's epoch cap / count (None: the recipe's own).
    """
    from ..compress.checkpoint import from_train_checkpoint
    from ..train import train

    result = train(
        recipe=recipe,
        data_dir=data_dir,
        seed=seed,
        epochs=None if epochs is None else max(1, round(epochs)),
        progress=False,
        log=lambda *a, **k: None,
        dataset=dataset,
        dropout=(drop_loc, drop_p) if drop_p > 0 else None,
        threads=1,
    )
    return from_train_checkpoint(result.state)
