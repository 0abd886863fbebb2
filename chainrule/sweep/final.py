"""The end of a sweep: the best trial's model kept as trials finish, retrained if it was lost, tested once.

The test set is touched here only, once, after the search: every trial is judged on its validation split.
"""
from __future__ import annotations

from ..atomic import atomic_write
from ..training.outputs import write_json
from .settings import SweepResult


def _counts(trials):
    from .report import status_of
    counts = dict.fromkeys(("complete", "pruned", "diverged", "failed", "running", "waiting"), 0)
    for t in trials:
        counts[status_of(t)] = counts.get(status_of(t), 0) + 1
    return counts


def save_if_best(runner, result):
    """Keep a finished trial's model in best/ when it beats the best so far."""
    if result.get("state") != "COMPLETE" or result.get("model") is None:
        return
    if runner.best is not None and runner.best.get("validation_accuracy", -1) >= result["value"]:
        return
    write_best(runner, next(t for t in runner.trials() if t.number == result["number"]), result["model"])


def write_best(runner, trial, model, **extra):
    """best/model.npz and best/metrics.json (validation figures; the test set comes at the very end)."""
    with atomic_write(runner.out / "best" / "model.npz") as f:
        f.write(model)
    runner.best = {"trial": trial.number, "validation_accuracy": trial.value, "params": trial.params,
                 "recipe": trial.user_attrs.get("recipe"), "history": trial.user_attrs.get("history"), **extra}
    write_json(runner.best_file, runner.best)


def finish(runner, status, test, split):
    """The sweep's reports and, when it finished, the best model tested once: a SweepResult."""
    from .report import plot_sweep, write_tables
    trials = runner.trials()
    counts = _counts(trials)
    table = write_tables(runner.out, trials, runner.dims, runner.title)
    written = ["trials.csv", "trials.md"]
    from ..training.plots import matplotlib_available
    if matplotlib_available():
        try:
            plot_sweep(trials, runner.dims, runner.out / "sweep.png", runner.title)
            written.append("sweep.png")
        except (ValueError, ArithmeticError, RuntimeError) as e:   # the figure only: the tables and the best stay
            runner.log(f"note: sweep.png was not drawn ({type(e).__name__}: {e}); trials.csv and trials.md hold "
                       "every trial")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    best_trial = max(complete, key=lambda t: t.value) if complete else None
    best = None
    if best_trial is not None and status == "finished":  # an interrupted sweep is not over: no test set yet
        if runner.best is None or runner.best.get("trial") != best_trial.number \
                or not (runner.out / "best" / "model.npz").exists():
            retrain(runner, best_trial, split)
        best = evaluate_best(runner, best_trial, test)
        written += ["best/model.npz", "best/metrics.json"] + (["best/curves.png"] if matplotlib_available()
                                                             else [])
    return SweepResult(runner.out, status, counts, best, table, written,
                       stopped_by=getattr(runner, "stopped_by", None))


def retrain(runner, trial, split):
    """The best trial's model file was lost (the driver stopped after the trial finished): train it again
    with its recipe, which is deterministic given its seed."""
    from ..model_io import model_bytes
    from ..training import job
    r = {"dataset": runner.settings["dataset"], **trial.user_attrs["recipe"]}
    result = job.run(r, split, progress=False, log=lambda m: None, verbose=False)
    write_best(runner, trial, model_bytes(result.network, {"dataset": runner.settings["dataset"]}), retrained=True)


def evaluate_best(runner, trial, test):
    """The best trial's model on the test set, once, after the search."""
    from ..model_io import load_model
    from ..training.plots import matplotlib_available, plot_curves
    net, _ = load_model(runner.out / "best" / "model.npz")
    x_test, t_test = test
    test_result = net.evaluate(x_test, t_test)
    runner.best.update({"trial": trial.number, "validation_accuracy": trial.value, "params": trial.params,
                      "test_accuracy": float(test_result["accuracy"]), "test_loss": float(test_result["loss"]),
                      "test_samples": int(len(x_test)), "dataset": runner.settings["dataset"]})
    write_json(runner.best_file, runner.best)
    if matplotlib_available():
        history = [{"epoch": h["epoch"], "loss": h["loss"], "train_accuracy": h["train_accuracy"],
                    "test_accuracy": h["validation_accuracy"], "test_loss": h["validation_loss"]}
                   for h in runner.best.get("history") or []]
        plot_curves(history, runner.out / "best" / "curves.png", f"best trial {trial.number} of the sweep",
                    evaluated="validation")
    return runner.best
