import numpy as np
import pytest

import mmal
from mmal.loop import LoopState


def strip(records):
    return [{k: v for k, v in r.__dict__.items() if not k.endswith("seconds")} for r in records]


def run(ds, state=None, on_round=None, seed=3, rounds=3):
    return mmal.run_loop(ds, mmal.strategies.get("random"), lambda: mmal.task_models.get("linear"),
                         init=12, budget=7, rounds=rounds, seed=seed, state=state, on_round=on_round)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_loop_records_each_round(task):
    ds = mmal.datasets.get("toy", size=60, seed=0, task=task)
    recs = run(ds)
    assert [r.round for r in recs] == [0, 1, 2, 3]
    assert [r.n_labeled for r in recs] == [12, 19, 26, 33]
    assert [r.labels_spent for r in recs] == [12, 19, 26, 33]
    assert all(len(r.selected_ids) == (12 if r.round == 0 else 7) for r in recs)
    ids = [i for r in recs for i in r.selected_ids]
    assert len(set(ids)) == len(ids)  # never the same sample twice
    assert ("acc" if task == "classification" else "mae") in recs[-1].metrics
    assert ds.train.n_labeled == 0  # the dataset's pool is not mutated


def test_same_initial_pool_for_every_strategy_and_seeded():
    ds = mmal.datasets.get("toy", size=60, seed=0)
    a = run(ds)[0].selected_ids
    other = mmal.run_loop(ds, mmal.strategies.get("random"), lambda: mmal.task_models.get("linear"), init=12, budget=7,
                          rounds=0, seed=3)
    assert other[0].selected_ids == a
    assert run(ds, seed=4)[0].selected_ids != a


def test_resume_from_saved_state_matches_uninterrupted(tmp_path):
    ds = mmal.datasets.get("toy", size=60, seed=0)
    full = run(ds)
    saved = {}

    def keep(record, state):
        if record.round == 1:
            state.save(tmp_path / "state.json")
            saved["ok"] = True

    run(ds, on_round=keep, rounds=1)
    assert saved
    state = LoopState.load(tmp_path / "state.json")
    assert state.round == 1 and len(state.labeled_ids) == 19
    resumed = run(ds, state=state)
    assert strip(resumed) == strip(full)


def test_labels_all_run_out():
    ds = mmal.datasets.get("toy", size=20, seed=0)
    with pytest.warns(UserWarning, match="larger than the 3 unlabeled"):
        recs = mmal.run_loop(ds, mmal.strategies.get("random"), lambda: mmal.task_models.get("linear"),
                             init=12, budget=5, rounds=5, seed=0)
    assert recs[-1].n_labeled == 20 and len(recs) == 3  # 12 -> 17 -> 20 (warned), then stop


def test_state_for_other_seed_is_refused():
    ds = mmal.datasets.get("toy", size=30, seed=0)
    state = LoopState(seed=9, strategy="random", labeled_ids=[], labels={}, history=[])
    with pytest.raises(ValueError, match="seed 9"):
        run(ds, state=state)
