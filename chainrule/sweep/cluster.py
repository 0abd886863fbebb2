"""The Dask side of a sweep: a local cluster on 127.0.0.1, or the scheduler at ``--address``, its workers checked.

Every wait on the network has a timeout and ends in one line: a closed or silent ``--address`` fails within
:data:`CONNECT_TIMEOUT` seconds. A local cluster binds only loopback ports (the dashboard's 8787 only with
``--dashboard``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal

from .settings import SweepError, _is_loopback  # noqa: F401  (re-exported for the driver)


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


def _kill_workers(client):
    """End the local cluster's worker processes at once (SIGKILL): their trials stay RUNNING for the caller."""
    with contextlib.suppress(Exception):
        for pid in client.run(os.getpid, wait=True).values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
