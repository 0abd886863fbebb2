"""The training loop (book §5.7.1: mini-batch → gradient → update, repeated).

Each epoch visits the training set once in a fresh random order (a fixed
``seed`` gives the same run every time), then measures the mean training loss,
train and test accuracy, the test loss and the time taken, and prints one line
(unless ``verbose=False``); on a terminal a progress bar shows the running loss
within the epoch.

Training stops with :class:`TrainingDiverged`, naming the epoch, the iteration
and where non-finite values first appear, when the loss turns NaN/inf or
explodes far above where it started (with any optimizer); the network is then
put back to the last finished epoch. Ctrl-C stops it the same way, keeping the
model of the last finished epoch; ``on_epoch`` may raise :class:`StopTraining`
to end early (pruning).
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from .. import backend, kernels, memory
from ..nets.plan import batch_norms_over_rows
from .augment import random_flip, random_shift

#: the loss has "exploded" when its running average exceeds this many times its first value
EXPLOSION_FACTOR = 100.0


def _numpy_quiet():
    """NumPy's overflow and invalid-value warnings off while training, where they would only warn: a step whose
    numbers overflow is named by the trainer itself (TrainingDiverged, with the layer and a hint) at its next
    loss check, and NumPy's lines from inside chainrule ("invalid value encountered in matmul") said nothing
    more. A caller's np.errstate(all="raise") still raises."""
    return np.errstate(**{kind: "ignore" if how == "warn" else how for kind, how in np.geterr().items()})


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or exploded far above its starting value."""


class StopTraining(Exception):
    """Raised by ``on_epoch`` to end training after the current epoch (e.g. a pruned trial)."""


def epoch_line(record, epochs, eval_name="test"):
    """One line per epoch, as the CLI and Keras' ``fit`` print it (``eval_name``: what the held-out set is)."""
    short = {"validation": "val"}.get(eval_name, eval_name)
    test = "" if record.get("test_accuracy") is None else \
        f"  {short} {record['test_accuracy']:.4f}  {short} loss {record['test_loss']:.4f}"
    width = len(str(epochs))
    return (f"epoch {record['epoch']:>{width}}/{epochs}  loss {record['loss']:.4f}  "
            f"train {record['train_accuracy']:.4f}{test}  ({record['seconds']:.2f}s)")


def _check_data(network, which, x, t, given):
    """Refuse, before the first step, data that would fail or mislead later: samples of the wrong shape (the
    test set's were found only after the first epoch), NaN or infinite values (training blamed the learning
    rate for them), values beyond the network's dtype, labels that are not the network's classes."""
    xp = backend.get_array_module(x)
    if len(x):
        shaped = getattr(network, "shaped", lambda a: a)(x)
        check = getattr(network, "_check_input", None)
        if check is not None:
            try:
                check(shaped)
            except ValueError as e:
                raise ValueError(f"Trainer: x_{which}: {e}") from None
        finite = xp.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if not bool(finite.all()):
            row = int(xp.argmin(finite))
            original = np.asarray(backend.to_numpy(given[row]) if hasattr(given, "shape") else given[row],
                                  dtype=np.float64)
            beyond = backend.beyond_dtype(original, x.dtype) if np.all(np.isfinite(original)) else None
            if beyond:
                raise ValueError(f"Trainer: x_{which} row {row} holds {beyond}, the network's dtype")
            raise ValueError(f"Trainer: x_{which} holds NaN or infinite values (the first in row {row}); every "
                             "loss and gradient computed from them would be NaN")
    classes = getattr(network, "output_size", None)
    if classes is None:   # a network of the user's own: its loss layer checks the labels
        return
    from ..array_math import check_labels
    try:
        check_labels(t, len(t), int(classes), f"t_{which}")
    except ValueError as e:
        raise ValueError(f"Trainer: {e} (the network has {classes} classes)") from None


class Trainer:
    """Train ``network`` with ``optimizer`` on (x_train, t_train), evaluating on (x_test, t_test).

    ``epochs`` passes over the data in mini-batches of ``batch_size`` (capped at
    the number of samples; a last batch of one sample joins the batch before it,
    as batch norm needs two rows), or stop after ``iterations`` updates (the book's way
    of counting; ``epochs`` then follows from it). ``history`` gets one dict per
    epoch: ``epoch, loss, train_accuracy, test_accuracy, test_loss, seconds,
    iterations``. ``on_epoch(record)`` is called after each. ``shift`` > 0 moves every training image by up
    to that many pixels, afresh in each batch (:func:`chainrule.training.augment.random_shift`; rows of
    values need ``image_shape``); ``flip=True`` mirrors half of them left to right (``random_flip``).
    """

    def __init__(self, network, optimizer, x_train, t_train, x_test=None, t_test=None, epochs=10, batch_size=100,
                 seed=0, iterations=None, progress=None, on_epoch=None, eval_batch_size=10000, lr_schedule="constant",
                 verbose=True, evaluate_train=True, train_eval_limit=None, shift=0, flip=False,
                 image_shape=None, early_stopping=0, resume_from=None, on_checkpoint=None, eval_name="test"):
        if len(x_train) != len(t_train):
            raise ValueError(f"Trainer: x_train has {len(x_train)} rows but t_train has {len(t_train)}")
        if len(x_train) == 0:
            raise ValueError("Trainer: the training set is empty")
        if (x_test is None) != (t_test is None) or (x_test is not None and len(x_test) != len(t_test)):
            raise ValueError("Trainer: x_test and t_test must be given together, with one label per row")
        for name, value in (("batch_size", batch_size), ("epochs", epochs), ("iterations", iterations or 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Trainer: {name} must be a positive integer, got {value!r}")
        if lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"Trainer: lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
        if hasattr(optimizer, "check_learning_rate"):    # before the first step, not at its update
            optimizer.check_learning_rate(network.dtype, "the network's parameters")
        self.network, self.optimizer = network, optimizer
        xp = backend.xp()
        with np.errstate(over="ignore"):    # values beyond the dtype are refused by _check_data, by row
            self.x_train, self.t_train = xp.asarray(x_train, dtype=network.dtype), xp.asarray(t_train)
            self.x_test = None if x_test is None else xp.asarray(x_test, dtype=network.dtype)
        self.t_test = None if t_test is None else xp.asarray(t_test)
        for which, x, t, given in (("train", self.x_train, self.t_train, x_train),
                                   ("test", self.x_test, self.t_test, x_test)):
            if x is not None:
                _check_data(network, which, x, t, given)
        self.batch_size = int(min(batch_size, len(x_train)))
        # a last batch of one sample joins the batch before it: batch norm cannot estimate a variance from one
        # row (a batch size leaving one sample over crashed the last step of the first epoch)
        n, bs = len(x_train), self.batch_size
        self.steps_per_epoch = n // bs if n % bs == 1 and n > bs else math.ceil(n / bs)
        planned = getattr(network, "planned", None)
        rows = batch_norms_over_rows(planned)
        if rows and bs < 2:
            raise ValueError(f"Trainer: batch_size {bs}: the batch normalisation of layer {rows[0]} estimates a mean "
                             "and a variance over each batch's rows and needs at least 2 (--batch-size 2 or more)")
        if planned is not None:  # a training step's batch, before the first one is drawn
            largest = n - (self.steps_per_epoch - 1) * bs if self.steps_per_epoch * bs < n else bs
            memory.check_network(planned, np.dtype(network.dtype).itemsize, batch=largest, training=True,
                                 what=f"training {type(network).__name__} on batches of {largest}")
        self.iterations = None if iterations is None else int(iterations)
        self.epochs = int(epochs) if iterations is None else math.ceil(self.iterations / self.steps_per_epoch)
        self.seed = seed
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.verbose = verbose
        self.on_epoch = on_epoch
        self.eval_batch_size = eval_batch_size
        self.evaluate_train = evaluate_train
        # train accuracy on at most this many training samples (a fixed random subset), for costly networks
        self.train_eval_rows = None
        if train_eval_limit is not None and train_eval_limit < len(x_train):
            self.train_eval_rows = xp.asarray(np.sort(np.random.default_rng(seed).permutation(len(x_train))[
                :int(train_eval_limit)]))
        if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
            raise ValueError(f"Trainer: shift must be a whole number of pixels ≥ 0, got {shift!r}")
        self.shift, self.flip, self.image_shape = int(shift), bool(flip), image_shape
        if self.shift:
            random_shift(self.x_train[:1], self.shift, np.random.default_rng(0), image_shape)  # refuse bad shapes now
        if self.flip:
            random_flip(self.x_train[:1], np.random.default_rng(0), image_shape)
        self.lr_schedule = lr_schedule
        if isinstance(early_stopping, bool) or not isinstance(early_stopping, (int, np.integer)) or early_stopping < 0:
            raise ValueError(f"Trainer: early_stopping must be a whole number of epochs ≥ 0, got {early_stopping!r}")
        if early_stopping and x_test is None:
            raise ValueError("Trainer: early stopping watches the loss on held-out data; give x_test and t_test "
                             "(chainrule train: --val-split)")
        self.early_stopping = int(early_stopping)
        self.resume_from, self.on_checkpoint, self.eval_name = resume_from, on_checkpoint, eval_name
        self.history = []
        self.interrupted = False
        self.stopped_early = False
        self.best_epoch = None

    def _set_learning_rate(self, base_lr, epoch):
        """Cosine annealing: lr = base·½(1 + cos(π·(epoch−1)/epochs)), from base down to near 0."""
        if self.lr_schedule == "cosine" and base_lr is not None:
            self.optimizer.lr = base_lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / self.epochs))

    def evaluate(self):
        """(train accuracy, test accuracy, test loss) in inference mode; None where there is no test set."""
        net = self.network
        rows = self.train_eval_rows
        x, t = (self.x_train, self.t_train) if rows is None else (self.x_train[rows], self.t_train[rows])
        train_acc = net.accuracy(x, t, self.eval_batch_size) if self.evaluate_train else None
        if self.x_test is None:
            return train_acc, None, None
        test = net.evaluate(self.x_test, self.t_test, self.eval_batch_size)
        return train_acc, test["accuracy"], test["loss"]

    def _diverged(self, what, epoch, step, x):
        where = self.network.diagnose(x, train_flg=True)
        lr = getattr(self.optimizer, "lr", None)
        hint = f"try a smaller learning rate (now {lr:g})" if lr is not None else "try a smaller learning rate"
        if epoch == 1 and step == 1 and self.resume_from is None:    # no update has acted on this loss yet
            hint = ("this is the first step's loss, before any update: the initial weights (--weight-init, "
                    "weight_init_std) or the inputs are too large")
        return TrainingDiverged(f"{what} at epoch {epoch}, iteration {step}"
                                + (f": {where}" if where else "") + f"; {hint}")

    def train(self):
        """Run the training; returns ``history``."""
        if self.progress:   # a notebook's widget bar where one is shown; importing it elsewhere only warns
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        # the first batch of a CNN may wait a minute for numba to compile its loops: say so, above the bar
        tell = (lambda m: tqdm.write(m, file=sys.stderr)) if self.progress else \
            (lambda m: print(m, file=sys.stderr, flush=True)) if self.verbose else None
        with kernels.compile_notices(tell), _numpy_quiet():
            return self._train(tqdm)

    def _train(self, tqdm):
        """The training itself (:meth:`train`), with ``tqdm`` the progress bar's class."""
        net, opt = self.network, self.optimizer
        backend.keep_freed_memory()  # the same big arrays every step: reuse their memory (see its docstring)
        n, bs = len(self.x_train), self.batch_size
        rng = np.random.default_rng(self.seed)
        augment_rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(1)[0])  # apart from the order
        xp = backend.get_array_module(self.x_train)
        check_every = 1 if xp is np else 50  # reading the loss on a GPU waits for it
        done = 0
        base_lr = getattr(opt, "lr", None)
        first_loss = smoothed = None
        best = best_model = None   # early stopping: the lowest held-out loss so far, and those weights
        start_epoch = 1
        dropouts = [layer for layer in getattr(net, "layers", []) if hasattr(layer, "dropout_ratio")]
        if self.resume_from is not None:  # the state after the last finished epoch, exactly
            c = self.resume_from
            net.load_state_dict(c["model"], check_finite=False)
            opt.load_state_dict(c["optimizer"])
            rng.bit_generator.state = c["rng"]
            augment_rng.bit_generator.state = c["augment_rng"]
            for layer, state in zip(dropouts, c["dropout_rngs"]):
                layer.rng.bit_generator.state = state
            done, first_loss, smoothed = c["done"], c["first_loss"], c["smoothed"]
            self.history = [dict(h) for h in c["history"]]
            best, best_model = c.get("best"), c.get("best_model")
            start_epoch = c["epoch"] + 1
        finished = net.state_dict()
        try:
            for epoch in range(start_epoch, self.epochs + 1):
                start = time.perf_counter()
                self._set_learning_rate(base_lr, epoch)
                order = xp.asarray(rng.permutation(n))
                steps = self.steps_per_epoch if self.iterations is None \
                    else min(self.steps_per_epoch, self.iterations - done)
                bar = tqdm(total=steps, desc=f"epoch {epoch}/{self.epochs}", leave=False, disable=not self.progress,
                           mininterval=0.5, unit="batch", file=sys.stderr, dynamic_ncols=True)
                loss_sum = 0.0
                for step in range(1, steps + 1):
                    idx = order[(step - 1) * bs:step * bs if step < self.steps_per_epoch else n]
                    x, t = self.x_train[idx], self.t_train[idx]
                    if self.shift:
                        x = random_shift(x, self.shift, augment_rng, self.image_shape)
                    if self.flip:
                        x = random_flip(x, augment_rng, self.image_shape)
                    grads = net.gradient(x, t)
                    loss = net.last_loss
                    loss_sum += loss
                    if step % check_every == 0 or step == 1:
                        value = float(loss)
                        if not math.isfinite(value):
                            raise self._diverged(f"the loss became {value}", epoch, step, x)
                        first_loss = value if first_loss is None else first_loss
                        smoothed = value if smoothed is None else 0.9 * smoothed + 0.1 * value
                        if smoothed > EXPLOSION_FACTOR * max(first_loss, 0.1):
                            raise self._diverged(f"the loss exploded to {value:.4g} (it started at {first_loss:.4g})",
                                                 epoch, step, x)
                        if self.progress:
                            bar.set_postfix(loss=f"{float(loss_sum) / step:.4f}", refresh=False)
                    opt.update(net.params, grads)
                    bar.update(1)
                bar.close()
                done += steps
                mean_loss = float(loss_sum) / steps
                if not math.isfinite(mean_loss):
                    raise self._diverged(f"the loss became {mean_loss}", epoch, steps, x)
                train_acc, test_acc, test_loss = self.evaluate()
                record = {"epoch": epoch, "loss": mean_loss, "train_accuracy": train_acc, "test_accuracy": test_acc,
                          "test_loss": test_loss, "seconds": time.perf_counter() - start, "iterations": done}
                self.history.append(record)
                finished = net.state_dict()
                if self.verbose:
                    print(epoch_line(record, self.epochs, self.eval_name), flush=True)
                stop = False
                if self.early_stopping:  # patience: epochs without a lower held-out loss before stopping
                    if best is None or test_loss < best["loss"]:
                        best, best_model = {"epoch": epoch, "loss": test_loss}, finished
                    elif epoch - best["epoch"] >= self.early_stopping:
                        stop = True
                if self.on_checkpoint:
                    self.on_checkpoint({"epoch": epoch, "done": done, "first_loss": first_loss, "smoothed": smoothed,
                                        "rng": rng.bit_generator.state, "augment_rng": augment_rng.bit_generator.state,
                                        "dropout_rngs": [layer.rng.bit_generator.state for layer in dropouts],
                                        "history": self.history, "best": best, "best_model": best_model,
                                        "model": finished, "optimizer": opt.state_dict()})
                if stop:
                    raise StopTraining
                if self.on_epoch:
                    self.on_epoch(record)
        except StopTraining:
            self.stopped_early = True
            if best_model is not None:  # early stopping keeps the epoch with the lowest held-out loss
                net.load_state_dict(best_model, check_finite=False)
                self.best_epoch = best["epoch"]
        except KeyboardInterrupt:
            self.interrupted = True
            net.load_state_dict(finished, check_finite=False)
        except TrainingDiverged:
            net.load_state_dict(finished, check_finite=False)
            raise
        finally:
            if base_lr is not None:
                opt.lr = base_lr
        return self.history
