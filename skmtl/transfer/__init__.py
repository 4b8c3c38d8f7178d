"""Transfer from a source to a target domain.

- model-based: :class:`RegularizedTransferRegressor` and
  :class:`RegularizedTransferClassifier` pull the target weights toward a
  fitted source model (or the shared part of a multi-task model), and
  :class:`FineTunedRegressor` / :class:`FineTunedClassifier` start at the
  source weights and train on the target for a budget of iterations or with
  early stopping;
- instance weighting: :class:`TrAdaBoostClassifier` (Dai et al., ICML 2007);
- knowledge distillation: :class:`DistilledClassifier` trains a linear
  student on a teacher's softened outputs (Hinton et al., 2015), unlabelled
  rows (``unlabelled=`` mask) included;
- learning from the unlabelled target rows (fit metadata ``unlabelled``, a
  bool mask): :class:`SelfTrainingTransferClassifier` (class-balanced,
  scheduled self-training), :class:`NaiveBayesTransferClassifier` (EM of a
  transferred naive Bayes, Dai et al., AAAI 2007) and
  :class:`EMTransferClassifier` (the same EM for any probabilistic base);
- data-based: :class:`JointTransferRegressor` and
  :class:`JointTransferClassifier` (joint weighted loss
  ``lam * L_source + (1 - lam) * L_target``), and :class:`FeatureAugmenter`,
  Daume's feature augmentation, which turns any scikit-learn linear model into
  a shared + task-specific model.
"""

from ._augment import FeatureAugmenter
from ._distill import DistilledClassifier
from ._em import EMTransferClassifier, NaiveBayesTransferClassifier
from ._finetune import FineTunedClassifier, FineTunedRegressor
from ._joint import JointTransferClassifier, JointTransferRegressor
from ._prior import RegularizedTransferClassifier, RegularizedTransferRegressor
from ._self_training import SelfTrainingTransferClassifier
from ._tradaboost import TrAdaBoostClassifier

__all__ = [
    "FeatureAugmenter",
    "RegularizedTransferRegressor",
    "RegularizedTransferClassifier",
    "JointTransferRegressor",
    "JointTransferClassifier",
    "FineTunedRegressor",
    "FineTunedClassifier",
    "DistilledClassifier",
    "TrAdaBoostClassifier",
    "SelfTrainingTransferClassifier",
    "NaiveBayesTransferClassifier",
    "EMTransferClassifier",
]
