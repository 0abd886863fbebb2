"""The training job behind ``chainrule train``: data → network → trainer → outputs.

``run(recipe, data, out=…)`` checks the output directory first, trains, and
writes ``model.npz``, ``metrics.json`` and ``curves.png`` only when at least one
epoch finished; the result says whether training finished, was interrupted
(Ctrl-C: the last finished epoch is kept) or diverged.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np

from .. import backend, optimizers
from ..nets import build_network, image_shape  # noqa: F401  (image_shape: the job's augmentation check)
from . import outputs
from .trainer import Trainer, TrainingDiverged


#: convolutional networks measure train accuracy on this many training samples per epoch (MLPs on all of them)
TRAIN_EVAL_LIMIT = 10_000


@dataclass
class TrainResult:
    network: object
    trainer: Trainer
    metrics: dict
    status: str = "finished"          # finished, interrupted, diverged or stopped (early, by on_epoch)
    message: str = ""
    written: list = field(default_factory=list)


def class_count(*label_sets):
    """How many classes the labels (indices or one-hot rows) span."""
    counts = [int(t.shape[1]) if np.ndim(t) == 2 else int(np.max(t)) + 1 for t in label_sets if len(t)]
    return max(counts) if counts else 0


def make_network(r, input_shape, classes):
    """The recipe's network for samples of ``input_shape`` and ``classes`` classes (built by chainrule.nets)."""
    return build_network(r.get("arch", "mlp"), input_shape, classes, hidden=r["hidden"], activation=r["activation"],
                         weight_init=r["weight_init"], batchnorm=r["batchnorm"], dropout=r["dropout"],
                         weight_decay=r["weight_decay"], dtype=r["dtype"], seed=r["seed"])


def describe_run(r, net, optimizer, trainer, n_train, n_test):
    """The header line: the settings actually used (epochs from --iterations, the batch size capped by the data)."""
    length = f"{trainer.epochs} epochs of {trainer.steps_per_epoch} batches"
    if trainer.iterations is not None:
        length = f"{trainer.iterations} iterations ({trainer.epochs} epochs of {trainer.steps_per_epoch} batches)"
    capped = f" (capped at the {n_train} samples)" if trainer.batch_size < r["batch_size"] else ""
    return (f"training {net.describe()} on {r['dataset']} ({n_train} train / {n_test} test) with {optimizer!r}, "
            f"batch {trainer.batch_size}{capped}, {length}, lr schedule {r['lr_schedule']}"
            + (f", images shifted by up to {trainer.shift} px" if trainer.shift else "")
            + (", half of them mirrored" if trainer.flip else "") + f", seed {r['seed']}")


#: the checkpoint beside a run's model: everything a resumed run needs to go on exactly where it stopped
CHECKPOINT = "checkpoint.npz"


def validation_split(x, t, fraction, seed):
    """((x_train, t_train), (x_val, t_val)): a random ``fraction`` of the training data held out, drawn with
    ``seed`` (apart from the batches' order), the rest kept in its order."""
    n_val = int(round(len(x) * fraction))
    if n_val < 1 or len(x) - n_val < 1:
        raise ValueError(f"--val-split {fraction:g} of {len(x)} training samples leaves an empty part; expected at "
                         "least one sample for training and one for validation")
    order = np.random.default_rng(np.random.SeedSequence([seed, 1])).permutation(len(x))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train], t[train]), (x[val], t[val])


def write_checkpoint(path, checkpoint, recipe):
    """The trainer's state after an epoch, with the recipe it belongs to, as one file (atomic)."""
    arrays = {f"model/{k}": backend.to_numpy(v) for k, v in checkpoint["model"].items()}
    arrays.update({f"best/{k}": backend.to_numpy(v) for k, v in (checkpoint["best_model"] or {}).items()})
    arrays.update({f"optimizer/{k}": backend.to_numpy(v) for k, v in checkpoint["optimizer"]["arrays"].items()})
    state = {k: v for k, v in checkpoint.items() if k not in ("model", "best_model", "optimizer")}
    state["optimizer_counters"] = checkpoint["optimizer"]["counters"]
    state["has_best_model"] = checkpoint["best_model"] is not None
    header = json.dumps({"recipe": recipe, "trainer": state}, default=float)
    try:
        with outputs.atomic_write(path) as f:
            np.savez(f, header=np.array(header), **arrays)
    except OSError as e:           # a full disk (atomic_write names the file): say that training stopped there
        raise OSError(e.errno, f"{e.strerror or e}; training stopped after epoch {checkpoint['epoch']}") from None


def read_checkpoint(path):
    """(recipe, checkpoint) from :func:`write_checkpoint`'s file, or a ValueError naming what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            arrays = {k: z[k] for k in z.files if k != "header"}
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from None
    state = header["trainer"]

    def part(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    checkpoint = {**state, "model": part("model/"), "best_model": part("best/") if state["has_best_model"] else None,
                  "optimizer": {"arrays": part("optimizer/"), "counters": state["optimizer_counters"]}}
    return header["recipe"], checkpoint


def run(r, data, out=None, progress=None, log=print, verbose=True, on_epoch=None, network=None, resume=False):
    """Train with recipe ``r`` (from :func:`chainrule.training.recipes.recipe`) on ``data``.

    ``data`` is ``((x_train, t_train), (x_test, t_test))``. With ``r["val_split"]`` > 0 that fraction of the
    training data is held out for validation, scored every epoch, and the test set is scored once, at the end;
    ``r["early_stopping"]`` > 0 then stops after that many epochs without a lower validation loss, keeping the
    best epoch. With ``out`` every finished epoch leaves a checkpoint there, and ``resume=True`` continues from
    it: the same result as a run never interrupted. Returns a :class:`TrainResult`.
    """
    out = outputs.prepare(out) if out else None
    if resume and out is None:
        raise ValueError("--resume continues the run in --out; give --out")
    with outputs.lock(out, "chainrule train") if out else contextlib.nullcontext():  # one writer per --out
        return _run(r, data, out, progress, log, verbose, on_epoch, network, resume)


def stored_recipe(out):
    """The recipe of the run whose checkpoint is in ``out``, or None where there is none (or it cannot be read:
    :func:`run` with ``resume=True`` then says why)."""
    path = Path(out) / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return read_checkpoint(path)[0]
    except (ValueError, KeyError):
        return None


def _resumed(r, out):
    """The checkpoint in ``out`` for recipe ``r``, or why it cannot be continued."""
    path = out / CHECKPOINT
    if not path.exists():
        raise ValueError(f"--resume: {path} does not exist; expected the --out of an earlier run of chainrule train")
    stored, checkpoint = read_checkpoint(path)
    changed = sorted(k for k in set(r) | set(stored) if k not in ("epochs",) and r.get(k) != stored.get(k)
                     and not (isinstance(r.get(k), (list, tuple)) and list(r.get(k)) == stored.get(k)))
    if changed:
        raise ValueError(f"--resume: {', '.join(f'{k} {stored.get(k)!r} → {r.get(k)!r}' for k in changed)} differ "
                         f"from the run in {out}; resume with the same options (only --epochs may grow)")
    finished = int(checkpoint["epoch"])
    if r.get("iterations") is None and int(r["epochs"]) <= finished:
        what = "is fewer" if int(r["epochs"]) < finished else "leaves nothing to train"
        raise ValueError(f"--resume: the run in {out} has finished {finished} epoch{'s' * (finished != 1)}; "
                         f"--epochs {r['epochs']} {what} (give --epochs {finished + 1} or more to train on)")
    return checkpoint


def _run(r, data, out, progress, log, verbose, on_epoch, network, resume):
    started = time.perf_counter()
    (x_train, t_train), (x_test, t_test) = data
    checkpoint = _resumed(r, out) if resume else None
    val_split, patience = float(r.get("val_split") or 0), int(r.get("early_stopping") or 0)
    if patience and not val_split:
        raise ValueError("--early-stopping watches the validation loss: give --val-split too (e.g. 0.1)")
    final_test = None
    if val_split:  # validate on a part of the training data; the test set waits for the end
        (x_train, t_train), (x_eval, t_eval) = validation_split(x_train, t_train, val_split, r["seed"])
        final_test, eval_name = (x_test, t_test), "validation"
    else:
        x_eval, t_eval, eval_name = x_test, t_test, "test"
    net = network or make_network(r, x_train.shape[1:], class_count(t_train, t_test))
    opt = optimizers.make(r["optimizer"], r["lr"])
    limit = None if r.get("arch", "mlp") == "mlp" else TRAIN_EVAL_LIMIT
    on_checkpoint = None
    if out is not None:
        def on_checkpoint(c):
            write_checkpoint(out / CHECKPOINT, c, {k: v for k, v in r.items()})
    trainer = Trainer(net, opt, x_train, t_train, x_eval, t_eval, epochs=r["epochs"], batch_size=r["batch_size"],
                      seed=r["seed"], iterations=r["iterations"], progress=progress, verbose=verbose,
                      on_epoch=on_epoch, lr_schedule=r["lr_schedule"], train_eval_limit=limit,
                      shift=r.get("shift", 0), flip=r.get("flip", False),
                      image_shape=image_shape(x_train.shape[1:], "augmenting needs images", "use --shift 0 and "
                                              "--no-flip") if r.get("shift") or r.get("flip") else None,
                      early_stopping=patience, resume_from=checkpoint, on_checkpoint=on_checkpoint, eval_name=eval_name)
    log(describe_run(r, net, opt, trainer, len(x_train), len(x_test))
        + (f"; {len(x_eval)} held out for validation" if val_split else "")
        + (f", resumed after epoch {checkpoint['epoch']}" if checkpoint else ""))
    status, message = "finished", ""
    try:
        trainer.train()
    except TrainingDiverged as e:
        status, message = "diverged", str(e)
    if trainer.interrupted:
        status = "interrupted"
    elif trainer.stopped_early:
        status = "stopped"
    history = trainer.history
    last = history[-1] if history else {}
    if trainer.best_epoch is not None:  # early stopping kept this epoch's weights
        last = next(h for h in history if h["epoch"] == trainer.best_epoch)
    metrics = {"dataset": r["dataset"], "network": net.config(), "optimizer": opt.config(),
               "recipe": {k: v for k, v in r.items() if k != "dataset"}, "epochs": len(history), "status": status,
               "message": message, "train_accuracy": last.get("train_accuracy"),
               "test_accuracy": last.get("test_accuracy"), "test_loss": last.get("test_loss"),
               "train_accuracy_samples": len(x_train) if limit is None else min(limit, len(x_train)),
               "seconds": time.perf_counter() - started, "history": history}
    if val_split:
        metrics.update({"validation_accuracy": last.get("test_accuracy"), "validation_loss": last.get("test_loss"),
                        "validation_samples": len(x_eval), "best_epoch": trainer.best_epoch,
                        "test_accuracy": None, "test_loss": None})
        if history and status in ("finished", "stopped"):  # the test set, once, on the weights kept
            test = net.evaluate(*final_test) if len(final_test[0]) else None
            if test is not None:
                metrics.update({"test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"])})
    result = TrainResult(net, trainer, metrics, status, message)
    if out is not None and history:
        result.written = outputs.write(out, net, metrics, {"dataset": r["dataset"]},
                                       f"{net.describe()} on {r['dataset']}", log)
    return result
