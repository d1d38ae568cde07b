"""Strict settings for the whole suite."""

import os

os.environ.setdefault("EQX_ON_ERROR", "raise")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def key():
    return jax.random.key(20260428)


@pytest.fixture(autouse=True)
def _fresh_trace_counter():
    """chex.assert_max_traces counts per function code: reset between (parametrized) tests."""
    import chex

    chex.clear_trace_counter()
    yield


def pytest_collection_finish(session):
    """Start the notebooks' quick runs in the background (tests/test_notebooks.py)."""
    import os
    import sys

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # under xdist a worker collects every test but runs only its files: start lazily
    module = sys.modules.get("test_notebooks")  # imported by collection if selected
    if module is not None:
        module.start_quick_runs(session)
