"""Multi-task neural networks on torch: a shared encoder and one head per task.

Requires PyTorch (``pip install "skmtl[torch]"``); ``import skmtl`` alone never
imports torch. The estimators follow the task protocol of the linear models
(``tasks`` per row, ``tasks_``, metadata routing, column mode), so skmtl's
splitters, scorers, ``per_task_report`` and ``GridSearchCV`` work on them
unchanged.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without torch
    raise ImportError(
        'skmtl.neural needs PyTorch, which is not installed: pip install "skmtl[torch]"'
    ) from exc

from ._base import BaseMultiTaskNet
from ._estimators import MultiTaskNetClassifier, MultiTaskNetRegressor
from ._finetune import FineTunedNetClassifier, FineTunedNetRegressor
from ._joint import JointTransferNetClassifier, JointTransferNetRegressor
from ._module import CSRBatch, MLPEncoder, MultiTaskModule, TaskHead
from ._prior import RegularizedTransferNetClassifier, RegularizedTransferNetRegressor
from ._weighting import (
    MGDA,
    CAGrad,
    DynamicWeightAverage,
    FixedWeighting,
    GradNorm,
    PCGrad,
    TaskWeighting,
    UncertaintyWeighting,
)

__all__ = [
    "MultiTaskNetClassifier",
    "MultiTaskNetRegressor",
    "FineTunedNetClassifier",
    "FineTunedNetRegressor",
    "RegularizedTransferNetClassifier",
    "RegularizedTransferNetRegressor",
    "JointTransferNetClassifier",
    "JointTransferNetRegressor",
    "BaseMultiTaskNet",
    "MultiTaskModule",
    "MLPEncoder",
    "TaskHead",
    "CSRBatch",
    "TaskWeighting",
    "FixedWeighting",
    "UncertaintyWeighting",
    "DynamicWeightAverage",
    "GradNorm",
    "PCGrad",
    "MGDA",
    "CAGrad",
]
