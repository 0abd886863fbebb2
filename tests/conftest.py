import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


#: the tests that compile every convolution loop: run last, when the process below has filled numba's cache
COMPILING_TESTS = "test_conv_loops.py"


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.path.name == COMPILING_TESTS)      # a stable sort: the order is kept otherwise


@pytest.fixture(scope="session", autouse=True)
def compiled_loops_in_the_background():
    """Compile every convolution loop (both dtypes) in a process of the lowest priority while the first tests run.

    On a fresh checkout numba's disk cache is empty, and the loops' first uses would compile them one after
    another in this process: about two minutes, most of a cold run's extra time. The process below fills the same
    cache on an idle core instead (``chainrule.kernels.compile_all``); a loop this process needs before it is there
    is compiled here as before, and any test that measures time only ever competes with a process at nice 19. The
    tests that compile every loop run last (:func:`pytest_collection_modifyitems`)."""
    import chainrule
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(chainrule.__file__).parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    worker = subprocess.Popen([sys.executable, "-c", "from chainrule import kernels; kernels.compile_all()"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: os.nice(19))
    yield
    worker.terminate()  # a run of a few tests does not wait for it; numba writes each cache file whole or not at all
    worker.wait()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_gradients_match(report):
    assert report, "the gradient check compared nothing"
    assert report.ok, "\n" + str(report)
