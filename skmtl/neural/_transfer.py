"""Network transfer: start from a source network, freeze, L2-SP, joint loss.

The linear side's names carry over: ``FineTuned*`` starts at the source
weights and trains on the target (here optionally with a frozen encoder and
discriminative learning rates), ``source_alpha`` is the neural analogue of
``RegularizedTransfer*`` (L2-SP: the penalty pulls the transferred weights
toward the source instead of toward zero), and ``JointTransfer*`` minimises
``lambda L_source + (1 - lambda) L_target``, here with source and target as
two tasks of one shared encoder.

The estimators live in ``_finetune.py`` (``FineTunedNet*``), ``_prior.py``
(``RegularizedTransferNet*``) and ``_joint.py`` (``JointTransferNet*``), as
on the linear side (``skmtl/transfer/``); this module keeps the former import
path (and pickles that name it) working.
"""

from ._finetune import FineTunedNetClassifier, FineTunedNetRegressor
from ._joint import JointTransferNetClassifier, JointTransferNetRegressor
from ._prior import RegularizedTransferNetClassifier, RegularizedTransferNetRegressor

__all__ = [
    "FineTunedNetClassifier",
    "FineTunedNetRegressor",
    "RegularizedTransferNetClassifier",
    "RegularizedTransferNetRegressor",
    "JointTransferNetClassifier",
    "JointTransferNetRegressor",
]
