"""A sweep's settings (``OUT/sweep.json``): made, checked, stored and read back.

The settings are one JSON object with the keys of :data:`SETTINGS_KEYS`: the data set and the recipe it takes its
defaults from (``recipe_of``), the search ``space`` (:mod:`chainrule.sweep.space`), how many ``trials``, ``jobs``
at a time, the ``sampler`` and the pruner (``prune``), the ``validation`` fraction and the ``seed``, the scheduler
``address`` (None: a local cluster), the study's ``storage`` (None: the folder's own ``study.db``, so that a copied
or moved folder resumes where it is), the ``heartbeat`` interval and ``max_retry`` of dead trials, the ``fixed``
train options, the ``study`` name and how many ``sessions`` ran. They travel as that one object: to the workers
(:func:`chainrule.sweep.worker.run_trial`), the trial loop and the reports.
"""
from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from ..training import recipes
from .space import parse_space, space_text


STUDY = "chainrule-sweep"


SETTINGS_FILE = "sweep.json"
#: a local cluster's worker processes per core at most (--jobs 100000 started a process each, and hung)
LOCAL_JOBS_PER_CORE = 4


SAMPLERS = ("random", "tpe")


PRUNERS = ("none", "median", "halving")


#: what a sweep.json holds (written by _new_settings; "storage" null means the folder's own study.db)
SETTINGS_KEYS = ("dataset", "recipe_of", "data_dir", "space", "trials", "jobs", "sampler", "prune", "validation",
                 "seed", "address", "storage", "heartbeat", "max_retry", "fixed", "study", "sessions")


def local_cores():
    """The cores this process may run on: a local cluster's default number of worker processes."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
    stopped_by: str | None = None      # the signal that interrupted it: SIGINT (Ctrl-C) or SIGTERM


def missing_extra_message(error):
    """What to install when Optuna or Dask is missing."""
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
    cores = local_cores()
    if s["jobs"] is not None and not s["address"] and s["jobs"] > LOCAL_JOBS_PER_CORE * cores:
        raise SweepError(f"--jobs {s['jobs']} would start {s['jobs']} worker processes on this machine's {cores} "
                         f"core(s); expected at most {LOCAL_JOBS_PER_CORE * cores}: a trial keeps a core busy, so "
                         "more processes only wait for one, each with its own memory")
    if not 0 < s["validation"] < 1:
        raise SweepError(f"--validation {s['validation']!r}: expected a fraction of the training data in (0, 1)")
    if not (isinstance(s["heartbeat"], int) and s["heartbeat"] >= 1):
        raise SweepError(f"heartbeat {s['heartbeat']!r}: expected a whole number of seconds ≥ 1")
    dims = parse_space(s["space"])
    both = sorted({d.key for d in dims} & set(s["fixed"]))
    if both:
        raise SweepError(f"{', '.join(both)} is both searched (--space) and fixed (--{both[0].replace('_', '-')}); "
                         "give it one way")
    if s["fixed"].get("iterations") is not None and any(d.key == "epochs" for d in dims):
        raise SweepError(f"--space searches epochs, but --iterations {s['fixed']['iterations']} decides how long each "
                         "trial trains; give one")
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


def _new_settings(asked):
    """The settings of a new sweep from what :func:`chainrule.sweep.driver.sweep` was asked (a SweepRequest)."""
    dims = parse_space(asked.space)
    recipe_of = asked.recipe_of
    if recipe_of is None:
        recipe_of = asked.dataset if asked.dataset in recipes.DEFAULTS else "digits"
    if recipe_of not in recipes.DEFAULTS:
        raise SweepError(f"recipe_of={recipe_of!r}: expected one of {', '.join(recipes.DEFAULTS)}")
    return {"dataset": asked.dataset, "recipe_of": recipe_of,
            "data_dir": str(Path(asked.data_dir).resolve()) if asked.data_dir else None, "space": space_text(dims),
            "trials": 20 if asked.trials is None else asked.trials, "jobs": asked.jobs, "sampler": asked.sampler,
            "prune": asked.prune or "none", "validation": asked.validation, "seed": asked.seed,
            "address": asked.address, "storage": asked.storage,
            "heartbeat": 5 if asked.heartbeat is None else asked.heartbeat, "max_retry": asked.max_retry,
            "fixed": {"seed": asked.seed, **asked.fixed}, "study": STUDY, "sessions": 0}


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


def _storage_url(out, storage):
    if storage:
        return storage
    return "sqlite:///" + str((Path(out) / "study.db").resolve())


def _listed_trials(out):
    """How many trials the folder's trials.csv lists (0 when there is none)."""
    import csv
    path = Path(out) / "trials.csv"
    if not path.exists():
        return 0
    with contextlib.suppress(OSError, csv.Error), open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))
    return 0
