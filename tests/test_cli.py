"""The command line: every failure is one line and exit code 2, nothing is lost, defaults are shown."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule import model_io, optimizers
from chainrule.cli import main
from chainrule.nets import TwoLayerNet


def run_cli(*args, env=None, timeout=120):
    env = {**os.environ, "CHAINRULE_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def assert_one_line_error(result, message):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert message in lines[0], lines[0]


@pytest.mark.parametrize("args,message", [
    (["train", "--seed", "-1"], "argument --seed: expected a whole number from 0 to 2^63 − 1, got '-1'"),
    (["train", "--seed", "abc"], "argument --seed: expected a whole number from 0 to 2^63 − 1, got 'abc'"),
    (["train", "--seed", str(2 ** 64)], "expected a whole number from 0 to 2^63 − 1"),
    (["train", "--lr", "nan"], "argument --lr: expected a finite number, got 'nan'"),
    (["train", "--epochs", "2", "--iterations", "3"],       # ran 3 updates, "epoch 1/1", the 2 epochs ignored
     "--epochs 2 and --iterations 3 both say how long to train; give one (--iterations counts updates"),
    (["sweep", "--epochs", "2", "--iterations", "3"], "--epochs 2 and --iterations 3 both say how long to train"),
    # `--out "$DIR"` with DIR unset: trained and wrote nothing, silently; --data-dir "" looked in the cache instead
    (["train", "--out", ""], "argument --out: expected a file or folder name, got an empty one"),
    (["train", "--dataset", "mnist", "--data-dir", ""], "argument --data-dir: expected a file or folder name"),
    (["graph", "fruit", "--html", " "], "argument --html: expected a file or folder name, got an empty one"),
    (["graph", "fruit", "--out", ""], "argument --out: expected a file or folder name"),
    (["sweep", "--out", ""], "argument --out: expected a file or folder name"),
    (["check", "x.py", "--html", ""], "argument --html: expected a file or folder name"),
    (["train", "--lr", "inf"], "argument --lr: expected a finite number, got 'inf'"),
    (["train", "--weight-decay", "inf"], "argument --weight-decay: expected a finite number"),
    (["train", "--dropout", "nan"], "argument --dropout: expected a finite number"),
    (["train", "--dropout", "1"], "argument --dropout: expected a number < 1"),
    (["train", "--weight-init", "nan"], "expected he, xavier or a positive number"),
    (["gradcheck", "--threshold", "nan"], "expected a finite number"),
    # options of the MLP alone, with another architecture: they were silently ignored
    (["train", "--arch", "cnn", "--batchnorm"], "--batchnorm shapes the MLP (--arch mlp) only; with --arch cnn"),
    (["train", "--arch", "deep-cnn", "--hidden", "10", "--dropout", "0.2"], "--hidden, --dropout shape the MLP"),
    (["train", "--arch", "affine(10)", "--activation", "tanh"], "with --arch affine(10) the spec lists every layer"),
    (["sweep", "--arch", "simple-cnn", "--no-batchnorm", "--trials", "1"], "--batchnorm shapes the MLP"),
])
def test_bad_options_are_refused_up_front(args, message):
    assert_one_line_error(run_cli(*args), message)


def test_out_problems_are_found_before_training(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run_cli("train", "--out", str(tmp_path / "file")), "is a file; expected a directory")
    assert_one_line_error(run_cli("train", "--out", str(tmp_path / "file" / "sub")), "cannot be written")
    (tmp_path / "d" / "model.npz").mkdir(parents=True)
    assert_one_line_error(run_cli("train", "--out", str(tmp_path / "d")), "model.npz is a directory")


def test_ctrl_c_before_the_first_epoch_ends_leaves_the_old_run_untouched(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.npz").write_bytes(b"the old model")
    (out / "metrics.json").write_text('{"old": true}')

    def interrupt(self, params, grads):
        raise KeyboardInterrupt
    monkeypatch.setattr(optimizers.Adam, "update", interrupt)
    assert main(["train", "--out", str(out), "--no-progress"]) == 130
    assert (out / "model.npz").read_bytes() == b"the old model"
    assert (out / "metrics.json").read_text() == '{"old": true}'
    err = capsys.readouterr().err
    assert "nothing written" in err and "interrupted after 0 finished epoch(s)" in err


def _ctrl_c_reaches_it():
    """A child of a background job inherits SIGINT ignored (POSIX), and Python then leaves it ignored: put the
    default back so that the test's Ctrl-C is one, wherever the tests run."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_real_ctrl_c_keeps_the_last_finished_epoch(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--epochs", "100000", "--out",
                             str(tmp_path), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_ctrl_c_reaches_it)
    for line in proc.stdout:  # wait for two finished epochs
        if line.startswith("epoch") and line.split()[1].startswith("2/"):
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs"] >= 2
    net, _ = model_io.load_model(tmp_path / "model.npz")
    assert net.config()["hidden_size_list"] == [100, 100]


def test_sigterm_keeps_the_last_finished_epoch_as_ctrl_c_does(tmp_path):
    """`timeout 1h chainrule train …`, `kill` and batch schedulers stop a run with SIGTERM: it ended the process at
    once, and the run's model, metrics and curves were never written."""
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--epochs", "100000", "--out",
                             str(tmp_path), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:  # wait for two finished epochs
        if line.startswith("epoch") and line.split()[1].startswith("2/"):
            break
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr
    assert "chainrule train: stopped by SIGTERM after" in stderr and ": kept that model" in stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs"] >= 2
    model_io.load_model(tmp_path / "model.npz")


def test_divergence_with_adam_is_caught(tmp_path):
    result = run_cli("train", "--lr", "1e6", "--epochs", "3", "--no-progress")
    assert result.returncode == 1
    assert "training stopped: the loss exploded" in result.stderr and "smaller learning rate" in result.stderr


def test_drawing_path_problems_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "d.svg").mkdir()
    assert_one_line_error(run_cli("graph", "apple", "--out", str(tmp_path / "d.svg")),
                          "d.svg is a directory; expected a file name")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\necho 'dot: broken installation' >&2\nexit 3\n")
    (fake / "dot").chmod(0o755)
    result = run_cli("graph", "apple", "--out", str(tmp_path / "a.svg"),
                     env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert_one_line_error(result, "Graphviz `dot -Tsvg` failed: dot: broken installation")


def test_unreadable_data_files_are_one_line(tmp_path):
    from chainrule.datasets import write_idx
    from chainrule.datasets.mnist import FILES
    rng = np.random.default_rng(0)
    for name, shape in zip(FILES, [(5, 28, 28), (5,), (3, 28, 28), (3,)]):
        write_idx(tmp_path / name, rng.integers(0, 10, shape).astype(np.uint8))
    path = tmp_path / FILES[0]
    path.write_bytes(path.read_bytes()[:40])
    assert_one_line_error(run_cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path)),
                          "the gzip data is truncated or corrupt")


def test_examples_and_explanations_end_quietly_on_a_closed_pipe():
    for cmd in ([sys.executable, "-m", "chainrule.examples"], [sys.executable, "-m", "chainrule", "graph", "mlp",
                                                               "--explain"]):
        result = subprocess.run(" ".join(cmd) + " | head -1", shell=True, capture_output=True, text=True)
        assert result.returncode == 0 and result.stderr == "" and len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize("command,expected", [
    ("train", ["default per data set: fashion-mnist 20, mnist 20, digits 30, spiral 100",
               "(default: digits; with --resume: the run's)",
               "default 0", "default float32", "(default: cpu)"]),
    ("gradcheck", ["(default: digits)", "(default: 3)", "the book's 0.01 for the mlp", "default 10000",
                   "(default: 1e-07)", "(default: 50)"]),
    ("predict", ["(default: test)", "default: the one the model was trained on"]),
    ("graph", ["apple", "fruit"]),
])
def test_help_shows_every_default(command, expected, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for piece in expected:
        assert piece in text, piece


def test_the_header_shows_the_settings_actually_used(capsys):
    assert main(["train", "--dataset", "spiral", "--iterations", "5", "--batch-size", "5000", "--no-progress"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "batch 900 (capped at the 900 samples), 5 iterations (5 epochs of 1 batches)" in header


def test_predict_classifies_given_arrays_and_images_with_class_names(tmp_path, capsys):
    net = TwoLayerNet(784, 10, 10, seed=0)
    path = model_io.save_model(tmp_path / "m.npz", net, {"dataset": "fashion-mnist"})
    x = np.random.default_rng(0).random((2, 28, 28)).astype(np.float32)
    np.save(tmp_path / "two.npy", x)
    expected = net.predict(x.reshape(2, 784)).argmax(axis=1)
    from PIL import Image
    Image.fromarray((255 - x[0] * 255).astype(np.uint8)).save(tmp_path / "shoe.png")  # dark on light: inverted
    assert main(["predict", str(path), str(tmp_path / "two.npy"), str(tmp_path / "shoe.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert lines[0].startswith(f"{tmp_path / 'two.npy'}[0]: {names[expected[0]]} (class {expected[0]}), probability")
    assert lines[1].startswith(f"{tmp_path / 'two.npy'}[1]: {names[expected[1]]} (class {expected[1]})")
    assert lines[2].startswith(f"{tmp_path / 'shoe.png'}: {names[expected[0]]} (class {expected[0]})")


def test_predict_reads_transparent_16_bit_and_float_images_as_the_same_picture(tmp_path, capsys):
    """The same picture saved four ways gets the same class as its 8-bit grey file: ink on a transparent background
    (the RGB under it black: read as black on black before), 16-bit (every level above 255 was clipped to white)
    and 32-bit float in [0, 1] (read as 0 or 1). A picture far from square is resized with a note."""
    from PIL import Image
    net = TwoLayerNet(784, 30, 10, seed=3)
    path = model_io.save_model(tmp_path / "m.npz", net, {"dataset": "mnist"})
    ink = np.zeros((28, 28))
    ink[6:22, 12:16] = 1.0                      # a thick "1"
    ink[6:9, 9:13] = 0.6
    files = {"grey.png": Image.fromarray((255 - ink * 255).astype(np.uint8)),            # dark ink on white
             "clear.png": Image.fromarray(np.dstack([np.zeros((28, 28, 3)), ink[..., None] * 255]).astype(np.uint8),
                                          "RGBA"),
             "deep.png": Image.fromarray((65535 - ink * 65535).astype(np.uint16)),
             "float.tif": Image.fromarray((1 - ink).astype(np.float32), "F")}
    for name, image in files.items():
        image.save(tmp_path / name)
    assert main(["predict", str(path), *(str(tmp_path / name) for name in files)]) == 0
    expected = int(net.predict(ink.reshape(1, 784)).argmax())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(",")[0] for line in lines] == [f"{expected} (class {expected})"] * 4, lines
    Image.fromarray(np.full((10, 60), 255, np.uint8)).save(tmp_path / "wide.png")
    assert main(["predict", str(path), str(tmp_path / "wide.png")]) == 0
    assert "is 60×10 pixels, not square: it is resized to 28×28" in capsys.readouterr().err


def test_predict_input_errors_are_one_line(tmp_path):
    path = model_io.save_model(tmp_path / "m.npz", TwoLayerNet(4, 3, 2), {"dataset": "digits"})
    np.save(tmp_path / "bad.npy", np.zeros((2, 5)))
    assert_one_line_error(run_cli("predict", str(path), str(tmp_path / "bad.npy")), "the model expects inputs of "
                                                                                    "shape (4,)")
    assert_one_line_error(run_cli("predict", str(path), str(tmp_path / "none.npy")), "none.npy: no such file")
    assert_one_line_error(run_cli("predict"), "give the model file")
    np.save(tmp_path / "empty.npy", np.zeros((0, 4)))                  # it said "Affine: … an empty batch"
    assert_one_line_error(run_cli("predict", str(path), str(tmp_path / "empty.npy")), "empty.npy: holds no values")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(-40, 307), st.sampled_from(["float32", "float64"]), st.booleans())
def test_predict_never_shows_a_nan_probability(tmp_path, capsys, exponent, dtype, negative):
    """Any finite input is classified with finite probabilities or refused in one line that says why: values
    beyond the model's dtype, or scores that overflow. (1e300 into a float32 model printed 'probability nan'.)"""
    net = TwoLayerNet(4, 3, 2, dtype=dtype, seed=0)
    path = model_io.save_model(tmp_path / "m.npz", net, {"dataset": "digits"})
    x = np.array([[1.0, -0.5, 0.25, 2.0]]) * (-1 if negative else 1) * 10.0 ** exponent
    np.save(tmp_path / "x.npy", x)
    code = main(["predict", str(path), str(tmp_path / "x.npy")])
    out, err = capsys.readouterr()
    if code == 0:
        probability = float(out.strip().rsplit("probability ", 1)[1])
        assert 0 <= probability <= 1, out
        assert ("note:" in err) == (x.min() < -0.5 or x.max() > 1.5), err     # far outside [0, 1]: a note says so
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "beyond float32 (largest 3.4e+38), the model's dtype" in err or "are not finite (inf or NaN)" in err, err


def test_predict_names_the_sample_and_the_layer_whose_scores_are_not_finite(tmp_path, capsys):
    """The predict command and the library share one refusal (Network.class_probabilities): the sample by number
    and the first layer whose output is not finite, with the file's value range."""
    net = TwoLayerNet(4, 3, 2, seed=0, weight_init_std=1.0)
    net.params["W1"][...] = np.abs(net.params["W1"]) * 1e200
    net.params["W2"][...] *= 1e200
    path = model_io.save_model(tmp_path / "m.npz", net, {"dataset": "digits"})
    np.save(tmp_path / "x.npy", np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0]]))
    assert main(["predict", str(path), str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "x.npy: TwoLayerNet: the scores of sample 0 are not finite (inf or NaN), so it has no class; the output " \
           "of layer 3 (Affine(W(3, 2), b(2,), float64)) is non-finite" in err and "(values from 0.1 to 1)" in err
    with pytest.raises(ValueError, match="the scores of sample 0 are not finite"):
        net.class_probabilities(np.array([[0.1, 0.2, 0.3, 0.4]]))
    ok = TwoLayerNet(4, 3, 2, seed=0)
    probabilities = ok.class_probabilities(np.eye(4))
    assert probabilities.shape == (4, 2) and np.allclose(probabilities.sum(axis=1), 1.0)


def test_training_output_permissions_and_no_leftovers(tmp_path):
    result = run_cli("train", "--epochs", "2", "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint.npz", "curves.png", "metrics.json", "model.npz", "run.json"]
    for p in tmp_path.iterdir():
        assert p.stat().st_mode & 0o777 == 0o666 & ~_umask()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["history"][0]["test_loss"] > 0


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def test_the_offline_mnist_message_is_complete_and_readable(tmp_path):
    result = run_cli("train", "--dataset", "mnist", env={"CHAINRULE_DATA": str(tmp_path)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "chainrule train: error: mnist: the data files are not on this machine."
    assert any("looked in" in line for line in lines) and any("--data-dir DIR" in line for line in lines)
    assert any("digits" in line and "spiral" in line for line in lines) and len(lines) <= 6


def test_an_unexpected_error_is_still_one_line(monkeypatch, capsys):
    from chainrule import examples
    monkeypatch.setattr(examples, "main", lambda: (_ for _ in ()).throw(ZeroDivisionError("boom")))
    assert main(["examples"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["chainrule examples: error: ZeroDivisionError: boom (set CHAINRULE_DEBUG=1 for the traceback)"]


def test_trainer_prints_one_line_per_epoch_when_piped():
    code = ("from chainrule import datasets, optimizers\nfrom chainrule.nets import TwoLayerNet\n"
            "from chainrule.training import Trainer\n(x, t), (xt, tt) = datasets.load('spiral')\n"
            "Trainer(TwoLayerNet(2, 20, 3, weight_init_std=0.5), optimizers.Adam(0.01), x, t, xt, tt, epochs=3)"
            ".train()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3  loss ") and "test loss" in lines[0]
    assert result.stderr == ""  # no progress bar when not on a terminal


def test_examples_script_prints_the_books_numbers(tmp_path):
    script = Path(__file__).resolve().parents[1] / "examples" / "computational_graphs.py"
    out = subprocess.run([sys.executable, str(script), "--out-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=120).stdout
    assert "d apple = dout × apple_num = 1.1 × 2 = 2.2" in out and "d apple_num = dout × apple = 1.1 × 100 = 110" in out
    assert "4.4" not in out and "= 220\n" not in out.split("715")[1]


@pytest.mark.parametrize("command", ["train", "graph", "predict", "gradcheck", "sweep", "check"])
def test_every_option_of_every_command_shows_its_default(command, capsys):
    from chainrule.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[command]
    for action in sub._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        text = sub.formatter_class(command)._get_help_string(action)
        assert "default" in text, f"chainrule {command} {action.option_strings[0]}: {text!r}"


def test_flip_on_handwritten_digits_trains_with_a_note_on_stderr(capsys):
    """--flip on digits trained on mirrored 2s and 7s and said nothing (test accuracy 0.57 against 0.79 after
    one epoch); it still trains (a teacher may show the harm) but says why the accuracy will drop. Not a word
    without --flip."""
    assert main(["train", "--flip", "--epochs", "1", "--quiet", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "note: --flip mirrors half of the digits training images" in err and "no digit of its class" in err
    assert main(["train", "--epochs", "1", "--quiet", "--no-progress"]) == 0
    assert "note:" not in capsys.readouterr().err


@pytest.mark.parametrize("text", ["-x", "-x*y", "-(x+y)", "---x", "--(x)"])   # the last two: no option either
def test_an_expression_starting_with_a_minus_sign_gets_a_hint_not_a_missing_argument(text, capsys):
    """`chainrule graph "-x"` said "the following arguments are required: GRAPH": argparse takes -x for an option.
    It now says so and how to write it (a leading space or parentheses), and that way draws the graph."""
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", text, "--set", "x=3", "y=2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{text!r} reads as an option, not as the GRAPH expression: put a space or parentheses first, e.g. " \
           f"chainrule graph ' {text}' or '({text})'" in err, err
    assert main(["graph", f" {text}", "--set", "x=3", *(["y=2"] if "y" in text else [])]) == 0
    assert main(["graph", "fruit", "--explain"]) == 0 and "Backward pass of price" in capsys.readouterr().out


def test_a_cnn_trains_on_images_that_are_not_square(tmp_path):
    """An MNIST-format set of 12×8 images (height × width): the convolutions see 12×8 images, a picture to
    classify is resized to 8×12 pixels (width × height), and one of another width:height gets a note. Rows of 96
    values said nothing of their shape: the command refused ("not square images")."""
    from PIL import Image

    from chainrule.datasets import write_idx
    from chainrule.datasets.mnist import FILES
    rng = np.random.default_rng(0)
    for name, shape in zip(FILES, [(40, 12, 8), (40,), (10, 12, 8), (10,)]):
        write_idx(tmp_path / name, rng.integers(0, 256 if len(shape) > 1 else 10, shape).astype(np.uint8))
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--arch",
                     "conv(2,3,pad=1)-relu-pool(2)", "--epochs", "1", "--batch-size", "10", "--out", str(out))
    assert result.returncode == 0, result.stderr
    net, _ = model_io.load_model(out / "model.npz")
    assert tuple(net.input_shape) == (1, 12, 8)
    Image.new("L", (16, 24), 255).save(tmp_path / "as_trained.png")
    Image.new("L", (60, 20), 255).save(tmp_path / "wide.png")
    result = run_cli("predict", str(out / "model.npz"), str(tmp_path / "as_trained.png"), str(tmp_path / "wide.png"))
    assert result.returncode == 0, result.stderr
    assert "as_trained.png: " in result.stdout and "wide.png: " in result.stdout
    assert result.stderr.strip() == ("note: " + str(tmp_path / "wide.png") + " is 60×20 pixels, not 8:12 as the "
                                     "model's inputs: it is resized to 8×12 and what it shows is stretched (crop it "
                                     "around the digit or object first)")


def test_a_picture_for_rows_that_are_no_square_image_is_refused_saying_what_to_give(tmp_path):
    from PIL import Image
    net = TwoLayerNet(384, 5, 10, seed=0)
    model_io.save_model(tmp_path / "m.npz", net)
    Image.new("L", (16, 24), 255).save(tmp_path / "p.png")
    assert_one_line_error(run_cli("predict", str(tmp_path / "m.npz"), str(tmp_path / "p.png")),
                          "the model takes rows of 384 values, not a square image, so the picture's height "
                          "and width are unknown; give the samples as a .npy array of 384 values per row")


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """A disk that fills while a page, a drawing or a checkpoint is written: the message was Python's
    "[Errno 28] No space left on device", naming no file; a checkpoint's did not say that training stopped."""
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    assert main(["graph", "fruit", "--html", str(tmp_path / "f.html")]) == 2
    assert capsys.readouterr().err.strip() == (f"chainrule graph: error: {tmp_path / 'f.html'} cannot be written (No "
                                               "space left on device); nothing was written there")
    assert main(["train", "--iterations", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip().endswith("checkpoint.npz cannot be written (No space left on device); "
                                                    "nothing was written there; training stopped after epoch 1")
    assert list(tmp_path.iterdir()) == [tmp_path / "run"] and not list((tmp_path / "run").iterdir())


@pytest.mark.parametrize("args,message", [
    (["check", "/"], "chainrule check: error: / is a directory; expected a Python file such as exercises/layers.py"),
    (["check", "/no/such/file.py"], "chainrule check: error: /no/such/file.py: no such file"),
])
def test_a_check_of_no_file_names_it_once(args, message, capsys):
    """`chainrule check DIR` said "DIR: DIR: no such file" (it is a directory), and a missing file was named twice."""
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == message


def test_a_sweep_into_a_file_says_so(tmp_path, capsys):
    """`chainrule sweep --out FILE` said "FILE: File exists" (the folder's lock tried to make a directory there)."""
    (tmp_path / "f").write_text("mine")
    assert main(["sweep", "--out", str(tmp_path / "f"), "--trials", "1"]) == 2
    assert f"--out {tmp_path / 'f'} is a file; expected a directory" in capsys.readouterr().err
    assert (tmp_path / "f").read_text() == "mine"
