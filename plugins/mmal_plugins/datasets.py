"""Built-in plugin: the synthetic dataset families and real-format loaders of mmal.data."""

import mmal


@mmal.hookimpl
def register_datasets(register):
    register("toy", "mmal.data.toy:make_toy", summary="tiny generic synthetic data (task=classification|regression)")
