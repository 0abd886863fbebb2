"""The book's ``Trainer`` (``common/trainer.py``, used from §6.2 on): its call, on chainrule's training loop.

The book's scripts train with::

    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                      optimizer='Adam', optimizer_param={'lr': 0.001}, evaluate_sample_num_per_epoch=1000)
    trainer.train()
    trainer.test_acc_list, trainer.train_acc_list   # one accuracy per epoch, for the plot

``from chainrule.training import BookTrainer as Trainer`` runs those lines unchanged on
:class:`~chainrule.training.Trainer`: the same mini-batches, optimizer and checks (bad data is refused before the
first step, a diverging loss stops with :class:`~chainrule.training.TrainingDiverged`). What differs from the
book: one line per epoch instead of a loss per iteration, ``train_loss_list`` holds each epoch's mean loss, and
``evaluate_sample_num_per_epoch`` samples are drawn at random (by ``seed``) for each epoch's train accuracy,
while the test accuracy is always over the whole test set.
"""
from __future__ import annotations

from .. import optimizers
from .trainer import Trainer

#: the book's optimizer names (its trainer spells RMSprop 'rmsprpo'; both are taken)
BOOK_OPTIMIZERS = {**optimizers.OPTIMIZERS, "rmsprpo": optimizers.RMSprop}


class BookTrainer(Trainer):
    """The book's ``Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
    optimizer='SGD', optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None, verbose=True)``."""

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100, optimizer="SGD",
                 optimizer_param=None, evaluate_sample_num_per_epoch=None, verbose=True, seed=0):
        name = str(optimizer).lower()
        if name not in BOOK_OPTIMIZERS:
            raise ValueError(f"Trainer: unknown optimizer {optimizer!r}; expected one of "
                             f"{', '.join(optimizers.OPTIMIZERS)}")
        params = {"lr": 0.01} if optimizer_param is None else dict(optimizer_param)
        try:
            update_rule = BOOK_OPTIMIZERS[name](**params)
        except TypeError as e:
            raise ValueError(f"Trainer: optimizer_param {params!r} does not fit {optimizer}: {e}") from None
        super().__init__(network, update_rule, x_train, t_train, x_test, t_test, epochs=epochs,
                         batch_size=mini_batch_size, seed=seed, verbose=verbose,
                         train_eval_limit=evaluate_sample_num_per_epoch)

    @property
    def train_loss_list(self):
        """Each epoch's mean training loss (the book keeps one per iteration)."""
        return [record["loss"] for record in self.history]

    @property
    def train_acc_list(self):
        """Each epoch's train accuracy (on ``evaluate_sample_num_per_epoch`` samples when given)."""
        return [record["train_accuracy"] for record in self.history]

    @property
    def test_acc_list(self):
        """Each epoch's test accuracy."""
        return [record["test_accuracy"] for record in self.history]
