"""What a trained model gets right and wrong: the confusion matrix."""
from __future__ import annotations

import numpy as np


def confusion_matrix(predicted, labels, classes):
    """counts[i, j] = how many samples of class i were predicted as j."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predicted)), 1)
    return m


def format_confusion_matrix(m, class_names=None):
    """The matrix as text: rows are true classes, columns predicted ones, with class names when known."""
    classes = len(m)
    names = [str(i) for i in range(classes)] if class_names is None else list(class_names)
    width = max(5, len(str(m.max())) + 1)
    label_width = max(len(n) for n in names) + 1
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * label_width + "".join(f"{j:>{width}}" for j in range(classes))]
    for i in range(classes):
        lines.append(f"{names[i]:>{label_width - 1}} " + "".join(f"{v:>{width}}" for v in m[i]))
    if class_names is not None:
        lines.append("columns: " + ", ".join(f"{j} {n}" for j, n in enumerate(names)))
    return "\n".join(lines)
