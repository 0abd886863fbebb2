"""What a sweep shows: the trials as rows (``trials.csv``, ``trials.md``, best first) and ``sweep.png``.

``sweep.png`` is the book's figure 6-24 for any sweep (§6.5.3): validation
accuracy against each searched option, on a log axis where the option was
drawn on a log scale; completed trials are filled dots, pruned ones open
circles, diverged ones crosses, the best a star; the last panel holds every
trial's learning curve (validation accuracy per epoch), the best one in bold.
"""
from __future__ import annotations

import csv
import io
import math

import numpy as np

from ..atomic import atomic_write

#: how each state is shown in the tables (a diverged trial is stored as pruned, with status "diverged")
ORDER = {"complete": 0, "pruned": 1, "diverged": 2, "failed": 3, "running": 4, "waiting": 5}


def status_of(trial):
    """complete, pruned, diverged, failed, running or waiting."""
    state = trial.state.name
    if state == "PRUNED":
        return "diverged" if trial.user_attrs.get("status") == "diverged" else "pruned"
    return {"COMPLETE": "complete", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}.get(state,
                                                                                                      state.lower())


def _last_accuracy(trial):
    if trial.value is not None:
        return trial.value
    values = trial.intermediate_values
    return values[max(values)] if values else None


def rows(trials, dims):
    """One dict per trial, best first: completed by validation accuracy, then pruned, diverged, failed."""
    out = []
    for t in trials:
        status = status_of(t)
        ended = status in ("complete", "pruned", "diverged")  # a retry copies its failed trial's attributes: only
        row = {"trial": t.number, "status": status,             # a trial that ended shows a result of its own
               "validation_accuracy": _last_accuracy(t) if ended else None,
               "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)) if ended else
               (len(t.intermediate_values) if status == "failed" else None),
               "seconds": t.user_attrs.get("seconds") if ended else None}
        for d in dims:
            row[d.key] = t.params.get(d.key)
        retry_of = t.system_attrs.get("failed_trial")
        row["retry_of"] = retry_of
        out.append(row)
    out.sort(key=lambda r: (ORDER.get(r["status"], 9), -(r["validation_accuracy"] or -1), r["trial"]))
    return out


def _cell(value, key):
    if value is None:
        return ""
    if isinstance(value, float):
        if key == "validation_accuracy":
            return f"{value:.4f}"
        if key == "seconds":
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


def columns(dims):
    """The columns of trials.csv for the searched options."""
    return ["trial", "status", "validation_accuracy", *[d.key for d in dims], "epochs", "seconds", "retry_of"]


def csv_text(table, dims):
    """The trials as CSV text, best first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns(dims), lineterminator="\n")
    writer.writeheader()
    for r in table:
        writer.writerow({k: ("" if r[k] is None else r[k]) for k in columns(dims)})
    return buffer.getvalue()


def markdown_text(table, dims, title):
    """The trials as a Markdown table, best first."""
    cols = columns(dims)
    lines = [f"# {title}", "", "| " + " | ".join(c.replace("_", " ") for c in cols) + " |",
             "|" + "|".join("---:" if c not in ("status",) else "---" for c in cols) + "|"]
    for r in table:
        lines.append("| " + " | ".join(_cell(r[c], c) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def write_tables(out, trials, dims, title):
    """Write trials.csv and trials.md; returns the rows."""
    table = rows(trials, dims)
    with atomic_write(out / "trials.csv", "w") as f:
        f.write(csv_text(table, dims))
    with atomic_write(out / "trials.md", "w") as f:
        f.write(markdown_text(table, dims, title))
    return table


def _x(trial, dim, positions):
    """Where a trial sits on a panel's x axis: its value, or for a choice its column, spread a little by trial
    number so that trials with the same value do not hide each other (the same figure every time)."""
    if dim.kind != "choice":
        return trial.params[dim.key]
    return positions[trial.params[dim.key]] + 0.18 * (((trial.number * 0.618034) % 1) - 0.5)


def title_of(settings):
    """The sweep's title (sweep.png, trials.md): data set, trials, sampling and pruning."""
    count = settings["trials"]
    return (f"sweep on {settings['dataset']}: {count} trial{'' if count == 1 else 's'}, {settings['sampler']} "
            "sampling" + (f", {settings['prune']} pruning" if settings["prune"] != "none" else ""))


def _limits(dim):
    """A numeric panel's x range: the space's low … high and a margin, within floating point (matplotlib's own
    margin around loguniform(1e-300,1e300) reached inf, and the sweep ended in an OverflowError)."""
    if dim.log:
        low, high = math.log10(dim.low), math.log10(dim.high)
        margin = 0.05 * (high - low)
        return 10.0 ** max(low - margin, -300.0), 10.0 ** min(high + margin, 300.0)
    margin = 0.1 * (dim.high / 2 - dim.low / 2)
    largest = 0.9 * float(np.finfo(np.float64).max)
    return max(dim.low - margin, -largest), min(dim.high + margin, largest)


def _decade_ticks(ax, dim):
    """Ticks at whole powers of ten across a log panel, at most about seven (matplotlib's own locator puts one
    beyond each end, which is inf for a space reaching 1e250)."""
    from matplotlib.ticker import NullLocator
    low, high = math.ceil(math.log10(dim.low) - 1e-9), math.floor(math.log10(dim.high) + 1e-9)
    if high < low:
        return                      # within one decade: matplotlib's ticks are fine there
    step = max(1, math.ceil((high - low) / 6))
    exponents = range(low, high + 1, step)
    ax.set_xticks([10.0 ** e for e in exponents], [f"1e{e}" if e < -2 or e > 3 else f"{10.0 ** e:g}"
                                                   for e in exponents])
    if step > 1:
        ax.xaxis.set_minor_locator(NullLocator())


def plot_sweep(trials, dims, path, title):
    """Draw ``sweep.png`` (see the module docstring); needs matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [t for t in trials if status_of(t) in ("complete", "pruned", "diverged")]
    complete = [t for t in shown if status_of(t) == "complete"]
    best = max(complete, key=lambda t: t.value) if complete else None
    panels = len(dims) + 1
    cols = 2 if panels in (2, 4) else min(panels, 3)
    nrows = math.ceil(panels / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.6 * nrows), squeeze=False)
    styles = {"complete": dict(marker="o", facecolors="tab:blue", edgecolors="tab:blue", label="complete"),
              "pruned": dict(marker="o", facecolors="none", edgecolors="tab:orange", label="pruned"),
              "diverged": dict(marker="x", c="tab:red", label="diverged")}
    for ax, d in zip(axes.flat, dims):
        positions = {c: i for i, c in enumerate(d.choices)}
        if d.log:
            ax.set_xscale("log")
        for status, style in styles.items():
            group = [t for t in shown if status_of(t) == status and d.key in t.params]
            if not group:
                continue
            xs = [_x(t, d, positions) for t in group]
            ys = [_last_accuracy(t) or 0.0 for t in group]
            ax.scatter(xs, ys, s=28, linewidths=1.2, zorder=3, **style)
        if best is not None and d.key in best.params:
            x = _x(best, d, positions)
            ax.scatter([x], [best.value], marker="*", s=220, c="gold", edgecolors="black", zorder=4,
                       label=f"best (trial {best.number})")
        if d.kind == "choice":
            ax.set_xticks(range(len(d.choices)), d.choices)
            ax.set_xlim(-0.5, len(d.choices) - 0.5)
        else:
            ax.set_xlim(*_limits(d))
            if d.log:
                _decade_ticks(ax, d)
        ax.set_xlabel(d.key + (" (log scale)" if d.log else ""))
        ax.set_ylabel("validation accuracy")
        ax.set_ylim(-0.03, 1.03)        # accuracies: the same scale in every panel, whatever the trials got
        ax.grid(True, alpha=0.3)
    curves = axes.flat[len(dims)]
    for t in shown:
        history = t.user_attrs.get("history") or []
        epochs = [h["epoch"] for h in history] or sorted(t.intermediate_values)
        accs = [h["validation_accuracy"] for h in history] or [t.intermediate_values[e] for e in epochs]
        if not epochs:
            continue
        status = status_of(t)
        if t is best:
            continue
        curves.plot(epochs, accs, color="tab:blue" if status == "complete" else "tab:orange",
                    linestyle="-" if status == "complete" else "--", alpha=0.45, linewidth=1,
                    marker="o" if len(epochs) == 1 else None, markersize=3)
    if best is not None:
        history = best.user_attrs.get("history") or []
        curves.plot([h["epoch"] for h in history], [h["validation_accuracy"] for h in history], color="black",
                    linewidth=2.2, label=f"best (trial {best.number})", marker="o" if len(history) == 1 else None,
                    markersize=5)
        curves.legend(loc="lower right", fontsize=8)
    from matplotlib.ticker import MaxNLocator
    curves.xaxis.set_major_locator(MaxNLocator(integer=True))
    last = max((len(t.user_attrs.get("history") or t.intermediate_values) for t in shown), default=0)
    if last:   # whole epochs only, even for one (the locator made ticks 0.945 … 1.050 around a single epoch)
        curves.set_xlim(0.5, last + 0.5)
        if last <= 10:
            curves.set_xticks(range(1, last + 1))
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation accuracy")
    curves.set_title("learning curves (dashed: pruned)", fontsize=10)
    curves.grid(True, alpha=0.3)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", ncol=len(handles), fontsize=9, frameon=False)
    fig.suptitle(title, x=0.02, ha="left", fontsize=12)
    with np.errstate(over="ignore", invalid="ignore"):   # matplotlib's tick steps near a space's 1e308
        fig.tight_layout(rect=(0, 0, 1, 0.93))
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
