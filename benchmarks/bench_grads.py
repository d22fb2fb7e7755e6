"""Factored per-sample gradients (one forward + one batched backward per head) vs per-sample loops.

    python benchmarks/bench_grads.py [--batch 512] [--device auto] [--out benchmarks/results/grads.json]

Cases (sizes printed and recorded):

* ``grace-simsv2``: the multi-task late-fusion model on SIMSv2-shaped sequences (text
  BERT features, audio / vision through Linear + BiLSTM), GRACE's six gradients
  ``(T|A|V, enc:k)`` and ``(M, enc:k)`` for the three modalities.
* ``badge-food101``: the BMMAL classifier on Food101-shaped feature vectors, 101 classes,
  ``(M, head:M)`` (BADGE / BMMAL) plus ``(M, enc:k)``.

Paths timed for the same ``batch`` samples:

* ``factored``: ``model.grad_embed_many`` (what strategies call);
* ``loop``: for each sample, a forward of that sample and ``torch.autograd.grad`` per pair
  w.r.t. the layer weights (the naive per-sample gradient);
* ``loop_shared_fwd``: one batched forward, then one ``autograd.grad`` per sample and pair
  (``retain_graph``), the "per-sample backward loop" of DESIGN §5;
* ``forward``: ``model.embed`` (one no-grad batched forward of the same samples), the floor
  for any method that needs the layer inputs ``h``: ``loop / forward`` bounds the ratio.

The ratio is ``time(loop) / time(factored)``; the script also checks that both give the same
gradients (max relative error) and writes everything to JSON, with the load average (other
processes on the machine distort the timings; ratios within one run are what count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mmal.io import atomic_write_text
from mmal.nn import MultimodalClassifier, MultiTaskLateFusion
from mmal.nn.toy import sims_like_pool, vector_pool
from mmal.nn.training import load_batch


def per_sample_loop(model, pool, pos, pairs, shared_forward: bool) -> dict:
    """Explicit ``[n, out*in]`` gradients, one autograd call per sample and pair."""
    net, layers = model.net_, model.net_.grad_layers()
    net.eval()
    out_rows = {p: [] for p in pairs}
    if shared_forward:
        out = net(load_batch(pool, model.specs_, pos, model.device_))
    for j, i in enumerate(pos):
        if not shared_forward:
            o = net(load_batch(pool, model.specs_, np.array([i]), model.device_))
            sl = 0
        else:
            o, sl = out, j
        for k, (head, layer) in enumerate(pairs):
            loss = model._pseudo_loss(o, head, None, None, slice(sl, sl + 1))[0]
            last = shared_forward and j == len(pos) - 1 and k == len(pairs) - 1
            (g,) = torch.autograd.grad(loss, [layers[layer].weight], retain_graph=not last, allow_unused=True)
            g = torch.zeros_like(layers[layer].weight) if g is None else g
            out_rows[(head, layer)].append(g.flatten().cpu().numpy())
    return {p: np.stack(v) for p, v in out_rows.items()}


def timed(fn, repeat: int, sync) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        result = fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_case(name, model, pool, pairs, batch, repeat, loop_samples):
    sync = (lambda: torch.cuda.synchronize()) if model.device_.type == "cuda" else (lambda: None)
    pos = np.arange(batch)
    model.infer_batch_size = batch
    t_fact, fact = timed(lambda: model.grad_embed_many(pool, pos, pairs=pairs), repeat, sync)
    t_fwd, _ = timed(lambda: model.embed(pool, pos), repeat, sync)
    sub = pos[:loop_samples]  # the loops are timed on a prefix and scaled linearly to `batch`
    t_loop, slow = timed(lambda: per_sample_loop(model, pool, sub, pairs, shared_forward=False), 1, sync)
    t_shared, _ = timed(lambda: per_sample_loop(model, pool, sub, pairs, shared_forward=True), 1, sync)
    scale = batch / len(sub)
    err = max(
        float(np.abs(fact[p].take(sub).explicit() - slow[p]).max() / max(np.abs(slow[p]).max(), 1e-30)) for p in pairs
    )
    sizes = {m: list(pool.modalities[m].shape[1:]) for m in pool.modality_names}
    explicit_mb = sum(fact[p].delta.shape[1] * fact[p].h.shape[1] for p in pairs) * batch * 4 / 2**20
    factored_mb = sum((fact[p].delta.shape[1] + fact[p].h.shape[1]) for p in pairs) * batch * 4 / 2**20
    return {
        "case": name, "batch": batch, "pairs": [list(p) for p in pairs], "modalities": sizes,
        "layer_shapes": {f"{h}|{l}": [fact[(h, l)].delta.shape[1], fact[(h, l)].h.shape[1]] for h, l in pairs},
        "factored_s": t_fact, "forward_s": t_fwd, "loop_s": t_loop * scale, "loop_shared_fwd_s": t_shared * scale,
        "loop_samples_timed": len(sub),
        "ratio_loop_over_factored": t_loop * scale / t_fact, "ratio_shared_fwd_loop_over_factored": t_shared * scale / t_fact,
        "ratio_loop_over_forward": t_loop * scale / t_fwd,
        "max_rel_err": err, "explicit_MiB": explicit_mb, "factored_MiB": factored_mb,
    }


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--loop-samples", type=int, default=128, help="samples the slow loops run on (scaled to --batch)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "grads.json"))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    B = args.batch
    loop_n = min(args.loop_samples, B)

    rows = []
    sims = sims_like_pool(B, kind="regression", n_labeled=64, seed=0,
                          text_shape=(50, 768), audio_shape=(200, 25), vision_shape=(100, 177))
    mtl = MultiTaskLateFusion(feature_dim=32, hidden=32, epochs=1, device=args.device).fit(sims, seed=0)
    grace_pairs = [(h, f"enc:{m}") for m, h in mtl.unimodal_heads.items()] + [("M", f"enc:{m}") for m in mtl.unimodal_heads]
    rows.append(run_case("grace-simsv2", mtl, sims, grace_pairs, B, args.repeat, loop_n))

    food = vector_pool(B, kind="classification", n_classes=101, n_labeled=B, seed=1, dims=(512, 768))
    clf = MultimodalClassifier(feature_dim=64, hidden=64, epochs=1, device=args.device).fit(food, seed=0)
    badge_pairs = [("M", "head:M"), ("M", "enc:m0"), ("M", "enc:m1")]
    rows.append(run_case("badge-food101", clf, food, badge_pairs, B, args.repeat, loop_n))

    device = str(mtl.device_) + (f" ({torch.cuda.get_device_name()})" if mtl.device_.type == "cuda" else "")
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {B}")
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")
    print(f"{'case':<15}{'factored s':>12}{'forward s':>11}{'loop s':>10}{'ratio':>8}{'shared-fwd loop s':>19}{'ratio':>8}"
          f"{'max rel err':>13}")
    for r in rows:
        print(f"{r['case']:<15}{r['factored_s']:>12.4f}{r['forward_s']:>11.4f}{r['loop_s']:>10.3f}"
              f"{r['ratio_loop_over_factored']:>8.1f}{r['loop_shared_fwd_s']:>19.3f}"
              f"{r['ratio_shared_fwd_loop_over_factored']:>8.1f}{r['max_rel_err']:>13.2e}")
    meta = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "loadavg": load,
            "note": "loop times measured on loop_samples_timed samples, scaled to batch"}
    atomic_write_text(args.out, json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {args.out}")
    return rows


if __name__ == "__main__":
    main()
