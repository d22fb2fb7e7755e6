"""Nothing lost (issue 10): the AL state saves and loads, a loop resumed from it selects exactly
what the uninterrupted loop would (for strategies with state across rounds and a learning
model, not only ``random``), and state / output files are written atomically.

Covered elsewhere: random resume (tests/test_loop.py), SIGKILL of a bench
(tests/reliability/test_bench_kill_resume.py), ``mmal query --out`` (tests/test_cli.py).
"""

import json
import os

import pytest

import mmal
from mmal.io import atomic_write_text
from mmal.loop import LoopState
from mmal.nn.toy import as_dataset, sims_like_pool
from reliability_fakes import LinearNet, make_strategy


def strip(records):
    return [{k: v for k, v in r.__dict__.items() if not k.endswith("seconds") and k != "info"}
            | {"info": {k: v for k, v in r.info.items() if k != "seconds"}} for r in records]


def sims_dataset():
    """Four heads (M, T, A, V; T missing for every third sample), three sequence modalities."""
    return as_dataset(sims_like_pool(40, kind="regression", n_labeled=40, seed=3), n_train=28)


CASES = {
    # GRACE's curriculum alpha depends on the round; LinearNet learns from the labels.
    "grace": (sims_dataset, lambda: LinearNet()),
    # CoreSet's k-center depends on the labeled set; the registered linear model.
    "coreset": (lambda: mmal.datasets.get("toy", size=40, seed=1), lambda: mmal.task_models.get("linear")),
    # BMMAL: Shapley weights + k-means++ drawing from the round's rng.
    "bmmal": (lambda: mmal.datasets.get("toy", size=40, seed=2), lambda: LinearNet()),
}


def run(name, state=None, rounds=4, on_round=None):
    make_ds, factory = CASES[name]
    return mmal.run_loop(make_ds(), make_strategy(name), factory, init=6, budget=4, rounds=rounds, seed=7,
                         state=state, on_round=on_round)


@pytest.mark.parametrize("name", sorted(CASES))
def test_resume_from_every_round_selects_what_the_uninterrupted_loop_selects(name, tmp_path):
    full = run(name)
    assert len(full) == 5 and len({i for r in full for i in r.selected_ids}) == 6 + 4 * 4
    states = {}
    run(name, rounds=2, on_round=lambda rec, st: st.save(tmp_path / f"state{rec.round}.json") or states.setdefault(rec.round, st))
    for r in (0, 1, 2):
        loaded = LoopState.load(tmp_path / f"state{r}.json")
        assert loaded.round == r and loaded == states[r]  # saves and loads exactly
        resumed = run(name, state=loaded)
        assert strip(resumed) == strip(full), f"{name}: resumed from round {r} differs"


def test_state_keeps_every_head_label_and_missing_ones(tmp_path):
    seen = []
    run("grace", rounds=1, on_round=lambda rec, st: seen.append(st))
    state = seen[-1]
    state.save(tmp_path / "s.json")
    raw = json.loads((tmp_path / "s.json").read_text())
    assert set(raw) == {"seed", "strategy", "labeled_ids", "labels", "history"}
    assert set(raw["labels"]) == {"M", "T", "A", "V"} and len(raw["labeled_ids"]) == 10
    assert None in raw["labels"]["T"]  # a missing unimodal label stays missing, not 0 or NaN
    assert [h["round"] for h in raw["history"]] == [0, 1] and len(raw["history"][1]["selected_ids"]) == 4
    assert LoopState.load(tmp_path / "s.json") == state


def test_a_state_for_another_strategy_or_with_unknown_ids_is_refused(tmp_path):
    seen = []
    run("coreset", rounds=0, on_round=lambda rec, st: seen.append(st))
    state = seen[-1]
    with pytest.raises(ValueError, match="strategy 'coreset'"):
        mmal.run_loop(mmal.datasets.get("toy", size=40, seed=1), make_strategy("random"), CASES["coreset"][1],
                      init=6, budget=4, rounds=1, seed=7, state=state)
    state.labeled_ids[0] = "not-an-id"
    with pytest.raises(mmal.PoolError, match="unknown id 'not-an-id'"):
        run("coreset", state=state)


def test_atomic_write_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    atomic_write_text(path, "old")

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new" * 1000)
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary file left behind


def test_loop_state_save_is_atomic(tmp_path, monkeypatch):
    seen = []
    run("coreset", rounds=1, on_round=lambda rec, st: seen.append(st))
    seen[0].save(tmp_path / "state.json")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("power cut")))
    with pytest.raises(OSError, match="power cut"):
        seen[1].save(tmp_path / "state.json")
    monkeypatch.undo()
    assert LoopState.load(tmp_path / "state.json") == seen[0]
    assert os.listdir(tmp_path) == ["state.json"]
