"""One trial of a sweep, as it runs on a Dask worker.

:func:`run_trial` opens the study in the shared storage, lets Optuna draw the
next trial (a retried one first) and trains it on the training part of the
data, reporting the validation accuracy after every epoch so that a pruner can
stop it early. Optuna's heartbeat runs beside the training: if this process
dies, the trial stops beating and whoever checks next (the driver does, every
second) marks it failed and queues it again with the same parameters.

A trial ends in one of three states: COMPLETE (its value is the validation
accuracy after the last epoch), PRUNED (stopped early by the pruner, or because
training diverged: then ``status`` says so) or FAIL (an exception: the
traceback is re-raised to the driver; a dead process: by the heartbeat).
"""
from __future__ import annotations

import os
import socket
import time
import warnings

import numpy as np

from ..model_io import model_bytes
from ..training import job, recipes
from ..training.trainer import StopTraining
from .space import suggest, to_options


def quiet_optuna():
    """Optuna logs every trial at INFO, each failure at WARNING, and warns that heartbeats are experimental: the
    driver reports trials itself."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is reported by the driver, in one line
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


_STORAGES = {}


def open_storage(settings):
    """The study's storage, with heartbeats and the retry of trials whose process died (Optuna's RDBStorage).

    A running trial writes a heartbeat every ``settings["heartbeat"]`` seconds; one silent for three intervals is
    marked failed by the next ``fail_stale_trials`` and queued again with the same parameters (at most
    ``settings["max_retry"]`` times)."""
    import inspect

    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    quiet_optuna()
    url = settings["storage"]
    interval = int(settings["heartbeat"])
    retry = RetryHeartbeatStaleTrialCallback(max_retry=settings["max_retry"])
    # Optuna ≥ 4.5 names the callback heartbeat_stale_trial_callback, older versions failed_trial_callback
    name = "heartbeat_stale_trial_callback" \
        if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage).parameters else "failed_trial_callback"
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    key = (url, interval, settings["max_retry"])
    if key not in _STORAGES:  # one engine (connection pool) per process and database, not one per trial
        storage = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=interval,
                             grace_period=3 * interval, **{name: retry})
        if url.startswith("sqlite"):
            _serialize_sqlite(storage.engine)
        _STORAGES[key] = storage
    return _STORAGES[key]


def _serialize_sqlite(engine):
    """Make each SQLite transaction take the database's write lock when it begins (``BEGIN IMMEDIATE``).

    Optuna changes a trial's state by reading it ``FOR UPDATE`` and then writing it. SQLite ignores ``FOR UPDATE``,
    and Python's sqlite3 module only begins a transaction at the first write, so two processes could both read
    RUNNING (or WAITING) and both win: a dead trial was queued again twice, and one queued trial was started by
    several workers at once. Under ``BEGIN IMMEDIATE`` the second process waits, then reads the new state.
    Server databases (PostgreSQL, MySQL) lock the row themselves and are left as they are."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, record):
        dbapi_connection.isolation_level = None   # sqlite3 leaves BEGIN to SQLAlchemy's "begin" below

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()   # connections opened while Optuna created the tables are replaced by ones with the above


def make_sampler(settings, ticket):
    """Random sampling (the book's method) or TPE, seeded by the sweep's seed and this task's ticket: two tasks
    never draw the same values, and the same sweep draws the same ones."""
    import optuna
    state = int(np.random.SeedSequence([settings["seed"], *ticket]).generate_state(1)[0])
    if settings["sampler"] == "tpe":
        return optuna.samplers.TPESampler(seed=state, constant_liar=True, n_startup_trials=10)
    return optuna.samplers.RandomSampler(seed=state)


def make_pruner(settings):
    """Optuna's pruner for ``settings['prune']``: median, successive halving or none."""
    import optuna
    if settings["prune"] == "median":
        # stop a trial whose accuracy after an epoch is below the median of the earlier trials' at that epoch;
        # only once 5 trials have finished, and from the second epoch on (Optuna prunes from step n_warmup_steps:
        # the first epoch's accuracy says little about a large learning rate)
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if settings["prune"] == "halving":
        # successive halving: at 1, 3, 9, … epochs only the best third of the trials that got there goes on
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def load_study(settings, ticket=(0, 0)):
    """The sweep's study, with this task's sampler and the pruner."""
    import optuna
    return optuna.load_study(study_name=settings["study"], storage=open_storage(settings),
                             sampler=make_sampler(settings, ticket), pruner=make_pruner(settings))


def trial_recipe(settings, values):
    """The train recipe of one trial: the data set's defaults, the sweep's fixed options, the drawn values."""
    r = recipes.recipe(settings.get("recipe_of") or settings["dataset"], **{**settings["fixed"], **to_options(values)})
    r["dataset"] = settings["dataset"]
    return r


def run_trial(settings, data, ticket, on_trial_start=None):
    """Run one trial of the sweep described by ``settings`` on ``data`` = ((x_train, t_train), (x_val, t_val)).

    Returns a dict with the trial's ``number``, ``state`` ("COMPLETE" or "PRUNED"), ``value`` and, when it
    completed, ``model`` (the model file's bytes). ``on_trial_start(trial)`` is called before training.
    """
    import optuna
    from .space import parse_space

    dims = parse_space(settings["space"])
    study = load_study(settings, ticket)
    out = {}

    def objective(trial):
        # the first heartbeat, written before anything else: Optuna's own comes from a thread that may not have
        # written yet when this process dies; a trial with a "worker" then always has a heartbeat to go stale,
        # and one without is failed by the driver (driver._fail_silent_trials)
        open_storage(settings).record_heartbeat(trial._trial_id)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        values = suggest(trial, dims)
        r = trial_recipe(settings, values)
        trial.set_user_attr("recipe", {k: v for k, v in r.items() if k != "dataset"})
        if on_trial_start is not None:
            on_trial_start(trial)

        def on_epoch(record):
            trial.report(record["test_accuracy"], record["epoch"])
            if trial.should_prune():
                raise StopTraining

        started = time.perf_counter()
        result = job.run(r, data, progress=False, log=lambda message: None, verbose=False, on_epoch=on_epoch)
        history = [{"epoch": h["epoch"], "loss": h["loss"], "train_accuracy": h["train_accuracy"],
                    "validation_accuracy": h["test_accuracy"], "validation_loss": h["test_loss"],
                    "seconds": h["seconds"]} for h in result.metrics["history"]]
        trial.set_user_attr("history", history)
        trial.set_user_attr("epochs", len(history))
        trial.set_user_attr("seconds", time.perf_counter() - started)
        status = {"finished": "complete", "stopped": "pruned"}.get(result.status, result.status)
        trial.set_user_attr("status", status)
        if result.status == "diverged":
            trial.set_user_attr("message", result.message)
        out["number"] = trial.number
        if result.status == "interrupted":
            raise KeyboardInterrupt
        if result.status in ("stopped", "diverged"):
            raise optuna.TrialPruned(result.message or "pruned")
        out["model"] = model_bytes(result.network, {"dataset": settings["dataset"]})
        return history[-1]["validation_accuracy"]

    study.optimize(objective, n_trials=1)
    frozen = next(t for t in reversed(study.get_trials(deepcopy=False)) if t.number == out["number"])
    return {"number": frozen.number, "state": frozen.state.name, "value": frozen.value, "model": out.get("model")}
