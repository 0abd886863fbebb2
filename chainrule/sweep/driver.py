"""The sweep driver: a study in Optuna's storage, trials run as tasks on Dask workers, reports as they finish.

``sweep(...)`` (and ``chainrule sweep``) runs embedded by default: a local Dask
cluster of ``jobs`` worker processes listening on 127.0.0.1 only, one thread
and one BLAS thread each, and a SQLite study in ``OUT/study.db``. Given a
scheduler ``address`` it uses that cluster's workers instead, unchanged, with a
``storage`` URL (PostgreSQL) that every worker reaches.

The driver keeps ``jobs`` tasks in flight until ``trials`` trials have
completed or been pruned. Each task runs one trial (``worker.run_trial``). A
trial whose process dies stops sending heartbeats; three intervals later the
driver marks it failed and Optuna queues it again with the same parameters
(at most ``max_retry`` times); queued retries always run before the sweep
ends, and the sweep never ends with a trial still running. Ctrl-C cancels the
tasks, marks their trials failed and queued again, and leaves a study that
``resume=True`` continues; a driver that was killed is resumed the same way.

Nothing here is imported until a sweep runs: Optuna and Dask are the optional
extra ``chainrule[sweep]``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import datasets
from ..atomic import atomic_write
from ..training import recipes
from ..training.outputs import OutputError, lock, prepare, write_json
from .space import parse_space, space_text

STUDY = "chainrule-sweep"
SETTINGS_FILE = "sweep.json"
SAMPLERS = ("random", "tpe")
PRUNERS = ("none", "median", "halving")


class SweepError(ValueError):
    """A sweep cannot start or go on; the message says why and what to do."""


@dataclass
class SweepResult:
    out: Path
    status: str                        # finished or interrupted
    counts: dict                       # trials per status: complete, pruned, diverged, failed
    best: dict | None = None           # trial, params, validation_accuracy, test_accuracy
    table: list = field(default_factory=list)
    written: list = field(default_factory=list)


def missing_extra_message(error):
    return (f"chainrule sweep needs Optuna and Dask ({error.name} is missing): pip install 'chainrule[sweep]'")


def _require_extras():
    try:
        import dask.distributed  # noqa: F401
        import optuna  # noqa: F401
    except ImportError as e:
        raise SweepError(missing_extra_message(e)) from None


def _is_loopback(address):
    host = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def _check_settings(s):
    if s["sampler"] not in SAMPLERS:
        raise SweepError(f"--sampler {s['sampler']!r}: expected one of {', '.join(SAMPLERS)}")
    if s["prune"] not in PRUNERS:
        raise SweepError(f"--prune {s['prune']!r}: expected one of {', '.join(PRUNERS)}")
    if not (isinstance(s["trials"], int) and s["trials"] >= 1):
        raise SweepError(f"--trials {s['trials']!r}: expected a whole number ≥ 1")
    if s["jobs"] is not None and not (isinstance(s["jobs"], int) and s["jobs"] >= 1):
        raise SweepError(f"--jobs {s['jobs']!r}: expected a whole number ≥ 1")
    if not 0 < s["validation"] < 1:
        raise SweepError(f"--validation {s['validation']!r}: expected a fraction of the training data in (0, 1)")
    if not (isinstance(s["heartbeat"], int) and s["heartbeat"] >= 1):
        raise SweepError(f"heartbeat {s['heartbeat']!r}: expected a whole number of seconds ≥ 1")
    dims = parse_space(s["space"])
    both = sorted({d.key for d in dims} & set(s["fixed"]))
    if both:
        raise SweepError(f"{', '.join(both)} is both searched (--space) and fixed (--{both[0].replace('_', '-')}); "
                         "give it one way")
    try:  # the data set's recipe with the fixed options must be valid on its own
        recipes.recipe(s.get("recipe_of") or s["dataset"], **s["fixed"])
    except ValueError as e:
        raise SweepError(str(e)) from None
    if s["address"] and (s["storage"] or "sqlite:").startswith("sqlite") and not _is_loopback(s["address"]):
        raise SweepError(f"--address {s['address']} is another machine's scheduler, but the study would be a SQLite "
                         "file: workers on other machines cannot share it (and SQLite over network file systems "
                         "loses writes). Give --storage an RDB URL every worker reaches, e.g. "
                         "postgresql://user:password@host/db")
    return dims


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


def _versions():
    import sys

    import numpy
    import optuna

    from ..version import __version__
    return {"chainrule": __version__, "optuna": optuna.__version__, "numpy": numpy.__version__,
            "python": ".".join(map(str, sys.version_info[:2]))}


def check_workers(client, storage, log=print):
    """Every worker runs the driver's chainrule and Optuna versions (refused otherwise: the trials and the study's
    schema are theirs) and sees a SQLite study's file; other Python or NumPy versions are reported."""
    mine = _versions()
    try:
        theirs = client.run(_versions)
    except ModuleNotFoundError as e:
        raise SweepError(f"a worker cannot import {e.name}: install chainrule[sweep] {mine['chainrule']} on every "
                         "worker") from None
    except Exception as e:  # a worker that cannot even answer: one line, not a traceback
        raise SweepError(f"cannot ask the workers for their versions: {type(e).__name__}: {e}") from None
    if not theirs:
        raise SweepError("the scheduler has no workers; start some with: dask worker ADDRESS")
    for worker, versions in sorted(theirs.items()):
        different = [f"{k} {versions.get(k)} (driver: {mine[k]})" for k in ("chainrule", "optuna")
                     if versions.get(k) != mine[k]]
        if different:
            raise SweepError(f"worker {worker} runs {', '.join(different)}; install the same versions everywhere")
        other = [f"{k} {versions.get(k)} (driver: {mine[k]})" for k in ("python", "numpy")
                 if versions.get(k) != mine[k]]
        if other:
            log(f"note: worker {worker} runs {', '.join(other)}")
    if storage.startswith("sqlite:///"):
        path = os.path.dirname(storage[len("sqlite:///"):])
        blind = [w for w, ok in client.run(os.path.isdir, path).items() if not ok]
        if blind:
            raise SweepError(f"worker {blind[0]} cannot see {path}, where the SQLite study is; use --storage with "
                             "an RDB URL that every worker reaches")
    return theirs


@contextlib.contextmanager
def _ignoring_sigint():
    """Worker processes started in here ignore Ctrl-C (they inherit it): the driver stops them itself."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to protect
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _silence_dask_logs():
    """Stop Dask's own log lines in this process: once the sweep stops the workers on purpose (Ctrl-C, an
    error), every closed connection would otherwise print an INFO line with a traceback. Returns a function
    that puts the levels back."""
    names = {"distributed", "tornado"} | {name for name in list(logging.root.manager.loggerDict)
                                         if name.startswith(("distributed.", "tornado."))}
    loggers = [logging.getLogger(name) for name in sorted(names)]  # children with levels of their own too
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)

    def restore():
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    return restore


#: seconds to reach a scheduler given by --address (a closed port fails at once, a silent one after this)
CONNECT_TIMEOUT = 10


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _client_within(address, seconds):
    """A Client to ``address``, or TimeoutError after ``seconds`` whatever the other end does: a port that
    accepts and never speaks held Dask's own connect for minutes. The attempt runs in a daemon thread."""
    import threading

    from dask.distributed import Client
    box = {}

    def attempt():
        try:
            box["client"] = Client(address, timeout=f"{seconds}s")
        except BaseException as e:  # handed to the caller
            box["error"] = e
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds + 2)
    if "client" in box:
        return box["client"]
    if "error" in box and not isinstance(box["error"], (OSError, TimeoutError)):
        raise OSError(_first_line(box["error"]))
    raise box.get("error") or TimeoutError(f"no answer within {seconds} s")


@contextlib.contextmanager
def connect(settings, jobs, dashboard=False):
    """A Dask client: to the scheduler at ``settings["address"]``, or to a new local cluster of ``jobs`` worker
    processes on 127.0.0.1 (dashboard only when asked, on 127.0.0.1:8787)."""
    from dask.distributed import Client, LocalCluster
    if settings["address"]:
        try:
            client = _client_within(settings["address"], CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise SweepError(f"cannot reach the Dask scheduler at {settings['address']} within {CONNECT_TIMEOUT} s: "
                             f"{_first_line(e)}") from None
        try:
            client.wait_for_workers(1, timeout=60)
        except (OSError, TimeoutError):
            with contextlib.suppress(Exception):
                client.close(timeout=5)
            raise SweepError(f"no worker joined the scheduler at {settings['address']} within 60 s; start some with: "
                             f"dask worker {settings['address']}") from None
        try:
            yield client, None
        finally:
            client.close()
        return
    # Workers that Ctrl-C ends leave semaphores that multiprocessing's resource tracker (started here, taking
    # this environment) cleans up, with a warning meant for programs that leak them: not news to our users.
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    previous = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = f"{previous},{quiet}" if previous else quiet
    try:
        with _ignoring_sigint():
            # without --dashboard no dashboard, and the scheduler's small HTTP server on a free port: Dask would
            # otherwise bind 8787 even with the dashboard off
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:8787" if dashboard else "127.0.0.1:0",
                                   scheduler_kwargs={"dashboard": bool(dashboard)},
                                   silence_logs=logging.CRITICAL, scheduler_port=0,
                                   env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            client = Client(cluster)
    except Exception as e:  # the workers did not start: most often a script that starts a sweep when imported
        raise SweepError(f"the local Dask workers did not start ({_first_line(e)}); if sweep() is called from a "
                         "script, put the call under if __name__ == \"__main__\": (each worker imports the script "
                         "that starts it)") from None
    finally:
        if previous is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = previous
    try:
        yield client, cluster
    finally:
        with contextlib.suppress(Exception):
            client.close()
        with contextlib.suppress(Exception):
            cluster.close()


def _storage_url(out, storage):
    if storage:
        return storage
    return "sqlite:///" + str((Path(out) / "study.db").resolve())


def _retry_running(study, storage_settings):
    """Mark the study's running trials failed and queue each again (Ctrl-C, or tasks that can no longer run)."""
    from optuna.trial import TrialState

    from .worker import open_storage
    storage = open_storage(storage_settings)
    getter = getattr(storage, "get_heartbeat_stale_trial_callback", None) or storage.get_failed_trial_callback
    callback = getter()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with contextlib.suppress(Exception):
            if storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                callback(study, storage.get_trial(t._trial_id))


def _fail_silent_trials(study, storage_settings, now=None):
    """Fail (and queue again) the running trials that died before their first heartbeat.

    Optuna's stale-trial search only sees trials with a heartbeat row; a worker killed between creating its
    trial and starting the heartbeat leaves one RUNNING forever, and the sweep would wait for it. A trial
    reaches ``objective`` (which records its ``worker``) right after its heartbeat starts, so one without a
    ``worker`` that started more than four heartbeat intervals ago is dead."""
    import datetime

    from optuna.trial import TrialState

    from .worker import open_storage
    now = now or datetime.datetime.now()
    limit = datetime.timedelta(seconds=4 * int(storage_settings["heartbeat"]))
    silent = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
              if "worker" not in t.user_attrs and t.datetime_start is not None and now - t.datetime_start > limit]
    if not silent:
        return 0
    storage = open_storage(storage_settings)
    getter = getattr(storage, "get_heartbeat_stale_trial_callback", None) or storage.get_failed_trial_callback
    callback = getter()
    failed = 0
    for t in silent:
        with contextlib.suppress(Exception):
            if storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                failed += 1
                if callback is not None:
                    callback(study, storage.get_trial(t._trial_id))
    return failed


def _kill_workers(client):
    """End the local cluster's worker processes at once (SIGKILL): their trials stay RUNNING for the caller."""
    with contextlib.suppress(Exception):
        for pid in client.run(os.getpid, wait=True).values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


class _Progress:
    """trials done / running / pruned / failed and the best so far: a tqdm bar, or a line per finished trial."""

    def __init__(self, total, enabled, log):
        import sys

        from tqdm.auto import tqdm
        self.log = log
        enabled = sys.stderr.isatty() if enabled is None else enabled  # None: a bar on a terminal only
        self.bar = tqdm(total=total, desc="sweep", unit="trial", disable=not enabled, dynamic_ncols=True,
                        mininterval=0.5) if enabled else None

    def update(self, counts, best, total):
        text = (f"running {counts['running']}, pruned {counts['pruned'] + counts['diverged']}, failed "
                f"{counts['failed']}" + (f", best {best:.4f}" if best is not None else ""))
        done = counts["complete"] + counts["pruned"] + counts["diverged"]
        if self.bar is not None:
            self.bar.total = max(total, done)
            self.bar.n = done
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.refresh()

    def trial(self, message):
        if self.bar is not None:
            self.bar.write(message)
        else:
            self.log(message)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _counts(trials):
    from .report import status_of
    counts = dict.fromkeys(("complete", "pruned", "diverged", "failed", "running", "waiting"), 0)
    for t in trials:
        counts[status_of(t)] = counts.get(status_of(t), 0) + 1
    return counts


def _describe(trial):
    from .report import status_of
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    status = status_of(trial)
    value = trial.value if trial.value is not None else (
        trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
    acc = f", validation {value:.4f}" if value is not None else ""
    epochs = trial.user_attrs.get("epochs")
    if epochs is None:  # it stopped before its history was written (a dead process): the epochs it reported
        epochs = len(trial.intermediate_values)
    seconds = trial.user_attrs.get("seconds")
    if seconds is None and trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return f"trial {trial.number}: {status}{acc} after {epochs} epoch(s) in {seconds or 0:.1f}s ({params})"


def _preflight(settings, dims, data):
    """Build the network of every architecture the sweep can draw for this data before any worker starts: a CNN
    on data that are not images (or augmenting them) is one clear error, not a sweep of failed trials."""
    from ..training import job
    from .worker import trial_recipe
    (x, t), (x_test, t_test) = data
    if len(x) == 0:
        raise SweepError(f"{settings['dataset']}: the training data is empty")
    classes = job.class_count(t, t_test)
    archs = next((d.choices for d in dims if d.key == "arch"), None) or [None]
    for arch in archs:
        r = trial_recipe(settings, {"arch": arch} if arch else {})
        try:
            job.make_network(r, x.shape[1:], classes)
            if r.get("shift") or r.get("flip") or any(d.key in ("shift", "flip") for d in dims):
                job.image_shape(x.shape[1:], "augmenting (shift, flip) needs images", "leave shift and flip out")
        except ValueError as e:
            raise SweepError((f"arch {arch}: " if arch else "") + str(e)) from None


def _new_settings(out, dataset, data_dir, space, trials, jobs, sampler, prune, validation, seed, address, storage,
                  heartbeat, max_retry, fixed, recipe_of):
    dims = parse_space(space)
    if recipe_of is None:
        recipe_of = dataset if dataset in recipes.DEFAULTS else "digits"
    if recipe_of not in recipes.DEFAULTS:
        raise SweepError(f"recipe_of={recipe_of!r}: expected one of {', '.join(recipes.DEFAULTS)}")
    return {"dataset": dataset, "recipe_of": recipe_of,
            "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
            "space": space_text(dims), "trials": trials, "jobs": jobs, "sampler": sampler, "prune": prune or "none",
            "validation": validation, "seed": seed, "address": address, "storage": storage,
            "heartbeat": heartbeat, "max_retry": max_retry, "fixed": {"seed": seed, **fixed}, "study": STUDY,
            "sessions": 0}


#: what a sweep.json holds (written by _new_settings; "storage" null means the folder's own study.db)
SETTINGS_KEYS = ("dataset", "recipe_of", "data_dir", "space", "trials", "jobs", "sampler", "prune", "validation",
                 "seed", "address", "storage", "heartbeat", "max_retry", "fixed", "study", "sessions")


def _load_settings(out, changes):
    path = Path(out) / SETTINGS_FILE
    if not path.exists():
        raise SweepError(f"--resume: {path} does not exist; expected the --out of an earlier sweep")
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SweepError(f"--resume: {path} cannot be read: {e}") from None
    if not isinstance(settings, dict):
        raise SweepError(f"--resume: {path} is not a sweep's settings (a JSON object)")
    missing = [k for k in SETTINGS_KEYS if k not in settings]
    if missing:
        raise SweepError(f"--resume: {path} lacks {', '.join(missing)}; it is not a complete sweep.json (was it "
                         "edited?)")
    settings["storage"] = _stored_storage(out, settings["storage"])
    settings.update({k: v for k, v in changes.items() if v is not None})
    return settings


def _stored_storage(out, stored):
    """The storage a sweep.json names, as kept: None for the folder's own study.db. Files of an older version
    held that study's absolute path, which pointed into the original folder after a copy or a move."""
    if stored and stored.startswith("sqlite:///") and stored.endswith("/" + "study.db") and \
            Path(stored[len("sqlite:///"):]).resolve() != (Path(out) / "study.db").resolve() and \
            (Path(out) / "study.db").exists():
        return None
    return stored


def _listed_trials(out):
    """How many trials the folder's trials.csv lists (0 when there is none)."""
    import csv
    path = Path(out) / "trials.csv"
    if not path.exists():
        return 0
    with contextlib.suppress(OSError, csv.Error), open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))
    return 0


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
    worker before each trial trains. Returns a :class:`SweepResult` and writes into ``out`` (see the README).
    """
    _require_extras()
    _refuse_inside_a_worker()
    out = Path(out)
    try:
        with lock(out, "chainrule sweep"):  # one sweep per folder: a second one started beside it is refused
            return _sweep(dataset, space, trials, out, jobs, sampler, prune, validation, seed, address, storage,
                          resume, dashboard, heartbeat, max_retry, data_dir, data, progress, log, on_trial_start,
                          recipe_of, fixed)
    except OutputError as e:
        raise SweepError(str(e)) from None


def _refuse_inside_a_worker():
    """Dask starts its worker processes by re-importing the caller's script: a script that calls sweep() at its
    top level would start a sweep in every worker. Refused there, with what to write instead."""
    import multiprocessing
    if multiprocessing.parent_process() is not None and multiprocessing.current_process().name != "MainProcess":
        raise SweepError("sweep() was called while a worker process imported your script: put the call under "
                         "if __name__ == \"__main__\": (Dask's workers import the script that starts them)")


def _sweep(dataset, space, trials, out, jobs, sampler, prune, validation, seed, address, storage, resume, dashboard,
           heartbeat, max_retry, data_dir, data, progress, log, on_trial_start, recipe_of, fixed):
    if resume:
        settings = _load_settings(out, {"trials": trials, "jobs": jobs, "address": address, "storage": storage,
                                        "heartbeat": heartbeat})
    else:
        trials = 20 if trials is None else trials
        heartbeat = 5 if heartbeat is None else heartbeat
        if (out / SETTINGS_FILE).exists() or (out / "study.db").exists():
            raise SweepError(f"{out} already holds a sweep; continue it with --resume --out {out}, or choose "
                             "another --out")
        try:
            prepare(out)
        except OutputError as e:
            raise SweepError(str(e)) from None
        settings = _new_settings(out, dataset, data_dir, space, trials, jobs, sampler, prune, validation, seed,
                                 address, storage, heartbeat, max_retry, {k: v for k, v in fixed.items()
                                                                          if v is not None}, recipe_of)
    dims = _check_settings(settings)
    if data is None and settings["dataset"] not in datasets.NAMES:
        raise SweepError(f"{settings['dataset']!r} is not a data set chainrule can load; pass its arrays as "
                         "data=((x_train, t_train), (x_test, t_test))")
    if data is None:
        data = datasets.load(settings["dataset"], data_dir=settings["data_dir"], download=False) \
            if settings["dataset"] in ("mnist", "fashion-mnist") else datasets.load(settings["dataset"])
    _preflight(settings, dims, data)
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
    title = (f"sweep on {settings['dataset']}: {settings['trials']} trials, {settings['sampler']} sampling"
             + (f", {settings['prune']} pruning" if settings["prune"] != "none" else ""))
    runner = _Runner(settings, dims, study, out, progress, log, title, on_trial_start)
    try:
        status = runner.run(split, dashboard)
    except BaseException:
        if new and not study.trials:  # failed before any trial (no workers, a bad address): leave no half sweep
            for name in (SETTINGS_FILE, "study.db"):
                with contextlib.suppress(OSError):
                    (out / name).unlink()
        raise
    return runner.finish(status, (x_test, t_test), split)


class _Runner:
    def __init__(self, settings, dims, study, out, progress, log, title, on_trial_start):
        self.settings, self.dims, self.study, self.out = settings, dims, study, Path(out)
        self.progress, self.log, self.title, self.on_trial_start = progress, log, title, on_trial_start
        self.best_file = self.out / "best" / "metrics.json"
        self.best = None
        if self.best_file.exists():
            with contextlib.suppress(OSError, ValueError):
                self.best = json.loads(self.best_file.read_text())
        self.errors = []
        self.reported = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}

    def trials(self):
        return self.study.get_trials(deepcopy=False)

    def _save_if_best(self, result):
        if result.get("state") != "COMPLETE" or result.get("model") is None:
            return
        if self.best is not None and self.best.get("validation_accuracy", -1) >= result["value"]:
            return
        self._write_best(next(t for t in self.trials() if t.number == result["number"]), result["model"])

    def _write_best(self, trial, model, **extra):
        """best/model.npz and best/metrics.json (validation figures; the test set comes at the very end)."""
        with atomic_write(self.out / "best" / "model.npz") as f:
            f.write(model)
        self.best = {"trial": trial.number, "validation_accuracy": trial.value, "params": trial.params,
                     "recipe": trial.user_attrs.get("recipe"), "history": trial.user_attrs.get("history"), **extra}
        write_json(self.best_file, self.best)

    def run(self, split, dashboard):
        s = self.settings
        bar = _Progress(s["trials"], self.progress, self.log)
        status = "finished"
        stack = contextlib.ExitStack()  # puts Dask's log levels back once the client and cluster are closed
        try:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            with stack, connect(s, s["jobs"] or cores, dashboard) as (client, cluster):
                check_workers(client, s["storage"], bar.trial)
                in_flight = {}
                try:
                    self._loop(client, split, bar, in_flight)
                except BaseException:
                    # stop now, not when the running trials end: cancel the tasks and, in a local cluster, end its
                    # worker processes (a scheduler's own workers finish their current trial, which is discarded)
                    restore_logs = _silence_dask_logs()
                    stack.callback(restore_logs)
                    with contextlib.suppress(Exception):
                        client.cancel(list(in_flight.values()), force=True)
                    if cluster is not None:
                        _kill_workers(client)
                    raise
        except KeyboardInterrupt:
            status = "interrupted"
            bar.trial("interrupted: the running trials are marked failed and will run again on --resume")
            _retry_running(self.study, s)
        except Exception:
            _retry_running(self.study, s)
            raise
        finally:
            bar.close()
        return status

    def _loop(self, client, split, bar, in_flight):
        """Keep ``slots`` trials in flight until ``trials`` completed or were pruned and none is left running."""
        from dask.distributed import wait
        from optuna.storages import fail_stale_trials

        from .report import write_tables
        from .worker import run_trial
        s = self.settings
        target = s["trials"]
        slots = s["jobs"] or sum(client.nthreads().values())
        data, = client.scatter([split], broadcast=True)
        submitted = 0
        while True:
            with contextlib.suppress(Exception):
                fail_stale_trials(self.study)
            with contextlib.suppress(Exception):
                _fail_silent_trials(self.study, s)
            trials = self.trials()
            counts = _counts(trials)
            done = counts["complete"] + counts["pruned"] + counts["diverged"]
            for t in trials:
                if t.state.is_finished() and t.number not in self.reported:
                    self.reported.add(t.number)
                    bar.trial(_describe(t))
            best = max((t.value for t in trials if t.state.name == "COMPLETE"), default=None)
            bar.update(counts, best, target)
            if not in_flight and done >= target and counts["waiting"] == 0 and counts["running"] == 0:
                return
            need = min(slots, max(target - done, counts["waiting"]))
            while len(in_flight) < need:
                if data.status != "finished":  # the workers holding the data died: send it again
                    data, = client.scatter([split], broadcast=True)
                future = client.submit(run_trial, s, data, (s["sessions"], submitted), self.on_trial_start,
                                       pure=False, key=f"chainrule-trial-{s['sessions']}-{submitted}")
                in_flight[future.key] = future
                submitted += 1
            if not in_flight:
                time.sleep(1.0)  # only orphaned trials left: wait for their heartbeat to go stale
                continue
            try:
                finished, _ = wait(list(in_flight.values()), timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = ()
            for future in finished:
                del in_flight[future.key]
                try:
                    self._save_if_best(future.result())
                    self.errors.clear()
                except Exception as e:  # the trial failed (marked FAIL by Optuna) or its worker died
                    self.errors.append(e)
                    bar.trial(f"a trial failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    if len(self.errors) >= max(3, slots):
                        raise SweepError(f"{len(self.errors)} trials in a row failed, the last with "
                                         f"{type(e).__name__}: {e}") from e
            if finished:
                write_tables(self.out, self.trials(), self.dims, self.title)

    def finish(self, status, test, split):
        from .report import plot_sweep, write_tables
        trials = self.trials()
        counts = _counts(trials)
        table = write_tables(self.out, trials, self.dims, self.title)
        written = ["trials.csv", "trials.md"]
        from ..training.plots import matplotlib_available
        if matplotlib_available():
            plot_sweep(trials, self.dims, self.out / "sweep.png", self.title)
            written.append("sweep.png")
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        best_trial = max(complete, key=lambda t: t.value) if complete else None
        best = None
        if best_trial is not None and status == "finished":  # an interrupted sweep is not over: no test set yet
            if self.best is None or self.best.get("trial") != best_trial.number \
                    or not (self.out / "best" / "model.npz").exists():
                self._retrain(best_trial, split)
            best = self._evaluate_best(best_trial, test)
            written += ["best/model.npz", "best/metrics.json"] + (["best/curves.png"] if matplotlib_available()
                                                                 else [])
        return SweepResult(self.out, status, counts, best, table, written)

    def _retrain(self, trial, split):
        """The best trial's model file was lost (the driver stopped after the trial finished): train it again
        with its recipe, which is deterministic given its seed."""
        from ..model_io import model_bytes
        from ..training import job
        r = {"dataset": self.settings["dataset"], **trial.user_attrs["recipe"]}
        result = job.run(r, split, progress=False, log=lambda m: None, verbose=False)
        self._write_best(trial, model_bytes(result.network, {"dataset": self.settings["dataset"]}), retrained=True)

    def _evaluate_best(self, trial, test):
        """The best trial's model on the test set, once, after the search."""
        from ..model_io import load_model
        from ..training.plots import matplotlib_available, plot_curves
        net, _ = load_model(self.out / "best" / "model.npz")
        x_test, t_test = test
        test_result = net.evaluate(x_test, t_test)
        self.best.update({"trial": trial.number, "validation_accuracy": trial.value, "params": trial.params,
                          "test_accuracy": float(test_result["accuracy"]), "test_loss": float(test_result["loss"]),
                          "test_samples": int(len(x_test)), "dataset": self.settings["dataset"]})
        write_json(self.best_file, self.best)
        if matplotlib_available():
            history = [{"epoch": h["epoch"], "loss": h["loss"], "train_accuracy": h["train_accuracy"],
                        "test_accuracy": h["validation_accuracy"], "test_loss": h["validation_loss"]}
                       for h in self.best.get("history") or []]
            plot_curves(history, self.out / "best" / "curves.png", f"best trial {trial.number} of the sweep",
                        evaluated="validation")
        return self.best
