"""Training curves with matplotlib (optional: ``pip install 'chainrule[plot]'``)."""
from __future__ import annotations

from pathlib import Path


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def plot_curves(history, path, title=""):
    """Loss and accuracy per epoch, side by side, written to ``path`` (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["loss"] for r in history], marker="o", color="tab:red")
    ax_loss.set(xlabel="epoch", ylabel="mean training loss", title="loss")
    ax_acc.plot(epochs, [r["train_accuracy"] for r in history], marker="o", label="train")
    if history and history[0].get("test_accuracy") is not None:
        ax_acc.plot(epochs, [r["test_accuracy"] for r in history], marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
