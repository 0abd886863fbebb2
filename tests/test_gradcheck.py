import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chainrule.cli import main
from chainrule.gradcheck import compare, gradient_check, numerical_gradient
from chainrule.layers import Affine, Layer, MulLayer, Relu
from chainrule.nets import MultiLayerNet, TwoLayerNet


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


# --- a check that cannot pass a broken gradient, and does not fail a correct one --------------------------

class NaNBackward(MulLayer):
    def backward(self, dout):
        dx, dy = super().backward(dout)
        return dx * np.nan, dy


class OnlyDx(MulLayer):
    def backward(self, dout):
        return super().backward(dout)[0]


def test_nan_gradients_are_failures(rng):
    report = gradient_check(NaNBackward(), rng.standard_normal((2, 2)), rng.standard_normal((2, 2)))
    assert not report.ok and not report["x"].ok and "NaN" in report["x"].why


def test_every_input_of_a_multi_input_layer_is_checked(rng):
    with pytest.raises(ValueError, match=r"OnlyDx.backward returned 1 gradient\(s\) for 2 input\(s\) \(x, y\)"):
        gradient_check(OnlyDx(), rng.standard_normal(3), rng.standard_normal(3))


def test_integer_inputs_are_an_error_not_an_empty_report():
    with pytest.raises(TypeError, match="gradient_check: input x is ndarray of dtype int64"):
        gradient_check(Relu(), np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="gradient_check: input x is ndarray of dtype int64"):
        gradient_check(TwoLayerNet(3, 4, 2), np.array([[1, 2, 3]]), np.array([0]))


def test_an_empty_report_is_not_ok():
    from chainrule.gradcheck import GradCheckReport
    assert not GradCheckReport().ok


def test_entries_at_a_relu_kink_are_skipped_and_counted():
    x = np.array([1e-9, -0.5, 0.7])          # the first sits within h/10⁴ = 1e-8 of ReLU's kink at 0
    report = gradient_check(Relu(), x, dout=np.ones(3))
    assert report.ok and report["x"].kinks == 1 and report["x"].compared == 2
    assert "1 of 3 at a kink" in str(report)


def test_an_entry_near_a_kink_is_checked_with_a_smaller_step():
    """1e-5 is within h = 1e-4 of ReLU's kink but not within h/100: the smaller step checks it (derivative 1)."""
    x = np.array([1e-5, -0.5, 0.7])
    grad = numerical_gradient(lambda v: np.sum(np.maximum(v, 0)), x.copy())   # without kink states: h only
    np.testing.assert_allclose(grad, [0.55, 0.0, 1.0])   # ±h straddles 0: (1e-4 + 1e-5 − 0) / 2e-4
    report = gradient_check(Relu(), x, dout=np.ones(3))
    assert report.ok and report["x"].kinks == 0 and report["x"].compared == 3


def test_sampled_network_check_compares_only_the_chosen_entries(rng):
    net = MultiLayerNet(30, [40], 3, weight_init_std="he", seed=0)
    x, t = rng.standard_normal((2, 30)), np.array([0, 2])
    report = gradient_check(net, x, t, max_entries=50)
    assert report.ok
    assert report["W1"].compared + report["W1"].kinks == 50 and report["W1"].unchecked == 1200 - 50
    assert report["b2"].unchecked == 0 and report["b2"].compared + report["b2"].kinks == 3
    assert "50 random entries of 1200" in str(report)
    wrong = MultiLayerNet(30, [40], 3, weight_init_std="he", seed=0)
    original = wrong.gradient
    wrong.gradient = lambda x, t: {k: v * (1.01 if k == "W1" else 1) for k, v in original(x, t).items()}
    assert not gradient_check(wrong, x, t, max_entries=50)["W1"].ok      # a sample still catches a wrong rule


def test_a_correct_network_on_kinks_passes(rng):
    """Tiny activations (weights 0.01) put many hidden units within h of ReLU's kink: the check must not fail."""
    net = MultiLayerNet(2, [10, 10], 3, weight_init_std=0.01, seed=0)
    x, t = rng.standard_normal((2, 2)) * 0.01, np.array([0, 2])
    report = gradient_check(net, x, t)
    assert report.ok, str(report)


def test_cli_gradcheck_on_spiral_and_a_deeper_net_passes(capsys):
    assert main(["gradcheck", "--dataset", "spiral"]) == 0
    assert main(["gradcheck", "--hidden", "10,10", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "central differences" in out and "ok:" in out


def test_cli_gradcheck_says_when_it_has_fewer_samples_than_asked(capsys):
    """spiral has 900 training samples: --samples 5000 checked 900 and the header only said "on 900 samples"."""
    assert main(["gradcheck", "--dataset", "spiral", "--samples", "5000", "--entries", "2"]) == 0
    assert "on 900 spiral sample(s) (every training sample it has; --samples 5000 asked):" in capsys.readouterr().out


@settings(max_examples=50, deadline=None)
@given(st.integers(-3, 12), st.floats(-5, 5).filter(lambda c: abs(c) > 1e-3), st.integers(0, 2 ** 32 - 1))
@example(5, 0.12299273756739648, 11192287)   # the rounding of f, not of x, showed: 1.02e-6 off
def test_central_differences_keep_the_rounding_of_large_inputs_out(power, slope, seed):
    """For f(x) = slope · Σ x the numerical gradient is the slope, whatever the magnitude of x (10⁻³ to 10¹²):
    where x ± h would lose h to the spacing of x the step grows with |x|, and the quotient divides by the step x
    really took."""
    x = np.random.default_rng(seed).uniform(0.5, 1.5, (2, 3)) * 10.0 ** power
    grad = numerical_gradient(lambda v: slope * v.sum(), x)
    np.testing.assert_allclose(grad, slope, rtol=1e-6)


class ExpOfScaled(Layer):
    """y = exp(k·x), backward dout·k·y (times 1 + ``bug``): a loss whose curvature grows as k³, so that the
    central difference's own error, h²·k²/6 relative, passes the tolerance at h = 1e-4 for k ≳ 30."""

    def __init__(self, k, bug=0.0):
        super().__init__()
        self.k, self.bug, self.y = k, bug, None

    def forward(self, x):
        self.y = np.exp(self.k * x)
        return self.y

    def backward(self, dout):
        return dout * self.k * self.y * (1 + self.bug)


@settings(max_examples=40, deadline=None)
@given(st.floats(40, 200), st.floats(1e-4, 1e-2), st.integers(0, 2 ** 32 - 1))
def test_the_central_differences_own_error_is_rechecked_and_a_wrong_backprop_still_fails(k, bug, seed):
    """Where the numerical side is off (its error h²·f‴/6 above the tolerance), the entries are differentiated
    again at h/10 (then h/100) and a right backprop passes; a backprop wrong by 0.01–1% fails at every step. (It
    failed the right one: `chainrule gradcheck --arch conv(4,3)-flatten-bn-affine(10)`, a batch norm over three
    samples, reported W1 as a mismatch.)"""
    x = np.random.default_rng(seed).uniform(-1, 1, (3, 4)) / k        # k·x in [−1, 1]
    at_h = numerical_gradient(lambda v: np.sum(np.exp(k * v)), x.copy())
    right = gradient_check(ExpOfScaled(k), x, dout=np.ones((3, 4)))
    assert right.ok
    exact = k * np.exp(k * x)
    if np.any(np.abs(at_h - exact) > 1e-7 + 1e-5 * np.abs(at_h)):  # the plain check at h would have failed
        assert right["x"].rechecked > 0 and "rechecked at a smaller step" in str(right)
    wrong = gradient_check(ExpOfScaled(k, bug), x, dout=np.ones((3, 4)))
    assert not wrong.ok and wrong["x"].rechecked == 0 and "MISMATCH" in str(wrong)


def test_cli_gradcheck_passes_a_batch_norm_over_three_samples(capsys):
    """The book's check (3 samples, h = 1e-4) on a batch norm of flattened feature maps: its loss is so curved that
    the central difference at h is off by 3e-7; rechecked at h/10, backprop agrees."""
    assert main(["gradcheck", "--arch", "conv(4,3)-flatten-bn-affine(10)"]) == 0
    out = capsys.readouterr().out
    assert "entries rechecked at a smaller step" in out and out.rstrip().endswith("every compared entry agrees")


@pytest.mark.parametrize("arch", ["affine(4)-bn-relu", "conv(2,3)-flatten-bn"])
def test_cli_gradcheck_of_a_batch_norm_over_rows_on_one_sample_says_why(arch, capsys):
    """It ended in the catch-all "ValueError: BatchNormalization: … (set CHAINRULE_DEBUG=1 for the traceback)"."""
    assert main(["gradcheck", "--arch", arch, "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert "--samples 1: the batch normalisation of layer" in err and "give --samples 2 or more" in err, err
    assert "CHAINRULE_DEBUG" not in err
    assert main(["gradcheck", "--arch", "conv(2,3)-bn-relu", "--samples", "1"]) == 0   # over channels: one image does


def test_a_network_whose_loss_is_not_finite_is_refused_and_a_huge_one_says_why_it_fails(capsys):
    """--init 1e300 printed NumPy's warning and "MISMATCH the backprop gradient holds NaN or infinite values": the
    network was never wrong, its loss was NaN. It is refused, naming the loss. At --init 30 a SimpleConvNet's loss
    is about 7e6 and the central difference's rounding alone passes the tolerance: the mismatch said nothing
    ("MISMATCH" and an empty reason); it now says so."""
    from chainrule.cli import main
    from chainrule.nets import TwoLayerNet
    x, t = np.random.default_rng(0).random((3, 4)), np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"gradient check: the loss at these weights is (nan|inf), so no gradient "
                                         r"can be compared; expected a finite loss"):
        gradient_check(TwoLayerNet(4, 5, 3, weight_init_std=1e300, seed=0), x, t)
    assert main(["gradcheck", "--init", "1e300"]) == 2
    err = capsys.readouterr().err
    assert "the loss at these weights is nan" in err and "(--init 1e+300)" in err and "RuntimeWarning" not in err
    report = gradient_check(TwoLayerNet(4, 5, 3, weight_init_std=1e4, seed=0), x * 1e3, t)
    failed = [c for c in report.values() if not c.ok]
    assert failed and all("the central difference's rounding error (about |L|·ε/h = " in c.why for c in failed), failed
