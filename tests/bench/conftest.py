"""Fixtures of the bench tests."""

import pytest


@pytest.fixture
def plugins_with(request):
    """Register in-process test plugins on top of the installed ones; restore afterwards."""
    import mmal.plugins as plugins

    old = plugins.default()
    fresh = plugins.reset(plugins.Plugins())

    def add(obj, name):
        fresh.register(obj, name=name)
        return fresh

    yield add
    plugins.reset(old)
