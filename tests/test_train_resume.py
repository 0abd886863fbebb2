"""What users of Keras' fit expect from chainrule train: a validation split (the test set scored once, at the end),
early stopping that keeps the best epoch, and --resume from the last finished epoch with the same weights as a
run never interrupted (killed with SIGKILL or stopped by Ctrl-C); one writer per --out."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from chainrule import datasets
from chainrule.cli import main
from chainrule.training import job, recipes


def weights(path):
    with np.load(path) as z:
        return {k: z[k].copy() for k in z.files if k != "header"}


def same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_ctrl_c_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    data = datasets.load("digits")
    r = recipes.recipe("digits", epochs=5, batchnorm=True, dropout=0.2, val_split=0.1)   # RNGs of every kind
    job.run(r, data, out=tmp_path / "whole", progress=False, verbose=False)

    def ctrl_c_at_epoch_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt
    first = job.run(r, data, out=tmp_path / "cut", progress=False, verbose=False, on_epoch=ctrl_c_at_epoch_2)
    assert first.status == "interrupted" and first.metrics["epochs"] == 2
    second = job.run(r, data, out=tmp_path / "cut", progress=False, verbose=False, resume=True)
    assert second.status == "finished" and [h["epoch"] for h in second.metrics["history"]] == [1, 2, 3, 4, 5]
    same_weights(weights(tmp_path / "whole" / "model.npz"), weights(tmp_path / "cut" / "model.npz"))


def _checkpoint_epoch(path):
    try:
        with np.load(path) as z:
            return json.loads(str(z["header"]))["trainer"]["epoch"]
    except Exception:
        return 0


def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    args = ["train", "--epochs", "150", "--dropout", "0.1", "--no-progress", "--quiet"]
    cut = tmp_path / "cut"
    process = subprocess.Popen([sys.executable, "-m", "chainrule", *args, "--out", str(cut)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _checkpoint_epoch(cut / "checkpoint.npz") < 3 and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_at = _checkpoint_epoch(cut / "checkpoint.npz")
    assert 3 <= killed_at < 150, "the run ended before it could be killed"
    assert main([*args, "--out", str(cut), "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    same_weights(weights(tmp_path / "whole" / "model.npz"), weights(cut / "model.npz"))
    history = json.loads((cut / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, 151))


def test_resume_refuses_other_options_and_a_missing_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--no-progress", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["train", "--epochs", "3", "--lr", "0.01", "--no-progress", "--out", str(out), "--resume"]) == 2
    assert "lr 0.001 → 0.01 differ from the run" in capsys.readouterr().err
    assert main(["train", "--no-progress", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "checkpoint.npz does not exist" in capsys.readouterr().err
    before = (out / "model.npz").read_bytes()
    for epochs, why in (("2", "--epochs 2 leaves nothing to train"), ("1", "--epochs 1 is fewer")):
        # a finished run resumed with as many epochs or fewer said nothing and wrote its files again
        assert main(["train", "--epochs", epochs, "--no-progress", "--out", str(out), "--resume"]) == 2
        err = capsys.readouterr().err
        assert f"has finished 2 epochs; {why} (give --epochs 3 or more to train on)" in err, err
    assert (out / "model.npz").read_bytes() == before


def test_resume_takes_the_runs_options_where_none_are_given(tmp_path):
    """`--resume --out DIR --epochs 4` continues a run made with other options (a spec, a data set, a learning
    rate) with that run's options: the weights of the same run made whole (it was refused: "arch … → 'mlp'
    differ", every option had to be typed again)."""
    options = ["--dataset", "spiral", "--arch", "dropout(0.1)-affine(30)-bn-relu", "--lr", "0.01", "--lr-schedule",
               "constant", "--batch-size", "64", "--no-progress", "--quiet"]   # a constant lr: epochs may grow
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    assert main(["train", *options, "--epochs", "2", "--out", str(cut)]) == 0
    assert main(["train", "--epochs", "4", "--no-progress", "--quiet", "--out", str(cut), "--resume"]) == 0
    assert main(["train", *options, "--epochs", "4", "--out", str(whole)]) == 0
    same_weights(weights(whole / "model.npz"), weights(cut / "model.npz"))
    metrics = json.loads((cut / "metrics.json").read_text())
    assert metrics["recipe"]["arch"] == "dropout(0.1)-affine(30)-bn-relu" and metrics["dataset"] == "spiral"
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3, 4]


def test_a_validation_split_keeps_the_test_set_for_the_end_and_early_stopping_keeps_the_best_epoch(tmp_path):
    data = datasets.load("digits")
    (x, t), (x_test, t_test) = data
    rows = np.arange(len(x))
    (ia, _), (iv, _) = job.validation_split(rows[:, None], rows, 0.2, seed=0)   # which rows go where
    assert len(iv) == round(0.2 * len(x)) and not set(ia.ravel()) & set(iv.ravel())
    assert sorted([*ia.ravel(), *iv.ravel()]) == list(rows)              # disjoint, and nothing lost
    r = recipes.recipe("digits", epochs=60, lr=0.02, val_split=0.2, early_stopping=2)
    result = job.run(r, data, out=tmp_path / "es", progress=False, verbose=False)
    m = result.metrics
    history = m["history"]
    best = min(history, key=lambda h: h["test_loss"])           # the history's held-out set is the validation set
    assert result.status == "stopped" and m["best_epoch"] == best["epoch"]
    assert len(history) - m["best_epoch"] == 2                    # patience 2: two epochs without a lower loss
    kept = result.network.evaluate(x_test, t_test)                # the model kept is the best epoch's
    assert m["test_accuracy"] == pytest.approx(float(kept["accuracy"])) and m["validation_accuracy"] == \
        best["test_accuracy"]
    with pytest.raises(ValueError, match="--early-stopping watches the validation loss"):
        job.run(recipes.recipe("digits", epochs=2, early_stopping=2), data, progress=False, verbose=False)


def test_a_second_train_into_the_same_out_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--epochs", "100000", "--out", str(out),
                              "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / ".chainrule.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "1", "--out", str(out)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "is in use by chainrule train (process" in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
