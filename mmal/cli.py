"""The ``mmal`` command: ``list``, ``bench``, ``report`` and ``query``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
import warnings
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
        resolved = plugins.entries(kind)
        listing[kind] = [
            {"name": e.name if resolved.get(e.name) is e else e.qualified, "plugin": e.plugin, "dist": e.dist,
             "version": e.version, "summary": e.summary, **e.meta}
            for entries in plugins.all_entries(kind).values() for e in entries
        ]
    listing["broken"] = plugins.broken()
    listing["conflicts"] = {k: plugins.conflicts(k) for k in KINDS if plugins.conflicts(k)}
    listing["shadowed"] = {k: plugins.shadowed(k) for k in KINDS if plugins.shadowed(k)}
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
        for kind, conf in listing["shadowed"].items():
            for name, who in conf.items():
                print(f"SHADOWED: {kind} {name!r} is the built-in one; also registered by {who}, "
                      f"reachable as {', '.join(repr(f'{p}:{name}') for p in who)}")
        for kind, conf in listing["conflicts"].items():
            for name, who in conf.items():
                print(f"CONFLICT: {kind} {name!r} registered by {who}; use {', '.join(repr(f'{p}:{name}') for p in who)}")
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


def _changes(args: argparse.Namespace) -> list[str]:
    """The command-line flags that change the config, as typed (``--dataset toy``), in a fixed order."""
    out = [f"--{flag.replace('_', '-')} {getattr(args, flag)}" for flag in
           ("strategies", "dataset", "seeds", "rounds", "init", "budget", "size", "task_model")
           if getattr(args, flag) is not None]
    out += [f"--dataset-arg {kv}" for kv in args.dataset_arg] + [f"--model-arg {kv}" for kv in args.model_arg]
    return out + [f"--set {kv}" for kv in args.set]


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
    if args.address and args.executor != "ray":
        raise ConfigError(f"--address {args.address!r} is the Ray cluster to run on: add --executor ray")
    source = args.config or (str(protocols.path(args.protocol)) if args.protocol else None)
    raw = read_file(source) if source else copy.deepcopy(DEFAULT_CONFIG)
    if args.strategies:
        raw["strategies"] = _select(raw.get("strategies", []), _csv(args.strategies))
    if args.dataset:
        raw["datasets"] = _select(raw.get("datasets", []), _csv(args.dataset))
    changes = _changes(args)
    if changes and not any(kv.partition("=")[0].strip() == "description" for kv in args.set):
        # the shipped description no longer holds: say what ran instead of claiming it
        what = f"`{Path(source).name}`" if args.config else f"protocol `{args.protocol or raw.get('name', 'default')}`"
        raw["description"] = f"{what} changed on the command line: {' '.join(changes)}"
    apply_overrides(raw, _bench_overrides(args))
    cfg = validate(raw, source=source or "the default config")
    out = Path(args.out or Path("runs") / cfg["name"])
    print(f"{cfg['name']}: {cfg['description'] or '(no description)'}; writing {out}", flush=True)
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
        summary = result.report.dir / "summary.md"
        if summary.exists():
            print(f"\n{summary.read_text().rstrip()}\n")
        print(f"summary: {summary}")
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


def _range(text: str) -> tuple[float, float]:
    parts = _csv(text)
    try:
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise MMALError(f"--label-range must be lo,hi (two numbers), e.g. -1,1; got {text!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise MMALError(f"--label-range must be two finite numbers with lo < hi, e.g. -1,1; got {text!r}")
    return lo, hi


def cmd_query(args: argparse.Namespace) -> int:
    from .query import QueryOptions, run_query

    head_modality = _kv(args.head_modality)
    bad = {h: m for h, m in head_modality.items() if not isinstance(m, str) or h == "M"}
    if bad:
        raise MMALError(f"--head-modality takes HEAD=MODALITY for unimodal heads, e.g. T=text; got {bad}")
    opts = QueryOptions(
        features=Path(args.features), labels=Path(args.labels) if args.labels else None, strategy=args.strategy,
        strategy_args=_kv(args.strategy_arg), budget=args.budget, task=args.task, n_classes=args.n_classes,
        class_names=tuple(_csv(args.class_names)) if args.class_names else None,
        label_range=_range(args.label_range) if args.label_range else None, head_modality=head_modality,
        task_model=args.task_model, model_args=_kv(args.model_arg), seed=args.seed, round=args.round,
        state=Path(args.state) if args.state else None, out=Path(args.out) if args.out else None,
    )
    run_query(opts, log=None if args.quiet else sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mmal", description="Active learning for multimodal data.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=argparse.ArgumentParser)

    ls = sub.add_parser("list", help="strategies, task models and datasets, with the plugin each comes from")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    b = sub.add_parser("bench", help="run datasets x strategies x seeds and compare them (resumable)",
                       description="Without --config or --protocol, runs the shipped protocol `default` (real data: uci-mfeat; "
                                   "`mmal protocols --path default`). Prints the comparison table and the summary "
                                   "(who beat the baseline, by how much, with p-values) at the end.")
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

    q = sub.add_parser("query", help="which samples to annotate next",
                       description="One annotation round: train the task model on the labeled samples, select the next "
                                   "ids. A state file beside the labels keeps the round number (see docs: Concepts).")
    q.add_argument("--features", required=True, help=".npz with 'ids' and one array per modality (NAME__lengths optional)")
    q.add_argument("--labels", help="CSV with an 'id' column and one column per head the task has: M, and any of T, A, V")
    q.add_argument("--strategy", required=True)
    q.add_argument("--strategy-arg", action="append", default=[], metavar="KEY=VALUE", help="a strategy argument, e.g. alpha=0.5")
    q.add_argument("--budget", type=int, required=True)
    q.add_argument("--task", choices=("classification", "regression"),
                   help="required unless --n-classes / --class-names (classification), --label-range (regression) or the state file say it")
    q.add_argument("--n-classes", type=int, help="number of classes (classification)")
    q.add_argument("--class-names", help="comma-separated class names, in index order; label cells may use them")
    q.add_argument("--label-range", help="lo,hi for regression labels, e.g. -1,1")
    q.add_argument("--head-modality", action="append", default=[], metavar="HEAD=MODALITY",
                   help="the modality a unimodal head reads (default T=text, A=audio, V=vision)")
    q.add_argument("--task-model", help="the task model to train (strategies that read a model need one)")
    q.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="a task-model argument, e.g. epochs=20")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--round", type=int, help="the AL round (default: from the state file; 1 without one)")
    q.add_argument("--state", help="the state file (default: <labels>.mmal-state.json, or <features>.mmal-state.json)")
    q.add_argument("--out", help="write the ids here (atomically) instead of printing them")
    q.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    q.set_defaults(func=cmd_query)
    return p


# a value that starts with "-" but is a number or a range of numbers: "--label-range -1,1"
_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d)[\d.,eE+-]*$")


class _Parser(argparse.ArgumentParser):
    """argparse that reads ``--flag -1,1`` as ``--flag=-1,1`` for flags taking a value (plain
    argparse takes a negative range for an option and fails)."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        takes_value = {o for a in self._all_actions() if a.option_strings and a.nargs is None and a.const is None
                       and not isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction))
                       for o in a.option_strings}
        out: list[str] = []
        i = 0
        while i < len(argv):
            if argv[i] in takes_value and i + 1 < len(argv) and _NEGATIVE_VALUE.match(argv[i + 1]):
                out.append(f"{argv[i]}={argv[i + 1]}")
                i += 2
            else:
                out.append(argv[i])
                i += 1
        return super().parse_known_args(out, namespace)

    def _all_actions(self) -> list[argparse.Action]:
        actions = list(self._actions)
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub in a.choices.values():
                    actions += sub._actions
        return actions


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"mmal: warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        status = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return status
    except MMALError as exc:
        print(f"mmal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmmal: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mmal list | head`: the reader left; say nothing more
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"mmal: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("MMAL_TRACEBACK"):
            raise
        tb = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" (at {tb[0].filename}:{tb[0].lineno})" if tb else ""
        print(f"mmal: internal error: {type(exc).__name__}: {exc}{at}\nThis is a bug in mmal or a plugin; rerun with "
              "MMAL_TRACEBACK=1 for the traceback and report it", file=sys.stderr)
        return 3
