"""Built-in plugin: a fast linear task model (ridge / logistic regression) on pooled features.

Each head is fit on the concatenation of every modality's pooled, standardized features; a
unimodal head without labels of its own learns the fused label. It offers ``embed`` and
``predict_masked``, not gradients: use it for quick runs and for feature-level strategies.

Regularization (measured with benchmarks/calibration.py; docs/task-models.md): ridge picks its
penalty by efficient leave-one-out cross-validation over ``ALPHAS`` unless ``alpha`` is given;
logistic regression uses ``C=0.01`` (with ~1-2k standardized features ``C=1`` overfits small
labeled sets).
"""

import numpy as np

import mmal
from mmal.model import EMBED, PREDICT_MASKED

ALPHAS = tuple(np.logspace(-1, 4, 11))  # ridge penalties tried by leave-one-out when alpha=None


class LinearModel:
    capabilities = frozenset({EMBED, PREDICT_MASKED})

    def __init__(self, alpha: float | None = None, C: float = 0.01, max_iter: int = 300):
        if (alpha is not None and alpha <= 0) or C <= 0:
            raise mmal.ConfigError(f"alpha (ridge penalty; None = leave-one-out choice) and C (inverse logistic penalty) "
                             f"must be > 0, got alpha={alpha}, C={C}")
        self.alpha = None if alpha is None else float(alpha)
        self.C, self.max_iter = float(C), int(max_iter)
        self.fit_signature_ = None  # Strategy.select refuses an unfitted model, or one fitted on another layout

    @property
    def unimodal_heads(self):
        """The task's own unimodal heads (this model adds none): ``{modality: head}``."""
        return {m: h for h, m in self.task_.head_modality.items() if h in self.heads_}

    def _features(self, pool, positions=None, absent=frozenset()):
        blocks = {}
        for name in pool.modality_names:
            x = (pool.pooled(name, positions) - self.mean_[name]) / self.scale_[name]
            blocks[name] = np.zeros_like(x) if name in absent else x
        return blocks

    def fit(self, pool, *, seed=0):
        from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV

        pos = pool.labeled_positions()
        if pos.size == 0:
            raise mmal.PoolError("LinearModel.fit: the pool has no labeled samples")
        self.task_ = pool.task
        self.mean_, self.scale_ = {}, {}
        for name in pool.modality_names:
            x = pool.pooled(name, pos)
            self.mean_[name], self.scale_[name] = x.mean(0), x.std(0) + 1e-6
        X = np.concatenate(list(self._features(pool, pos).values()), axis=1)
        self.heads_ = {}
        for head in pool.task.heads:
            y = pool.labels[head][pos]
            keep = ~np.isnan(y)
            y, Xh = (y[keep], X[keep]) if keep.any() else (pool.labels["M"][pos], X)
            if not pool.task.is_classification:
                if self.alpha is None and len(y) >= 3:
                    ridge = RidgeCV(alphas=ALPHAS)  # efficient leave-one-out over the grid
                else:  # a given penalty, or too few labels to cross-validate: the grid's geometric middle
                    ridge = Ridge(alpha=self.alpha if self.alpha is not None else float(np.sqrt(ALPHAS[0] * ALPHAS[-1])))
                self.heads_[head] = ridge.fit(Xh, y)
            elif np.unique(y).size < 2:
                self.heads_[head] = int(y[0])  # one class labeled: predict it everywhere
            else:
                self.heads_[head] = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed).fit(Xh, y.astype(int))
        self.fit_signature_ = mmal.model.fit_signature(pool)
        return self

    def _head_out(self, head, X):
        est, task = self.heads_[head], self.task_
        if not task.is_classification:
            out = est.predict(X)
            return np.clip(out, *task.label_range)[:, None] if task.label_range else out[:, None]
        proba = np.zeros((X.shape[0], task.n_classes))
        if isinstance(est, int):
            proba[:, est] = 1.0
        else:
            proba[:, est.classes_] = est.predict_proba(X)
        return proba

    def _all_heads(self, pool, positions):
        X = np.concatenate(list(self._features(pool, positions).values()), axis=1)
        return {h: self._head_out(h, X) for h in self.heads_}

    def predict(self, pool, positions=None):
        out = self._all_heads(pool, positions)
        if self.task_.is_classification:
            return {h: p.argmax(1) for h, p in out.items()}
        return {h: p[:, 0] for h, p in out.items()}

    def predict_proba(self, pool, positions=None):
        if not self.task_.is_classification:
            raise mmal.CapabilityError("predict_proba is for classification tasks")
        return self._all_heads(pool, positions)

    def embed(self, pool, positions=None):
        blocks = self._features(pool, positions)
        return {**blocks, "fused": np.concatenate(list(blocks.values()), axis=1)}

    def predict_masked(self, pool, positions=None, *, absent=frozenset()):
        X = np.concatenate(list(self._features(pool, positions, frozenset(absent)).values()), axis=1)
        return self._head_out("M", X)


@mmal.hookimpl
def register_task_models(register):
    register("linear", LinearModel, summary="ridge / logistic regression on pooled features", tasks="regression,classification",
             capabilities="embed,predict_masked")

