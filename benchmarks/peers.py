"""mmal against the libraries a user would pick instead, in one run, on the same inputs (issue #20).

    python benchmarks/peers.py                  # paper sizes (about 10 minutes on 2 idle cores)
    python benchmarks/peers.py --size tiny      # seconds; what tests/test_peers.py checks
    python benchmarks/peers.py --write-results  # + rewrite the peers table in benchmarks/RESULTS.md
    python benchmarks/run.py --peers [--write-results]   # the same, from the suite

Peers (the optional extra ``multimodal-al[bench]``: scikit-activeml, baal, modAL):

- scikit-activeml ``Badge`` and ``CoreSet`` (the package, through a classifier that returns
  the fixed probabilities and embeddings of the case);
- baal ``BALD`` (the package's heuristic on the MC samples);
- modAL ``entropy_sampling`` / ``margin_sampling`` / ``uncertainty_sampling`` (the package,
  through a fixed-output classifier);
- ``google_kcenter``: our re-implementation of the published logic of google/active-learning's
  ``kCenterGreedy`` (sklearn ``pairwise_distances`` to the labeled set, then to each new
  center, running ``np.minimum``, ``argmax``);
- ``ash_badge``: our re-implementation of the published logic of JordanAsh/badge's k-means++
  seeding (the explicit gradient embedding ``[N, C*d]``, largest-norm first center,
  ``pairwise_distances`` to the newest center per pick, ``D^2`` sampling; redrawn when a
  picked point comes up). It draws with ``rng.random()`` against the ``D^2`` cumsum, the
  same distribution as the original's ``scipy.stats.rv_discrete``, so that one seed gives
  the same picks as mmal;
- ``sklearn_distsum``: GRACE Eq. 5 by sklearn ``pairwise_distances_chunked`` on the explicit
  gradients (no peer library has it).

Each peer is a small function below; they are our own code calling the peers' public APIs.
Timing: each case runs mmal and its peers ``--reps`` times, alternating which goes first, and
reports medians; a peer whose first run takes longer than ``--peer-cap`` seconds is run once.
Beside every row: the 1-minute load average, the memory-bandwidth floor (GB/s of a streaming
sum) and GEMM floor (GFLOP/s of a float32 matmul) measured just before the row, the floor
seconds of the case (what an ideal implementation of the exact per-pick algorithm must spend:
the passes over its input at the measured bandwidth plus its GEMM flops at the measured GEMM
rate; the formula is in the row's ``floor`` note), and peak memory (largest RSS increase
during a call). A peer whose estimated extra memory is over ``--mem-gb`` is not run at that
size: the row says so and why, and the case is repeated at the largest size where it fits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from run import measured  # noqa: E402  (RSS-sampled timing, shared with the suite)

GIB = 2**30


# ----------------------------------------------------------------------------- floors

def bandwidth_gbs(mb: int = 256, reps: int = 5) -> float:
    """Streaming-read bandwidth: bytes / s of ``torch.sum`` over a ``mb``-MB float32 tensor (median)."""
    import torch

    a = torch.ones(mb * 2**20 // 4)
    a.sum()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a.sum()
        ts.append(time.perf_counter() - t)
    return a.numel() * 4 / statistics.median(ts) / 1e9


def gemm_gflops(n: int = 1024, reps: int = 5) -> float:
    """float32 GEMM rate: ``2 n^3`` flops / s of ``torch.mm`` (median)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(ts) / 1e9


# ----------------------------------------------------------------------------- inputs

def softmax32(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z.astype(np.float32, copy=False)


def badge_inputs(n: int, c: int, d: int, seed: int):
    """Class probabilities ``P [n, c]`` and penultimate features ``H [n, d]`` (float32)."""
    rng = np.random.default_rng(seed)
    P = softmax32(rng.normal(0, 2, (n, c)).astype(np.float32))
    H = np.maximum(rng.normal(0, 1, (n, d)).astype(np.float32), 0)
    return P, H


def badge_delta(P: np.ndarray) -> np.ndarray:
    """BADGE's ``delta = p - onehot(argmax p)`` (the loss gradient at the predicted label)."""
    delta = P.copy()
    delta[np.arange(len(P)), P.argmax(1)] -= 1.0
    return delta


def kcenter_inputs(n: int, d: int, n_labeled: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    labeled = np.zeros(n, dtype=bool)
    labeled[rng.choice(n, n_labeled, replace=False)] = True
    return X, labeled


def mc_samples(n: int, c: int, t: int, seed: int, rows: int = 8192) -> np.ndarray:
    """MC-dropout-like samples ``[n, c, t]`` float32: a per-row logit plus per-pass noise, softmaxed."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, c, t), dtype=np.float32)
    for s in range(0, n, rows):
        m = min(rows, n - s)
        base = rng.normal(0, 2, (m, c, 1)).astype(np.float32)
        out[s : s + m] = softmax32(base + rng.normal(0, 1, (m, c, t)).astype(np.float32) * rng.uniform(0, 2, (m, 1, 1)).astype(np.float32))
    return out


def grad_blocks(n: int, blocks: list[tuple[int, int]], seed: int):
    """GRACE-like per-modality rank-1 gradients ``delta_m [n, c_m] x h_m [n, d_m]`` (float32)."""
    from mmal.grads import RankOne

    rng = np.random.default_rng(seed)
    return [RankOne(rng.normal(0, 1, (n, c)).astype(np.float32), np.maximum(rng.normal(0, 1, (n, d)), 0).astype(np.float32))
            for c, d in blocks]


# ----------------------------------------------------------------------------- mmal

def mmal_badge(P, H, k, rng):
    import mmal
    from mmal.grads import RankOne

    return mmal.arrays.badge(RankOne(badge_delta(P), H), k, rng).positions


def mmal_kcenter(X, labeled, k):
    from mmal.kernels import kcenter_greedy

    return kcenter_greedy(X, k, labeled=labeled)


def mmal_bald(samples, k):
    import mmal

    return mmal.arrays.bald(samples, k).positions


def mmal_uncertainty(kind: str):
    def run(P, k):
        import mmal

        return getattr(mmal.arrays, kind)(P, k).positions

    return run


def mmal_distsum(blocks):
    from mmal.kernels.distsum import distance_sums

    return distance_sums(blocks)


# ----------------------------------------------------------------------------- peers

def skactiveml_badge(P, H, k, random_state):
    """scikit-activeml ``Badge.query`` with a classifier returning ``(P, H)`` for the rows asked."""
    from skactiveml.pool import Badge

    X = np.arange(len(P), dtype=np.float64)[:, None]  # row ids: the classifier looks its outputs up
    y = np.full(len(P), np.nan)
    clf = _fixed_skactiveml_classifier(P, H)
    return Badge(clf_embedding_flag_name="return_embeddings", random_state=random_state).query(
        X, y, clf, fit_clf=False, batch_size=k)


def skactiveml_stream(seed: int, n_unlabeled: int) -> np.random.Generator:
    """A Generator drawing the uniforms scikit-activeml's query draws for ``random_state=seed``: it
    reseeds with ``RandomState(seed).randint(1, 2**31) * (n_unlabeled + 1) % 2**31`` (skactiveml
    ``check_random_state`` with ``seed_multiplier``) and samples ``choice(p=...)`` by one uniform
    against the cumsum, as mmal does; so mmal with this Generator gives the same picks."""
    s = (np.random.RandomState(seed).randint(1, 2**31) * (n_unlabeled + 1)) % (2**31)
    return np.random.Generator(np.random.RandomState(s)._bit_generator)


def _fixed_skactiveml_classifier(P, H):
    from skactiveml.base import SkactivemlClassifier

    class Fixed(SkactivemlClassifier):
        def fit(self, X, y, sample_weight=None):
            return self

        def predict_proba(self, X, return_embeddings=False):
            rows = np.asarray(X[:, 0], dtype=np.int64)
            return (P[rows], H[rows]) if return_embeddings else P[rows]

    clf = Fixed(classes=np.arange(P.shape[1]), missing_label=np.nan)
    clf.classes_ = np.arange(P.shape[1])
    return clf


def ash_badge(P, H, k, rng):
    """JordanAsh/badge-style k-means++ (our re-implementation of the published logic)."""
    from sklearn.metrics import pairwise_distances

    emb = (badge_delta(P).astype(np.float64)[:, :, None] * H.astype(np.float64)[:, None, :]).reshape(len(P), -1)
    first = int(np.argmax(np.linalg.norm(emb, axis=1)))
    picks, mu = [first], emb[first : first + 1]
    d2 = pairwise_distances(emb, mu).ravel() ** 2
    while len(picks) < k:
        cum = np.cumsum(d2)
        j = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        while j in picks:  # the original redraws a point already chosen
            j = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        picks.append(j)
        d2 = np.minimum(d2, pairwise_distances(emb, emb[j : j + 1]).ravel() ** 2)
    return np.asarray(picks)


def skactiveml_coreset(X, labeled, k, random_state):
    from skactiveml.pool import CoreSet

    y = np.where(labeled, 0.0, np.nan)
    return CoreSet(random_state=random_state).query(X, y, batch_size=k)


def google_kcenter(X, labeled, k):
    """google/active-learning ``kCenterGreedy``-style (our re-implementation of the published logic)."""
    from sklearn.metrics import pairwise_distances

    min_d = pairwise_distances(X, X[labeled]).min(axis=1, keepdims=True)
    picks = []
    for _ in range(k):
        j = int(np.argmax(min_d))
        picks.append(j)
        min_d = np.minimum(min_d, pairwise_distances(X, X[j : j + 1]))
    return np.asarray(picks)


def baal_bald(samples, k):
    from baal.active.heuristics import BALD

    return np.asarray(BALD()(samples))[:k]


def modal_uncertainty(kind: str):
    fn = {"entropy": "entropy_sampling", "margin": "margin_sampling", "least_confidence": "uncertainty_sampling"}[kind]

    def run(P, k):
        from modAL import uncertainty

        class Fixed:  # modAL only calls predict_proba
            def predict_proba(self, X):
                return P[np.asarray(X[:, 0], dtype=np.int64)]

        idx = getattr(uncertainty, fn)(Fixed(), np.arange(len(P))[:, None], n_instances=k)
        return np.asarray(idx[0] if isinstance(idx, tuple) else idx)

    return run


def sklearn_distsum(blocks):
    """GRACE Eq. 5 ``sum_j ||g_i - g_j||`` on the explicit gradients by sklearn's chunked pairwise distances."""
    from sklearn.metrics import pairwise_distances_chunked

    from mmal.grads import explicit

    g = explicit(blocks)
    return np.concatenate([d.sum(1) for d in pairwise_distances_chunked(g, g)])


# ----------------------------------------------------------------------------- cases

@dataclass
class Impl:
    name: str
    run: Callable[[], object]
    extra_gb: float = 0.0  # estimated memory beyond the inputs; over --mem-gb: not run
    why: str = ""  # what needs that memory


@dataclass
class Case:
    name: str
    size: str
    make: Callable[[], tuple[list[Impl], Impl]]  # -> (peers, mmal)
    floor: Callable[[float, float], float]  # (bytes/s, flops/s) -> seconds
    floor_note: str
    fallback: "Case | None" = None  # the largest size where the peers that do not fit do
    meta: dict = field(default_factory=dict)


def badge_case(tag, n, c, d, k, seed, mem_gb, fallback_n=None):
    expl = n * c * d * 8 / GIB

    def make():
        P, H = badge_inputs(n, c, d, seed)
        peers = [Impl("scikit-activeml Badge", lambda: skactiveml_badge(P, H, k, seed), 3 * expl,
                      f"explicit [N, C*d] float64 gradient embedding ({expl:.2f} GiB) and temporaries"),
                 Impl("JordanAsh/badge-style (ours)", lambda: ash_badge(P, H, k, np.random.default_rng(seed)), 3 * expl,
                      f"explicit [N, C*d] float64 gradient embedding ({expl:.2f} GiB) and temporaries")]
        return peers, Impl("mmal badge", lambda: mmal_badge(P, H, k, np.random.default_rng(seed)))

    fb = None
    if fallback_n is None and 3 * expl > mem_gb:
        fallback_n = int(mem_gb * GIB / (3 * c * d * 8)) // 100 * 100
    if fallback_n and fallback_n < n:
        fb = badge_case(tag + ", largest N the peers fit", fallback_n, c, d, min(k, fallback_n // 10), seed, mem_gb, fallback_n)
    return Case(f"BADGE k-means++ ({tag})", f"N={n:,} C={c} d={d} k={k}", make,
                lambda bw, fl: k * n * (c + d) * 4 / bw, "k passes over delta [N,C] + h [N,d] float32 (the per-pick refresh)",
                fb)


def kcenter_case(tag, n, d, n_lab, k, seed):
    def make():
        X, lab = kcenter_inputs(n, d, n_lab, seed)
        peers = [Impl("scikit-activeml CoreSet", lambda: skactiveml_coreset(X, lab, k, seed),
                      (n * d * 8 + n * n_lab * 8) / GIB, "float64 copy of X and the [N, labeled] distances"),
                 Impl("google/active-learning-style k-center (ours)", lambda: google_kcenter(X, lab, k),
                      n * n_lab * 8 / GIB, "the [N, labeled] distance matrix")]
        return peers, Impl("mmal k-center", lambda: mmal_kcenter(X, lab, k))

    return Case(f"CoreSet k-center ({tag})", f"N={n:,} D={d} labeled={n_lab:,} k={k}", make,
                lambda bw, fl: k * n * d * 4 / bw + 2 * n * n_lab * d / fl,
                "k passes over X float32 + the [N, labeled] GEMM")


def bald_case(tag, n, c, t, k, seed, mem_gb):
    gb = n * c * t * 4 / GIB

    def make():
        S = mc_samples(n, c, t, seed)
        return ([Impl("baal BALD", lambda: baal_bald(S, k), 2 * gb, f"xlogy of all samples at once ({gb:.2f} GiB)")],
                Impl("mmal bald", lambda: mmal_bald(S, k)))

    fb = None
    if 2 * gb > mem_gb:
        fb = bald_case(tag + ", largest N baal fits", int(mem_gb * GIB / (2 * c * t * 4)) // 1000 * 1000, c, t, k, seed, mem_gb)
    return Case(f"BALD ({tag})", f"N={n:,} C={c} T={t} k={k}", make, lambda bw, fl: n * c * t * 4 / bw,
                "one pass over the samples float32", fb)


def uncertainty_case(kind, tag, n, c, k, seed):
    def make():
        P = softmax32(np.random.default_rng(seed).normal(0, 2, (n, c)).astype(np.float32))
        return [Impl(f"modAL {kind}", lambda: modal_uncertainty(kind)(P, k))], Impl(f"mmal {kind}", lambda: mmal_uncertainty(kind)(P, k))

    return Case(f"{kind} ({tag})", f"N={n:,} C={c} k={k}", make, lambda bw, fl: n * c * 4 / bw, "one pass over P float32")


def distsum_case(tag, n, blocks, seed):
    width = sum(c * d for c, d in blocks)

    def make():
        g = grad_blocks(n, blocks, seed)
        return ([Impl("sklearn pairwise_distances_chunked", lambda: sklearn_distsum(g), n * width * 8 / GIB,
                      "the explicit gradients")], Impl("mmal distance_sums", lambda: mmal_distsum(g)))

    return Case(f"GRACE Eq. 5 distance sums ({tag})", f"N={n:,} blocks={blocks}", make,
                lambda bw, fl: n * n * sum(c + d for c, d in blocks) / fl,
                "N^2/2 pairs x 2(c+d) flops per rank-1 block at the GEMM rate (the sqrt epilogue not counted)")


def cases(size: str, mem_gb: float, seed: int = 0) -> list[Case]:
    if size == "tiny":
        return [badge_case("tiny", 300, 5, 16, 20, seed, mem_gb), kcenter_case("tiny", 400, 16, 20, 20, seed),
                bald_case("tiny", 300, 5, 4, 20, seed, mem_gb), uncertainty_case("entropy", "tiny", 300, 5, 20, seed),
                uncertainty_case("margin", "tiny", 300, 5, 20, seed),
                uncertainty_case("least_confidence", "tiny", 300, 5, 20, seed),
                distsum_case("tiny", 200, [(3, 8), (2, 4)], seed)]
    return [
        badge_case("CHERMA", 16_230, 7, 256, 1000, seed, mem_gb),
        badge_case("VGGSound", 179_000, 309, 1024, 1000, seed, mem_gb, fallback_n=None),
        kcenter_case("Food101", 45_719, 512, 1000, 1000, seed),
        kcenter_case("CHERMA", 16_230, 256, 1000, 1000, seed),
        bald_case("CHERMA", 16_230, 7, 10, 1000, seed, mem_gb),
        bald_case("VGGSound", 179_000, 309, 10, 1000, seed, mem_gb),
        uncertainty_case("entropy", "VGGSound", 179_000, 309, 1000, seed),
        uncertainty_case("margin", "VGGSound", 179_000, 309, 1000, seed),
        uncertainty_case("least_confidence", "VGGSound", 179_000, 309, 1000, seed),
        distsum_case("CHERMA", 16_230, [(7, 64), (7, 64), (7, 64)], seed),
    ]


# ----------------------------------------------------------------------------- running

def run_case(case: Case, reps: int, peer_cap: float, mem_gb: float, rows: list[dict], on_row) -> None:
    """Appends one row per peer of ``case`` (and of its fallback) to ``rows``; ``on_row(row)`` after each."""
    import gc

    bw, fl = bandwidth_gbs() * 1e9, gemm_gflops() * 1e9
    load = os.getloadavg()[0]
    peers, mine = case.make()
    runnable = [p for p in peers if p.extra_gb <= mem_gb]
    times = {p.name: [] for p in [mine, *runnable]}
    peaks = dict.fromkeys(times, 0.0)
    capped = set()
    for r in range(reps):
        order = [mine, *runnable] if r % 2 == 0 else [*runnable, mine]
        for impl in order:
            if impl.name in capped:
                continue
            gc.collect()
            _, s, mb = measured(impl.run)
            times[impl.name].append(s)
            peaks[impl.name] = max(peaks[impl.name], mb)
            if impl is not mine and s > peer_cap:
                capped.add(impl.name)
    floor = case.floor(bw, fl)
    t_mine = statistics.median(times[mine.name])
    base = dict(case=case.name, size=case.size, load_1min=round(load, 2), bandwidth_gbs=round(bw / 1e9, 2),
                gemm_gflops=round(fl / 1e9, 1), floor_s=floor, floor_note=case.floor_note, mmal_s=t_mine,
                mmal_peak_mb=round(peaks[mine.name]), mmal_over_floor=t_mine / floor, mmal_reps=len(times[mine.name]))
    for p in peers:
        if p in runnable:
            t = statistics.median(times[p.name])
            rows.append(dict(base, peer=p.name, peer_s=t, peer_peak_mb=round(peaks[p.name]), ratio=t / t_mine,
                             peer_reps=len(times[p.name]), load_end=round(os.getloadavg()[0], 2)))
        else:
            rows.append(dict(base, peer=p.name, peer_s=None, peer_peak_mb=None, ratio=None, peer_reps=0,
                             cannot_run=f"needs ~{p.extra_gb:.1f} GiB beyond the inputs for the {p.why} (> --mem-gb {mem_gb:g})",
                             load_end=round(os.getloadavg()[0], 2)))
        on_row(rows[-1])
    del peers, mine, runnable
    gc.collect()
    if case.fallback is not None and any(r.get("cannot_run") for r in rows if r["case"] == case.name):
        run_case(case.fallback, reps, peer_cap, mem_gb, rows, on_row)


def fmt(v, spec="8.3f"):
    return "-" if v is None else format(v, spec)


HEAD = (f"{'case':<44} {'size':<34} {'peer':<44} {'peer s':>8} {'mmal s':>8} {'peer/mmal':>9} {'floor s':>8} "
        f"{'mmal/floor':>10} {'peer MB':>8} {'mmal MB':>8} {'load':>5}")


def print_row(r: dict) -> None:
    note = f"  CANNOT RUN: {r['cannot_run']}" if r.get("cannot_run") else ""
    print(f"{r['case'][:44]:<44} {r['size'][:34]:<34} {r['peer'][:44]:<44} {fmt(r['peer_s'])} {fmt(r['mmal_s'])} "
          f"{fmt(r['ratio'], '9.1f')} {fmt(r['floor_s'])} {fmt(r['mmal_over_floor'], '10.2f')} "
          f"{fmt(r['peer_peak_mb'], '8.0f')} {fmt(r['mmal_peak_mb'], '8.0f')} {r['load_1min']:5.1f}{note}", flush=True)


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"`python benchmarks/run.py --peers --write-results` ({meta['when']}; {meta['cpus']} CPUs, torch "
             f"{meta['torch']} with {meta['threads']} threads; reps {meta['reps']}, medians, alternating order; "
             f"1-min load {meta['load_start']:.1f} at the start, {meta['load_end']:.1f} at the end; "
             f"{meta['wall_s']:.0f} s in all). peer/mmal > 1: mmal is faster. floor: the case's bandwidth / GEMM "
             f"floor at the rates measured just before the row.", "",
             "| case | size | peer | peer s | mmal s | peer / mmal | floor s | mmal / floor | peak MB peer / mmal | BW GB/s, GEMM GFLOP/s | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("cannot_run"):
            peer_s, ratio = "cannot run", r["cannot_run"]
        else:
            peer_s, ratio = f"{r['peer_s']:.3g}" + (" (1 run)" if r["peer_reps"] == 1 else ""), f"**{r['ratio']:.1f}x**"
        lines.append(f"| {r['case']} | {r['size']} | {r['peer']} | {peer_s} | {r['mmal_s']:.3g} | {ratio} | "
                     f"{r['floor_s']:.3g} | {r['mmal_over_floor']:.2f} | {fmt(r['peer_peak_mb'], '.0f')} / "
                     f"{r['mmal_peak_mb']:.0f} | {r['bandwidth_gbs']:.1f}, {r['gemm_gflops']:.0f} | {r['load_1min']:.1f} |")
    notes = sorted({(r["case"].split(" (")[0], r["floor_note"]) for r in rows})
    lines += ["", "Floors: " + "; ".join(f"{c}: {n}" for c, n in notes) + "."]
    return "\n".join(lines)


BEGIN, END = "<!-- peers:begin (written by benchmarks/run.py --peers --write-results) -->", "<!-- peers:end -->"


def write_results(text: str, path: Path = HERE / "RESULTS.md") -> None:
    """Replace the block between the peers markers in RESULTS.md (appended under a heading when absent)."""
    doc = path.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n## mmal against its peers (issue 20)\n\n" + block + "\n"
    path.write_text(doc)


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--size", choices=("paper", "tiny"), default="paper")
    ap.add_argument("--cases", default="", help="comma-separated substrings of case names to run (default: all)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--peer-cap", type=float, default=30.0, help="a peer slower than this (s) on its first run is run once")
    ap.add_argument("--mem-gb", type=float, default=3.0, help="a peer needing more extra memory than this is not run")
    ap.add_argument("--write-results", action="store_true", help="rewrite the peers table in benchmarks/RESULTS.md")
    ap.add_argument("--peers-out", default=str(HERE / "results" / "peers.json"))


def warm_up(mem_gb: float) -> None:
    """Imports and first-call costs (skactiveml and baal take seconds to import) out of the timings."""
    for case in cases("tiny", mem_gb):
        peers, mine = case.make()
        for impl in [mine, *peers]:
            impl.run()


def run_suite(args) -> list[dict]:
    import torch

    t0 = time.time()
    meta = dict(when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpus=os.cpu_count(), torch=torch.__version__,
                threads=torch.get_num_threads(), reps=args.reps, size=args.size, mem_gb=args.mem_gb,
                load_start=os.getloadavg()[0])
    out = Path(args.peers_out)
    rows: list[dict] = []

    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1, default=str))

    warm_up(args.mem_gb)
    print(HEAD, flush=True)
    wanted = [w for w in args.cases.split(",") if w]
    for case in cases(args.size, args.mem_gb):
        if wanted and not any(w.lower() in case.name.lower() for w in wanted):
            continue
        run_case(case, args.reps, args.peer_cap, args.mem_gb, rows, lambda r: (print_row(r), save()))
    meta.update(load_end=os.getloadavg()[0], wall_s=time.time() - t0)
    save()
    print(f"\nwrote {out} ({meta['wall_s']:.0f} s; load {meta['load_start']:.1f} -> {meta['load_end']:.1f})")
    if args.write_results:
        write_results(markdown(rows, meta))
        print(f"rewrote the peers table in {HERE / 'RESULTS.md'}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(ap)
    run_suite(ap.parse_args())


if __name__ == "__main__":
    main()
