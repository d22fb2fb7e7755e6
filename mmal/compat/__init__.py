"""Adapters between mmal and other active-learning toolkits.

``mmal.compat.modal`` connects mmal to modAL (query strategies both ways, an sklearn
estimator over a multimodal Pool, and an opt-in scikit-learn compatibility shim). Nothing
here is imported by ``import mmal``; import the adapter you use.
"""
