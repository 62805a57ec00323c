"""Markdown tables and matplotlib figures of a search folder (``lwfc report DIR``).

Reads ``DIR/results.jsonl`` (and ``DIR/table1.jsonl`` / ``DIR/runs.jsonl`` if present) and writes
``DIR/report/report.md`` with PNG figures beside it, mirroring the paper:

=================  ==========================================================================
Table 1            float / PTQ / QAT / QAT+KD (float teacher) / QAT+KD (int teacher), ours vs paper
Table 2            A_LRA-learn / A_LRA by L_drop, P_drop, L_LRA (rows) and R_prune (columns)
Table 3            best candidates by E-score per L_LRA and R_prune (R_comp, P_drop, L_drop)
figures 8, 9       the pruning methods vs R_prune, one panel per P_drop (L_drop = 1, 2)
figure 10          unstructured L1 vs R_prune, L_drop = 1 vs 2
figure 11          per method, accuracy vs R_prune for each P_drop (L_drop = 2)
figure 12          accuracy degradation by LRA-learn vs R_comp, per (L_drop, L_LRA), per P_drop
figure 13          E-score (beta = 12) vs R_comp, best R_comp per R_prune starred
Pareto             accuracy vs weights / BRAM bytes / cycles, non-dominated trials marked
=================  ==========================================================================

All accuracies are int8 golden-model accuracies on the test split the search used.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import LwfcError
from .escore import escore, hardware_objectives, pareto_front

#: The paper's Table 1 (accuracy).
PAPER_TABLE1 = {
    "float": 0.9380,
    "ptq": 0.9384,
    "qat": 0.9395,
    "qat_kd_float": 0.9393,
    "qat_kd_int": 0.9367,
}
TABLE1_LABELS = {
    "float": "float",
    "ptq": "PTQ",
    "qat": "QAT",
    "qat_kd_float": "QAT+KD (float teacher)",
    "qat_kd_int": "QAT+KD (int teacher)",
}
#: The paper's Table 3 (R_prune, R_comp, P_drop, L_LRA, L_drop, accuracy, N_reduced).
PAPER_TABLE3 = [
    (0.35, 0.36, 0.3, 1, 2, 0.906, 14180),
    (0.3, 0.24, 0.1, 1, 2, 0.9116, 10010),
    (0.1, 0.24, 0.2, 1, 1, 0.9262, 10010),
    (0.05, 0.2, 0.2, 1, 1, 0.9303, 8342),
    (0.25, 0.18, 0.2, 1, 1, 0.9308, 7508),
    (0.5, 0.26, 0.5, 2, 2, 0.9135, 1400),
    (0.1, 0.3, 0.2, 2, 1, 0.915, 1550),
    (0.25, 0.44, 0.3, 2, 2, 0.9188, 2300),
    (0.35, 0.36, 0.5, 2, 2, 0.9228, 1850),
]
METHOD_LABELS = {
    "random_layer": "unstructured random (layer)",
    "random_global": "unstructured random (global)",
    "l1": "unstructured L1",
    "l1_structured": "structured L1",
    "l2_structured": "structured L2",
    "l1_global": "unstructured L1 (global)",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete JSON records of a JSON-lines file ([] if it does not exist)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _base_of(rec: dict[str, Any], bases: dict[str, dict[str, Any]]) -> tuple[int, float]:
    b = bases.get(rec.get("base", ""), {})
    return int(b.get("drop_loc", 0)), float(b.get("drop_p", 0.0))


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _md_table(header: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(c) for c in row) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- tables
def _mean_sd(vals: list[float]) -> str:
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.4f}"
    return f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}"


def table1(records: list[dict[str, Any]]) -> str:
    """Table 1: ours (mean ± sd over seeds) per QAT protocol, next to the paper's numbers."""
    rows_in = [r for r in records if r.get("kind") == "table1" and r.get("status", "ok") == "ok"]
    if not rows_in:
        return "_No Table 1 runs in this folder (run `lwfc search --table1`)._"
    plain: dict[str, list[float]] = defaultdict(list)
    by_proto: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows_in:
        if r.get("protocol"):
            by_proto[r["protocol"]][r["variant"]].append(float(r["int8_accuracy"]))
        else:
            plain[r["variant"]].append(float(r["int8_accuracy"]))
    header = ["", *[TABLE1_LABELS[k] for k in PAPER_TABLE1]]
    rows = []
    for proto in sorted(by_proto) or [""]:
        cells = {**plain, **by_proto.get(proto, {})}
        rows.append([f"ours ({proto})", *[_mean_sd(cells.get(k, [])) for k in PAPER_TABLE1]])
    rows.append(["paper", *[f"{v:.4f}" for v in PAPER_TABLE1.values()]])
    seeds = sorted({r["seed"] for r in rows_in})
    teach = [r for r in rows_in if "teacher_float_accuracy" in r]
    note = f"\n\nSeeds: {len(seeds)} (mean ± standard deviation)."
    if teach:
        tf = _mean_sd(sorted({r["seed"]: r["teacher_float_accuracy"] for r in teach}.values()))
        ti = _mean_sd(sorted({r["seed"]: r["teacher_int8_accuracy"] for r in teach}.values()))
        note += f" Teacher 784-100-200-100-50-10: float {tf}, int8 {ti}."
    return _md_table(header, rows) + note


def table2(lra: list[dict[str, Any]], bases: dict[str, dict[str, Any]]) -> str:
    """Table 2: mean ``A_LRA-learn / A_LRA`` over R_comp, by (L_drop, P_drop, L_LRA) x R_prune."""
    cells: dict[tuple[int, float, int], dict[float, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    ratios = sorted({r["ratio"] for r in lra})
    for r in lra:
        if r.get("learn_ratio") is None:
            continue
        loc, p = _base_of(r, bases)
        cells[(loc, p, r["lra_loc"])][r["ratio"]].append(r["learn_ratio"])
    if not cells:
        return "_No LRA trials._"
    rows = []
    above = total = 0
    for key in sorted(cells):
        row: list[Any] = [key[0], f"{key[1]:g}", key[2]]
        for ratio in ratios:
            vals = cells[key].get(ratio)
            if vals:
                m = statistics.mean(vals)
                row.append(f"{m:.3f}")
                above += m > 1.0005
                total += 1
            else:
                row.append("-")
        rows.append(row)
    text = _md_table(["L_drop", "P_drop", "L_LRA", *[f"R_prune {x:g}" for x in ratios]], rows)
    return text + f"\n\nCells with LRA-learn better than LRA (ratio > 1.000): {above} of {total}."


def best_candidates(
    lra: list[dict[str, Any]], bases: dict[str, dict[str, Any]], per_loc: int = 5
) -> list[dict[str, Any]]:
    """Table 3's selection: for each L_LRA and R_prune the trial of highest E-score, then the
    ``per_loc`` best of those per L_LRA."""
    best: dict[tuple[int, float], dict[str, Any]] = {}
    for r in lra:
        key = (r["lra_loc"], r["ratio"])
        if key not in best or r["escore"] > best[key]["escore"]:
            best[key] = r
    out = []
    for loc in sorted({k[0] for k in best}):
        cands = sorted((v for k, v in best.items() if k[0] == loc), key=lambda r: -r["escore"])
        out.extend(cands[:per_loc])
    return out


def table3(lra: list[dict[str, Any]], bases: dict[str, dict[str, Any]]) -> str:
    rows = []
    for r in best_candidates(lra, bases):
        loc, p = _base_of(r, bases)
        rows.append(
            [
                f"{r['ratio']:g}",
                f"{r['r_comp']:g}",
                f"{p:g}",
                r["lra_loc"],
                loc,
                r["rank"],
                r["accuracy"],
                r["n_reduced"],
                r["escore"],
                f"{100 * r['weights_removed']:.1f} %",
            ]
        )
    if not rows:
        return "_No LRA trials._"
    ours = _md_table(
        [
            "R_prune",
            "R_comp",
            "P_drop",
            "L_LRA",
            "L_drop",
            "rank",
            "accuracy",
            "N_reduced",
            "E-score",
            "net removed",
        ],
        rows,
    )
    paper = _md_table(
        ["R_prune", "R_comp", "P_drop", "L_LRA", "L_drop", "accuracy", "N_reduced"],
        [
            [f"{c:g}" if isinstance(c, float) and i < 3 else c for i, c in enumerate(row)]
            for row in PAPER_TABLE3
        ],
    )
    return f"Ours:\n\n{ours}\n\nPaper:\n\n{paper}"


def pareto_table(trials: list[dict[str, Any]], limit: int = 25) -> tuple[str, list[dict]]:
    front = pareto_front(trials, hardware_objectives)
    front = sorted(front, key=lambda r: (-r["accuracy"], r["weights_nonzero"]))
    seen = set()
    uniq = []
    for r in front:
        k = hardware_objectives(r)
        if k not in seen:
            seen.add(k)
            uniq.append(r)
    rows = [
        [
            r["kind"],
            r["base"],
            r["method"],
            f"{r['ratio']:g}",
            r.get("lra_loc", "-"),
            f"{r['r_comp']:g}" if "r_comp" in r else "-",
            r["accuracy"],
            r["weights_nonzero"],
            f"{100 * r['weights_removed']:.1f} %",
            r["bram_bytes"],
            r["cycles"],
        ]
        for r in uniq[:limit]
    ]
    header = [
        "kind",
        "base",
        "prune",
        "R_prune",
        "L_LRA",
        "R_comp",
        "accuracy",
        "weights",
        "removed",
        "BRAM bytes",
        "cycles",
    ]
    note = f"\n\n{len(uniq)} distinct non-dominated trials of {len(trials)}"
    if len(uniq) > limit:
        note += f" (the {limit} most accurate shown)"
    return _md_table(header, rows) + note + ".", uniq


def findings(prune: list, lra: list, bases: dict) -> str:
    """The paper's findings, recomputed on these trials (Markdown bullet list)."""
    out: list[str] = []

    def mean(vals: Iterable[float]) -> float | None:
        vals = list(vals)
        return statistics.mean(vals) if vals else None

    if prune:
        ranking = sorted(
            (
                (mean(r["accuracy"] for r in prune if r["method"] == m), m)
                for m in {r["method"] for r in prune}
            ),
            reverse=True,
        )
        text = ", ".join(f"{METHOD_LABELS.get(m, m)} {a:.4f}" for a, m in ranking)
        out.append(f"- Pruning methods, mean accuracy over all bases and ratios: {text}.")

        def loss(r: dict[str, Any]) -> float:  # accuracy lost against the unpruned base
            return float(bases.get(r["base"], {}).get("int8_accuracy", 0.0)) - r["accuracy"]

        hi = [r for r in prune if r["method"] == "l1" and r["ratio"] >= 0.5]
        by_loc = {
            loc: mean(loss(r) for r in hi if _base_of(r, bases)[0] == loc)
            for loc in sorted({_base_of(r, bases)[0] for r in hi})
        }
        if len(by_loc) > 1:
            text = ", ".join(f"L_drop = {k}: {v:.4f}" for k, v in by_loc.items() if v is not None)
            out.append(
                "- Unstructured L1 at R_prune >= 0.5, mean accuracy lost against the base, by"
                f" dropout location: {text} (paper: L_drop = 2 more robust)."
            )
        for loc in sorted({_base_of(r, bases)[0] for r in prune}):
            probs = sorted({_base_of(r, bases)[1] for r in prune if _base_of(r, bases)[0] == loc})
            if len(probs) < 2:
                continue
            parts = []
            for m in sorted({r["method"] for r in prune}):
                sub = [r for r in prune if r["method"] == m and _base_of(r, bases)[0] == loc]
                sub = [r for r in sub if r["ratio"] >= (0.5 if m == "l1" else 0.3)]
                vals = [mean(loss(r) for r in sub if _base_of(r, bases)[1] == p) for p in probs]
                parts.append(
                    f"{METHOD_LABELS.get(m, m)} "
                    + " / ".join("-" if v is None else f"{v:.3f}" for v in vals)
                )
            out.append(
                f"- L_drop = {loc}, accuracy lost by pruning (L1: R_prune >= 0.5, others: >= 0.3)"
                f" for P_drop = {' / '.join(f'{p:g}' for p in probs)}: "
                + "; ".join(parts)
                + " (paper: higher P_drop more robust)."
            )
    if lra:
        ratios = [r["learn_ratio"] for r in lra if r.get("learn_ratio") is not None]
        if ratios:
            better = sum(x > 1.0005 for x in ratios)
            worse = sum(x < 0.9995 for x in ratios)
            out.append(
                f"- LRA-learn vs LRA: A_LRA-learn / A_LRA mean {statistics.mean(ratios):.4f}, "
                f"max {max(ratios):.3f}; better in {better}, worse in {worse}, equal in "
                f"{len(ratios) - better - worse} of {len(ratios)} trials (paper: mostly 1.00-1.15)."
            )
        for loc in sorted({r["lra_loc"] for r in lra}):
            same = [
                r["accuracy_pruned"] - r["accuracy_lra_learn"]
                for r in lra
                if r["lra_loc"] == loc and _base_of(r, bases)[0] == loc
            ]
            other = [
                r["accuracy_pruned"] - r["accuracy_lra_learn"]
                for r in lra
                if r["lra_loc"] == loc and _base_of(r, bases)[0] not in (loc, 0)
            ]
            if same and other:
                out.append(
                    f"- LRA on layer {loc}: mean accuracy loss {statistics.mean(same):.4f} when "
                    f"dropout sat on that layer (L_drop = L_LRA), {statistics.mean(other):.4f} "
                    f"when it sat elsewhere (paper: L_drop = L_LRA more robust)."
                )
    return "\n".join(out) if out else "_Not enough trials._"


# ------------------------------------------------------------------------------ figures
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mean_by(records: Iterable[dict[str, Any]], x: str, y: str) -> tuple[list, list]:
    acc: dict[float, list[float]] = defaultdict(list)
    for r in records:
        if r.get(y) is not None:
            acc[r[x]].append(float(r[y]))
    xs = sorted(acc)
    return xs, [statistics.mean(acc[v]) for v in xs]


def _panels(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return (n + cols - 1) // cols, cols


def fig_methods(prune: list, bases: dict, drop_loc: int, path: Path, title: str) -> bool:
    """Figures 8 / 9: one panel per P_drop, accuracy vs R_prune per method."""
    recs = [r for r in prune if _base_of(r, bases)[0] == drop_loc]
    if not recs:
        return False
    plt = _plt()
    probs = sorted({_base_of(r, bases)[1] for r in recs})
    rows, cols = _panels(len(probs))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, p in zip(axes.flat, probs, strict=False):
        sub = [r for r in recs if _base_of(r, bases)[1] == p]
        for m in sorted({r["method"] for r in sub}):
            xs, ys = _mean_by((r for r in sub if r["method"] == m), "ratio", "accuracy")
            ax.plot(xs, ys, marker="o", ms=3, label=METHOD_LABELS.get(m, m))
        ax.set_title(f"P_drop = {p:g}")
        ax.set_xlabel("R_prune")
        ax.set_ylabel("int8 accuracy")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(probs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fig_l1_location(prune: list, bases: dict, path: Path) -> bool:
    """Figure 10: unstructured L1, L_drop = 1 vs 2, one panel per P_drop."""
    recs = [r for r in prune if r["method"] == "l1"]
    if not recs:
        return False
    plt = _plt()
    probs = sorted({_base_of(r, bases)[1] for r in recs})
    rows, cols = _panels(len(probs))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, p in zip(axes.flat, probs, strict=False):
        for loc in sorted({_base_of(r, bases)[0] for r in recs}):
            sub = [r for r in recs if _base_of(r, bases) == (loc, p)]
            xs, ys = _mean_by(sub, "ratio", "accuracy")
            ax.plot(xs, ys, marker="o", ms=3, label=f"L_drop = {loc}")
        ax.set_title(f"unstructured L1, P_drop = {p:g}")
        ax.set_xlabel("R_prune")
        ax.set_ylabel("int8 accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(probs) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fig_methods_by_prob(prune: list, bases: dict, path: Path, drop_loc: int = 2) -> bool:
    """Figure 11: per method, accuracy vs R_prune for each P_drop (L_drop = 2)."""
    recs = [r for r in prune if _base_of(r, bases)[0] == drop_loc]
    if not recs:
        return False
    plt = _plt()
    methods = sorted({r["method"] for r in recs})
    rows, cols = _panels(len(methods))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, m in zip(axes.flat, methods, strict=False):
        for p in sorted({_base_of(r, bases)[1] for r in recs}):
            sub = [r for r in recs if r["method"] == m and _base_of(r, bases)[1] == p]
            xs, ys = _mean_by(sub, "ratio", "accuracy")
            ax.plot(xs, ys, marker="o", ms=3, label=f"P_drop = {p:g}")
        ax.set_title(METHOD_LABELS.get(m, m))
        ax.set_xlabel("R_prune")
        ax.set_ylabel("int8 accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(methods) :]:
        ax.axis("off")
    fig.suptitle(f"L_drop = {drop_loc}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fig_lra(lra: list, bases: dict, path: Path, what: str) -> bool:
    """Figure 12 (``what="degradation"``) or 13 (``"escore"``): vs R_comp per (L_drop, L_LRA)."""
    if not lra:
        return False
    plt = _plt()
    combos = sorted({(_base_of(r, bases)[0], r["lra_loc"]) for r in lra})
    rows, cols = _panels(len(combos))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.5 * rows), squeeze=False)
    for ax, (loc, lra_loc) in zip(axes.flat, combos, strict=False):
        sub = [r for r in lra if _base_of(r, bases)[0] == loc and r["lra_loc"] == lra_loc]
        for p in sorted({_base_of(r, bases)[1] for r in sub}):
            pts = [r for r in sub if _base_of(r, bases)[1] == p]
            if what == "degradation":
                for r in pts:
                    r["_deg"] = r["accuracy_pruned"] - r["accuracy_lra_learn"]
                xs, ys = _mean_by(pts, "r_comp", "_deg")
            else:
                xs, ys = _mean_by(pts, "r_comp", "escore")
            ax.plot(xs, ys, marker="o", ms=3, label=f"P_drop = {p:g}")
        if what == "escore":  # best R_comp per R_prune (Table 3's stars)
            for ratio in sorted({r["ratio"] for r in sub}):
                cand = max((r for r in sub if r["ratio"] == ratio), key=lambda r: r["escore"])
                color = "gold" if cand["accuracy"] >= 0.9 else "green"
                ax.plot(cand["r_comp"], cand["escore"], "*", ms=11, color=color, mec="k")
        ax.set_title(f"L_drop = {loc}, L_LRA = {lra_loc}")
        ax.set_xlabel("R_comp")
        label = "accuracy loss (pruned - LRA-learn)" if what == "degradation" else "E-score"
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(combos) :]:
        ax.axis("off")
    fig.suptitle(
        "mean over R_prune" if what == "degradation" else "E-score (beta = 12), mean over R_prune"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fig_pareto(trials: list, front: list, path: Path) -> bool:
    """Accuracy vs weights / BRAM bytes / cycles; the non-dominated trials highlighted."""
    if not trials:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, key, label in zip(
        axes,
        ("weights_nonzero", "bram_bytes", "cycles"),
        ("nonzero weights", "BRAM bytes", "cycles per image"),
        strict=True,
    ):
        for kind, marker in (("prune", "."), ("lra", "x")):
            pts = [r for r in trials if r["kind"] == kind]
            ax.scatter(
                [r[key] for r in pts],
                [r["accuracy"] for r in pts],
                s=8,
                marker=marker,
                alpha=0.35,
                label=kind,
            )
        ax.scatter(
            [r[key] for r in front],
            [r["accuracy"] for r in front],
            s=26,
            facecolors="none",
            edgecolors="red",
            label="Pareto front (all 4 objectives)",
        )
        front2 = sorted(
            pareto_front(trials, lambda r, k=key: (-r["accuracy"], r[k])), key=lambda r: r[key]
        )
        ax.step(
            [r[key] for r in front2],
            [r["accuracy"] for r in front2],
            where="post",
            color="black",
            lw=1,
            label="2-D front (accuracy vs this cost)",
        )
        ax.set_xlabel(label)
        ax.set_ylabel("int8 accuracy")
        lo = max(0.0, min(r["accuracy"] for r in front) - 0.05) if front else 0.0
        ax.set_ylim(lo, 1.0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------ report
def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.md`` and the PNG figures for the search in ``folder``; return the md path.

    Raises:
        LwfcError: if the folder holds no results.
    """
    folder = Path(folder)
    records = read_jsonl(folder / "results.jsonl") + read_jsonl(folder / "table1.jsonl")
    records = [r for r in records if r.get("status", "ok") == "ok"]
    if not records:
        raise LwfcError(f"{folder}: no results.jsonl / table1.jsonl records to report")
    out = Path(out) if out else folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    bases = {r["key"]: r for r in records if r.get("kind") == "base"}
    prune = [r for r in records if r.get("kind") == "prune"]
    lra = [r for r in records if r.get("kind") == "lra"]
    for r in lra:  # the paper's E-score of the trial's final accuracy (after any fine-tuning)
        r["escore"] = escore(r["accuracy"], max(0.0, min(1.0, r["r_comp_actual"])))
    trials = prune + lra
    runs = read_jsonl(folder / "runs.jsonl")

    md = [f"# Compression report: `{folder}`", ""]
    md += [
        "All accuracies: int8 golden model (`lwfc.golden`) on the exported bundle, test split.",
        "Weights removed: `1 - nonzero weights / dense reference` (45,200 for 784-50-100-10;"
        " pruned zeros and low-rank savings together); N_reduced: weights saved by LRA in the"
        " factorised layer (the paper's).",
        "",
        "## Table 1: PTQ, QAT and KD",
        "",
        table1(records),
        "",
    ]
    if bases:
        md += ["## Base networks (QAT with dropout)", ""]
        md.append(
            _md_table(
                ["base", "L_drop", "P_drop", "int8 accuracy", "seconds"],
                [
                    [k, b["drop_loc"], f"{b['drop_p']:g}", b["int8_accuracy"], b.get("seconds")]
                    for k, b in sorted(bases.items())
                ],
            )
        )
        md.append("")
    if prune:
        md += ["## Pruning methods (figures 8-11)", ""]
        methods = sorted({r["method"] for r in prune})
        ratios = sorted({r["ratio"] for r in prune})
        rows = []
        for m in methods:
            row: list[Any] = [METHOD_LABELS.get(m, m)]
            for ratio in ratios:
                vals = [r["accuracy"] for r in prune if r["method"] == m and r["ratio"] == ratio]
                row.append(statistics.mean(vals) if vals else None)
            rows.append(row)
        md.append("Mean int8 accuracy over all bases:\n")
        md.append(_md_table(["method", *[f"{x:g}" for x in ratios]], rows))
        md.append("")
        figs = [
            (fig_methods(prune, bases, 1, out / "fig8_methods_ldrop1.png", "L_drop = 1"), "fig8"),
            (fig_methods(prune, bases, 2, out / "fig9_methods_ldrop2.png", "L_drop = 2"), "fig9"),
            (fig_l1_location(prune, bases, out / "fig10_l1_ldrop.png"), "fig10"),
            (fig_methods_by_prob(prune, bases, out / "fig11_methods_pdrop.png"), "fig11"),
        ]
        names = {
            "fig8": "fig8_methods_ldrop1.png",
            "fig9": "fig9_methods_ldrop2.png",
            "fig10": "fig10_l1_ldrop.png",
            "fig11": "fig11_methods_pdrop.png",
        }
        for ok, tag in figs:
            if ok:
                md.append(f"![{tag}]({names[tag]})")
        md.append("")
    if lra:
        md += [
            "## Table 2: LRA-learn vs LRA (A_LRA-learn / A_LRA, mean over R_comp)",
            "",
            table2(lra, bases),
            "",
            "## Table 3: best candidates by E-score (beta = 12)",
            "",
            table3(lra, bases),
            "",
        ]
        if fig_lra(lra, bases, out / "fig12_degradation.png", "degradation"):
            md.append("![fig12](fig12_degradation.png)")
        if fig_lra(lra, bases, out / "fig13_escore.png", "escore"):
            md.append("![fig13](fig13_escore.png)")
        md.append("")
    if trials:
        md += [
            "## Findings of the paper, checked on these trials",
            "",
            findings(prune, lra, bases),
            "",
        ]
        text, front = pareto_table(trials)
        md += [
            "## Hardware-aware objective: Pareto front",
            "",
            "Objectives: maximise accuracy; minimise nonzero weights, BRAM bytes and cycles per"
            f" image (cycle model: {trials[0].get('cycle_model', '?')},"
            f" {trials[0].get('lanes', '?')} lanes).",
            "",
            text,
            "",
        ]
        if fig_pareto(trials, front, out / "pareto.png"):
            md.append("![pareto](pareto.png)")
        md.append("")
    if runs:
        md += ["## Runs (wall time)", ""]
        md.append(
            _md_table(
                ["grid", "workers", "finished", "skipped", "failed", "seconds", "time"],
                [
                    [
                        r.get("grid"),
                        r.get("workers"),
                        r.get("finished"),
                        r.get("skipped"),
                        r.get("failed"),
                        r.get("seconds"),
                        r.get("time"),
                    ]
                    for r in runs
                ],
            )
        )
        md.append("")
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path
