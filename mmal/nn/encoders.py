"""Per-modality encoders. Each ends in an ``nn.Linear`` (``self.out``) whose output is the
modality feature ``f_k`` (GRACE Sec. 3.2; the layer ``"enc:<modality>"`` and GRACE's ``W_k``).

* ``mlp`` - a feature vector ``[B, D]``: standardize -> Linear -> ReLU -> Dropout -> Linear.
* ``lstm`` - a padded sequence ``[B, L, D]`` with valid lengths (GRACE's audio / vision
  network): standardize -> Linear -> stacked bidirectional LSTM over the valid steps only
  -> the last layer's final forward and backward states -> Dropout -> Linear. A large batch
  runs in groups of similar length (:func:`by_length`), so padding costs little.
* ``pooled`` - a sequence of BERT token features ``[B, L, 768]`` (GRACE's text network is a
  fine-tuned BERT; on pre-extracted features we use a cheap stand-in): the mean over the valid
  tokens (or the first, ``[CLS]``, token) -> the ``mlp`` encoder.

* ``tokens`` - token ids ``[B, L]`` (0 = padding; Food101-style text as ids): a learned
  embedding, the mean over the non-padding tokens -> the ``mlp`` encoder. Ids beyond the
  vocabulary seen at fit time share one "unknown" embedding.

Inputs are standardized with per-dimension statistics of the labeled training samples,
kept as buffers (not trained).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ENCODER_KINDS = ("mlp", "lstm", "pooled", "tokens")


class Standardize(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sub(x, self.mean).div_(self.std)  # (x - mean) / std with one temporary


class MLPEncoder(nn.Module):
    """``[B, D] -> f [B, out_dim]``."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, mean=None, std=None) -> None:
        super().__init__()
        self.norm = Standardize(mean if mean is not None else np.zeros(in_dim), std if std is not None else np.ones(in_dim))
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.body(self.norm(x)))


class PooledSequenceEncoder(nn.Module):
    """``[B, L, D]`` + lengths -> masked mean (or first token) -> :class:`MLPEncoder`."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, mean=None, std=None, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.pooling = pooling
        self.mlp = MLPEncoder(in_dim, hidden, out_dim, dropout, mean, std)
        self.out = self.mlp.out

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.pooling == "cls":
            pooled = x[:, 0]
        elif lengths is None:
            pooled = x.mean(1)
        else:
            lens = lengths.to(x.device)
            mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lens[:, None]).to(x.dtype)
            pooled = torch.bmm(mask[:, None, :], x)[:, 0] / lens[:, None].to(x.dtype)  # no masked copy of x
        return self.mlp(pooled)


class TokenEncoder(nn.Module):
    """``[B, L]`` ids -> embedding -> mean over non-padding ids -> :class:`MLPEncoder`."""

    def __init__(self, vocab: int, hidden: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.vocab = int(vocab)
        self.embedding = nn.Embedding(self.vocab + 1, hidden, padding_idx=0)  # row `vocab`: unknown ids
        self.mlp = MLPEncoder(hidden, hidden, out_dim, dropout)
        self.out = self.mlp.out

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        ids = torch.where((ids < 0) | (ids >= self.vocab), torch.full_like(ids, self.vocab), ids)
        mask = (ids != 0).to(self.embedding.weight.dtype)
        pooled = (self.embedding(ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.mlp(pooled)


def reverse_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x [B, L, D]`` within its valid length (padding stays at the end)."""
    B, L, D = x.shape
    steps = torch.arange(L, device=x.device)[None, :]
    lens = lengths.to(x.device)[:, None]
    idx = torch.where(steps < lens, lens - 1 - steps, steps) + L * torch.arange(B, device=x.device)[:, None]
    return x.reshape(B * L, D).index_select(0, idx.flatten()).view(B, L, D)  # whole rows: far faster than gather


def by_length(fn, x: torch.Tensor, lengths: torch.Tensor, group: int) -> torch.Tensor:
    """``fn(x, lengths) -> [B, ...]`` run on groups of about ``group`` samples of similar valid length,
    each trimmed to its longest sequence, the rows put back in input order. A large batch of mixed
    lengths otherwise spends about half its steps on padding; each sample's result is the same."""
    n = x.shape[0] // max(int(group), 1)
    if n <= 1:
        return fn(x, lengths)
    order = torch.argsort(lengths, stable=True)
    parts = [fn(x[idx, : int(lengths[idx].max())], lengths[idx]) for idx in order.tensor_split(n)]
    return torch.cat(parts).index_select(0, torch.argsort(order))


class BiLSTM(nn.Module):
    """Stacked bidirectional LSTM over the valid steps of padded sequences; returns the last layer's
    final forward and backward states ``[B, 2 * hidden]``.

    Exactly a packed ``nn.LSTM(bidirectional=True)`` (tests compare them), built from one
    unidirectional LSTM per layer and direction: the backward direction runs on each sequence
    reversed within its valid length, so padding never reaches a valid step. Packed sequences
    have a pathologically slow backward pass on CPU (tens of times slower at SIMS lengths).
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.fwd = nn.ModuleList(nn.LSTM(in_dim if i == 0 else 2 * hidden, hidden, batch_first=True) for i in range(layers))
        self.bwd = nn.ModuleList(nn.LSTM(in_dim if i == 0 else 2 * hidden, hidden, batch_first=True) for i in range(layers))
        self.drop = nn.Dropout(dropout)  # between layers, as nn.LSTM(dropout=...)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Nothing to differentiate (inference, or G.grad_only_at on later layers): run as inference,
        # since in grad mode oneDNN's LSTM takes its slower training kernel even then.
        record = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))
        with torch.set_grad_enabled(record):
            return self._states(x, lengths)

    def _states(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        last = (lengths.to(x.device) - 1)[:, None, None]
        for i, (f, b) in enumerate(zip(self.fwd, self.bwd)):
            if i:
                x = self.drop(x)
            out_f, _ = f(x)
            out_b, _ = b(reverse_valid(x, lengths))
            if i == len(self.fwd) - 1:
                pick = lambda o: o.gather(1, last.expand(-1, 1, o.shape[2]))[:, 0]
                return torch.cat([pick(out_f), pick(out_b)], dim=1)
            x = torch.cat([out_f, reverse_valid(out_b, lengths)], dim=2)
        raise AssertionError("unreachable")


class LSTMEncoder(nn.Module):
    """``[B, L, D]`` + lengths -> Linear -> stacked BiLSTM (valid steps) -> final states -> Dropout -> Linear.

    A batch of at least ``2 * length_group`` samples runs the steps before the final Linear in
    groups of similar length (:func:`by_length`)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, mean=None, std=None, layers: int = 2,
                 length_group: int = 64) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"lstm_layers must be >= 1, got {layers}")
        self.length_group = int(length_group)
        self.norm = Standardize(mean if mean is not None else np.zeros(in_dim), std if std is not None else np.ones(in_dim))
        self.proj = nn.Linear(in_dim, hidden)
        self.rnn = BiLSTM(hidden, hidden, layers, dropout)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, out_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        states = by_length(self._final_states, x, lengths.to(x.device), self.length_group)
        return self.out(self.drop(states))

    def _final_states(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.proj(self.norm(x)), lengths)


def default_encoder_kind(name: str, kind: str) -> str:
    """``mlp`` for vectors, ``tokens`` for ids, ``pooled`` for a sequence named ``text`` (BERT features), else ``lstm``."""
    if kind in ("vector", "tokens"):
        return "mlp" if kind == "vector" else "tokens"
    return "pooled" if name == "text" else "lstm"


def build_encoder(kind: str, in_dim: int, *, hidden: int, out_dim: int, dropout: float, mean=None, std=None,
                  lstm_layers: int = 2, pooling: str = "mean") -> nn.Module:
    if kind == "mlp":
        return MLPEncoder(in_dim, hidden, out_dim, dropout, mean, std)
    if kind == "pooled":
        return PooledSequenceEncoder(in_dim, hidden, out_dim, dropout, mean, std, pooling)
    if kind == "tokens":
        return TokenEncoder(in_dim, hidden, out_dim, dropout)
    if kind == "lstm":
        return LSTMEncoder(in_dim, hidden, out_dim, dropout, mean, std, lstm_layers)
    raise ValueError(f"encoder kind must be one of {ENCODER_KINDS}, got {kind!r}")
