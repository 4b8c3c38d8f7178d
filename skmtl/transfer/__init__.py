"""Transfer from a source to a target domain.

So far: :class:`FeatureAugmenter`, Daume's feature augmentation, which turns
any scikit-learn linear model into a shared + task-specific model.
"""

from ._augment import FeatureAugmenter

__all__ = ["FeatureAugmenter"]
