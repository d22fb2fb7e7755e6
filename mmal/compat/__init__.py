"""Adapters between mmal and other active-learning toolkits.

``mmal.compat.modal`` holds the public names of the modAL interop, split by purpose into
``positions`` (X = pool positions), ``estimator`` (MMALEstimator), ``query`` (mmal strategies as
modAL query strategies), ``modal_strategy`` (modAL query functions as mmal strategies) and
``shim`` (modAL 0.4.2.1 on scikit-learn >= 1.8). Nothing here is imported by ``import mmal``;
your own models become TaskModels through :mod:`mmal.adapters`.
"""
