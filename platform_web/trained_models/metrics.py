"""Scores of a confusion matrix that an imbalanced dataset cannot flatter: balanced accuracy and macro-F1.

Rows are true classes, columns predicted ones (as `trainer_api.engine.evaluate` writes it). A class
with no validation image is left out of both means; a class never predicted has precision 0.
"""

from __future__ import annotations


def balanced_accuracy(matrix: list[list[int]]) -> float | None:
    """The mean over classes of the share of each class's images classified right (mean recall)."""
    recalls = [row[i] / sum(row) for i, row in enumerate(matrix) if sum(row)]
    return sum(recalls) / len(recalls) if recalls else None


def macro_f1(matrix: list[list[int]]) -> float | None:
    """The mean over classes of F1 = 2·precision·recall / (precision + recall)."""
    scores = []
    for i, row in enumerate(matrix):
        actual = sum(row)
        if not actual:
            continue
        predicted = sum(other[i] for other in matrix)
        right = row[i]
        scores.append(0.0 if not right else 2 * right / (actual + predicted))
    return sum(scores) / len(scores) if scores else None
