import numpy as np
import pytest

from chainrule.gradcheck import compare, gradient_check, numerical_gradient
from chainrule.layers import Affine, MulLayer


def test_numerical_gradient_of_a_known_function():
    x = np.array([3.0, 4.0])
    grad = numerical_gradient(lambda v: np.sum(v ** 2), x)
    np.testing.assert_allclose(grad, [6.0, 8.0], rtol=1e-8)
    np.testing.assert_array_equal(x, [3.0, 4.0])  # restored exactly


def test_numerical_gradient_refuses_integer_arrays():
    with pytest.raises(TypeError, match="floating-point"):
        numerical_gradient(lambda v: v.sum(), np.array([1, 2]))


class BrokenMul(MulLayer):
    def backward(self, dout):
        dx, dy = super().backward(dout)
        return dx * 1.01, dy  # a 1% bug in dx


def test_gradient_check_catches_a_wrong_backward(rng):
    report = gradient_check(BrokenMul(), rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))
    assert not report.ok
    assert not report["x"].ok and report["y"].ok
    assert report["x"].max_rel > 1e-3
    assert "MISMATCH" in str(report)


def test_report_has_per_parameter_errors(rng):
    layer = Affine(rng.standard_normal((4, 3)), rng.standard_normal(3))
    report = gradient_check(layer, rng.standard_normal((5, 4)))
    assert list(report) == ["x", "W", "b"]
    for c in report.values():
        assert c.ok and c.max_abs < 1e-7 and c.max_rel < 1e-6 and c.mean_abs <= c.max_abs


def test_compare_relative_and_absolute_errors():
    c = compare("w", np.array([1.0, 2.0]), np.array([1.0, 2.2]))
    assert c.max_abs == pytest.approx(0.2) and c.max_rel == pytest.approx(0.2 / 4.2) and not c.ok


def test_gradient_check_rejects_other_objects():
    with pytest.raises(TypeError, match="neither a layer"):
        gradient_check(object())
