"""Figures of the report, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes the numbers it shows and writes PNG (and SVG where asked) files. Bands
are 95% t-intervals of the mean over seeds (:func:`mmal.bench.stats.ci_band`); a curve of one
seed has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .stats import CI_LEVEL, ci_band

DPI = 120


def _figure(w: float = 6.4, h: float = 4.2, ncols: int = 1, nrows: int = 1):
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Figure, stem: Path, formats: Sequence[str]) -> list[Path]:
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, format=fmt)
        out.append(path)
    return out


Curve = tuple[np.ndarray, np.ndarray]  # (x labeled counts [R], values [n_seeds, R])


BAND = f"band: {CI_LEVEL:.0%} CI of the mean over seeds (t)"


def _band(ax, x: np.ndarray, Y: np.ndarray, label: str) -> None:
    """The mean over seeds as a line, its t-interval as a shaded band."""
    mean = Y.mean(0)
    (line,) = ax.plot(x, mean, marker="o", ms=3, label=label)
    half = ci_band(Y)
    if half is not None:
        ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=0.18, lw=0)


def _draw_curves(ax, curves: Mapping[str, Curve], reference: float | None, metric: str, lower: bool) -> None:
    for name, (x, Y) in curves.items():
        _band(ax, x, Y, f"{name} (n={Y.shape[0]} seed{'s' if Y.shape[0] != 1 else ''})")
    if reference is not None:
        ax.axhline(reference, color="black", ls="--", lw=1, label="full data")
    ax.set_xlabel("labeled samples")
    ax.set_ylabel(f"{metric} ({'lower' if lower else 'higher'} is better)")
    ax.grid(alpha=0.3)


def learning_curves(curves: Mapping[str, Curve], stem: Path, *, metric: str, title: str, lower: bool,
                    reference: float | None = None, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Metric vs labeled samples: mean over seeds, band of the 95% CI (GRACE Figs. 4-5)."""
    fig, ax = _figure()
    _draw_curves(ax[0, 0], curves, reference, metric, lower)
    ax[0, 0].set_title(title)
    ax[0, 0].legend(fontsize=8, title=BAND, title_fontsize=7)
    return _save(fig, stem, formats)


def panel_curves(panels: Mapping[str, Mapping[str, Curve]], stem: Path, *, title: str, lower: bool,
                 formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """One panel per metric (fused and each modality's head), as BMMAL Fig. 4."""
    n = len(panels)
    fig, axes = _figure(w=4.2 * n, h=3.8, ncols=n)
    for ax, (metric, curves) in zip(axes[0], panels.items()):
        _draw_curves(ax, curves, None, metric, lower)
        ax.set_title(metric)
    axes[0, 0].legend(fontsize=7, title=BAND, title_fontsize=6)
    fig.suptitle(title)
    return _save(fig, stem, formats)


def contribution_curves(per_strategy: Mapping[str, Mapping[str, Curve]], stem: Path, *, title: str,
                        formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Modality contribution Phi over rounds, one panel per strategy (BMMAL Figs. 2-3)."""
    n = len(per_strategy)
    fig, axes = _figure(w=3.6 * n, h=3.4, ncols=n)
    for ax, (name, mods) in zip(axes[0], per_strategy.items()):
        for mod, (x, Y) in mods.items():
            _band(ax, x, Y, mod)
        ax.set_ylim(0, 1)
        ax.set_title(name)
        ax.set_xlabel("labeled samples")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("modality contribution")
    axes[0, 0].legend(fontsize=8, title=BAND, title_fontsize=6)
    fig.suptitle(title)
    return _save(fig, stem, formats)


def pairwise_heatmap(P: np.ndarray, column_avg: np.ndarray, names: Sequence[str], stem: Path, *, title: str,
                     n_settings: int, formats: Sequence[str] = ("png",)) -> list[Path]:
    """BMMAL Fig. 5: P[i, j] = times strategy i significantly beats j; bottom row: column means."""
    n = len(names)
    M = np.vstack([P, column_avg[None, :]])
    fig, axes = _figure(w=1.2 + 0.9 * n, h=1.4 + 0.8 * (n + 1))
    ax = axes[0, 0]
    im = ax.imshow(M, cmap="viridis", vmin=0, vmax=max(float(n_settings), 1e-9), aspect="auto")
    for i in range(n + 1):
        for j in range(n):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if M[i, j] < 0.6 * max(n_settings, 1) else "black")
    ax.axhline(n - 0.5, color="white", lw=2)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n + 1), list(names) + ["column mean"])
    ax.set_xlabel("strategy j (beaten)")
    ax.set_ylabel("strategy i (wins)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, stem, formats)
