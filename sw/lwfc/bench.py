"""Benchmarks of the accelerator: one call regenerates ``BENCHMARKS.md`` and its plots.

What is measured and how (every figure in the report comes from here):

* **cycles per image**: the exact cycle model (:mod:`lwfc_hw.cycles`) on the dataset's test
  images (``images`` of them; the data-dependent broadcast dataflow included), for every
  configuration of :data:`CONFIGS` and every shipped bundle: the mean streaming interval, the
  worst image's interval and latency, and the all-255 image's. The model is checked against
  the RTL by the test suite and by :func:`rtl_check` (here: an RTL simulation of the first
  ``rtl_images`` test images of each ``rtl`` configuration, every logit and every cycle
  compared);
* **images/s**: the core's own figure, ``clock / mean interval`` (simulated cycles x a clock:
  100 MHz, or a build's achieved Fmax), not an on-board measurement;
* **builds**: the results of ``lwfc build --json`` recorded in ``benchmarks/builds/*.json``
  (a build takes minutes, so the report reads the records; each names its configuration);
* **accuracy vs weights removed**: the shipped bundles' golden-model accuracy on the test set
  and their nonzero weights;
* **anchors**: published figures of other accelerators (:data:`ANCHORS`), marked as
  published: not measured here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import golden
from .bundle import load_bundle
from .data import load_dataset
from .errors import LwfcError

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Config:
    """One elaboration of the core (see :func:`lwfc_hw.plan.plan_for_bundle`)."""

    name: str
    lanes: Any
    dataflow: Any = "dot"
    drain: Any = 1
    rtl: bool = False  # simulated by rtl_check


CONFIGS = (
    Config("dot-1", 1),
    Config("dot-8", 8, rtl=True),
    Config("dot-50", 50),
    Config("bcast-5.4.2", [5, 4, 2], "broadcast"),
    Config("bcast-10.10.5", [10, 10, 5], "broadcast", [5, 1, 1], rtl=True),
    Config("bcast-25.25.5", [25, 25, 5], "broadcast", [5, 1, 1]),
    Config("bcast-50.50.10", [50, 50, 10], "broadcast", [5, 1, 1], rtl=True),
)
#: Low-rank bundles: a drain wider than 1 only after a broadcast dense layer.
LOWRANK_DRAIN = {"bcast-10.10.5": [1, 5, 1], "bcast-25.25.5": [1, 5, 1],
                 "bcast-50.50.10": [1, 5, 1]}
BUNDLES = ("mnist-dense", "mnist-lowrank")
#: Published figures (not measured here): (name, images/s, accuracy, source).
ANCHORS = (
    ("BNN-PYNQ LFC-W1A1 (PYNQ-Z1, binary)", 356_633, 0.9840, "published, BNN-PYNQ"),
    ("finn-examples TFC-W1A1 (binary), low", 800_000, 0.93, "published, finn-examples"),
    ("finn-examples TFC-W1A1 (binary), high", 1_500_000, 0.93, "published, finn-examples"),
)
CLOCK_MHZ = 100.0


def _plan(bundle: Any, cfg: Config, beat: int = 4) -> Any:
    from lwfc_hw.plan import plan_for_bundle

    drain = cfg.drain
    if bundle.layers[0].kind == "lowrank" and cfg.name in LOWRANK_DRAIN:
        drain = LOWRANK_DRAIN[cfg.name]
    return plan_for_bundle(bundle, cfg.lanes, beat, dataflow=cfg.dataflow, drain=drain)


def model_rows(bundle: Any, act: np.ndarray, configs=CONFIGS) -> list[dict[str, Any]]:
    """Cycle-model figures of every configuration on the images of ``act``."""
    from lwfc_hw.cycles import activity, image_report, stream_report

    full = activity(bundle, np.full((1, bundle.in_features), 255, dtype=np.uint8))[0]
    rows = []
    for cfg in configs:
        plan = _plan(bundle, cfg)
        rep = stream_report(plan, act)
        a_int, a_lat = image_report(plan, full)
        rows.append({
            "config": cfg.name,
            "multipliers": sum(e.multipliers for e in plan.engines),
            "input_bound": plan.beats_per_image,
            "mean_interval": round(rep.mean_interval, 2),
            "images_per_s_100mhz": round(CLOCK_MHZ * 1e6 / rep.mean_interval),
            "worst_image": rep.worst_image,
            "worst_interval": rep.worst_interval,
            "worst_latency": rep.worst_latency,
            "all255_interval": a_int,
            "all255_latency": a_lat,
        })
    return rows


def rtl_check(bundle: Any, images: np.ndarray, cfg: Config, simulator: str) -> dict[str, Any]:
    """RTL simulation of ``images``: mismatches (every logit) and whether every cycle equals
    the model."""
    from lwfc_hw import sim
    from lwfc_hw.cycles import activity, schedule

    plan = _plan(bundle, cfg)
    res = sim.simulate(bundle, plan, images, simulator, timeout=3600.0)
    ref = golden.forward(bundle, images)
    bad = int(((res.logits != ref).any(axis=1) | (res.classes != ref.argmax(axis=1))).sum())
    s = schedule(plan, len(images), activity(bundle, images))
    exact = (tuple(int(t) for t in res.t_in - res.t_in[0]) == s.t_in
             and tuple(int(t) for t in res.t_out - res.t_in[0]) == s.t_out)
    return {"config": cfg.name, "images": len(images), "simulator": simulator,
            "mismatches": bad, "cycles_exact": exact,
            "mean_interval": round(float(res.t_out[-1] - res.t_out[0]) / (len(images) - 1), 2)}


def load_builds(folder: Path) -> list[dict[str, Any]]:
    """The recorded ``lwfc build --json`` results (``benchmarks/builds/*.json``)."""
    out = []
    for p in sorted(folder.glob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LwfcError(f"build record {p}: {exc}") from exc
        rec["record"] = p.name
        out.append(rec)
    return out


def run(out: Path, *, quick: bool = False, data: Path | None = None,
        simulator: str = "verilator", progress: bool = False, rtl: bool = True
        ) -> dict[str, Any]:
    """Compute every figure, write ``out`` (Markdown) and its PNG plots beside it (in
    ``<out stem>_plots/``); return the figures. ``rtl=False`` skips the RTL checks (the
    cycle model alone; the report says so)."""
    if out.exists() and out.is_dir():
        raise LwfcError(f"--out {out} is a folder")
    n_images = 500 if quick else 10_000
    rtl_images = 20 if quick else 10_000
    sim_tool = "icarus" if quick else simulator
    t0 = time.perf_counter()
    figures: dict[str, Any] = {"quick": quick, "images": n_images, "rtl": rtl, "bundles": {}}
    for name in BUNDLES:
        path = REPO / "deploy" / "models" / name
        bundle = load_bundle(path)
        x, y = load_dataset(bundle.dataset, "test", data, progress=progress)
        x = golden.as_pixels(x, bundle.in_features)
        from lwfc_hw.cycles import activity

        act = activity(bundle, x[:n_images])
        acc = float(np.mean(golden.predict(bundle, x) == y))
        stored = sum(int(np.asarray(t).size) for layer in bundle.layers
                     for t in _weights(layer))
        nonzero = sum(int(np.count_nonzero(t)) for layer in bundle.layers
                      for t in _weights(layer))
        rows = model_rows(bundle, act)
        checks = []
        for cfg in CONFIGS:
            if rtl and cfg.rtl and not (quick and cfg.name != "bcast-50.50.10"):
                checks.append(rtl_check(bundle, x[:rtl_images], cfg, sim_tool))
        figures["bundles"][name] = {"accuracy": acc, "weights_stored": stored,
                                    "weights_nonzero": nonzero, "mean_nonzero_inputs":
                                    [round(float(v), 1) for v in act.mean(axis=0)],
                                    "configs": rows, "rtl": checks}
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    return render(out, figures)


def render(out: Path, figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``out`` and its plots from ``figures`` (default: the ``figures.json`` of the
    previous run beside it), with the build records read afresh."""
    plots = out.parent / f"{out.stem}_plots"
    if figures is None:
        saved = plots / "figures.json"
        if not saved.exists():
            raise LwfcError(f"{saved} not found: run lwfc bench without --render-only first")
        figures = json.loads(saved.read_text())
    figures["builds"] = load_builds(REPO / "benchmarks" / "builds")
    plots.mkdir(parents=True, exist_ok=True)
    names = _plots(figures, plots)
    out.write_text(_markdown(figures, {k: f"{plots.name}/{v}" for k, v in names.items()}))
    (plots / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def _weights(layer: Any) -> list[np.ndarray]:
    if layer.kind == "dense":
        return [layer.weight]
    return [layer.u, layer.v]


def _plots(fig: dict[str, Any], folder: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {}
    # cycles per image vs multipliers, input bound drawn
    f, ax = plt.subplots(figsize=(6.4, 4.2))
    bound = None
    for name, b in fig["bundles"].items():
        for flow, marker in (("dot", "o"), ("bcast", "s")):
            rows = [r for r in b["configs"] if r["config"].startswith(flow)]
            ax.plot([r["multipliers"] for r in rows], [r["mean_interval"] for r in rows],
                    marker=marker, label=f"{name} {flow}")
            bound = rows[0]["input_bound"] if rows else bound
    if bound:
        ax.axhline(bound, color="k", ls="--", lw=1, label=f"input bound ({bound} beats)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lane multipliers")
    ax.set_ylabel("mean cycles per image (streaming)")
    ax.set_title("cycles per image vs lanes (cycle model, MNIST test images)")
    ax.legend(fontsize=7)
    f.tight_layout()
    f.savefig(folder / "cycles_vs_lanes.png", dpi=110)
    plt.close(f)
    names["cycles"] = "cycles_vs_lanes.png"
    # images/s vs LUTs (builds) with the published anchors as lines
    f, ax = plt.subplots(figsize=(6.4, 4.2))
    for rec in fig["builds"]:
        if rec.get("luts") and rec.get("images_per_s"):
            ax.scatter(rec["luts"], rec["images_per_s"], label=rec.get("label", rec["record"]))
    for name, ips, _acc, _src in ANCHORS:
        ax.axhline(ips, ls=":", lw=1, color="gray")
        ax.text(ax.get_xlim()[0], ips, f" {name} (published)", fontsize=6, va="bottom")
    ax.set_xlabel("LUTs (build)")
    ax.set_ylabel("images/s (simulated cycles x achieved clock)")
    ax.set_title("throughput vs LUTs")
    if fig["builds"]:
        ax.legend(fontsize=7)
    f.tight_layout()
    f.savefig(folder / "fps_vs_luts.png", dpi=110)
    plt.close(f)
    names["fps"] = "fps_vs_luts.png"
    # accuracy vs weights removed
    f, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, b in fig["bundles"].items():
        dense_w = fig["bundles"]["mnist-dense"]["weights_stored"]
        removed = 1 - b["weights_nonzero"] / dense_w
        ax.scatter(100 * removed, 100 * b["accuracy"], label=name)
    for name, _ips, acc, _src in ANCHORS[:2]:
        ax.axhline(100 * acc, ls=":", lw=1, color="gray")
        ax.text(0, 100 * acc, f" {name} (published)", fontsize=6, va="bottom")
    ax.set_xlabel("weights removed vs mnist-dense (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy vs weights removed")
    ax.legend(fontsize=7)
    f.tight_layout()
    f.savefig(folder / "accuracy_vs_removed.png", dpi=110)
    plt.close(f)
    names["accuracy"] = "accuracy_vs_removed.png"
    return names


def _markdown(fig: dict[str, Any], plots: dict[str, str]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Regenerated by `lwfc bench` (" + ("`--quick`: " if fig["quick"] else "")
        + f"{fig['images']:,} MNIST test images for the cycle model; this run took "
        f"{fig['seconds']} s). Cycle counts are the exact cycle model of `lwfc_hw.cycles`, "
        "checked against the RTL (the RTL table below, and the test suite); images/s are the "
        f"core's own figures, {CLOCK_MHZ:g} MHz / mean cycles per image (simulated cycles x a "
        "clock), not on-board measurements. Published figures of other designs are marked "
        "*published* and were not measured here.",
        "",
    ]
    for name, b in fig["bundles"].items():
        lines += [
            f"## {name}",
            "",
            f"Golden-model accuracy {b['accuracy']:.4f} on the 10,000 test images; "
            f"{b['weights_nonzero']:,} nonzero of {b['weights_stored']:,} stored weights; "
            f"mean nonzero inputs per layer {b['mean_nonzero_inputs']}.",
            "",
            "| config | lane multipliers | mean cycles/image | images/s at 100 MHz | "
            "worst image: interval / latency | all-255 image: interval / latency |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in b["configs"]:
            lines.append(
                f"| {r['config']} | {r['multipliers']} | {r['mean_interval']:,} "
                f"(input bound {r['input_bound']}) | {r['images_per_s_100mhz']:,} | "
                f"#{r['worst_image']}: {r['worst_interval']:,} / {r['worst_latency']:,} | "
                f"{r['all255_interval']:,} / {r['all255_latency']:,} |")
        if not fig.get("rtl", True):
            lines += ["", "RTL checks not run in this report (`--no-rtl`); the 10,000-image "
                      "Verilator runs of these configurations are in docs/hardware.md."]
        if b["rtl"]:
            lines += ["", "RTL check (every logit and every input/output cycle):", "",
                      "| config | images | simulator | mismatches | cycles = model | "
                      "measured mean cycles/image |", "| --- | --- | --- | --- | --- | --- |"]
            for c in b["rtl"]:
                lines.append(f"| {c['config']} | {c['images']:,} | {c['simulator']} | "
                             f"{c['mismatches']} | {'yes' if c['cycles_exact'] else 'NO'} | "
                             f"{c['mean_interval']:,} |")
        lines.append("")
    lines += ["## Builds", ""]
    if fig["builds"]:
        lines += ["Each record is one build (`lwfc build --board B --json`, the configuration in "
                  "the `LWFC_LANES` / `LWFC_DATAFLOW` / `LWFC_DRAIN` environment; recorded with "
                  "`benchmarks/record_build.py`). images/s = clock / the configuration's mean "
                  "cycles per image over the 10,000 test images (cycle model).", "",
                  "| record | board | lanes / dataflow / drain | LUTs | FFs | DSPs | block RAMs "
                  "| Fmax (MHz) | mean cycles/image | images/s at Fmax | images/s at the board "
                  "clock | images/s per 1k LUTs (at the clock it meets) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | "
                  "--- | --- | --- | --- |"]
        for r in fig["builds"]:
            lines.append(f"| {r['record']} | {r.get('board', '?')} | {r.get('lanes')} / "
                         f"{r.get('dataflow')} / {r.get('drain')} | {r.get('luts', '?')} | "
                         f"{r.get('ffs', '?')} | {r.get('dsps', '?')} | {r.get('brams', '?')} | "
                         f"{r.get('fmax_mhz', '?')} | {r.get('mean_cycles_per_image', '?')} | "
                         f"{r.get('images_per_s', '?'):,} | "
                         + (f"{r.get('images_per_s_board_clock', 0):,} "
                            f"({r.get('board_clock_mhz', '?')} MHz) | "
                            if r.get("timing_met", True) else
                            f"timing not met at {r.get('board_clock_mhz', '?')} MHz | ") +
                         f"{r.get('images_per_s_per_kilolut', '?')} |")
    else:
        lines.append("No build records in `benchmarks/builds/`.")
    lines += ["", "## Published anchors (not measured here)", "",
              "| design | images/s | accuracy | source |", "| --- | --- | --- | --- |"]
    for name, ips, acc, src in ANCHORS:
        lines.append(f"| {name} | {ips:,} | {acc:.4f} | {src} |")
    lines += ["", "## Plots", "",
              f"![cycles per image vs lanes]({plots['cycles']})", "",
              f"![images/s vs LUTs]({plots['fps']})", "",
              f"![accuracy vs weights removed]({plots['accuracy']})", ""]
    return "\n".join(lines)
