"""Algorithm 1 search: grid, result store, resume, and the Ray path with 2 local workers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import random_bundle, require_tool
from lwfc import golden
from lwfc.bundle import load_bundle
from lwfc.data import load_dataset
from lwfc.experiments import search as S
from lwfc.qat import QNet, net_to_dict

TINY = replace(
    S.GRIDS["smoke"],
    name="tiny",
    prune_methods=("l1",),
    prune_ratios=(0.3, 0.6),
    lra_locs=(2,),
    lra_steps=5,
    base_epochs=0.05,
    train_limit=600,
    test_limit=200,
)


@pytest.fixture(scope="module")
def source() -> dict:
    return net_to_dict(QNet.from_bundle(random_bundle(3)))


def test_paper_grid_has_the_paper_sizes() -> None:
    g = S.GRIDS["paper"]
    assert len(g.bases()) == 10
    kinds = [t["kind"] for t in g.trials()]
    assert kinds.count("prune") == 10 * 5 * 13
    assert kinds.count("lra") == 10 * 14 * 3 * 25
    assert g.prune_ratios[0] == 0.1 and g.prune_ratios[-1] == 0.7
    ids = {S.trial_id(t) for t in g.trials()}
    assert len(ids) == len(g.trials())  # every trial has its own key
    small = S.GRIDS["small"]
    assert len(small.trials()) == 6 * (5 * 7 + 3 * 3 * 5)


def test_result_store_skips_torn_lines(tmp_path: Path) -> None:
    store = S.ResultStore(tmp_path / "r.jsonl")
    store.append({"id": "a", "status": "ok"})
    with store.path.open("a") as fh:
        fh.write('{"id": "b", "stat')  # a write cut short by a crash
    store.append({"id": "c", "status": "ok"})
    store.append({"id": "d", "status": "failed"})
    assert [r["id"] for r in store.records()] == ["a", "c", "d"]
    assert store.done() == {"a", "c"}


def test_search_resumes_and_skips_finished_trials(tmp_path: Path, source: dict, data_dir) -> None:
    out = tmp_path / "s"
    first = S.run_search(
        TINY, out, source_state=source, data_dir=data_dir, workers=0, max_trials=2, log=print
    )
    assert first.finished == 2
    lines = (out / S.RESULTS).read_text().splitlines()
    assert len(lines) == 1 + 2  # the base and two trials
    second = S.run_search(TINY, out, source_state=source, data_dir=data_dir, workers=0, log=print)
    total = len(TINY.trials())
    assert second.finished == total - 2
    assert second.skipped == 1 + 2  # the base and the first two trials were not redone
    recs = [json.loads(x) for x in (out / S.RESULTS).read_text().splitlines()]
    assert len({r["id"] for r in recs}) == len(recs) == 1 + total
    third = S.run_search(TINY, out, source_state=source, data_dir=data_dir, workers=0, log=print)
    assert third.finished == 0
    best = load_bundle(out / S.BEST)
    assert best.metrics["int8_accuracy"] == pytest.approx(third.best["accuracy"])
    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    n = TINY.test_limit
    expect = np.mean(golden.predict(best, images[:n]) == labels[:n])
    assert third.best["accuracy"] == pytest.approx(expect, abs=1e-6)
    assert best.weights_nonzero == third.best["weights_nonzero"]
    for r in recs[1:]:
        assert 0 <= r["accuracy"] <= 1 and r["weights_nonzero"] < 45_200
        assert {"bram_bytes", "cycles", "escore", "escore_net"} <= set(r)
    runs = (out / S.RUNS).read_text().splitlines()
    assert len(runs) == 3


def test_ray_path_with_two_local_workers(tmp_path: Path, source: dict, data_dir) -> None:
    require_tool("ray")
    out = tmp_path / "ray"
    res = S.run_search(TINY, out, source_state=source, data_dir=data_dir, workers=2, log=print)
    assert res.failed == 0 and res.finished == len(TINY.trials())
    recs = [json.loads(x) for x in (out / S.RESULTS).read_text().splitlines()]
    pids = {r["pid"] for r in recs if r["kind"] != "base"}
    assert all(isinstance(p, int) for p in pids)
    # inline and Ray give the same numbers for the same trial (deterministic trials)
    inline = S.run_search(
        TINY, tmp_path / "inline", source_state=source, data_dir=data_dir, workers=0, log=print
    )
    acc_ray = {r["id"]: r["accuracy"] for r in recs if r["kind"] != "base"}
    acc_inline = {r["id"]: r["accuracy"] for r in inline.records if r["kind"] != "base"}
    assert acc_ray == acc_inline


def test_table1_seed_runs_every_variant(data_dir) -> None:
    from lwfc.experiments.table1 import VARIANTS, run_seed

    recs = run_seed(
        0, str(data_dir), "mnist", 1, 5.0, (1e-4,), 1, 0.9, 4.0, train_limit=1500, test_limit=300
    )
    assert [r["variant"] for r in recs] == list(VARIANTS)
    assert len({r["id"] for r in recs}) == len(recs)
    for r in recs:  # one epoch on 1,500 images: the numbers only have to be real accuracies
        assert 0.0 <= r["int8_accuracy"] <= 1.0
    assert (
        recs[2]["protocol"] == recs[4]["protocol"] == "qat_lr=0.0001,qat_epochs=1,alpha=0.9,tau=4"
    )
    assert 0.5 < recs[-1]["teacher_float_accuracy"] <= 1.0  # the MLP teacher does learn
    assert abs(recs[-1]["teacher_int8_accuracy"] - recs[-1]["teacher_float_accuracy"]) < 0.05
