"""Training curves with matplotlib (optional: ``pip install 'chainrule[plot]'``)."""
from __future__ import annotations

from ..atomic import atomic_write


def matplotlib_available():
    """True when matplotlib can be imported (plots are an optional extra)."""
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def plot_curves(history, path, title="", evaluated="test"):
    """Loss (training and test) and accuracy (train and test) per epoch, side by side, written to ``path`` (PNG;
    ``None``: returned as bytes).

    ``evaluated`` names the held-out set the history's ``test_*`` values come from (a sweep's "validation")."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    has_test = bool(history) and history[0].get("test_accuracy") is not None
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["loss"] for r in history], marker="o", color="tab:red", label="training (mean of epoch)")
    if has_test and history[0].get("test_loss") is not None:
        ax_loss.plot(epochs, [r["test_loss"] for r in history], marker="s", color="tab:purple", label=evaluated)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_loss.legend()
    if history and history[0].get("train_accuracy") is not None:
        ax_acc.plot(epochs, [r["train_accuracy"] for r in history], marker="o", label="train")
    if has_test:
        ax_acc.plot(epochs, [r["test_accuracy"] for r in history], marker="s", label=evaluated)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is None:  # the PNG's bytes (a run commits its files together: chainrule.runfiles)
        import io
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=100, format="png")
        plt.close(fig)
        return buffer.getvalue()
    with atomic_write(path) as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
    return path
