"""Raw text -> BERT-style token features, from a model on local disk only (never a hub download).

    >>> bert = BertFeatureExtractor("/models/bert-base-chinese", max_length=50)
    >>> feats, lengths = bert(["a sentence", "another one"])   # [N, 50, 768], [N]
    >>> pool = Pool({"text": feats, ...}, task, lengths={"text": lengths, ...})

The sequence layout is MMSA's ``text`` feature (``[N, max_length, hidden]``, zeros after the
valid tokens, ``[CLS]`` first); :meth:`BertFeatureExtractor.pooled` gives one vector per text
(``[CLS]`` or the mean of the valid tokens) for feature-level pools. Prepare the model once with
``AutoModel.from_pretrained(name).save_pretrained(path)`` (and the tokenizer likewise) on a
machine with network access; here it is loaded with ``local_files_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..extras import require
from .training import chunks, resolve_device


class BertFeatureExtractor:
    """Last-layer hidden states of a local transformers encoder (BERT or any ``AutoModel``)."""

    def __init__(self, path: str | Path, *, max_length: int = 50, batch_size: int = 32, device: str = "auto") -> None:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"no transformers model at {str(path)!r} (config.json missing); mmal loads text encoders from a local "
                "path only: save one there first with AutoModel/AutoTokenizer .save_pretrained(path)"
            )
        transformers = require("transformers", "BertFeatureExtractor (raw text -> token features)")
        AutoModel, AutoTokenizer = transformers.AutoModel, transformers.AutoTokenizer

        self.path, self.max_length, self.batch_size = path, int(max_length), int(batch_size)
        self.device = resolve_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).to(self.device).float().eval()
        self.hidden_size = int(self.model.config.hidden_size)

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(features [N, max_length, hidden] float32, lengths [N])``; padded steps are zero."""
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"texts must be strings; positions {bad[:5]} are not")
        feats = np.zeros((len(texts), self.max_length, self.hidden_size), dtype=np.float32)
        lengths = np.zeros(len(texts), dtype=np.int64)
        with torch.no_grad():
            for idx in chunks(np.arange(len(texts)), self.batch_size):
                enc = self.tokenizer([texts[i] for i in idx], padding="max_length", truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                enc = {k: v.to(self.device) for k, v in enc.items()}
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"]
                feats[idx] = (hidden * mask[..., None]).float().cpu().numpy()
                lengths[idx] = mask.sum(1).cpu().numpy()
        return feats, lengths

    def pooled(self, texts: Sequence[str], pooling: str = "cls") -> np.ndarray:
        """One vector per text ``[N, hidden]``: the ``[CLS]`` state or the mean over the valid tokens."""
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        feats, lengths = self(texts)
        if pooling == "cls":
            return feats[:, 0].copy()
        return feats.sum(1) / lengths[:, None].astype(np.float32)
