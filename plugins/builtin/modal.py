"""Built-in plugin: modAL's uncertainty sampling functions as mmal strategies.

Each scores the unlabeled samples with the fused head's ``predict_proba`` through
:func:`mmal.compat.modal.from_modal`, so modAL users can compare them in ``mmal bench``;
modAL is imported only when one runs. Keyword arguments (``random_tie_break=True``) go to
the modAL function.
"""

import mmal

# name -> (modAL function, does a larger modAL metric mean a better pick?, summary)
MODAL_FUNCTIONS = {
    "modal-uncertainty": ("modAL.uncertainty:uncertainty_sampling", True, "modAL least confidence: max 1 - max_c p(c|x)"),
    "modal-margin": ("modAL.uncertainty:margin_sampling", False, "modAL margin: min p(c1|x) - p(c2|x), top two classes"),
    "modal-entropy": ("modAL.uncertainty:entropy_sampling", True, "modAL entropy: max -sum_c p(c|x) log p(c|x)"),
}


def _factory(name):
    def build(**fn_kwargs):
        from mmal.compat.modal_strategy import from_modal

        function, higher_is_better, _ = MODAL_FUNCTIONS[name]
        return from_modal(function, name=name, higher_is_better=higher_is_better)(**fn_kwargs)

    return build


@mmal.hookimpl
def register_strategies(register):
    for name, (_, _, summary) in MODAL_FUNCTIONS.items():
        register(name, _factory(name), summary=summary, tasks="classification")
