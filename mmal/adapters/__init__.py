"""Your own model as an mmal TaskModel (DESIGN §8, layer 3): the adapters wrap your objects, they
never ask you to rewrite a model.

* :class:`TorchModel` (:mod:`mmal.adapters.torch_module`) - any ``torch.nn.Module``, given the
  names of its modality encoders' last layers and of its heads: embeddings, factored gradient
  embeddings from hooks, MC-dropout samples, masked-modality predictions, a fit loop.
* :class:`SklearnModel` (:mod:`mmal.adapters.sklearn_estimator`) - any scikit-learn estimator:
  predictions, its inputs as embeddings, closed-form gradients of linear log-loss models.

They turn a model into capabilities and hold no strategy math. Imported on use (``import mmal``
imports neither torch nor these modules).
"""

_WHERE = {"TorchModel": "torch_module", "SklearnModel": "sklearn_estimator"}


def __getattr__(name):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)
