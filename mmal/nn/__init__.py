"""Torch task models (imported on use: ``import mmal`` does not import torch).

* :class:`MultiTaskLateFusion` - GRACE Sec. 3.2 multi-task late-fusion MSA model (plugin ``"mtl"``).
* :class:`MultimodalClassifier` - BMMAL Eq. 1 M-modality classifier (plugin ``"mm-classifier"``).
* :class:`TorchTaskModel` - their shared base (fit / predict and the four capabilities);
  later models (DMMSA, AWF) subclass it.
* :class:`BertFeatureExtractor` (:mod:`mmal.nn.text`) - raw text to BERT features, local path only.
"""

from .capabilities import NetOutput, TorchTaskModel
from .classifier import MultimodalClassifier
from .late_fusion import GRACE_LOSS_WEIGHTS, MultiTaskLateFusion


def __getattr__(name):
    if name == "BertFeatureExtractor":
        from .text import BertFeatureExtractor

        return BertFeatureExtractor
    raise AttributeError(name)


__all__ = ["BertFeatureExtractor", "GRACE_LOSS_WEIGHTS", "MultiTaskLateFusion", "MultimodalClassifier", "NetOutput",
           "TorchTaskModel"]
