"""Hyperparameter search (book §6.5) with Optuna, trials run on Dask workers: ``chainrule sweep``.

``sweep(dataset, space, trials, ...)`` is the Python API (:mod:`chainrule.sweep.driver`); the space's syntax is in
:mod:`chainrule.sweep.space`. Optuna and Dask (``pip install 'chainrule[sweep]'``) are imported only when a sweep
runs.
"""
from .driver import SweepError, SweepResult, sweep
from .space import SpaceError, parse_space

__all__ = ["sweep", "SweepResult", "SweepError", "SpaceError", "parse_space"]
