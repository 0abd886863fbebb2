"""``chainrule sweep`` (book §6.5: sample hyperparameters, train briefly, keep the best): the space, the validation
split, real local and external Dask clusters, a worker that dies, a driver that is killed or interrupted."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.cli import main
from chainrule.sweep.space import SpaceError, parse_space, space_text, to_options

optuna = pytest.importorskip("optuna")
pytest.importorskip("dask.distributed")

from chainrule.sweep.driver import SweepError, check_workers, split_validation, sweep  # noqa: E402

FAST = ["--epochs", "2", "--jobs", "2", "--no-progress", "--heartbeat", "1"]


def study_of(out):
    return optuna.load_study(study_name="chainrule-sweep", storage=f"sqlite:///{Path(out) / 'study.db'}")


def states(out):
    return [t.state.name for t in study_of(out).trials]


def csv_rows(out):
    with open(Path(out) / "trials.csv") as f:
        return list(csv.DictReader(f))


# ---- the space -----------------------------------------------------------------------------------------------

def test_space_of_the_issue_parses_with_log_scales_and_choices():
    dims = parse_space("lr=loguniform(1e-4,1e-1); weight_decay=loguniform(1e-8,1e-1); hidden=choice(100|256,128);"
                       " dropout=uniform(0,0.5)")
    assert [(d.key, d.kind, d.log) for d in dims] == [("lr", "loguniform", True), ("weight_decay", "loguniform", True),
                                                      ("hidden", "choice", False), ("dropout", "uniform", False)]
    assert dims[2].choices == ("100", "256,128")
    assert space_text(dims) == ("lr=loguniform(0.0001,0.1); weight_decay=loguniform(1e-08,0.1); "
                                "hidden=choice(100|256,128); dropout=uniform(0,0.5)")
    assert to_options({"hidden": "256,128", "lr": 0.01, "batchnorm": "true"}) == \
        {"hidden": [256, 128], "lr": 0.01, "batchnorm": True}
    assert parse_space("batch-size=logint(16,256)\nepochs=int(1,3)")[0].key == "batch_size"


@pytest.mark.parametrize("text,message", [
    ("", "the space is empty"),
    ("lr=0.01", "is not KEY=DISTRIBUTION"),
    ("learning_rate=loguniform(1e-4,1e-1)", "learning_rate is not a train option that can be searched"),
    ("lr=normal(0,1)", "normal is not a distribution"),
    ("lr=loguniform(0,1)", "needs 0 < low"),
    ("lr=loguniform(1e-1,1e-4)", "needs low < high"),
    ("lr=loguniform(1e-4)", "takes two numbers"),
    ("lr=uniform(-1,1)", "-1 is not a value of the learning rate"),
    ("dropout=uniform(0,1.5)", "1.5 is not a value of the dropout ratio"),
    ("hidden=uniform(10,100)", "takes whole numbers"),
    ("hidden=choice(100|-5)", "'-5' is not a value of the hidden layer widths"),
    ("epochs=int(1.5,3)", "takes whole numbers"),
    ("optimizer=choice(sgd|lbfgs)", "'lbfgs' is not a value of the update rule"),
    ("optimizer=uniform(0,1)", "is not a number to draw with uniform; use choice"),
    ("lr=loguniform(1e-4,1e-1); lr=uniform(0.1,0.2)", "lr is given twice"),
    ("hidden=choice(100|100)", "a value is listed twice"),
])
def test_a_bad_space_is_refused_naming_the_entry(text, message):
    with pytest.raises(SpaceError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        parse_space(text)


@pytest.mark.parametrize("text,message", [
    ("optimizer=choice(sgd,adam)", "'sgd,adam' is one value: did you mean optimizer=choice(sgd|adam)?"),
    ("hidden=choice(100, 200)", "'100, 200' is one value: did you mean hidden=choice(100|200)?"),
    ("arch=choice('cnn'|'mlp')", "did you mean arch=choice(cnn|mlp)?"),
    ("lr=choice(0.1,abc)", "'0.1,abc' is not a value of the learning rate: expected a number"),
    ("lr=choice(0.1)", "choice needs two or more values separated by |, e.g. choice(100|256,128); give one value "
                       "as the option itself (--lr 0.1)"),
    ("lr=choice(abc|0.1)", "'abc' is not a value of the learning rate: expected a number"),
    ("weight-decay=choice(0.1)", "give one value as the option itself (--weight-decay 0.1)"),
])
def test_a_choice_written_as_in_python_is_refused_with_what_was_meant(text, message):
    """choice(sgd,adam) read as one value 'sgd,adam' (| separates choices, so that hidden=choice(100|256,128)
    can hold widths): a choice of one value, or a value that is not the option's, was refused without saying
    why; a number that was not one said "could not convert string to float"."""
    with pytest.raises(SpaceError) as e:
        parse_space(text)
    assert message in str(e.value)


@given(st.sampled_from([("optimizer", ["sgd", "momentum", "adam", "rmsprop"]), ("lr", ["0.1", "1e-3", "0.05"]),
                        ("arch", ["mlp", "cnn", "conv(4,3,pad=1)-relu", "simple-cnn"]), ("shift", ["0", "1", "3"])]),
       st.data())
@settings(max_examples=100, deadline=None)
def test_every_suggested_choice_parses_to_the_values_meant(key_values, data):
    key, pool = key_values
    values = data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=len(pool), unique=True))
    quote = data.draw(st.sampled_from(["", "'", '"']))
    written = ", ".join(f"{quote}{v}{quote}" for v in values) if data.draw(st.booleans()) or not quote else \
        "|".join(f"{quote}{v}{quote}" for v in values)
    with pytest.raises(SpaceError) as e:
        parse_space(f"{key}=choice({written})")
    suggestion = str(e.value).split("did you mean ")[1].rstrip("?")
    assert parse_space(suggestion)[0].choices == tuple(values)


def test_validation_split_comes_from_the_training_data_and_leaves_the_test_set_alone():
    x = np.arange(200, dtype=float).reshape(100, 2)
    t = np.arange(100) % 10
    test = (np.zeros((5, 2)), np.zeros(5, dtype=int))
    (xt, tt), (xv, tv) = split_validation(((x, t), test), 0.2, seed=3)
    assert len(xv) == 20 and len(xt) == 80
    assert set(xv[:, 0]).isdisjoint(xt[:, 0]) and set(xv[:, 0]) | set(xt[:, 0]) == set(x[:, 0])
    assert np.array_equal(tv, (xv[:, 0] // 2).astype(int) % 10)           # rows keep their labels
    again = split_validation(((x, t), test), 0.2, seed=3)
    assert np.array_equal(again[1][0], xv)                               # the same seed, the same split
    assert not np.array_equal(split_validation(((x, t), test), 0.2, seed=4)[1][0], xv)
    with pytest.raises(SweepError, match="leaves an empty part"):
        split_validation(((x[:1], t[:1]), test), 0.5, seed=0)


class FakeClient:
    def __init__(self, versions):
        self.versions = versions

    def run(self, fn, *args):
        if fn.__name__ == "_versions":
            return self.versions
        return {w: fn(*args) for w in self.versions}


def test_workers_with_other_versions_are_refused():
    from chainrule.sweep.driver import _versions
    mine = _versions()
    good = {"tcp://127.0.0.1:1": dict(mine), "tcp://127.0.0.1:2": dict(mine)}
    assert check_workers(FakeClient(good), "postgresql://h/db") == good
    bad = {**good, "tcp://127.0.0.1:2": {**mine, "chainrule": "0.0.1"}}
    with pytest.raises(SweepError, match=r"worker tcp://127.0.0.1:2 runs chainrule 0.0.1 \(driver: "):
        check_workers(FakeClient(bad), "postgresql://h/db")
    with pytest.raises(SweepError, match="no workers"):
        check_workers(FakeClient({}), "postgresql://h/db")


@pytest.mark.parametrize("args,message", [
    (["--space", "lr=loguniform(0,1)"], "--space: 'lr=loguniform(0,1)': loguniform draws on a log scale"),
    (["--space", "lr=loguniform(1e-4,1e-1)", "--lr", "0.1"], "lr is both searched (--space) and fixed (--lr)"),
    (["--address", "tcp://10.1.2.3:8786"], "cannot share it"),
    (["--jobs", "100000", "--dataset", "spiral"],                  # a process each: it hung starting them
     "--jobs 100000 would start 100000 worker processes on this machine's"),
    (["--space", "epochs=int(1,3)", "--iterations", "50"],      # each trial ran 50 updates, whatever epochs it drew
     "--space searches epochs, but --iterations 50 decides how long each trial trains; give one"),
    (["--validation", "1.5"], "is not a fraction"),
    (["--dataset", "spiral", "--arch", "cnn"], "a convolutional network needs images; samples of shape (2,)"),
    (["--dataset", "spiral", "--space", "arch=choice(mlp|simple-cnn)"], "arch simple-cnn: a convolutional network"),
    (["--dataset", "spiral", "--space", "batch_size=choice(1|32)", "--batchnorm"],
     "--space batch_size=choice(1|32) can draw 1, but the batch normalisation of layer 2"),
    (["--dataset", "spiral", "--space", "batch_size=int(1,64);batchnorm=choice(yes|no)"],
     "batchnorm yes: --space batch_size=int(1,64) can draw 1, but the batch normalisation"),
    (["--dataset", "spiral", "--space", "lr=choice(0.1|1e300)"],       # each such trial would be refused
     "--space lr=choice(0.1|1e300) can draw 1e+300, beyond float32 (largest 3.4e+38), the networks' dtype"),
    (["--dataset", "spiral", "--space", "lr=loguniform(1e-60,0.1)"],    # an lr of 0: nothing would learn
     "--space lr=loguniform(1e-60,0.1) can draw 1e-60: lr 1e-60 is 0 in float32, the dtype of the networks' "
     "parameters (its smallest positive number is about 1.4e-45): no weight would move"),
    (["--dataset", "spiral", "--space", "weight_decay=uniform(0,1e308)"],
     "--space weight_decay=uniform(0,1e+308) can draw 1e+308, beyond float32"),
    (["--dataset", "spiral", "--space", "hidden=int(1,1000000000)"],     # planned, nothing allocated
     "--space hidden=int(1,1e+09) can draw hidden 1000000000: the network would hold more than 2,147,483,648"),
    (["--dataset", "spiral", "--space", "hidden=choice(100|900000000,2)"],
     "--space hidden=choice(100|900000000,2) can draw hidden 900000000,2: the network would hold more than"),
])
def test_bad_sweep_options_end_in_one_line(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) if "fraction" in message else _nothing():
        code = main(["sweep", "--out", str(tmp_path / "s"), *args])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_resume_needs_an_earlier_sweep_and_a_new_sweep_an_empty_out(tmp_path, capsys):
    assert main(["sweep", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "sweep.json does not exist" in capsys.readouterr().err
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "sweep.json").write_text("{}")
    assert main(["sweep", "--out", str(tmp_path / "old")]) == 2
    assert "already holds a sweep; continue it with --resume" in capsys.readouterr().err
    assert main(["sweep", "--resume", "--out", str(tmp_path / "old"), "--lr", "0.1"]) == 2
    assert "--lr cannot be changed" in capsys.readouterr().err


@pytest.mark.parametrize("epochs", [1, 3, 25])
def test_the_sweep_plot_counts_whole_epochs_and_shows_a_one_epoch_curve(tmp_path, monkeypatch, epochs):
    """A sweep of one-epoch trials drew its learning curves as nothing (a line of one point has no length) over
    ticks 0.945 … 1.050, under the title "1 trials": the curves' ticks are whole epochs and a one-point curve
    gets a marker."""
    import matplotlib.pyplot as plt
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from chainrule.sweep.report import plot_sweep, title_of
    dims = parse_space("lr=loguniform(1e-3,1e-1)")
    history = [{"epoch": e, "validation_accuracy": 0.5 + 0.01 * e} for e in range(1, epochs + 1)]
    trial = create_trial(state=TrialState.COMPLETE, value=history[-1]["validation_accuracy"], params={"lr": 0.01},
                         distributions={"lr": FloatDistribution(1e-3, 1e-1, log=True)},
                         user_attrs={"history": history, "status": "complete"})
    trial.number = 0
    figures, close = [], plt.close
    monkeypatch.setattr(plt, "close", figures.append)
    plot_sweep([trial], dims, tmp_path / "sweep.png", title_of({"dataset": "digits", "trials": 1,
                                                                 "sampler": "random", "prune": "none"}))
    assert figures[0]._suptitle.get_text() == "sweep on digits: 1 trial, random sampling"
    curves = figures[0].axes[1]
    ticks = [t for t in curves.get_xticks() if curves.get_xlim()[0] <= t <= curves.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks) and min(ticks) >= 1 and max(ticks) <= epochs
    best = next(line for line in curves.get_lines() if line.get_label() == "best (trial 0)")
    assert best.get_marker() == ("o" if epochs == 1 else "None")
    close(figures[0])
    assert title_of({"dataset": "mnist", "trials": 7, "sampler": "tpe", "prune": "median"}) == \
        "sweep on mnist: 7 trials, tpe sampling, median pruning"


# ---- real clusters --------------------------------------------------------------------------------------------

def test_sweep_on_digits_through_a_local_cluster_writes_every_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", "--trials", "7", "--prune", "median", "--out", str(out), *FAST, "--epochs", "3",
                 "--space", "lr=loguniform(1e-4,1e-1); hidden=choice(30|60,60); dropout=uniform(0,0.3)"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["best", "study.db", "sweep.json", "sweep.png", "trials.csv",
                                                     "trials.md"]
    assert sorted(p.name for p in (out / "best").iterdir()) == ["curves.png", "metrics.json", "model.npz"]
    rows = csv_rows(out)
    assert len(rows) == 7 and {r["status"] for r in rows} <= {"complete", "pruned"}
    complete = [float(r["validation_accuracy"]) for r in rows if r["status"] == "complete"]
    assert complete == sorted(complete, reverse=True) and rows[0]["status"] == "complete"   # best first
    assert all(r["epochs"] == "3" for r in rows if r["status"] == "complete")
    assert all(1e-4 <= float(r["lr"]) <= 1e-1 and r["hidden"] in ("30", "60,60") for r in rows)
    assert (out / "trials.md").read_text().splitlines()[2].startswith("| trial | status | validation accuracy")
    assert "RUNNING" not in states(out) and "WAITING" not in states(out)

    # the best trial's model: judged on the validation split, then the test set once
    from chainrule import datasets
    from chainrule.model_io import load_model
    best = json.loads((out / "best" / "metrics.json").read_text())
    assert best["trial"] == int(rows[0]["trial"]) and best["validation_accuracy"] == pytest.approx(complete[0])
    data = datasets.load("digits")
    (_, _), (x_val, t_val) = split_validation(data, 0.1, 0)
    net, _ = load_model(out / "best" / "model.npz")
    assert net.accuracy(x_val, t_val) == pytest.approx(best["validation_accuracy"])
    assert net.accuracy(*data[1]) == pytest.approx(best["test_accuracy"])
    assert best["test_accuracy"] > 0.9
    assert f"validation accuracy {best['validation_accuracy']:.4f}, test accuracy {best['test_accuracy']:.4f}" \
        in stdout
    png = (out / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args):
    exe = Path(sys.executable).parent / "dask"
    return subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})


def test_sweep_uses_a_scheduler_and_workers_started_by_hand(tmp_path):
    from dask.distributed import Client
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        time.sleep(1.0)
        processes += [_dask("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                            "--no-dashboard", "--name", f"w{i}") for i in range(2)]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "sweep"
        assert main(["sweep", "--address", address, "--trials", "4", "--out", str(out), *FAST]) == 0
        workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in study_of(out).trials}
        assert workers <= {str(p.pid) for p in processes[1:]} and workers   # trained by the hand-started workers
        assert states(out).count("COMPLETE") == 4
    finally:
        for p in reversed(processes):                                       # workers first, then the scheduler
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def test_a_trial_whose_process_dies_is_failed_by_its_heartbeat_and_retried(tmp_path):
    marker = tmp_path / "killed-once"

    def die_once(trial):  # runs on the worker: the first trial kills its own process
        if not marker.exists():
            marker.write_text(str(trial.number))
            os.kill(os.getpid(), signal.SIGKILL)

    out = tmp_path / "sweep"
    result = sweep("digits", "lr=loguniform(1e-3,1e-1)", 3, out=out, jobs=2, epochs=2, heartbeat=1,
                   progress=False, log=lambda m: None, on_trial_start=die_once)
    killed = int(marker.read_text())
    trials = study_of(out).trials
    assert trials[killed].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == trials[killed].params                     # run again with the same values
    assert result.status == "finished" and result.counts["complete"] >= 3 and result.counts["failed"] == 1
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert [r["retry_of"] for r in csv_rows(out) if r["trial"] == str(retries[0].number)] == [str(killed)]


def test_a_sweep_over_data_chainrule_has_never_seen(tmp_path):
    rng = np.random.default_rng(0)

    def blobs(n):                                                         # three classes, shifted Gaussians
        t = rng.integers(0, 3, n)
        return (rng.standard_normal((n, 5)) + 1.5 * t[:, None]).astype(np.float32), t

    data = (blobs(600), blobs(200))
    result = sweep("blobs", "lr=loguniform(1e-3,1e-1)", 3, data=data, out=tmp_path / "s", jobs=1, epochs=3,
                   hidden=[16], progress=False, log=lambda m: None)
    assert result.status == "finished" and result.counts["complete"] == 3
    assert result.best["test_accuracy"] > 0.8 and result.best["dataset"] == "blobs"
    assert result.best["recipe"]["hidden"] == [16] and result.best["recipe"]["batch_size"] == 32   # digits' recipe
    with pytest.raises(SweepError, match="'blobs' is not a data set chainrule can load; pass its arrays"):
        sweep("blobs", out=tmp_path / "s", resume=True, trials=4)


def _start_sweep(out, trials, epochs):
    return subprocess.Popen([sys.executable, "-m", "chainrule", "sweep", "--trials", str(trials), "--out", str(out),
                             "--jobs", "2", "--epochs", str(epochs), "--heartbeat", "1", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal


def _wait_for_finished_trials(out, n, process, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if (out / "trials.csv").exists() and sum(r["status"] == "complete" for r in csv_rows(out)) >= n:
            return {t.number: t.value for t in study_of(out).trials if t.state.name == "COMPLETE"}
        time.sleep(0.2)
    pytest.fail("the sweep did not finish trials in time")


_CLAIM_TRIALS = """
import json, os, sys, time, warnings
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from chainrule.sweep.worker import open_storage, load_study
warnings.simplefilter("ignore")
settings = json.loads(sys.argv[1])
study = load_study(settings)
storage = open_storage(settings)
running = [t._trial_id for t in study.get_trials(states=(TrialState.RUNNING,))]
open(sys.argv[2] + f".{os.getpid()}", "w").close()          # ready
while not os.path.exists(sys.argv[2]):                      # all processes start together
    time.sleep(0.001)
failed = []
for trial_id in running:                                    # what fail_stale_trials does with a dead trial
    try:
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            failed.append(trial_id)
    except UpdateFinishedTrialError:
        pass
popped = []
while (trial_id := study._pop_waiting_trial_id()) is not None:   # what each worker's next trial does
    popped.append(trial_id)
print(json.dumps({"failed": failed, "popped": popped}))
"""


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")   # trials made by hand here, not by Study.optimize
def test_processes_sharing_the_sqlite_study_never_both_win_a_trial(tmp_path):
    """A dead trial was queued again twice, and one queued trial started by several workers at once (seen on CI:
    two retries of one killed trial): SQLite ignores Optuna's SELECT … FOR UPDATE. Each RUNNING → FAIL and each
    WAITING → RUNNING must be won by exactly one of the processes that try it at the same moment."""
    from optuna.distributions import FloatDistribution

    from chainrule.sweep.worker import open_storage
    settings = {"storage": f"sqlite:///{tmp_path / 'study.db'}", "heartbeat": 1, "max_retry": 2, "study": "race",
                "seed": 0, "sampler": "random", "prune": "none"}
    study = optuna.create_study(study_name="race", storage=open_storage(settings))
    running = [study.ask({"x": FloatDistribution(0, 1)})._trial_id for _ in range(40)]
    for i in range(40):
        study.enqueue_trial({"x": i / 40})
    go = tmp_path / "go"
    children = [subprocess.Popen([sys.executable, "-c", _CLAIM_TRIALS, json.dumps(settings), str(go)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.*"))) < len(children) and time.monotonic() < deadline:
        assert all(child.poll() is None for child in children)
        time.sleep(0.02)
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    failed = sorted(i for r in results for i in r["failed"])
    popped = sorted(i for r in results for i in r["popped"])
    assert failed == sorted(running)                              # each dead trial failed once: one retry each
    assert len(popped) == 40 and len(set(popped)) == 40          # each queued trial started by one worker


def test_a_killed_driver_is_resumed_keeping_every_finished_trial(tmp_path):
    out = tmp_path / "sweep"
    process = _start_sweep(out, 6, 40)
    before = _wait_for_finished_trials(out, 2, process)
    os.killpg(process.pid, signal.SIGKILL)                                  # the driver and its local cluster
    process.wait(timeout=30)
    orphans = [t.number for t in study_of(out).trials if t.state.name == "RUNNING"]
    assert orphans                                                          # trials were running when it died
    resumed = subprocess.run([sys.executable, "-m", "chainrule", "sweep", "--resume", "--out", str(out),
                              "--no-progress"], capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    trials = study_of(out).trials
    after = {t.number: t.value for t in trials if t.state.name == "COMPLETE"}
    assert all(after[n] == v for n, v in before.items())                  # nothing finished is lost or redone
    assert len(after) >= 6 and not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    for n in orphans:                                                       # failed by their silent heartbeat,
        assert trials[n].state.name == "FAIL"                               # then run again with the same values
        retry = [t for t in trials if t.system_attrs.get("failed_trial") == n]
        assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
        # the same values, unless it was killed before it drew any (a trial is RUNNING from its creation, before
        # the objective's first suggest): then its retry draws them afresh (seen once in CI)
        assert retry[0].params == trials[n].params or not trials[n].params, (trials[n].params, retry[0].params)
    assert json.loads((out / "sweep.json").read_text())["sessions"] == 2
    assert "best: trial" in resumed.stdout


def test_dask_log_lines_are_silenced_while_the_sweep_stops_its_workers_and_come_back_after():
    """Ctrl-C ends the local workers on purpose; Dask then logged every closed connection at INFO with a
    traceback (seen once in four runs of the Ctrl-C test below). While stopping, no Dask logger may emit."""
    import logging

    import distributed  # noqa: F401  (applies Dask's logging configuration, as a sweep does)
    from chainrule.sweep.driver import _silence_dask_logs
    batched = logging.getLogger("distributed.batched")
    before = {name: logging.getLogger(name).level for name in ("distributed", "distributed.client")}
    assert batched.isEnabledFor(logging.INFO)
    restore = _silence_dask_logs()
    try:
        assert not any(logging.getLogger(name).isEnabledFor(logging.CRITICAL)
                       for name in ("distributed.batched", "distributed.core", "distributed.client",
                                    "distributed.comm.tcp", "distributed.scheduler", "tornado.application"))
    finally:
        restore()
    assert batched.isEnabledFor(logging.INFO)
    assert {name: logging.getLogger(name).level for name in before} == before


def test_sigterm_stops_the_sweep_as_ctrl_c_does(tmp_path):
    """`kill`, `timeout` and batch schedulers send SIGTERM to the driver alone: it ended at once, without its
    tables, its plot or the hint to resume."""
    out = tmp_path / "sweep"
    process = _start_sweep(out, 5, 40)
    _wait_for_finished_trials(out, 1, process)
    process.terminate()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "chainrule sweep: stopped by SIGTERM; continue with: chainrule sweep --resume --out" in stderr
    assert "Traceback" not in stderr and (out / "trials.csv").exists()
    assert not [t for t in study_of(out).trials if t.state.name == "RUNNING"]


def test_ctrl_c_stops_cleanly_and_the_sweep_resumes(tmp_path):
    out = tmp_path / "sweep"
    process = _start_sweep(out, 5, 40)
    before = _wait_for_finished_trials(out, 1, process)
    os.killpg(process.pid, signal.SIGINT)                                   # Ctrl-C reaches the whole group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "continue with: chainrule sweep --resume --out" in stderr and "Traceback" not in stderr
    trials = study_of(out).trials
    assert not [t for t in trials if t.state.name == "RUNNING"]            # interrupted trials: failed, queued again
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    # each trial running at the Ctrl-C is failed and queued again (none may be running: between two trials)
    assert len([t for t in trials if t.state.name == "WAITING"]) == len(interrupted)
    assert not (out / "best" / "metrics.json").exists() or \
        "test_accuracy" not in json.loads((out / "best" / "metrics.json").read_text())   # no test set yet
    resumed = subprocess.run([sys.executable, "-m", "chainrule", "sweep", "--resume", "--out", str(out),
                              "--no-progress", "--trials", "3"], capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    trials = study_of(out).trials
    assert all(trials[n].value == v for n, v in before.items())
    assert all(t.state.name == "COMPLETE" for t in trials if t.system_attrs.get("failed_trial") is not None)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert "test_accuracy" in json.loads((out / "best" / "metrics.json").read_text())


def test_ctrl_c_during_the_loop_is_a_flag_the_loop_acts_on_not_an_exception_from_anywhere():
    """The flaky Ctrl-C test above failed 2 runs in 8 beside a CPU load: the handler raised KeyboardInterrupt
    wherever Python was, once inside a weakref callback, where Python drops it and prints "Exception ignored in
    …" with a traceback. Now, while the loop runs, the first Ctrl-C only sets the flag the loop looks at (at
    least once a second); before the loop, or a second time, it raises at once."""
    from chainrule.sweep.trials import _Runner
    runner = object.__new__(_Runner)
    runner.interrupted, runner.looping = False, True
    assert runner._on_sigint(signal.SIGINT, None) is None and runner.interrupted
    with pytest.raises(KeyboardInterrupt):
        runner._on_sigint(signal.SIGINT, None)                # a second Ctrl-C: at once
    runner.interrupted, runner.looping = False, False
    with pytest.raises(KeyboardInterrupt):
        runner._on_sigint(signal.SIGINT, None)                # before the loop: at once


def test_a_trial_killed_before_its_first_heartbeat_is_failed_and_queued_again(tmp_path):
    """Optuna's stale-trial search skips a RUNNING trial with no heartbeat row: the sweep failed it never and
    waited for it forever (a resumed sweep hung). The driver fails such a trial once it is old enough."""
    import datetime

    import optuna

    from chainrule.sweep.driver import _fail_silent_trials
    from chainrule.sweep.worker import open_storage
    settings = {"storage": f"sqlite:///{tmp_path / 'study.db'}", "heartbeat": 1, "max_retry": 2}
    study = optuna.create_study(study_name="s", storage=open_storage(settings))
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)})  # RUNNING, then "killed"
    started = study.trials[0].datetime_start
    assert _fail_silent_trials(study, settings, now=started + datetime.timedelta(seconds=2)) == 0  # too young
    assert _fail_silent_trials(study, settings, now=started + datetime.timedelta(seconds=60)) == 1
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "WAITING"] and study.trials[1].params == {"lr": trial.params["lr"]}
    assert study.trials[1].system_attrs.get("failed_trial") == 0                     # a retry with the same values
    assert _fail_silent_trials(study, settings, now=started + datetime.timedelta(seconds=120)) == 0


def test_an_address_that_never_answers_or_is_closed_fails_fast_with_one_line(tmp_path, capsys, monkeypatch):
    from chainrule.sweep import cluster
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 3)  # the wait's bound, shortened for the test (10 s by default)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)                                   # accepts, and never says a word
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        for port, name in ((silent.getsockname()[1], "silent"), (closed_port, "closed")):
            started = time.monotonic()
            assert main(["sweep", "--address", f"tcp://127.0.0.1:{port}", "--storage",
                         f"sqlite:///{tmp_path / name}.db", "--out", str(tmp_path / name), *FAST]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "cannot reach the Dask scheduler" in err[0], err
            assert time.monotonic() - started < 3 + 10, name
    finally:
        silent.close()


def test_a_copied_sweep_folder_resumes_in_its_own_study(tmp_path):
    first = tmp_path / "first"
    assert main(["sweep", "--trials", "2", "--out", str(first), *FAST]) == 0
    assert json.loads((first / "sweep.json").read_text())["storage"] is None   # the folder's own study.db
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    assert main(["sweep", "--resume", "--out", str(copy), "--trials", "3", "--no-progress"]) == 0
    assert len(study_of(first).trials) == 2 and len(study_of(copy).trials) >= 3
    # the very same command again, with --resume: allowed; a changed setting: refused
    assert main(["sweep", "--resume", "--out", str(copy), "--trials", "3", "--epochs", "2", "--no-progress"]) == 0
    assert main(["sweep", "--resume", "--out", str(copy), "--epochs", "3"]) == 2


def test_an_emptied_study_or_a_damaged_settings_file_is_refused_not_restarted(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", "--trials", "2", "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    (out / "study.db").write_bytes(b"")
    assert main(["sweep", "--resume", "--out", str(out), "--trials", "3"]) == 2
    assert "refusing to start the sweep over" in capsys.readouterr().err
    settings = json.loads((out / "sweep.json").read_text())
    del settings["sampler"]
    (out / "sweep.json").write_text(json.dumps(settings))
    assert main(["sweep", "--resume", "--out", str(out)]) == 2
    assert "lacks sampler" in capsys.readouterr().err
    assert main(["sweep", "--space", "", "--out", str(tmp_path / "empty"), *FAST]) == 2
    assert "the space is empty" in capsys.readouterr().err


def test_a_second_sweep_in_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "busy"
    process = _start_sweep(out, 4, 40)
    try:
        deadline = time.monotonic() + 60
        while not (out / "sweep.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "chainrule", "sweep", "--resume", "--out", str(out)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "is in use by chainrule sweep (process" in second.stderr
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=60)


def test_no_dashboard_port_is_bound_unless_asked(tmp_path):
    bound = []

    def try_8787(trial):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", 8787))
            except OSError:
                bound.append(trial.number)
    sweep("digits", "lr=loguniform(1e-3,1e-1)", 1, out=tmp_path / "s", jobs=1, epochs=1, progress=False,
          log=lambda m: None, on_trial_start=try_8787)
    assert bound == []


def test_a_script_that_calls_sweep_unguarded_gets_told_and_leaves_no_half_sweep(tmp_path):
    script = tmp_path / "unguarded.py"
    out = tmp_path / "s"
    script.write_text("from chainrule.sweep import sweep\n"
                      f"sweep('digits', 'lr=loguniform(1e-3,1e-1)', 1, out={str(out)!r}, jobs=1, epochs=1, "
                      "progress=False)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and 'if __name__ == "__main__":' in result.stderr
    assert not (out / "sweep.json").exists() and not (out / "study.db").exists()
    guarded = tmp_path / "guarded.py"
    guarded.write_text("from chainrule.sweep import sweep\n\nif __name__ == '__main__':\n"
                       f"    r = sweep('digits', 'lr=loguniform(1e-3,1e-1)', 1, out={str(out)!r}, jobs=1, epochs=1, "
                       "progress=False)\n    print(r.status)\n")
    result = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip().endswith("finished"), result.stderr


@pytest.mark.slow
def test_resume_after_sigkill_always_finishes_in_a_loop_under_cpu_load(tmp_path):
    """The hang seen in about 1 of 4 resumes after a SIGKILL (a trial killed before its first heartbeat stayed
    RUNNING for ever): killed at random moments, 8 times, with both cores busy, every resume finishes."""
    import random
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    rng = random.Random(7)
    try:
        for k in range(8):
            out = tmp_path / f"s{k}"
            process = _start_sweep(out, 4, 20)
            deadline = time.monotonic() + 90
            while not (out / "study.db").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.5, 6.0))                               # anywhere: before, during, between
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            if not (out / "sweep.json").exists():
                continue                                                    # killed before the sweep began
            resumed = subprocess.run([sys.executable, "-m", "chainrule", "sweep", "--resume", "--out", str(out),
                                      "--no-progress"], capture_output=True, text=True, timeout=300)
            assert resumed.returncode == 0, resumed.stderr
            assert not [t for t in study_of(out).trials if t.state.name in ("RUNNING", "WAITING")]
    finally:
        for b in burners:
            b.kill()
            b.wait()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_python_drops_still_stops_the_sweep():
    """A Ctrl-C that arrives while Python runs a weakref callback (or a finalizer) is printed as "Exception
    ignored" and dropped: a sweep once finished all its trials after one (exit 0, not 130). The sweep's SIGINT
    handler also remembers it, and the trial loop raises it at its next turn."""
    import gc
    import weakref

    from chainrule.sweep.trials import _Runner
    runner = _Runner.__new__(_Runner)
    runner.interrupted = False

    class Anything:
        pass

    thing = Anything()
    ref = weakref.ref(thing, lambda _: runner._on_sigint(signal.SIGINT, None))
    del thing
    gc.collect()                                     # the callback's KeyboardInterrupt is dropped by Python …
    assert ref() is None and runner.interrupted                        # … but remembered, for the loop to raise


def test_a_finished_sweep_resumed_starts_no_cluster_and_says_so(tmp_path, capsys, monkeypatch):
    """`--resume` of a sweep with all its trials done said nothing of it: it started a cluster, found nothing to
    do and wrote the report again. It now says there is nothing to run (and how to run more), starts no worker,
    and writes the same report."""
    out = tmp_path / "s"
    assert main(["sweep", "--dataset", "spiral", "--trials", "2", "--epochs", "1", "--jobs", "1", "--out", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    table = (out / "trials.csv").read_text()
    from chainrule.sweep import trials
    monkeypatch.setattr(trials, "connect", lambda *a, **k: pytest.fail("a cluster was started"))
    for more in ([], ["--trials", "1"]):
        assert main(["sweep", "--resume", "--out", str(out), "--no-progress", *more]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(f"nothing to run: the sweep in {out} has 2 trials done, and --trials is "
                                  f"{more[1] if more else 2}; its report is written again (--trials 3 or more runs "
                                  "more)"), printed
        assert (out / "trials.csv").read_text() == table


def test_a_sweep_that_mirrors_handwritten_digits_says_why_it_will_score_less(tmp_path, capsys):
    """A space searching flip (or --flip) on digits mirrors 2s and 7s into wrong examples: said once, on stderr,
    before anything runs (here the sweep then stops at an address it cannot share); not said for spiral."""
    code = main(["sweep", "--out", str(tmp_path / "s"), "--space", "flip=choice(yes|no)",
                 "--address", "tcp://10.1.2.3:8786"])
    assert code == 2
    err = capsys.readouterr().err
    assert "note: the space searches flip, which mirrors half of the digits training images" in err, err
    main(["sweep", "--out", str(tmp_path / "t"), "--dataset", "spiral", "--address", "tcp://10.1.2.3:8786"])
    assert "note:" not in capsys.readouterr().err


def test_the_sweep_figure_of_a_space_spanning_all_of_floating_point_is_drawn(tmp_path):
    """loguniform(1e-300,1e300) ended the whole sweep in matplotlib's OverflowError (its log ticks reached inf) after
    the trials, before the best model was tested; the panels now have their own limits and decade ticks, and
    accuracies keep the scale 0 … 1."""
    import matplotlib.pyplot as plt
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from chainrule.sweep.report import plot_sweep
    dims = parse_space("lr=loguniform(1e-300,1e300); weight_decay=uniform(0,1e308)")
    trials = []
    for number, (lr, decay) in enumerate([(1e-200, 1e307), (1e250, 5e307), (1.0, 0.0)]):
        trial = create_trial(state=TrialState.COMPLETE, value=0.1 * number, params={"lr": lr, "weight_decay": decay},
                             distributions={"lr": FloatDistribution(1e-300, 1e300, log=True),
                                            "weight_decay": FloatDistribution(0, 1e308)},
                             user_attrs={"history": [{"epoch": 1, "validation_accuracy": 0.1 * number}],
                                         "status": "complete"})
        trial.number = number
        trials.append(trial)
    plot_sweep(trials, dims, tmp_path / "sweep.png", "extremes")
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG")
    plt.close("all")
