"""Model selection for multi-task and transfer learning.

Task-aware cross-validation splitters, which receive each row's task by
metadata routing (``tasks``) or read it from a column of ``X``
(``task_column=``):

- :class:`TaskStratifiedKFold`: K folds stratified by (task, class), so every
  fold has every task;
- :class:`LeaveOneTaskOut`: one fold per task;
- :class:`SourceTargetSplit`: K folds of the target task, the source tasks
  always in training;

and cross-validated estimators that tune alpha and the penalty strengths with
warm-started paths inside each fold: :class:`MultiTaskRegressorCV`,
:class:`MultiTaskClassifierCV`.
"""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

from ._cv import MultiTaskClassifierCV, MultiTaskRegressorCV
from ._split import LeaveOneTaskOut, SourceTargetSplit, TaskStratifiedKFold

__all__ = [
    # splitters (._split)
    "LeaveOneTaskOut",
    "SourceTargetSplit",
    "TaskStratifiedKFold",
    # cross-validated estimators (._cv)
    "MultiTaskRegressorCV",
    "MultiTaskClassifierCV",
]
