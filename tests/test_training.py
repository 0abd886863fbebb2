"""Trainer, model files and the train/predict/gradcheck commands."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from chainrule import datasets, model_io, optimizers
from chainrule.training import recipes, job
from chainrule.cli import main
from chainrule.nets import MultiLayerNet, TwoLayerNet
from chainrule.training import Trainer, TrainingDiverged


@pytest.fixture(scope="module")
def spiral():
    return datasets.load_spiral(points_per_class=100)


def train(spiral, seed=0, epochs=5, **kw):
    (x, t), (xt, tt) = spiral
    net = MultiLayerNet(2, [32], 3, seed=seed, dtype=np.float32)
    trainer = Trainer(net, optimizers.Adam(0.01), x, t, xt, tt, epochs=epochs, batch_size=30, seed=seed,
                      progress=False, **kw)
    return net, trainer, trainer.train()


def test_training_learns_and_records_history(spiral):
    net, trainer, history = train(spiral, epochs=60)
    assert [r["epoch"] for r in history] == list(range(1, 61))
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["test_accuracy"] > 0.9
    assert all(r["seconds"] > 0 and set(r) >= {"loss", "train_accuracy", "test_accuracy"} for r in history)


def test_same_seed_same_run(spiral):
    _, _, a = train(spiral, seed=3)
    _, _, b = train(spiral, seed=3)
    _, _, c = train(spiral, seed=4)
    strip = lambda h: [(r["loss"], r["train_accuracy"], r["test_accuracy"]) for r in h]  # noqa: E731
    assert strip(a) == strip(b) and strip(a) != strip(c)


def test_iterations_count_like_the_book(spiral):
    _, trainer, history = train(spiral, epochs=1, iterations=25)
    assert history[-1]["iterations"] == 25 and len(history) == 3  # 10 batches per epoch


def test_nan_loss_stops_with_epoch_and_layer(spiral):
    (x, t), (xt, tt) = spiral
    net = MultiLayerNet(2, [8], 3, seed=0)
    net.params["W2"][0, 0] = np.nan
    trainer = Trainer(net, optimizers.SGD(0.1), x, t, xt, tt, epochs=2, progress=False)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, iteration 1: parameter W2 \(8, 3\) "
                                               r"holds non-finite values"):
        trainer.train()


def test_exploding_learning_rate_names_a_layer(spiral):
    (x, t), (xt, tt) = spiral
    net = MultiLayerNet(2, [64, 64], 3, seed=0, weight_init_std=50.0)
    with np.errstate(all="ignore"):
        trainer = Trainer(net, optimizers.SGD(1e30), x * 1e20, t, xt, tt, epochs=3, progress=False)
        with pytest.raises(TrainingDiverged, match=r"at epoch \d+, iteration \d+.*smaller learning rate"):
            trainer.train()


def test_ctrl_c_keeps_the_last_finished_epoch(spiral):
    (x, t), (xt, tt) = spiral
    net = MultiLayerNet(2, [16], 3, seed=0)
    opt = optimizers.Adam(0.01)
    after_epoch = {}
    calls = {"n": 0}
    update = opt.update

    def interrupting_update(params, grads):
        calls["n"] += 1
        if calls["n"] == 25:  # in the middle of epoch 3 (10 batches per epoch)
            raise KeyboardInterrupt
        update(params, grads)

    opt.update = interrupting_update
    trainer = Trainer(net, opt, x, t, xt, tt, epochs=5, batch_size=30, progress=False,
                      on_epoch=lambda r: after_epoch.update({r["epoch"]: {k: v.copy() for k, v in net.params.items()}}))
    history = trainer.train()
    assert trainer.interrupted and len(history) == 2
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, after_epoch[2][k])
    assert net.layers[0].W is net.params["W1"]


def test_model_save_load_round_trip(tmp_path, spiral):
    net, _, _ = train(spiral)
    path = model_io.save_model(tmp_path / "m.npz", net, {"dataset": "spiral"})
    loaded, meta = model_io.load_model(path)
    assert meta == {"dataset": "spiral"} and loaded.config() == net.config()
    x = spiral[1][0]
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    two = TwoLayerNet(4, 3, 2, seed=0)
    again, _ = model_io.load_model(model_io.save_model(tmp_path / "two.npz", two))
    assert isinstance(again, TwoLayerNet)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_model_files_hold_no_pickles(tmp_path):
    path = model_io.save_model(tmp_path / "m.npz", TwoLayerNet(4, 3, 2))
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


def test_bad_model_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz model file"):
        model_io.load_model(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="no chainrule model header"):
        model_io.load_model(tmp_path / "other.npz")
    net = TwoLayerNet(4, 3, 2)
    path = model_io.save_model(tmp_path / "m.npz", net)
    with np.load(path) as data:
        contents = dict(data)
    contents["param/W1"] = np.zeros((5, 3))
    np.savez(tmp_path / "wrong.npz", **contents)
    with pytest.raises(ValueError, match=r"parameter W1 has shape \(5, 3\).*expects \(4, 3\)"):
        model_io.load_model(tmp_path / "wrong.npz")
    np.savez(tmp_path / "pickled.npz", header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError):
        model_io.load_model(tmp_path / "pickled.npz")


def test_cli_train_writes_model_metrics_and_curves(tmp_path, capsys):
    assert main(["train", "--epochs", "3", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["dataset"] == "digits" and metrics["epochs"] == 3 and len(metrics["history"]) == 3
    assert set(metrics["history"][0]) >= {"loss", "train_accuracy", "test_accuracy", "seconds"}
    assert metrics["network"]["hidden_size_list"] == [100, 100] and metrics["optimizer"]["name"] == "Adam"
    assert metrics["test_accuracy"] == metrics["history"][-1]["test_accuracy"] > 0.8
    assert (tmp_path / "model.npz").exists() and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "model.npz")]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {metrics['test_accuracy']:.4f}" in out and "confusion matrix" in out


def test_default_digits_recipe_reaches_97_percent(tmp_path):
    result = job.run(recipes.recipe("digits"), datasets.load("digits"), log=lambda m: None, progress=False,
                     verbose=False)
    assert result.status == "finished" and result.metrics["test_accuracy"] >= 0.97


def test_cli_gradcheck_prints_tiny_differences(capsys):
    assert main(["gradcheck", "--hidden", "10", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    values = {line.split(":")[0]: float(line.split()[1])
              for line in out.splitlines() if line[:2] in ("W1", "b1", "W2", "b2")}
    assert set(values) == {"W1", "b1", "W2", "b2"} and max(values.values()) < 1e-8


def test_cli_gradcheck_fails_loudly_above_the_threshold(capsys):
    assert main(["gradcheck", "--hidden", "10", "--samples", "2", "--threshold", "1e-30"]) == 1
    assert "FAILED" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["train", "--hidden", "10,abc"], "expected comma-separated layer widths"),
    (["train", "--lr", "-1"], "argument --lr: expected a number > 0, got '-1'"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent"], "mnist: --data-dir /nonexistent does not exist"),
    (["predict", "--model", "/nonexistent/model.npz"], "/nonexistent/model.npz: no such model file"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message, tmp_path):
    env = {**os.environ, "CHAINRULE_DATA": str(tmp_path), "CHAINRULE_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 80), st.integers(2, 90), st.integers(0, 2 ** 32 - 1))
def test_an_epochs_batches_hold_every_sample_once_and_never_one_alone(n, batch_size, seed):
    """The batches of an epoch cover the training set once, each of ``batch_size`` (capped at n) but the last; a
    last batch that would hold one sample joins the one before, so a network with batch norm over rows trains
    with any batch size ≥ 2 (it stopped at the epoch's last step: "training needs a batch of at least 2 rows")."""
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((n, 3)), rng.integers(0, 2, n)
    net = MultiLayerNet(3, [4], 2, use_batchnorm=True, weight_init_std=0.5, seed=0)
    seen = []
    gradient = net.gradient
    net.gradient = lambda xb, tb: (seen.append(xb.copy()), gradient(xb, tb))[1]
    trainer = Trainer(net, optimizers.SGD(0.01), x, t, epochs=2, batch_size=batch_size, seed=seed, progress=False)
    trainer.train()
    bs = min(batch_size, n)
    per_epoch = len(seen) // 2
    assert per_epoch == trainer.steps_per_epoch and len(seen) == 2 * per_epoch
    for epoch in (seen[:per_epoch], seen[per_epoch:]):
        sizes = [len(b) for b in epoch]
        assert sum(sizes) == n and min(sizes) >= 2
        assert all(s == bs for s in sizes[:-1]) and sizes[-1] in range(1, bs + 2)
        rows = np.sort(np.concatenate(epoch).view([("", x.dtype)] * 3).ravel())
        np.testing.assert_array_equal(rows, np.sort(x.copy().view([("", x.dtype)] * 3).ravel()))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["train", "test"]), st.sampled_from(["nan", "inf", "huge", "label", "negative label",
                                                            "float labels", "features"]),
       st.integers(0, 29), st.sampled_from(["float32", "float64"]))
def test_bad_data_is_refused_before_the_first_step(which, fault, row, dtype):
    """Data that would fail later or mislead is refused when the Trainer is made, naming the argument (x_train,
    t_test, …) and the row: NaN in x_train was blamed on the learning rate after the first step, and a test set
    with a label beyond the classes or samples of the wrong shape failed only after a whole epoch."""
    rng = np.random.default_rng(row)
    data = {"x_train": rng.random((30, 4)), "t_train": rng.integers(0, 3, 30),
            "x_test": rng.random((30, 4)), "t_test": rng.integers(0, 3, 30)}
    x, t = f"x_{which}", f"t_{which}"
    expected = {"nan": rf"{x} holds NaN or infinite values \(the first in row {row}\)",
                "inf": rf"{x} holds NaN or infinite values \(the first in row {row}\)",
                "huge": rf"{x} row {row} holds values up to 1e\+300, beyond float32 \(largest 3.4e\+38\)",
                "label": rf"{t}: label 3 is outside the classes \[0, 3\)",
                "negative label": rf"{t}: label -1 is outside the classes",
                "float labels": rf"{t} of shape \(30,\) must be integer class indices",
                "features": rf"{x}: TwoLayerNet: x has shape \(30, 5\)"}[fault]
    if fault in ("nan", "inf", "huge"):
        data[x][row, 2] = {"nan": np.nan, "inf": -np.inf, "huge": 1e300}[fault]
        if fault == "huge" and dtype == "float64":
            expected = None                             # 1e300 fits float64: nothing to refuse
    elif fault == "features":
        data[x] = rng.random((30, 5))
    elif fault == "float labels":
        data[t] = data[t].astype(float)
    else:
        data[t][row] = 3 if fault == "label" else -1
    steps = []
    net = TwoLayerNet(4, 5, 3, dtype=dtype, seed=0)
    opt = optimizers.SGD(0.1)
    opt.update = lambda params, grads: steps.append(1)
    if expected is None:                               # accepted (training on it would then explode: its concern)
        Trainer(net, opt, **data, epochs=1, batch_size=10, verbose=False, progress=False)
        return
    with pytest.raises(ValueError, match=rf"^Trainer: {expected}"):
        Trainer(net, opt, **data, epochs=1, batch_size=10, verbose=False, progress=False)
    assert not steps


def test_the_books_trainer_call_runs_chainrules_loop():
    """The book's `Trainer(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size, optimizer='Adam',
    optimizer_param, evaluate_sample_num_per_epoch)` with its `train_acc_list`/`test_acc_list` is chainrule's
    Trainer with the same optimizer: the same epochs, to the bit."""
    from chainrule.training import BookTrainer
    rng = np.random.default_rng(0)
    x, t = rng.random((120, 6)), rng.integers(0, 3, 120)
    book_net, our_net = TwoLayerNet(6, 8, 3, seed=1), TwoLayerNet(6, 8, 3, seed=1)
    book = BookTrainer(book_net, x[:100], t[:100], x[100:], t[100:], epochs=3, mini_batch_size=20,
                       optimizer="Adam", optimizer_param={"lr": 0.01}, evaluate_sample_num_per_epoch=50,
                       verbose=False)
    book.train()
    ours = Trainer(our_net, optimizers.Adam(lr=0.01), x[:100], t[:100], x[100:], t[100:], epochs=3, batch_size=20,
                   train_eval_limit=50, verbose=False, progress=False)
    ours.train()
    assert book.test_acc_list == [r["test_accuracy"] for r in ours.history]
    assert book.train_acc_list == [r["train_accuracy"] for r in ours.history]
    assert book.train_loss_list == [r["loss"] for r in ours.history] and len(book.test_acc_list) == 3
    assert all(np.array_equal(book_net.params[k], our_net.params[k]) for k in our_net.params)
    assert isinstance(BookTrainer(book_net, x, t, x, t, optimizer="rmsprpo").optimizer, optimizers.RMSprop)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        BookTrainer(book_net, x, t, x, t, optimizer="adamw")
    with pytest.raises(ValueError, match="optimizer_param .* does not fit SGD"):
        BookTrainer(book_net, x, t, x, t, optimizer_param={"learning_rate": 0.1})


def test_a_first_loss_that_is_not_finite_blames_the_start_not_the_learning_rate(spiral):
    """At the first step no update has acted on the loss yet: "try a smaller learning rate" was the wrong hint
    for weights drawn too large (or inputs too large)."""
    (x, t), (xt, tt) = spiral
    net = MultiLayerNet(2, [64, 64], 3, seed=0, weight_init_std=1e30, dtype="float32")
    with np.errstate(all="ignore"):
        trainer = Trainer(net, optimizers.SGD(0.01), x, t, xt, tt, epochs=1, progress=False, verbose=False)
        with pytest.raises(TrainingDiverged, match=r"at epoch 1, iteration 1: .*the first step's loss, before any "
                                                   r"update: the initial weights \(--weight-init"):
            trainer.train()


@pytest.mark.parametrize("scale,dtype", [(1e308, "float64"), (1e39, "float32"), (1e300, "float32")])
def test_a_weight_scale_beyond_the_dtype_is_refused_when_the_network_is_made(scale, dtype):
    with pytest.raises(ValueError, match=re.escape(f"weight_init_std (--weight-init) {scale:g} makes weights W1 "
                                                   f"beyond {dtype}")):
        MultiLayerNet(2, [8], 3, seed=0, weight_init_std=scale, dtype=dtype)


def test_batches_of_one_row_for_a_batch_norm_over_rows_are_refused_before_the_first_step(spiral):
    """It failed at the first step inside the layer; a batch norm over channels (images) takes one image."""
    (x, t), (xt, tt) = spiral
    net = MultiLayerNet(2, [8], 3, seed=0, use_batchnorm=True)
    with pytest.raises(ValueError, match=r"^Trainer: batch_size 1: the batch normalisation of layer 2 .* needs at "
                                         r"least 2 \(--batch-size 2 or more\)"):
        Trainer(net, optimizers.SGD(0.1), x, t, xt, tt, epochs=1, batch_size=1, progress=False)
    Trainer(MultiLayerNet(2, [8], 3, seed=0), optimizers.SGD(0.1), x[:20], t[:20], epochs=1, batch_size=1,
            progress=False, verbose=False).train()


def test_a_diverging_run_is_reported_by_the_trainer_without_numpys_warnings(spiral):
    """Adam at lr 1e30 printed NumPy's 'invalid value encountered in matmul' from chainrule's own lines before the
    trainer's one-line report; now only the report comes (warnings as errors would have raised here), and a
    caller's np.errstate(all="raise") still raises where NumPy meets the overflow."""
    import warnings
    (x, t), (xt, tt) = spiral
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = Trainer(MultiLayerNet(2, [16, 16], 3, seed=0, dtype=np.float32), optimizers.Adam(1e30), x, t,
                          xt, tt, epochs=2, progress=False, verbose=False)
        with pytest.raises(TrainingDiverged, match="smaller learning rate"):
            trainer.train()
    trainer = Trainer(MultiLayerNet(2, [16, 16], 3, seed=0, dtype=np.float32), optimizers.Adam(1e30), x, t, xt, tt,
                      epochs=2, progress=False, verbose=False)
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        trainer.train()


@pytest.mark.parametrize("dtype,lr", [(np.float32, 1e200), (np.float32, 3.5e38)])
def test_a_learning_rate_the_dtype_cannot_hold_is_refused_before_training(spiral, dtype, lr):
    """An lr of 1e200 for float32 weights became inf in the update ("overflow encountered in cast") and every
    weight NaN at the first step, reported as a divergence with "try a smaller learning rate": it is refused up
    front with the dtype's limit. float64 holds it (and diverges, as it should)."""
    (x, t), (xt, tt) = spiral
    with pytest.raises(ValueError, match=re.escape(f"SGD: lr {lr:g} is beyond float32, the dtype of the "
                                                   "network's parameters (largest 3.4e+38)")):
        Trainer(MultiLayerNet(2, [8], 3, seed=0, dtype=dtype), optimizers.SGD(lr), x, t, xt, tt, progress=False)
    Trainer(MultiLayerNet(2, [8], 3, seed=0, dtype=np.float64), optimizers.SGD(lr), x, t, xt, tt, progress=False)
