"""The ``mmal`` command: ``list``, ``bench`` and ``query``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import MMALError


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _kv(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON when they can be (numbers, bools, lists)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise MMALError(f"expected key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from .plugins import KINDS, default

    plugins = default()
    listing: dict[str, Any] = {}
    for kind in KINDS:
        listing[kind] = [
            {"name": e.name, "plugin": e.plugin, "dist": e.dist, "version": e.version, "summary": e.summary, **e.meta}
            for e in plugins.entries(kind).values()
        ]
    listing["broken"] = plugins.broken()
    listing["conflicts"] = {k: plugins.conflicts(k) for k in KINDS if plugins.conflicts(k)}
    if args.json:
        print(json.dumps(listing, indent=2, default=str))
    else:
        titles = {"strategy": "Strategies", "task_model": "Task models", "dataset": "Datasets"}
        for kind in KINDS:
            print(f"{titles[kind]}:")
            for e in sorted(listing[kind], key=lambda e: e["name"]):
                src = f"{e['plugin']} ({e['dist']} {e['version']})" if e["dist"] else e["plugin"]
                extra = "; ".join(f"{k}: {e[k]}" for k in ("tasks", "requires", "capabilities") if e.get(k))
                print(f"  {e['name']:<22} {src:<34} {e['summary']}" + (f" [{extra}]" if extra else ""))
        for name, err in listing["broken"].items():
            print(f"BROKEN plugin {name!r}: {err}")
        for kind, conf in listing["conflicts"].items():
            for name, who in conf.items():
                print(f"CONFLICT: {kind} {name!r} registered by {who}")
    return 1 if listing["conflicts"] else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, run_bench, summary_table

    config = BenchConfig(
        strategies=_csv(args.strategies), dataset=args.dataset, size=args.size,
        seeds=[int(s) for s in _csv(args.seeds)], rounds=args.rounds, init=args.init, budget=args.budget,
        task_model=args.task_model, dataset_args=_kv(args.dataset_arg), model_args=_kv(args.model_arg),
    )
    out = Path(args.out)
    if (out / "results.jsonl").exists():
        raise MMALError(f"{out / 'results.jsonl'} exists; choose another --out")
    rows = run_bench(config, out)
    table = summary_table(rows)
    (out / "summary.md").write_text(table + "\n")
    print(table)
    print(f"\nresults: {out / 'results.jsonl'}")
    return 0


def _read_labels(path: Path, heads: Sequence[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "id" not in rows[0]:
        raise MMALError(f"{path}: the label file needs an 'id' column and one column per head (e.g. M)")
    ids = [r["id"] for r in rows]
    labels = {h: np.array([float(r[h]) if r.get(h, "") != "" else np.nan for r in rows]) for h in heads if rows and h in rows[0]}
    return ids, labels


def cmd_query(args: argparse.Namespace) -> int:
    from .io import atomic_write_text
    from .plugins import strategies, task_models
    from .pool import Pool, Task
    from .rng import derive_rng

    try:
        data = np.load(args.features, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MMALError(f"cannot read feature file {args.features}: {exc}") from exc
    if "ids" not in data:
        raise MMALError(f"{args.features}: the feature file needs an 'ids' array and one array per modality")
    ids = data["ids"].astype(str)
    mods = {k: data[k] for k in data.files if k != "ids" and not k.endswith("__lengths")}
    lengths = {k[: -len("__lengths")]: data[k] for k in data.files if k.endswith("__lengths")}
    if args.task == "classification":
        task = Task("classification", n_classes=args.n_classes)
    else:
        task = Task("regression", label_range=tuple(float(x) for x in _csv(args.label_range)) if args.label_range else None)
    pool = Pool(mods, task, ids=ids, lengths=lengths)
    if args.labels:
        lab_ids, labels = _read_labels(Path(args.labels), task.heads)
        if lab_ids:
            pool.label(np.asarray(lab_ids), labels)
    strategy = strategies.get(args.strategy)
    model = None
    if args.task_model:
        model = task_models.get(args.task_model).fit(pool, seed=args.seed)
    elif strategy.requires:
        raise MMALError(f"strategy {args.strategy!r} needs a task model with {sorted(strategy.requires)}: pass --task-model")
    sel = strategy.select(model, pool, args.budget, rng=derive_rng(args.seed, args.round, args.strategy), round=args.round)
    chosen = sel.ids(pool)
    text = "\n".join(str(i) for i in chosen) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {len(chosen)} ids to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmal", description="Active learning for multimodal data.")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="strategies, task models and datasets, with the plugin each comes from")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    b = sub.add_parser("bench", help="run strategies x seeds on a dataset and compare them")
    b.add_argument("--strategies", default="random", help="comma-separated strategy names")
    b.add_argument("--dataset", default="toy")
    b.add_argument("--size", default="tiny")
    b.add_argument("--seeds", default="0,1")
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--init", type=int, default=20)
    b.add_argument("--budget", type=int, default=10)
    b.add_argument("--task-model", default=None, help="default: the dataset's own")
    b.add_argument("--dataset-arg", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--out", default="runs/bench")
    b.set_defaults(func=cmd_bench)

    q = sub.add_parser("query", help="which samples to annotate next")
    q.add_argument("--features", required=True, help=".npz with 'ids' and one array per modality (NAME__lengths optional)")
    q.add_argument("--labels", help="CSV with an 'id' column and one column per head (M, T, A, V)")
    q.add_argument("--strategy", required=True)
    q.add_argument("--budget", type=int, required=True)
    q.add_argument("--task", choices=("classification", "regression"), default="regression")
    q.add_argument("--n-classes", type=int)
    q.add_argument("--label-range", help="lo,hi for regression labels")
    q.add_argument("--task-model")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--round", type=int, default=1, help="the AL round (strategies with a curriculum use it)")
    q.add_argument("--out", help="write the ids here (atomically) instead of printing them")
    q.set_defaults(func=cmd_query)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MMALError as exc:
        print(f"mmal: error: {exc}", file=sys.stderr)
        return 2
