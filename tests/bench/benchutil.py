"""Helpers of the bench tests: tiny grids on the toy dataset."""

import json

from mmal.bench.config import validate
from mmal.bench.store import read_rows, strip_timings


def tiny_raw(**kw):
    """60 training samples, 2 seeds, 2 rounds of 5 after 10 random: seconds to run."""
    raw = {"name": "tiny", "seeds": [0, 1], "init": 10, "budget": 5, "rounds": 2,
           "datasets": [{"name": "toy", "size": 60}], "strategies": ["random"]}
    raw.update(kw)
    return raw


def tiny_config(**kw):
    return validate(tiny_raw(**kw))


def normalized(run_dir, drop=()):
    """The results store without wall-clock fields (and ``drop``), as sorted JSON strings."""
    rows = [{k: v for k, v in strip_timings(r).items() if k not in drop} for r in read_rows(run_dir / "results.jsonl")]
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


