"""Task-aware scoring of multi-task models.

scikit-learn's string scorers call ``estimator.predict(X)`` without the task
of each row. The scorers of this module request ``tasks`` through metadata
routing, pass them to the model and score each task separately:

- :func:`make_task_scorer`: one scorer aggregating the per-task scores
  (``"macro"``, ``"weighted"``, ``"worst"`` task or ``"pooled"``), for
  ``GridSearchCV`` and ``cross_validate``;
- :func:`per_task_scorers`: a ``scoring`` dict with one scorer per task;
- :func:`per_task_report`: a table of per-task scores of a fitted model,
  with the gain over a baseline and a negative-transfer flag.
"""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

from ._report import per_task_report
from ._scorer import METRIC_NAMES, make_task_scorer, per_task_scorers

__all__ = [
    "METRIC_NAMES",
    "make_task_scorer",
    "per_task_report",
    "per_task_scorers",
]
