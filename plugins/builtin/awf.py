"""Built-in plugin: the adaptive weight fusion task model (paper 004; :mod:`mmal.nn.awf`)."""

import mmal


@mmal.hookimpl
def register_task_models(register):
    register("awf", "mmal.nn.awf:AdaptiveWeightFusion", capabilities="embed,grad_embed,predict_proba_samples,predict_masked",
             tasks="regression,classification",
             summary="adaptive weight fusion: gradient-balancing B-fusion + modality attention A-fusion (paper 004)")
