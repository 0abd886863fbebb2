import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_gradients_match(report):
    assert report, "the gradient check compared nothing"
    assert report.ok, "\n" + str(report)
