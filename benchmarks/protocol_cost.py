"""What a shipped protocol costs on 2 cores: the `# cost:` line of its file.

    python benchmarks/protocol_cost.py simsv2-small --full       # cheap: run the whole grid
    python benchmarks/protocol_cost.py simsv2-regression          # expensive: extrapolate

CPU seconds (user + system of this process, one torch/BLAS thread) are measured, not wall
time, so a loaded machine changes the figure little; "on 2 cores" is CPU time / 2, what
``mmal bench --protocol NAME --jobs 2`` needs when its cells keep both cores busy.

``--full`` runs every cell of the grid. Otherwise each (dataset, strategy) runs rounds 0 and 1
of its first seed and the rest is extrapolated: training grows linearly with the labeled count
(``train_seconds`` of round 0, scaled to CPU time, times ``n_r / n_0``), the query (round 1's
``query_seconds``) and the evaluation (the rest of a round) stay the same each round; the
full-data reference trains once on the whole pool; every seed costs what the first did.
Prints one JSON object per protocol and its cost line; ``--write`` puts that line into the
protocol's file (replacing an older one), after its ``# reproduces:`` line.

A long protocol can be measured in parts, one process per dataset label, and the parts summed:

    python benchmarks/protocol_cost.py vggsound --datasets vggsound-concat > concat.json
    python benchmarks/protocol_cost.py vggsound --datasets vggsound-nlgate > nlgate.json
    python benchmarks/protocol_cost.py vggsound --parts concat.json nlgate.json --write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def measure(name: str, full: bool, only: list[str] | None = None) -> dict:
    import torch

    from mmal.bench import build_cells, load_config
    from mmal.bench.grid import clear_cache, load_dataset, run_cell

    torch.set_num_threads(1)
    cfg = load_config(protocol=name)
    cells = [c for c in build_cells(cfg) if not only or c["dataset"]["label"] in only]
    if not full:  # one seed per (dataset, strategy), rounds 0 and 1
        first: dict = {}
        for c in cells:
            first.setdefault((c["dataset"]["label"], c["strategy"]["label"]), c)
        cells = [{**c, "rounds": min(c["rounds"], 1)} for c in first.values()]
    n_seeds = {d["label"]: len(d["seeds"]) for d in cfg["datasets"]}
    rounds = {d["label"]: (d["init"], d["budget"], d["rounds"]) for d in cfg["datasets"]}
    total, data_cpu, parts, failed = 0.0, 0.0, [], []
    for label in dict.fromkeys(c["dataset"]["label"] for c in cells):
        clear_cache()
        t0 = cpu()
        load_dataset(next(c for c in cells if c["dataset"]["label"] == label)["dataset"])
        data_cpu += cpu() - t0
        for spec in (c for c in cells if c["dataset"]["label"] == label):
            marks: list[tuple[float, float, dict]] = []
            t0, w0 = cpu(), time.time()
            run_cell(spec, [], lambda msg: marks.append((cpu(), time.time(), msg[1])) if msg[0] == "row" else None)
            rows = [m[2] for m in marks]
            if any(r["status"] != "ok" for r in rows):  # reported, not counted
                failed.append({"cell": spec["key"], "error": rows[-1].get("error")})
                print(f"{name}: cell {spec['key']} failed: {rows[-1].get('error')}", file=sys.stderr, flush=True)
                continue
            cpus = [b[0] - a for a, b in zip([t0] + [m[0] for m in marks], marks)]
            walls = [b[1] - a for a, b in zip([w0] + [m[1] for m in marks], marks)]
            if full:
                cell = sum(cpus)
            else:
                cell = extrapolate(rows, cpus, walls, *rounds[label]) * n_seeds[label]
            total += cell
            parts.append({"cell": spec["key"], "cpu_s": round(cell, 1), "measured_rounds": len(rows),
                          "round_cpu_s": [round(c, 2) for c in cpus], "round_wall_s": [round(w, 2) for w in walls]})
    total += data_cpu * 2  # each of the two workers builds the dataset once
    return {"protocol": name, "method": "full grid" if full else "extrapolated from rounds 0-1 of seed 0",
            "cpu_s": round(total, 1), "two_core_h": round(total / 2 / 3600, 3), "dataset_cpu_s": round(data_cpu, 1),
            "datasets": only or "all", "load_avg_1min": os.getloadavg()[0], "cells": parts, "failed": failed}


def extrapolate(rows: list[dict], cpus: list[float], walls: list[float], init: int, budget: int, n_rounds: int) -> float:
    """One cell's CPU seconds over all its rounds from the first one or two (see the module doc)."""
    scale = [c / w if w > 0 else 1.0 for c, w in zip(cpus, walls)]  # CPU per wall second in that round
    train0 = rows[0]["train_seconds"] * scale[0]
    other0 = cpus[0] - train0 - rows[0]["query_seconds"] * scale[0]
    n0 = rows[0]["n_labeled"]
    if len(rows) == 1:  # the full-data reference (one round), or a grid of rounds = 0
        return cpus[0]
    query = rows[1]["query_seconds"] * scale[1]
    labeled = [min(init + r * budget, rows[0]["pool_size"]) for r in range(n_rounds + 1)]
    return sum(train0 * n / n0 + other0 for n in labeled) + n_rounds * query


def summed(name: str, files: list[str]) -> dict:
    """The cost of protocol ``name`` from the JSON outputs of its ``--datasets`` parts."""
    parts = [json.loads(line) for f in files for line in open(f).read().splitlines() if line.startswith("{")]
    labels = [lab for m in parts for lab in (m["datasets"] if isinstance(m["datasets"], list) else [m["datasets"]])]
    if any(m["protocol"] != name for m in parts) or len(set(labels)) != len(labels):
        raise SystemExit(f"--parts: each file must be a part of {name!r} measured with its own --datasets")
    methods = {m["method"] for m in parts}
    if len(methods) != 1:
        raise SystemExit(f"--parts: the parts were measured differently: {sorted(methods)}")
    cpu_s = round(sum(m["cpu_s"] for m in parts), 1)
    return {"protocol": name, "method": methods.pop(), "cpu_s": cpu_s, "two_core_h": round(cpu_s / 2 / 3600, 3),
            "datasets": labels, "parts": files}


def cost_line(m: dict, full: bool) -> str:
    s = m["cpu_s"] / 2
    amount = f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"
    how = "the whole grid measured" if full else "extrapolated from rounds 0-1 of seed 0 per strategy"
    return f"# cost: ~{amount} on 2 cores (--jobs 2; {m['cpu_s'] / 3600:.2f} CPU-h; {how}, benchmarks/protocol_cost.py)"


def write(name: str, line: str) -> None:
    """Put ``line`` in protocol ``name``'s leading comments (in the source tree of an editable install)."""
    from mmal import protocols

    path = protocols.path(name)
    lines = [ln for ln in path.read_text().splitlines(keepends=True) if not ln.startswith("# cost:")]
    head = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), len(lines))
    at = next((i + 1 for i, ln in enumerate(lines[:head]) if ln.startswith("# reproduces:")), head)
    path.write_text("".join(lines[:at] + [line + "\n"] + lines[at:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("protocols", nargs="+")
    p.add_argument("--full", action="store_true", help="run the whole grid instead of extrapolating")
    p.add_argument("--write", action="store_true", help="write the cost line into the protocol's file")
    p.add_argument("--datasets", help="comma-separated dataset labels: measure only these (the cost is theirs alone)")
    p.add_argument("--parts", nargs="+", metavar="JSON", help="sum earlier outputs (--datasets parts of ONE protocol) instead of measuring")
    args = p.parse_args(argv)
    if args.parts and len(args.protocols) != 1:
        p.error("--parts sums the parts of one protocol")
    for name in args.protocols:
        m = summed(name, args.parts) if args.parts else measure(name, args.full, args.datasets.split(",") if args.datasets else None)
        print(json.dumps(m), flush=True)
        full = m["method"] == "full grid"
        print(cost_line(m, full), file=sys.stderr, flush=True)
        if args.write:
            write(name, cost_line(m, full))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
