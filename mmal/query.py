"""``mmal query``: one annotation round from files (DESIGN §1, use 4).

Inputs: a ``.npz`` of features (``ids`` plus one array per modality, ``NAME__lengths`` for a
padded sequence), and a labels CSV with an ``id`` column and one column per head the task
has: ``M`` (fused, required for every labeled row) and any of ``T``, ``A``, ``V`` (the
unimodal heads, reading the modalities ``text``, ``audio``, ``vision``; ``--head-modality``
maps them otherwise). The CSV may start with a UTF-8 BOM; ids and cells are stripped; a row
whose head cells are all empty is an id not labeled yet; other columns are ignored, and named.

The task is never guessed: ``--task`` (or ``--n-classes`` / ``--class-names``, which mean
classification, or ``--label-range``, which means regression), else the state file's.

A small state file (default ``<labels>.mmal-state.json``, or ``<features>.mmal-state.json``
in a first round without labels) remembers the round, the task flags and the ids queried, so
the round number follows by itself: the next query is round ``r + 1`` once some of round
``r``'s picks carry labels, and round ``r`` again (the same picks, same seed) if none does.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

import numpy as np

from .errors import MMALError
from .io import atomic_write_text
from .pool import MAIN_HEAD, Pool, Task

STATE_SUFFIX = ".mmal-state.json"
UNIMODAL_HEADS = {"T": "text", "A": "audio", "V": "vision"}
STATE_VERSION = 1


@dataclass
class QueryOptions:
    features: Path
    strategy: str
    budget: int
    labels: Path | None = None
    strategy_args: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    n_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    label_range: tuple[float, float] | None = None
    head_modality: dict[str, str] = field(default_factory=dict)
    task_model: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    round: int | None = None
    state: Path | None = None
    out: Path | None = None


@dataclass
class LabelTable:
    """The labels CSV as strings: ``cells[head][i]`` for ``ids[i]`` on ``lines[i]``."""

    path: Path
    heads: list[str]
    ignored: list[str]
    ids: list[str]
    lines: list[int]
    cells: dict[str, list[str]]


# ------------------------------------------------------------------------------ files
def check_output(path: Path | None, what: str) -> None:
    """Fail before any work if ``path`` cannot be written (a directory, a missing or non-directory parent)."""
    if path is None:
        return
    if path.is_dir():
        raise MMALError(f"{what} {path} is a directory; give a file name, e.g. {path / 'next.txt'}")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise MMALError(f"{what} {path}: {parent} is not a directory")


def read_features(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    if not path.is_file():
        raise MMALError(f"--features {path}: no such file" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        data = np.load(path, allow_pickle=False)
        files = list(data.files)
    except (OSError, ValueError, EOFError) as exc:
        raise MMALError(f"--features {path}: not a readable .npz of arrays ({exc})") from None
    if "ids" not in files:
        raise MMALError(f"--features {path}: needs an 'ids' array and one array per modality; it has {files}")
    try:
        arrays = {k: data[k] for k in files}
    except (OSError, ValueError) as exc:  # object arrays need pickles, which are refused
        raise MMALError(f"--features {path}: cannot read its arrays ({exc}); save numbers and string ids only") from None
    ids = arrays.pop("ids")
    if ids.dtype.kind not in "iuUS":
        raise MMALError(f"--features {path}: 'ids' must be strings or ints, got dtype {ids.dtype}")
    mods = {k: v for k, v in arrays.items() if not k.endswith("__lengths")}
    lengths = {k[: -len("__lengths")]: v for k, v in arrays.items() if k.endswith("__lengths")}
    if not mods:
        raise MMALError(f"--features {path}: no modality arrays besides 'ids'")
    return ids.astype(str), mods, lengths


def read_labels(path: Path, extra_heads: Sequence[str] = ()) -> LabelTable:
    """The labels CSV (module docstring); every malformed line is an error naming it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise MMALError(f"--labels {path}: no such file; omit --labels in a first round without labels") from None
    except IsADirectoryError:
        raise MMALError(f"--labels {path} is a directory; give the CSV file") from None
    except UnicodeDecodeError as exc:
        raise MMALError(f"--labels {path}: not UTF-8 text ({exc}); save the CSV as UTF-8") from None
    if not text.strip():
        raise MMALError(f"--labels {path} is empty; it needs a header 'id,M[,T,A,V]' (omit --labels in a first "
                        "round without labels)")
    rows = list(csv.reader(text.splitlines()))
    header = [h.strip() for h in rows[0]]
    if "id" not in header:
        raise MMALError(f"--labels {path}: the label file needs an 'id' column and one column per head (e.g. M); "
                        f"its header is {header}")
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        raise MMALError(f"--labels {path}: the header repeats the columns {dupes}")
    known = {MAIN_HEAD, *UNIMODAL_HEADS, *extra_heads}
    heads = [h for h in header if h in known]
    ignored = [h for h in header if h not in known and h != "id"]
    if MAIN_HEAD not in heads:
        raise MMALError(f"--labels {path}: no {MAIN_HEAD!r} column (the fused label); the header is {header}. "
                        "Columns are id, M and any of T, A, V")
    col = {h: header.index(h) for h in ["id", *heads]}
    table = LabelTable(path, heads, ignored, [], [], {h: [] for h in heads})
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise MMALError(f"--labels {path} line {line}: {len(row)} fields, but the header has {len(header)} "
                            f"({','.join(header)}); fill empty cells with nothing between the commas")
        sid = row[col["id"]].strip()
        if not sid:
            raise MMALError(f"--labels {path} line {line}: empty id")
        if sid in seen:
            raise MMALError(f"--labels {path} line {line}: id {sid!r} is already on line {seen[sid]}; give each id once")
        cells = {h: row[col[h]].strip() for h in heads}
        if not any(cells.values()):
            continue  # an id listed without labels: not labeled yet
        if not cells[MAIN_HEAD]:
            raise MMALError(f"--labels {path} line {line}: id {sid!r} has no {MAIN_HEAD!r} label; every labeled row "
                            "needs M (T, A, V may be empty)")
        seen[sid] = line
        table.ids.append(sid)
        table.lines.append(line)
        for h in heads:
            table.cells[h].append(cells[h])
    return table


def label_values(table: LabelTable, task: Task) -> dict[str, np.ndarray]:
    """The table's cells as label arrays of ``task``, each bad cell an error naming its line."""
    out = {}
    for h in task.heads:
        if h not in table.cells:
            continue
        vals = np.full(len(table.ids), np.nan)
        for i, cell in enumerate(table.cells[h]):
            if cell:
                vals[i] = _label_value(table, i, h, cell, task)
        out[h] = vals
    return out


def _label_value(table: LabelTable, i: int, head: str, cell: str, task: Task) -> float:
    where = f"--labels {table.path} line {table.lines[i]}: {head}={cell!r}"
    if task.is_classification:
        if task.class_names and cell in task.class_names:
            return float(task.class_names.index(cell))
        try:
            v = float(cell)
        except ValueError:
            names = f"one of --class-names {list(task.class_names)}" if task.class_names else "pass --class-names a,b,... to use names"
            raise MMALError(f"{where} is not a class index 0..{task.n_classes - 1} ({names})") from None
        if not v.is_integer() or not 0 <= v < task.n_classes:
            raise MMALError(f"{where} is not a class index 0..{task.n_classes - 1} (--n-classes {task.n_classes})")
        return v
    try:
        v = float(cell)
    except ValueError:
        raise MMALError(f"{where} is not a number (a regression label; --task classification for classes)") from None
    if not math.isfinite(v):
        raise MMALError(f"{where} is not a finite number; leave the cell empty for a missing label")
    if task.label_range and not task.label_range[0] <= v <= task.label_range[1]:
        lo, hi = task.label_range
        raise MMALError(f"{where} is outside --label-range {lo:g},{hi:g}")
    return v


# ------------------------------------------------------------------------------ task
def build_task(opts: QueryOptions, saved: Mapping[str, Any] | None, heads: Sequence[str], modalities: Sequence[str]) -> Task:
    """The task from the flags, else the state file; never a silent default."""
    kind = opts.task
    if kind is None:
        if opts.n_classes is not None or opts.class_names:
            kind = "classification"
        elif opts.label_range is not None:
            kind = "regression"
        elif saved:
            kind = saved.get("kind")
    if kind is None:
        raise MMALError("give the task: --task classification --n-classes C (or --class-names a,b,c), or --task regression "
                        "[--label-range lo,hi]; mmal does not guess it (integer labels may be classes or scores)")
    saved = saved if saved and saved.get("kind") == kind else {}
    n_classes, class_names, label_range = opts.n_classes, opts.class_names, opts.label_range
    if kind == "classification":
        if opts.label_range is not None:
            raise MMALError("--label-range is for --task regression; a classification task has labels 0..C-1")
        class_names = class_names or (tuple(saved["class_names"]) if saved.get("class_names") else None)
        if n_classes is None:
            n_classes = len(class_names) if class_names else saved.get("n_classes")
        if n_classes is None:
            raise MMALError("--task classification needs --n-classes C (the number of classes, >= 2) or --class-names a,b,c")
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise MMALError(f"--n-classes must be an int >= 2, got {n_classes!r}")
        if class_names and len(class_names) != n_classes:
            raise MMALError(f"--class-names lists {len(class_names)} names but --n-classes is {n_classes}")
        if class_names and len(set(class_names)) != len(class_names):
            raise MMALError(f"--class-names repeats a name: {list(class_names)}")
    else:
        if n_classes is not None or class_names:
            raise MMALError("--n-classes / --class-names are for --task classification")
        if label_range is None and saved.get("label_range"):
            label_range = tuple(saved["label_range"])
    head_modality = {h: m for h, m in UNIMODAL_HEADS.items() if h in heads}
    head_modality.update({h: m for h, m in (saved.get("head_modality") or {}).items() if h in heads})
    head_modality.update({h: m for h, m in opts.head_modality.items() if h in heads})
    for h, m in head_modality.items():
        if m not in modalities:
            raise MMALError(f"labels column {h!r} is the head of modality {m!r}, but the features have no {m!r} array "
                            f"(they have {list(modalities)}); rename the array or pass --head-modality {h}=NAME")
    return Task(kind, tuple([MAIN_HEAD, *[h for h in heads if h != MAIN_HEAD]]), n_classes=n_classes,
                label_range=label_range, head_modality=head_modality, class_names=class_names)


def task_record(task: Task) -> dict[str, Any]:
    return {"kind": task.kind, "heads": list(task.heads), "n_classes": task.n_classes,
            "label_range": list(task.label_range) if task.label_range else None,
            "class_names": list(task.class_names) if task.class_names else None, "head_modality": dict(task.head_modality)}


# ------------------------------------------------------------------------------ state
def state_paths(opts: QueryOptions) -> tuple[list[Path], Path]:
    """Where the state is read from (first that exists) and written to."""
    if opts.state is not None:
        return [opts.state], opts.state
    beside_features = opts.features.with_name(opts.features.name + STATE_SUFFIX)
    if opts.labels is None:
        return [beside_features], beside_features
    beside_labels = opts.labels.with_name(opts.labels.name + STATE_SUFFIX)
    return [beside_labels, beside_features], beside_labels


def load_state(paths: Sequence[Path]) -> tuple[dict[str, Any] | None, Path | None]:
    for p in paths:
        if p.exists():
            try:
                state = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise MMALError(f"state file {p} is unreadable ({exc}); delete it and pass --round R") from None
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION or not isinstance(state.get("round"), int):
                raise MMALError(f"state file {p} is not an mmal query state; delete it and pass --round R")
            return state, p
    return None, None


def next_round(state: Mapping[str, Any] | None, pool: Pool) -> tuple[int, str]:
    """Round ``r + 1`` once some of round ``r``'s picks are labeled, else round ``r`` again."""
    if not state:
        return 1, "round 1 (no state file yet)"
    r, queried = state["round"], [str(i) for i in state.get("queried", [])]
    known = [i for i in queried if i in pool._index]
    labeled = int(pool.labeled[pool.positions(known)].sum()) if known else 0
    if labeled:
        return r + 1, f"round {r + 1} ({labeled} of round {r}'s {len(queried)} picks are labeled)"
    return r, f"round {r} again: none of its {len(queried)} picks is labeled yet (same seed, same picks)"


# ------------------------------------------------------------------------------ progress
@contextmanager
def stage(log: TextIO | None, what: str, every: float = 15.0) -> Iterator[None]:
    """Print ``what``, a line every ``every`` seconds while it runs, and its duration."""
    if log is None:
        yield
        return
    print(f"mmal query: {what} ...", file=log, flush=True)
    t0, done = time.monotonic(), threading.Event()

    def tick() -> None:
        while not done.wait(every):
            print(f"mmal query:   ... {what}: {time.monotonic() - t0:.0f} s", file=log, flush=True)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
    print(f"mmal query: {what}: done in {time.monotonic() - t0:.1f} s", file=log, flush=True)


# ------------------------------------------------------------------------------ the round
def run_query(opts: QueryOptions, log: TextIO | None = sys.stderr) -> list[str]:
    """Select the next ids to annotate; write them (``opts.out``) and the state file. Every
    flag, file and name is checked before a model is trained."""
    from .plugins import strategies, task_models
    from .rng import derive_rng

    def say(msg: str) -> None:
        if log is not None:
            print(f"mmal query: {msg}", file=log, flush=True)

    if isinstance(opts.budget, bool) or not isinstance(opts.budget, int) or opts.budget < 1:
        raise MMALError(f"--budget must be an int >= 1, got {opts.budget!r}")
    if opts.seed < 0:
        raise MMALError(f"--seed must be >= 0, got {opts.seed}")
    if opts.round is not None and opts.round < 1:
        raise MMALError(f"--round must be >= 1 (1 for the first query), got {opts.round}")
    check_output(opts.out, "--out")
    read_from, write_to = state_paths(opts)
    check_output(write_to, "the state file")
    ids, mods, lengths = read_features(opts.features)
    table = read_labels(opts.labels, list(opts.head_modality)) if opts.labels else None
    if table and table.ignored:
        say(f"ignoring the columns {table.ignored} of {opts.labels} (not heads; heads are M, T, A, V)")
    state, state_file = load_state(read_from)
    heads = table.heads if table else list((state or {}).get("task", {}).get("heads", [MAIN_HEAD]))
    task = build_task(opts, (state or {}).get("task"), heads, list(mods))
    pool = Pool(mods, task, ids=ids, lengths=lengths)
    if table and table.ids:
        unknown = [(i, line) for i, line in zip(table.ids, table.lines) if i not in pool._index]
        if unknown:
            raise MMALError(f"--labels {opts.labels}: {len(unknown)} ids are not in --features, e.g. {unknown[0][0]!r} "
                            f"on line {unknown[0][1]}")
        pool.label(np.asarray(table.ids), label_values(table, task))
    if table is not None and not table.ids:
        say(f"{opts.labels} has no labeled rows: 0 labeled samples")
    cost = pool.label_cost()
    say(f"{pool.n} samples, {pool.n_labeled} labeled; labels paid per head: "
        + ", ".join(f"{h} {c}" for h, c in cost.items()) + f" ({sum(cost.values())} in all)")

    # pre-flight: names, arguments, capabilities and tasks before anything is trained
    strategy = strategies.get(opts.strategy, **opts.strategy_args)
    model = task_models.get(opts.task_model, **opts.model_args) if opts.task_model else None
    if model is None and (strategy.needs_model or strategy.requires):
        raise MMALError(f"strategy {opts.strategy!r} reads a task model: pass --task-model NAME"
                        + (f" offering {sorted(strategy.requires)}" if strategy.requires else "") + " (see `mmal list`)")
    if model is not None:
        model_tasks = getattr(model, "tasks", None) or _declared_tasks(task_models, opts.task_model)
        if model_tasks and task.kind not in model_tasks:
            raise MMALError(f"task model {opts.task_model!r} supports {sorted(model_tasks)} tasks, not {task.kind!r}")
    strategy.check(model, pool)
    if model is not None and pool.n_labeled == 0:
        raise MMALError(f"task model {opts.task_model!r} needs labeled samples: pass --labels with some labels, or use "
                        "--strategy random for a first round")

    r, why = (opts.round, f"round {opts.round} (--round)") if opts.round is not None else next_round(state, pool)
    say(why)
    if model is not None:
        with stage(log, f"training {opts.task_model!r} on {pool.n_labeled} labeled samples"):
            model.fit(pool, seed=opts.seed)
    with stage(log, f"selecting {min(opts.budget, pool.n_unlabeled)} with {opts.strategy!r}"):
        sel = strategy.select(model, pool, opts.budget, rng=derive_rng(opts.seed, r, opts.strategy), round=r)
    chosen = [str(i) for i in sel.ids(pool)]
    text = "\n".join(chosen) + "\n"
    if opts.out:
        atomic_write_text(opts.out, text)
        say(f"wrote {len(chosen)} ids to {opts.out}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    history = list((state or {}).get("history", []))
    history = [h for h in history if h.get("round") != r] + [{"round": r, "n_labeled": pool.n_labeled, "labels_per_head": cost,
                                                               "queried": len(chosen), "strategy": opts.strategy}]
    record = {"version": STATE_VERSION, "features": str(opts.features), "round": r, "strategy": opts.strategy,
              "seed": opts.seed, "task": task_record(task), "queried": chosen, "history": history}
    atomic_write_text(write_to, json.dumps(record, indent=1))
    say(f"state: {write_to} (the next query is round {r + 1} once these ids are labeled)")
    return chosen


def _declared_tasks(registry: Any, name: str) -> set[str]:
    return {t.strip() for t in str(registry.entry(name).meta.get("tasks", "")).split(",") if t.strip()}
