"""What a sweep refuses before any worker starts: a space whose trials could not run.

Each check names the space entry that draws the trouble: an architecture that cannot be built on the data (a CNN
on samples that are not images, augmenting them), a batch of one row for a batch norm over rows, an lr or weight
decay beyond the networks' dtype, the widest MLP the space can draw over the memory limit (planned: nothing is
allocated). Otherwise each such trial would be refused when it starts, and three in a row end the sweep.
"""
from __future__ import annotations

import numpy as np

from .settings import SweepError


def preflight(settings, dims, data):
    """Build the network of every architecture the sweep can draw for this data before any worker starts: a CNN
    on data that are not images (or augmenting them) is one clear error, not a sweep of failed trials."""
    from ..training import job
    from .worker import trial_recipe
    (x, t), (x_test, t_test) = data
    if len(x) == 0:
        raise SweepError(f"{settings['dataset']}: the training data is empty")
    classes = job.class_count(t, t_test)
    archs = next((d.choices for d in dims if d.key == "arch"), None) or [None]
    norms = next((d.choices for d in dims if d.key == "batchnorm"), None) or [None]
    for arch in archs:
        for norm in norms:
            drawn = {**({"arch": arch} if arch else {}), **({"batchnorm": norm} if norm else {})}
            r = trial_recipe(settings, drawn)
            what = ", ".join(f"{k} {v}" for k, v in drawn.items())
            try:
                net = job.make_network(r, x.shape[1:], classes)
                if r.get("shift") or r.get("flip") or any(d.key in ("shift", "flip") for d in dims):
                    job.image_shape(x.shape[1:], "augmenting (shift, flip) needs images", "leave shift and flip out")
            except ValueError as e:
                raise SweepError((f"{what}: " if what else "") + str(e)) from None
            _batches_fit_batch_norm(net, r, dims, what)
    _numbers_fit_the_dtype(trial_recipe(settings, {}), dims)
    _widest_fits(settings, dims, x.shape[1:], classes)


def _widest_fits(settings, dims, input_shape, classes):
    """The widest MLP a space can draw (``hidden=int(1,1000000000)``), planned (nothing allocated) and measured
    against the memory limit with its largest batch before any trial: otherwise each such trial is refused when
    it starts, and three in a row end the sweep."""
    from .. import memory
    from ..nets import MultiLayerNet
    from .worker import trial_recipe
    hidden = next((d for d in dims if d.key == "hidden"), None)
    if hidden is None:
        return
    widths = [int(c) if c.isdigit() else c for c in hidden.choices] if hidden.choices else [int(hidden.high)]
    if trial_recipe(settings, {}).get("arch", "mlp") != "mlp" and \
            not any(d.key == "arch" and "mlp" in d.choices for d in dims):
        return                              # hidden shapes the MLP only
    batches = next((d for d in dims if d.key == "batch_size"), None)
    for width in widths:
        r = trial_recipe(settings, {"hidden": width})
        batch = r["batch_size"] if batches is None else max(
            int(c) for c in batches.choices) if batches.choices else int(batches.high)
        try:
            planned = MultiLayerNet.plan(int(np.prod(input_shape)), list(r["hidden"]), classes, r["activation"],
                                         bool(r["batchnorm"]), float(r["dropout"]))
            memory.check_network(planned, np.dtype(r["dtype"]).itemsize, batch=batch, training=True,
                                 what=f"training the MLP with hidden {r['hidden']} on batches of {batch}")
        except (ValueError, MemoryError) as e:
            raise SweepError(f"--space {hidden.text()} can draw hidden {width}: {e}") from None


def _numbers_fit_the_dtype(r, dims):
    """A space that can draw a learning rate or a weight decay beyond the recipe's dtype (1e300 for float32) is
    refused before any trial: every such trial would be refused when it starts, and three in a row end the sweep."""
    from .. import backend
    from ..optimizers import learning_rate_problem
    for d in dims:
        if d.key not in ("lr", "weight_decay"):
            continue
        largest = max(float(c) for c in d.choices) if d.kind == "choice" else float(d.high)
        if backend.beyond_dtype(largest, r["dtype"]):
            raise SweepError(f"--space {d.text()} can draw {largest:g}, beyond {r['dtype']} (largest "
                             f"{float(np.finfo(r['dtype']).max):.3g}), the networks' dtype; expected bounds it "
                             "can hold")
        smallest = min(float(c) for c in d.choices) if d.kind == "choice" else float(d.low)
        problem = learning_rate_problem(smallest, r["dtype"], "the networks' parameters") if d.key == "lr" else None
        if problem:
            raise SweepError(f"--space {d.text()} can draw {smallest:g}: {problem}; expected bounds it can hold")


def _batches_fit_batch_norm(net, r, dims, what):
    """A batch norm over rows needs batches of two rows or more: a space that can draw batch_size 1 for such a
    network is refused before any trial (each such trial would fail)."""
    from ..nets.plan import batch_norms_over_rows
    rows = batch_norms_over_rows(getattr(net, "planned", ()))
    dim = next((d for d in dims if d.key == "batch_size"), None)
    smallest = r["batch_size"] if dim is None else \
        min(int(c) for c in dim.choices) if dim.choices else int(dim.low)
    if rows and smallest < 2:
        drawn = f"--space {dim.text()} can draw {smallest}" if dim is not None else f"batch_size is {smallest}"
        raise SweepError(f"{what + ': ' if what else ''}{drawn}, but the batch normalisation of layer {rows[0]} "
                         "estimates a mean and a variance over each batch's rows and needs at least 2")
