"""The results store: torn last lines, damaged stores, config checks and the run lock."""

import json

import pytest

from mmal.bench.store import RunDir, StoreError, read_rows

from benchutil import tiny_config


def write(path, text):
    path.write_bytes(text.encode())


def test_a_torn_last_line_is_dropped_and_cut_on_repair(tmp_path):
    store = tmp_path / "results.jsonl"
    good = '{"a": 1}\n{"a": 2}\n'
    write(store, good + '{"a": 3, "b": [1, 2')
    assert read_rows(store) == [{"a": 1}, {"a": 2}]
    assert store.read_bytes().endswith(b"[1, 2")  # reading alone never changes the file
    assert read_rows(store, repair=True) == [{"a": 1}, {"a": 2}]
    assert store.read_text() == good
    assert (tmp_path / "results.jsonl.torn").read_text() == '{"a": 3, "b": [1, 2\n'


def test_a_garbage_last_line_is_dropped_but_garbage_inside_is_an_error(tmp_path):
    store = tmp_path / "results.jsonl"
    write(store, '{"a": 1}\n{"a": \n')
    assert read_rows(store, repair=True) == [{"a": 1}] and store.read_text() == '{"a": 1}\n'
    write(store, '{"a": 1}\n{"a": \n{"a": 3}\n')
    with pytest.raises(StoreError, match="line 2 is not valid JSON"):
        read_rows(store)


def test_appends_after_a_repair_give_clean_jsonl(tmp_path):
    run = RunDir(tmp_path / "run")
    cfg = tiny_config()
    run.open(cfg, resume=False, force=False)
    run.append({"status": "ok", "x": 1})
    run.close()
    with open(run.results, "ab") as f:
        f.write(b'{"status": "ok", "x": 2')  # a SIGKILL in the middle of a write
    rows = run.open(cfg, resume=True, force=False)
    run.append({"status": "ok", "x": 3})
    run.close()
    assert rows == [{"status": "ok", "x": 1}]
    assert [json.loads(line) for line in run.results.read_text().splitlines()] == [{"status": "ok", "x": 1}, {"status": "ok", "x": 3}]


def test_existing_results_need_resume_and_the_same_config_or_force(tmp_path):
    cfg = tiny_config()
    run = RunDir(tmp_path)
    run.open(cfg, resume=False, force=False)
    run.append({"status": "ok"})
    run.close()
    with pytest.raises(StoreError, match="pass --resume"):
        RunDir(tmp_path).open(cfg, resume=False, force=False)
    other = tiny_config(rounds=3)
    with pytest.raises(StoreError, match="--force") as err:
        RunDir(tmp_path).open(other, resume=True, force=False)
    assert "written by config" in str(err.value)
    again = RunDir(tmp_path)
    assert again.open(other, resume=True, force=True) == [{"status": "ok"}]
    again.close()
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["config"] == other and [h["forced"] for h in record["history"]] == [False, True]


def test_two_benches_cannot_write_one_store(tmp_path):
    cfg = tiny_config()
    first = RunDir(tmp_path)
    first.open(cfg, resume=False, force=False)
    with pytest.raises(StoreError, match="another mmal bench is writing"):
        RunDir(tmp_path).open(cfg, resume=True, force=False)
    first.close()
    second = RunDir(tmp_path)
    second.open(cfg, resume=True, force=False)
    second.close()
