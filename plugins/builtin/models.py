"""Built-in plugin: the torch task models of mmal.nn (imported only when built).

* ``mtl`` - GRACE Sec. 3.2 multi-task late-fusion MSA model (regression or classification).
* ``mm-classifier`` - BMMAL Eq. 1 M-modality classifier, concat (default) or ``fusion="sum"``.
* ``nlgate`` - BMMAL's classifier with NL-gate (non-local) fusion (BMMAL Sec. 4.5, Fig. 7).
* ``lfmim`` - LFMIM (Sun et al. 2023), the transformer task model of GRACE supplement App. E.
"""

import mmal

CAPS = "embed,grad_embed,predict_proba_samples,predict_masked"


@mmal.hookimpl
def register_task_models(register):
    register("mtl", "mmal.nn.late_fusion:MultiTaskLateFusion", capabilities=CAPS, tasks="regression,classification",
             summary="multi-task late-fusion MSA model: BiLSTM / MLP encoders, unimodal + fused heads (GRACE Sec. 3.2)")
    register("mm-classifier", "mmal.nn.classifier:MultimodalClassifier", capabilities=CAPS, tasks="classification",
             summary="M-modality classifier: unimodal + concat/sum-fused linear classifiers, mean CE (BMMAL Eq. 1)")
    register("nlgate", "mmal.nn.nlgate:NLGateClassifier", capabilities=CAPS, tasks="classification",
             summary="BMMAL classifier with NL-gate fusion: one modality's tokens attend over the others' (BMMAL Fig. 7)")
    register("lfmim", "mmal.nn.lfmim:LFMIM", capabilities=CAPS, tasks="regression,classification",
             summary="LFMIM: unimodal transformers + a multimodal transformer fed every unimodal layer (GRACE App. E)")
