"""The trial loop: ``jobs`` trials in flight on the workers until enough completed, dead ones failed and retried.

A trial whose process dies stops its heartbeat; Optuna fails it three intervals later and queues it again with
the same values. One killed before its first heartbeat is failed here (:func:`_fail_silent_trials`): Optuna's own
search never sees it, and the loop would wait for it for ever.
"""
from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path

from . import final
from .final import _counts
from .cluster import _kill_workers, _silence_dask_logs, check_workers, connect
from .settings import SweepError, local_cores


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

    def _on_sigint(self, signum, frame):
        """Ctrl-C: remembered. Once the loop runs, that is all: the loop looks at the flag at least once a second
        and stops the sweep itself. Raised here only before the loop runs, or at a second Ctrl-C. (An exception
        raised by a signal handler lands wherever Python happens to be; in a weakref callback or a finalizer,
        Python drops it and prints "Exception ignored in …" with a traceback, which is not a clean stop.)"""
        again, self.interrupted = self.interrupted, True
        self.stopped_by = signal.Signals(signum).name
        if self.looping and not again:
            return
        raise KeyboardInterrupt

    def run(self, split, dashboard):
        s = self.settings
        bar = _Progress(s["trials"], self.progress, self.log)
        status = "finished"
        stack = contextlib.ExitStack()  # puts Dask's log levels back once the client and cluster are closed
        self.interrupted = self.looping = False
        self.stopped_by = None
        if threading.current_thread() is threading.main_thread():   # SIGTERM (kill, timeout) stops as Ctrl-C does
            for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
                if signal.getsignal(signum) is default:
                    stack.callback(signal.signal, signum, signal.signal(signum, self._on_sigint))
        try:
            with stack, connect(s, s["jobs"] or local_cores(), dashboard) as (client, cluster):
                check_workers(client, s["storage"], bar.trial)
                in_flight = {}
                try:
                    self.looping = True
                    self._loop(client, split, bar, in_flight)
                except BaseException:
                    self.looping = False
                    # stop now, not when the running trials end: cancel the tasks and, in a local cluster, end its
                    # worker processes (a scheduler's own workers finish their current trial, which is discarded)
                    restore_logs = _silence_dask_logs()
                    stack.callback(restore_logs)
                    with contextlib.suppress(Exception):
                        client.cancel(list(in_flight.values()), force=True)
                    if cluster is not None:
                        _kill_workers(client)
                    raise
                self.looping = False
            if self.interrupted:   # a Ctrl-C after the loop's last look: the sweep still stops as interrupted
                raise KeyboardInterrupt
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
            if self.interrupted:   # Ctrl-C (see _on_sigint)
                raise KeyboardInterrupt
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
                    final.save_if_best(self, future.result())
                    self.errors.clear()
                except Exception as e:  # the trial failed (marked FAIL by Optuna) or its worker died
                    self.errors.append(e)
                    bar.trial(f"a trial failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    if len(self.errors) >= max(3, slots):
                        raise SweepError(f"{len(self.errors)} trials in a row failed, the last with "
                                         f"{type(e).__name__}: {e}") from e
            if finished:
                write_tables(self.out, self.trials(), self.dims, self.title)

