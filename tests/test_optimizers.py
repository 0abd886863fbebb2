import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import kernels, optimizers
from chainrule.nets import MultiLayerNet
from chainrule.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop


def test_sgd_step_is_exact_and_in_place():
    w = np.array([1.0, 2.0])
    params = {"w": w}
    SGD(lr=0.1).update(params, {"w": np.array([10.0, -10.0])})
    assert params["w"] is w
    np.testing.assert_allclose(w, [0.0, 3.0])


def test_momentum_accumulates_velocity():
    params, opt = {"w": np.array([0.0])}, Momentum(lr=0.1, momentum=0.9)
    opt.update(params, {"w": np.array([1.0])})
    opt.update(params, {"w": np.array([1.0])})
    np.testing.assert_allclose(params["w"], [-0.1 - 0.19])


def test_adam_first_step_moves_by_lr_times_sign():
    params = {"w": np.array([1.0, 1.0, 1.0])}
    Adam(lr=0.01).update(params, {"w": np.array([3.0, -0.2, 50.0])})
    np.testing.assert_allclose(params["w"], [0.99, 1.01, 0.99], rtol=1e-5)


def test_adagrad_and_rmsprop_first_steps():
    p = {"w": np.array([1.0])}
    AdaGrad(lr=0.1).update(p, {"w": np.array([2.0])})
    np.testing.assert_allclose(p["w"], [1.0 - 0.1 * 2 / (2 + 1e-7)])
    p = {"w": np.array([1.0])}
    RMSprop(lr=0.1, decay_rate=0.99).update(p, {"w": np.array([2.0])})
    np.testing.assert_allclose(p["w"], [1.0 - 0.1 * 2 / (np.sqrt(0.01 * 4) + 1e-7)])


@pytest.mark.parametrize("opt", [SGD(0.5), Momentum(0.1), Nesterov(0.1), AdaGrad(0.5), RMSprop(0.01), Adam(0.05)])
def test_every_optimizer_trains_a_network(opt, rng):
    x = rng.standard_normal((60, 4))
    t = (x[:, 0] + x[:, 1] > 0).astype(int)
    net = MultiLayerNet(4, [8], 2, seed=0)
    first = net.loss(x, t)
    for _ in range(100):
        opt.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < 0.5 * first
    assert net.layers[0].W is net.params["W1"]  # the layers still see the updated arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_keep_float32(dtype):
    for name in optimizers.OPTIMIZERS:
        p = {"w": np.ones(3, dtype)}
        optimizers.make(name, 0.1).update(p, {"w": np.ones(3, dtype)})
        assert p["w"].dtype == dtype, name


def test_make_by_name():
    assert isinstance(optimizers.make("adam"), Adam) and optimizers.make("sgd", 0.3).lr == 0.3
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        optimizers.make("lbfgs")


UPDATES = st.sampled_from(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])


def tiny_gradient(rng, shape, dtype):
    """Gradients around the smallest normal number of ``dtype`` (10^-45…10^-30 in float32), a third of them 0: the
    optimizers' states then decay through the subnormal numbers."""
    low, high = (-45, -30) if dtype == "float32" else (-320, -300)
    g = rng.standard_normal(shape) * 10.0 ** rng.uniform(low, high, shape) * (rng.random(shape) > 1 / 3)
    return g.astype(dtype)


@settings(max_examples=40, deadline=None)
@given(UPDATES, st.lists(st.lists(st.integers(1, 40), min_size=0, max_size=3), min_size=1, max_size=4),
       st.sampled_from(["float32", "float64"]), st.floats(1e-4, 1.0), st.booleans(), st.booleans(),
       st.integers(0, 2 ** 32 - 1))
def test_the_compiled_updates_are_the_numpy_updates_to_the_last_bit(name, shapes, dtype, lr, strided, tiny, seed):
    """SGD, Momentum and Adam run as one compiled pass per parameter where numba is installed; the other updates
    and non-contiguous gradients take the NumPy passes. Five steps from the same start give the same bits either
    way, zero-size and scalar parameters included, and with gradients so small that the states fall below the
    smallest normal number (both set them to 0)."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(seed)
    start = {f"W{k}": rng.standard_normal(shape).astype(dtype) for k, shape in enumerate(shapes)}
    steps = []
    for _ in range(5):
        grads = {}
        for key, p in start.items():
            shape = p.shape + (2,) if strided else p.shape
            g = tiny_gradient(rng, shape, dtype) if tiny else rng.standard_normal(shape).astype(dtype)
            grads[key] = g[..., 0] if strided else g            # every other element: not contiguous
        steps.append(grads)
    results = []
    for on in (None, False):
        kernels.use(on)
        try:
            with pytest.MonkeyPatch.context() as mp:     # every parameter in one pass, however small
                mp.setattr(optimizers, "ONE_PASS_MIN_SIZE", 0)
                params = {key: p.copy() for key, p in start.items()}
                opt = optimizers.make(name, lr=lr)
                for grads in steps:
                    opt.update(params, grads)
        finally:
            kernels.use(None)
        results.append(params)
    for key in start:
        assert results[0][key].dtype == start[key].dtype
        assert np.array_equal(results[0][key], results[1][key]), key



@pytest.mark.parametrize("name", ["momentum", "nesterov", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_states_below_the_smallest_normal_number_become_zero_and_move_no_weight(name, dtype):
    """A velocity or moment whose gradient is 0 decays by its factor every step (Momentum's v, Adam's m by 0.9)
    and would pass through the subnormal numbers, on which arithmetic is 10–100× slower. They become 0 instead:
    no state is ever subnormal, and the weights are the bits of the same steps without that (such a state moves a
    weight by less than its rounding)."""
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(5000).astype(dtype)
    first = rng.standard_normal(5000).astype(dtype) * np.asarray(1e-30 if dtype == "float32" else 1e-300, dtype)
    tiny = np.finfo(dtype).tiny
    for compiled in (None, False):
        params = {"W": p0.copy()}
        opt = optimizers.make(name, lr=0.01)
        kernels.use(compiled)
        try:
            opt.update(params, {"W": first})
            for _ in range(400):
                opt.update(params, {"W": np.zeros_like(p0)})
                for state in (getattr(opt, attr) for attr in ("v", "m", "h") if hasattr(opt, attr)):
                    a = state["W"]
                    assert not np.any((a != 0) & (np.abs(a) < tiny))
        finally:
            kernels.use(None)
        # the same 401 steps without the flush move no weight by a bit: a state this small rounds away
        assert np.array_equal(params["W"], p0)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(optimizers.OPTIMIZERS)), st.sampled_from(["row", "column", "scalar", "missing", "none",
                                                                       "list", "transposed"]),
       st.integers(2, 70), st.integers(2, 70), st.sampled_from(["float32", "float64"]))
def test_a_gradient_of_another_shape_is_refused_and_nothing_moves(name, fault, rows, cols, dtype):
    """A gradient that would broadcast into the update ((cols,) or (1, cols) or a scalar for a (rows, cols)
    weight) changed every weight by the wrong amount, silently; a missing one raised a bare KeyError. Now each
    optimizer refuses the update naming the parameter, before any parameter or state has moved."""
    rng = np.random.default_rng(rows * 100 + cols)
    params = {"W": rng.standard_normal((rows, cols)).astype(dtype), "b": rng.standard_normal(cols).astype(dtype)}
    grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
    opt = optimizers.make(name, lr=0.01)
    opt.update(params, grads)                       # a first, good step: the state exists
    before = {k: v.copy() for k, v in params.items()}
    state = opt.state_dict()
    bad = dict(grads)
    bad["W"] = {"row": grads["W"][0], "column": grads["W"][:, :1], "scalar": np.float64(0.5), "missing": None,
                "none": None, "list": grads["W"].tolist(), "transposed": grads["W"].T}[fault]
    if fault == "missing":
        del bad["W"]
    if fault == "transposed" and rows == cols:
        bad["W"] = grads["W"][:, :-1]
    with pytest.raises(ValueError, match=rf"^{type(opt).__name__}\.update: the gradient of W "):
        opt.update(params, bad)
    for k in params:
        assert np.array_equal(params[k], before[k])
    after = opt.state_dict()
    assert after["counters"] == state["counters"]
    assert all(np.array_equal(after["arrays"][k], a) for k, a in state["arrays"].items())


def test_updating_part_of_the_params_freezes_the_rest():
    params = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    grads = {"W": np.ones((2, 2)), "b": np.ones(2)}
    optimizers.SGD(0.5).update({"W": params["W"]}, grads)
    assert np.array_equal(params["W"], np.full((2, 2), 0.5)) and np.array_equal(params["b"], np.zeros(2))


@pytest.mark.parametrize("name", sorted(optimizers.OPTIMIZERS))
def test_a_learning_rate_that_is_0_in_the_parameters_dtype_is_refused(name):
    """lr 1e-46 with float32 weights is 0 there: every update left every weight as it was, and a run trained for
    its epochs with the accuracy of its start, silently. float64 holds it."""
    import re
    W = np.ones((3, 2), dtype=np.float32)
    opt = optimizers.make(name, 1e-46)
    with pytest.raises(ValueError, match=re.escape(f"{type(opt).__name__}: lr 1e-46 is 0 in float32, the dtype of W "
                                                   "(its smallest positive number is about 1.4e-45): no weight would "
                                                   "move")):
        opt.update({"W": W}, {"W": np.full((3, 2), 0.5, dtype=np.float32)})
    optimizers.make(name, 1e-46).update({"W": np.ones((3, 2))}, {"W": np.zeros((3, 2))})
    optimizers.make(name, 1.5e-45).update({"W": W}, {"W": np.zeros((3, 2), dtype=np.float32)})  # the smallest


@pytest.mark.parametrize("name", sorted(optimizers.OPTIMIZERS))
def test_a_learning_rate_the_parameters_dtype_cannot_hold_is_refused_and_nothing_moves(name):
    """lr 1e200 with float32 weights: the update cast lr to inf ("overflow encountered in cast") and made every
    weight inf or NaN, silently in a loop of one's own. It is refused naming the parameter; float64 holds it."""
    import re
    W = np.ones((3, 2), dtype=np.float32)
    opt = optimizers.make(name, 1e200)
    with pytest.raises(ValueError, match=re.escape(f"{type(opt).__name__}: lr 1e+200 is beyond float32, the "
                                                   "dtype of W (largest 3.4e+38)")):
        opt.update({"W": W}, {"W": np.full((3, 2), 0.5, dtype=np.float32)})
    assert np.all(W == 1) and opt.state_dict()["arrays"] == {}
    W64 = np.ones((3, 2))
    optimizers.make(name, 1e200).update({"W": W64}, {"W": np.zeros((3, 2))})
