"""Running a grid in-process: what a row carries, resuming, and a failing cell."""

import json
import shutil

import numpy as np
import pytest

import mmal
from mmal.bench import config_hash, run_bench, versions
from mmal.bench.store import read_rows

from benchutil import normalized, tiny_config


def run(cfg, out, **kw):
    return run_bench(cfg, out, progress="none", report=kw.pop("report", False), **kw)


def test_rows_carry_the_round_and_its_measurements(tmp_path):
    cfg = tiny_config(full_data=True)
    result = run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run" / "results.jsonl")
    assert result.failed == [] and result.cells == 4 and all(r["status"] == "ok" for r in rows)
    assert {r["config_hash"] for r in rows} == {config_hash(cfg)}
    assert rows[0]["versions"] == versions() and "numpy" in rows[0]["versions"]
    full = [r for r in rows if r["strategy"] == "full-data"]
    assert [(r["seed"], r["n_labeled"], r["round"]) for r in full] == [(0, 60, 0), (1, 60, 0)]
    for seed in (0, 1):
        mine = [r for r in rows if r["strategy"] == "random" and r["seed"] == seed]
        assert [r["round"] for r in mine] == [0, 1, 2]
        assert [r["n_labeled"] for r in mine] == [10, 15, 20] == [r["labels_spent"] for r in mine]
        assert [len(r["selected_ids"]) for r in mine] == [10, 5, 5]
        picked = [i for r in mine for i in r["selected_ids"]]
        assert len(set(picked)) == 20
        for r in mine:
            assert r["cell"] == f"toy/random/{seed}" and r["dataset_name"] == "toy" and r["task_model"] == "linear"
            assert 0 <= r["metrics"]["acc"] <= 1 and "f1_weighted" in r["metrics"] and r["modality_metrics"] == {}
            assert set(r["contributions"]) == {"m0", "m1"} and np.isclose(sum(r["contributions"].values()), 1.0)
            assert r["query_seconds"] >= 0 and r["train_seconds"] > 0 and r["selection_contributions"] is None
    # the two seeds start from different random pools, every strategy of one seed from the same
    assert mine[0]["selected_ids"] != rows[[r["seed"] for r in rows].index(0) + 1]["selected_ids"]


def test_same_seed_gives_identical_rows_across_runs(tmp_path):
    cfg = tiny_config()
    run(cfg, tmp_path / "a")
    run(cfg, tmp_path / "b")
    assert normalized(tmp_path / "a") == normalized(tmp_path / "b")


@pytest.mark.parametrize("keep", [1, 4])
def test_resume_keeps_finished_rounds_and_matches_an_uninterrupted_run(tmp_path, keep):
    cfg = tiny_config()
    run(cfg, tmp_path / "full")
    lines = (tmp_path / "full" / "results.jsonl").read_text().splitlines(keepends=True)
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(tmp_path / "full" / "config.json", part / "config.json")
    kept = "".join(lines[:keep])
    (part / "results.jsonl").write_text(kept + lines[keep][: len(lines[keep]) // 2])  # a torn write
    result = run(cfg, part, resume=True)
    after = (part / "results.jsonl").read_text()
    assert after.startswith(kept)  # finished rounds untouched, nothing redone before them
    rows = read_rows(part / "results.jsonl")
    assert len({(r["cell"], r["round"]) for r in rows}) == len(rows) == 6
    assert normalized(part) == normalized(tmp_path / "full")
    assert result.skipped == (1 if keep >= 3 else 0)


def test_resuming_a_finished_run_adds_nothing(tmp_path):
    cfg = tiny_config()
    run(cfg, tmp_path)
    before = (tmp_path / "results.jsonl").read_bytes()
    result = run(cfg, tmp_path, resume=True)
    assert result.skipped == 2 and (tmp_path / "results.jsonl").read_bytes() == before


def test_forced_resume_with_more_rounds_continues_each_cell(tmp_path):
    run(tiny_config(), tmp_path / "a")
    with pytest.raises(mmal.MMALError, match="--force"):
        run(tiny_config(rounds=3), tmp_path / "a", resume=True)
    run(tiny_config(rounds=3), tmp_path / "a", resume=True, force=True)
    run(tiny_config(rounds=3), tmp_path / "b")
    rows = read_rows(tmp_path / "a" / "results.jsonl")
    assert [r["config_hash"] for r in rows] == [config_hash(tiny_config())] * 6 + [config_hash(tiny_config(rounds=3))] * 2
    assert normalized(tmp_path / "a", drop=("config_hash",)) == normalized(tmp_path / "b", drop=("config_hash",))


class Boom(mmal.Strategy):
    """Random, but raises on round 2 (a plugin with a bug)."""

    def query(self, model, pool, budget, *, rng, round):
        if round == 2:
            raise RuntimeError("boom in select")
        return mmal.Selection(rng.choice(pool.unlabeled_positions(), size=budget, replace=False))


class Balanced(mmal.Strategy):
    """Random, and it reports per-sample modality contributions in Selection.info."""

    def query(self, model, pool, budget, *, rng, round):
        pos = rng.choice(pool.unlabeled_positions(), size=budget, replace=False)
        share = np.linspace(0.2, 0.6, budget)
        return mmal.Selection(pos, info={"contributions": {"m0": share, "m1": 1 - share}})


class TestPlugin:
    @mmal.hookimpl
    def register_strategies(self, register):
        register("boom", Boom, summary="raises in select on round 2")
        register("balanced", Balanced, summary="reports contributions")


def test_a_strategy_that_raises_fails_its_cell_and_the_grid_goes_on(tmp_path, plugins_with):
    plugins_with(TestPlugin(), "test-bench-plugins")
    cfg = tiny_config(strategies=["boom", "random", "balanced"])
    result = run(cfg, tmp_path, report=True)
    assert sorted(result.failed) == ["toy/boom/0", "toy/boom/1"]
    rows = read_rows(tmp_path / "results.jsonl")
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 2 and all(r["round"] == 2 and "RuntimeError: boom in select" in r["traceback"] for r in failed)
    assert all(r["error"] == "RuntimeError: boom in select" for r in failed)
    ok = {(r["strategy"], r["seed"]): r["round"] for r in rows if r["status"] == "ok"}
    assert ok == {("boom", 0): 1, ("boom", 1): 1, ("random", 0): 2, ("random", 1): 2, ("balanced", 0): 2, ("balanced", 1): 2}
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Failed cells (2)" in report and "toy/boom/0" in report
    assert "boom in select" in (tmp_path / "report" / "failures.md").read_text()
    assert [f["cell"] for f in result.report.numbers["failures"]] == ["toy/boom/0", "toy/boom/1"]
    # the strategy's own contributions are kept per round and drawn
    bal = [r for r in rows if r["strategy"] == "balanced" and r["status"] == "ok" and r["round"] >= 1]
    assert all(np.isclose(r["selection_contributions"]["m0"], 0.4) for r in bal)
    assert (tmp_path / "report" / "selection_contributions_toy.png").exists()
    # a resume retries the failed cells from their finished rounds (rounds 0-1 are not redone)
    again = run(cfg, tmp_path, resume=True)
    rows2 = read_rows(tmp_path / "results.jsonl")
    assert again.skipped == 4 and sorted(again.failed) == ["toy/boom/0", "toy/boom/1"]
    assert len(rows2) == len(rows) + 2 and all(r["status"] == "failed" for r in rows2[len(rows):])
