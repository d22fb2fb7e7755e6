"""The ``mmal`` command: ``list``, ``bench``, ``report`` and ``query``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import protocols
from .errors import ConfigError, MMALError


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


def _bench_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides, then the convenience flags as overrides (so the flags win)."""
    out = list(args.set)
    if args.seeds is not None:
        out += [f"seeds=[{','.join(_csv(args.seeds))}]", f"datasets.*.seeds=[{','.join(_csv(args.seeds))}]"]
    for key in ("rounds", "init", "budget"):
        value = getattr(args, key)
        if value is not None:
            out += [f"{key}={value}", f"datasets.*.{key}={value}"]
    if args.size is not None:
        out.append(f"datasets.*.size={json.dumps(args.size) if not args.size.isdigit() else args.size}")
    if args.task_model is not None:
        out.append(f"datasets.*.task_model={json.dumps(args.task_model)}")
    for key, value in _kv(args.dataset_arg).items():
        out.append(f"datasets.*.args.{key}={json.dumps(value)}")
    for key, value in _kv(args.model_arg).items():
        out.append(f"datasets.*.model_args.{key}={json.dumps(value)}")
    return out


def _select(entries: list[Any], names: list[str]) -> list[Any]:
    """The config entries with each listed label (else every entry of that name), in the
    listed order; a name the config lacks is added as a bare entry."""
    def key(e: Any, field: str) -> str:
        return e if isinstance(e, str) else e.get(field, e.get("name"))

    out: list[Any] = []
    for n in names:
        hits = [e for e in entries if key(e, "label") == n] or [e for e in entries if key(e, "name") == n]
        out += hits or [n]
    return out


def cmd_bench(args: argparse.Namespace) -> int:
    import copy

    from .bench import DEFAULT_CONFIG, run_bench
    from .bench.config import apply_overrides, read_file, validate

    if args.config and args.protocol:
        raise ConfigError("give --config FILE or --protocol NAME, not both")
    source = args.config or (str(protocols.path(args.protocol)) if args.protocol else None)
    raw = read_file(source) if source else copy.deepcopy(DEFAULT_CONFIG)
    if args.strategies:
        raw["strategies"] = _select(raw.get("strategies", []), _csv(args.strategies))
    if args.dataset:
        raw["datasets"] = _select(raw.get("datasets", []), _csv(args.dataset))
    apply_overrides(raw, _bench_overrides(args))
    cfg = validate(raw, source=source or "the default config")
    out = Path(args.out or Path("runs") / cfg["name"])
    try:
        result = run_bench(cfg, out, resume=args.resume, force=args.force, executor=args.executor, jobs=args.jobs,
                           address=args.address, progress=args.progress, report=not args.no_report)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished rounds are in {out / 'results.jsonl'}; continue with the same command plus --resume",
              file=sys.stderr)
        return 130
    if result.report is not None:
        from .bench.report import slug

        for name in result.report.numbers["datasets"]:
            table = result.report.dir / f"table_{slug(name)}.md"
            if table.exists():
                print(f"## {name}\n\n{table.read_text()}")
        print(f"report: {result.report.dir / 'report.md'}")
    print(f"results: {out / 'results.jsonl'}")
    if result.failed:
        print(f"{len(result.failed)} cell(s) failed: {', '.join(result.failed)} (tracebacks in the report)", file=sys.stderr)
    return 1 if result.failed or result.report_error else 0


def cmd_protocols(args: argparse.Namespace) -> int:
    from .bench.config import read_file

    if args.path:
        print(protocols.path(args.path))
        return 0
    for name in protocols.names():
        print(f"{name}: {read_file(protocols.path(name)).get('description', '')}")
        about = protocols.about(name)
        for field in protocols.FIELDS:
            print(f"    {field + ':':12s}{about.get(field, 'not measured yet' if field == 'cost' else 'not stated')}")
    print("\nrun one: mmal bench --protocol NAME; copy one to edit: cp \"$(mmal protocols --path NAME)\" my.toml")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .bench.report import write_report

    options = {"label_count": args.label_count, "confidence": args.confidence, "baseline": args.baseline,
               "metric": args.metric, "metrics": _csv(args.metrics) if args.metrics else None}
    if args.confidence is not None and not 0 < args.confidence < 1:
        raise MMALError(f"--confidence must be in (0, 1), e.g. 0.9, got {args.confidence}")
    rep = write_report(args.run_dir, options, formats=tuple(_csv(args.formats)))
    print(rep.markdown)
    print(f"report: {rep.dir / 'report.md'} ({len(rep.files)} files)")
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

    b = sub.add_parser("bench", help="run datasets x strategies x seeds and compare them (resumable)",
                       description="Without --config, runs the embedded default (a small synthetic benchmark).")
    b.add_argument("--config", help="a TOML (or YAML) config file, e.g. an edited copy of a shipped protocol")
    b.add_argument("--protocol", help="a shipped paper protocol by name, e.g. simsv2-regression (see `mmal protocols`)")
    b.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key: rounds=3, seeds=[0,1], datasets.*.size=tiny, strategies.0.args.alpha=0.5")
    b.add_argument("--strategies", help="comma-separated strategy labels or names (subset of the config, or new names)")
    b.add_argument("--dataset", help="comma-separated dataset labels or names")
    b.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2")
    b.add_argument("--rounds", type=int)
    b.add_argument("--init", type=int)
    b.add_argument("--budget", type=int)
    b.add_argument("--size", help="dataset size for every dataset (tiny, small, full, or a count)")
    b.add_argument("--task-model", default=None, help="task model for every dataset (default: each dataset's own)")
    b.add_argument("--dataset-arg", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--out", help="run directory (default: runs/<config name>)")
    b.add_argument("--resume", action="store_true", help="continue the run in --out: finished rounds are kept, never redone")
    b.add_argument("--force", action="store_true", help="resume even if --out was written by a different config")
    b.add_argument("--executor", choices=("local", "processes", "ray"), default="local")
    b.add_argument("--jobs", type=int, default=1, help="cells run at once (local: worker processes; ray: local CPUs)")
    b.add_argument("--address", help="Ray cluster address (with --executor ray), e.g. ray://head:10001 or auto")
    b.add_argument("--progress", choices=("auto", "tty", "plain", "none"), default="auto")
    b.add_argument("--no-report", action="store_true", help="skip writing the report at the end")
    b.set_defaults(func=cmd_bench)

    pr = sub.add_parser("protocols", help="the paper protocols that ship with mmal (run one with `mmal bench --protocol NAME`)")
    pr.add_argument("--path", metavar="NAME", help="print the file of protocol NAME (copy it to edit)")
    pr.set_defaults(func=cmd_protocols)

    r = sub.add_parser("report", help="tables and figures of a bench run directory")
    r.add_argument("run_dir")
    r.add_argument("--label-count", type=int, help="labeled samples of the main table (default: the last common count)")
    r.add_argument("--confidence", type=float, help="pairwise t-test confidence (default: the config's, 0.9)")
    r.add_argument("--baseline", help="strategy whose final metric defines the savings (default: random)")
    r.add_argument("--metric", help="primary metric (default: acc, else mae)")
    r.add_argument("--metrics", help="comma-separated metrics to report (default: all)")
    r.add_argument("--formats", default="png,svg", help="figure formats")
    r.set_defaults(func=cmd_report)

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
