"""The sweep driver: ``sweep(...)`` (and ``chainrule sweep``): a study in Optuna's storage, trials run as tasks on
Dask workers, reports as they finish, the best model tested once at the end.

It runs embedded by default: a local Dask cluster of ``jobs`` worker processes listening on 127.0.0.1 only, one
thread and one BLAS thread each, and a SQLite study in ``OUT/study.db``. Given a scheduler ``address`` it uses that
cluster's workers instead, unchanged, with a ``storage`` URL (PostgreSQL) that every worker reaches. One sweep
writes into a folder at a time (a lock); Ctrl-C cancels the tasks, marks their trials failed and queued again, and
leaves a study that ``resume=True`` continues; a driver that was killed is resumed the same way.

The parts: :mod:`.settings` (what sweep.json holds), :mod:`.cluster` (Dask), :mod:`.trials` (the trial loop),
:mod:`.final` (the best model: kept, retrained if lost, tested once). Nothing here imports Optuna or Dask until a
sweep runs: they are the optional extra ``chainrule[sweep]``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import datasets
from ..training.outputs import OutputError, lock, prepare, write_json
from . import final
from .cluster import _first_line, _silence_dask_logs, _versions, check_workers  # noqa: F401  (the sweep API's helpers)
from .settings import (SETTINGS_FILE, SweepError, SweepResult, _check_settings, _listed_trials, _load_settings,  # noqa: F401
                       _new_settings, _require_extras, _storage_url, missing_extra_message)
from .preflight import preflight
from .report import title_of
from .trials import _fail_silent_trials, _Runner  # noqa: F401


def split_validation(data, fraction, seed):
    """((x_train, t_train), (x_val, t_val)): a random ``fraction`` of the training data, drawn with ``seed``, held
    out for validation; the test set is not touched."""
    (x, t), _ = data
    n_val = int(round(len(x) * fraction))
    if n_val < 1 or len(x) - n_val < 1:
        raise SweepError(f"--validation {fraction:g} of {len(x)} training samples leaves an empty part; expected at "
                         "least one sample for training and one for validation")
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train], t[train]), (x[val], t[val])


def _nothing_left(study, settings, out, log):
    """True (and says so) when a resumed sweep already has all its trials done and none queued or running: no
    cluster is started, the report is written again from the study."""
    from .final import _counts
    counts = _counts(study.get_trials(deepcopy=False))
    done = counts["complete"] + counts["pruned"] + counts["diverged"]
    if done < settings["trials"] or counts["waiting"] or counts["running"]:
        return False
    log(f"nothing to run: the sweep in {out} has {done} trial{'s' * (done != 1)} done, and --trials is "
        f"{settings['trials']}; its report is written again (--trials {done + 1} or more runs more)")
    return True


def sweep(dataset="digits", space="lr=loguniform(1e-4,1e-1); weight_decay=loguniform(1e-8,1e-1)", trials=None, *,
          out="runs/sweep", jobs=None, sampler="random", prune=None, validation=0.1, seed=0, address=None,
          storage=None, resume=False, dashboard=False, heartbeat=None, max_retry=2, data_dir=None, data=None,
          progress=None, log=print, on_trial_start=None, recipe_of=None, **fixed):
    """Search hyperparameters of ``chainrule train`` (book §6.5): ``trials`` trials, values drawn from ``space``
    (see :mod:`chainrule.sweep.space`), each trained on the training data less a ``validation`` part and judged by
    its validation accuracy; the best trial's model is then evaluated on the test set once.

    ``fixed`` are train options for every trial (``epochs=5``, ``hidden=[100]``, ...). ``trials`` defaults to 20,
    ``jobs`` (trials at a time) to the cores of this machine, or with ``address`` to the cluster's worker threads,
    ``heartbeat`` to 5 seconds (a dead trial is noticed after three). With ``resume=True`` the settings come from
    ``out``/sweep.json and only ``trials``, ``jobs``, ``address``, ``storage`` and ``heartbeat`` may be given
    anew. ``data`` (``((x_train, t_train), (x_test, t_test))``) replaces loading ``dataset``, which may then be
    any name (your own data: give ``data`` again to resume); options not given come from the recipe of
    ``recipe_of`` (default: the data set's own, for other names digits'). ``on_trial_start(trial)`` runs on the
    worker before each trial trains. Returns a :class:`SweepResult` and writes into ``out`` (see
    docs/learning/sweeps.md).
    """
    _require_extras()
    _refuse_inside_a_worker()
    asked = SweepRequest(dataset, space, trials, Path(out), jobs, sampler, prune, validation, seed, address, storage,
                         resume, dashboard, heartbeat, max_retry, data_dir, data, progress, log, on_trial_start,
                         recipe_of, {k: v for k, v in fixed.items() if v is not None})
    try:
        with lock(asked.out, "chainrule sweep"):  # one sweep per folder: a second one started beside it is refused
            return _sweep(asked)
    except OutputError as e:
        raise SweepError(str(e)) from None


@dataclass
class SweepRequest:
    """What :func:`sweep` was asked, as one object (the arguments documented there); ``fixed`` holds the train
    options given for every trial. From it come the settings of sweep.json (:mod:`.settings`)."""

    dataset: str
    space: str
    trials: int | None
    out: Path
    jobs: int | None
    sampler: str
    prune: str | None
    validation: float
    seed: int
    address: str | None
    storage: str | None
    resume: bool
    dashboard: bool
    heartbeat: int | None
    max_retry: int
    data_dir: str | None
    data: tuple | None
    progress: bool | None
    log: object
    on_trial_start: object
    recipe_of: str | None
    fixed: dict = field(default_factory=dict)


def _refuse_inside_a_worker():
    """Dask starts its worker processes by re-importing the caller's script: a script that calls sweep() at its
    top level would start a sweep in every worker. Refused there, with what to write instead."""
    import multiprocessing
    if multiprocessing.parent_process() is not None and multiprocessing.current_process().name != "MainProcess":
        raise SweepError("sweep() was called while a worker process imported your script: put the call under "
                         "if __name__ == \"__main__\": (Dask's workers import the script that starts them)")


def _sweep(asked):
    out, resume, data = asked.out, asked.resume, asked.data
    if resume:
        settings = _load_settings(out, {"trials": asked.trials, "jobs": asked.jobs, "address": asked.address,
                                        "storage": asked.storage, "heartbeat": asked.heartbeat})
    else:
        if (out / SETTINGS_FILE).exists() or (out / "study.db").exists():
            raise SweepError(f"{out} already holds a sweep; continue it with --resume --out {out}, or choose "
                             "another --out")
        try:
            prepare(out)
        except OutputError as e:
            raise SweepError(str(e)) from None
        settings = _new_settings(asked)
    dims = _check_settings(settings)
    if data is None and settings["dataset"] not in datasets.NAMES:
        raise SweepError(f"{settings['dataset']!r} is not a data set chainrule can load; pass its arrays as "
                         "data=((x_train, t_train), (x_test, t_test))")
    if data is None:
        data = datasets.load_for_networks(settings["dataset"], data_dir=settings["data_dir"], download=False) \
            if settings["dataset"] in ("mnist", "fashion-mnist") else datasets.load_for_networks(settings["dataset"])
    preflight(settings, dims, data)
    split = split_validation(data, settings["validation"], settings["seed"])
    _, (x_test, t_test) = data

    import optuna

    from .worker import open_storage, quiet_optuna
    quiet_optuna()
    kept = dict(settings)                                 # what sweep.json holds: the storage as given
    settings["storage"] = _storage_url(out, settings["storage"])
    listed = _listed_trials(out) if resume else 0
    db = out / "study.db"
    if resume and kept["storage"] is None and listed and (not db.exists() or db.stat().st_size == 0):
        raise SweepError(f"--resume: {db} is missing or empty but trials.csv lists {listed} trial(s); refusing to "
                         "start the sweep over (restore the study.db, or start a new sweep in another --out)")
    try:
        study = optuna.create_study(study_name=settings["study"], storage=open_storage(settings),
                                    direction="maximize", load_if_exists=True)
    except Exception as e:  # an unreachable database, a wrong URL: one line
        raise SweepError(f"cannot open the study in {settings['storage']}: {_first_line(e)}") from None
    if resume and len(study.trials) < listed:
        raise SweepError(f"--resume: the study in {settings['storage']} holds {len(study.trials)} trial(s) but "
                         f"trials.csv lists {listed}; the study was emptied or replaced: refusing to start over")
    new = not resume
    kept["sessions"] = settings["sessions"] = settings.get("sessions", 0) + 1
    write_json(out / SETTINGS_FILE, kept)
    title = title_of(settings)
    runner = _Runner(settings, dims, study, out, asked.progress, asked.log, title, asked.on_trial_start)
    try:
        status = "finished" if resume and _nothing_left(study, settings, out, asked.log) else \
            runner.run(split, asked.dashboard)
    except BaseException:
        if new and not study.trials:  # failed before any trial (no workers, a bad address): leave no half sweep
            for name in (SETTINGS_FILE, "study.db"):
                with contextlib.suppress(OSError):
                    (out / name).unlink()
        raise
    return final.finish(runner, status, (x_test, t_test), split)
