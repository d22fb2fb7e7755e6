"""Built-in plugin: the DMMSA task model (paper 003; :mod:`mmal.nn.dmmsa`)."""

import mmal


@mmal.hookimpl
def register_task_models(register):
    register("dmmsa", "mmal.nn.dmmsa:DMMSA", capabilities="embed,grad_embed,predict_proba_samples,predict_masked",
             tasks="regression,classification",
             summary="DMMSA: similarity/dissimilarity features, regression + polarity + shared unimodal heads, "
                     "Multi NT-Xent, GDWG task weights (paper 003)")
