"""A base classifier fitted and applied inside a semi-supervised transfer loop.

Self-training and EM refit one base model many times on the labelled rows
plus the (pseudo- or soft-) labelled unlabelled rows. The base may be a skmtl
transfer model that takes the domains (``tasks``) or any scikit-learn
classifier; this module hides the difference in one place.
"""

import inspect

import numpy as np
from sklearn import get_config
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import has_fit_parameter

from .._tasks import repeat_label, rows_with_label
from ..pipeline import final_step
from ._joint import JointTransferClassifier

__all__ = ["BaseModel", "base_has", "base_input_tags", "weight_key", "weighted_clone"]


def base_has(method):
    """``available_if`` check: the base estimator (fitted or given) has ``method``."""

    def check(owner):
        base = getattr(owner, "estimator_", None)
        if base is None:
            base = (
                JointTransferClassifier()
                if owner.estimator is None
                else owner.estimator
            )
        return hasattr(base, method)

    return check


def base_input_tags(tags, estimator):
    """``tags`` with what the base ``estimator`` (None: the default) declares.

    The owner fits the base on the rows it is given, so it takes sparse input
    when the base does, needs non-negative input when the base does (a naive
    Bayes base) and scores no better than the base (``poor_score``), as
    scikit-learn's meta-estimators delegate these tags.
    """
    base = get_tags(JointTransferClassifier() if estimator is None else estimator)
    tags.input_tags.sparse = base.input_tags.sparse
    tags.input_tags.positive_only = base.input_tags.positive_only
    if tags.classifier_tags is not None and base.classifier_tags is not None:
        tags.classifier_tags.poor_score = base.classifier_tags.poor_score
    return tags


class UnlabelledTargetTagsMixin:
    """The tags of an estimator that learns from unlabelled target rows.

    ``y`` is required (its entries on the ``unlabelled`` rows are
    placeholders, never read). Input: sparse, the estimator's own solvers
    taking it; with ``_input_tags_from_base = True`` (the estimator fits the
    base ``estimator`` on the rows), what that base declares
    (:func:`base_input_tags`). Placed first among the bases.
    """

    _input_tags_from_base = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._input_tags_from_base:
            tags = base_input_tags(tags, self.estimator)
        else:
            tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags


def _takes(method, name):
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


def _final_step(estimator):
    """``(name, step)`` of a Pipeline's final estimator, else None."""
    if not isinstance(estimator, Pipeline):
        return None
    step = final_step(estimator)  # the one Pipeline-last-step helper
    return None if step in (None, "passthrough") else (estimator.steps[-1][0], step)


def weight_key(estimator):
    """The ``fit`` argument that carries row weights to ``estimator``, or None.

    ``sample_weight`` when ``fit`` names it. A ``Pipeline`` (whose ``fit``
    takes ``**params``) weights its final step, as scikit-learn's
    ``<step>__sample_weight`` does without routing; with routing on, the
    ``sample_weight`` that :func:`weighted_clone` routes to that step.
    """
    if has_fit_parameter(estimator, "sample_weight"):
        return "sample_weight"
    final = _final_step(estimator)
    if final is None or weight_key(final[1]) is None:
        return None
    if get_config().get("enable_metadata_routing", False):
        return "sample_weight"
    return f"{final[0]}__sample_weight"


def weighted_clone(estimator):
    """A clone of ``estimator``; a Pipeline's routes its weights to the last step.

    With routing on, the clone's final step requests ``sample_weight`` and
    the other steps that take it and have not said whether they want it do
    not get it (the routing-off rule: weights reach the final step only).
    A request set by the user is kept.
    """
    model = clone(estimator)
    final = _final_step(model)
    if final is None or not get_config().get("enable_metadata_routing", False):
        return model
    for _, step in model.steps:
        if step in (None, "passthrough") or not hasattr(step, "set_fit_request"):
            continue
        if not has_fit_parameter(step, "sample_weight"):
            continue
        current = step.get_metadata_routing().fit.requests.get("sample_weight")
        if current is None:
            step.set_fit_request(sample_weight=step is final[1])
    return model


class BaseModel:
    """Fits clones of ``estimator`` with the domains when it takes them.

    ``estimator=None`` is :class:`JointTransferClassifier` (default
    parameters). ``tasks`` is passed to the base's ``fit`` only when the
    caller gave domains and the base's ``fit`` takes ``tasks``; the base then
    predicts for the ``target`` domain. A base with a ``target`` parameter
    (JointTransfer*, TrAdaBoost) gets the owner's ``target``, so that both
    name the same domain.
    """

    def __init__(self, estimator, target, tasks_given):
        prototype = JointTransferClassifier() if estimator is None else estimator
        if "target" in prototype.get_params(deep=False):
            prototype = clone(prototype).set_params(target=target)
        self.prototype = prototype
        self.target = target
        self.with_tasks = tasks_given and _takes(self.prototype.fit, "tasks")
        self.weight_key = weight_key(self.prototype)
        self.with_weights = self.weight_key is not None
        self.model = None
        self.fitted_with_tasks = False

    def check(self, owner):
        has_proba = hasattr(self.prototype, "predict_proba")
        if not (has_proba or hasattr(self.prototype, "decision_function")):
            raise ValueError(
                f"{owner}: the estimator {type(self.prototype).__name__} has neither "
                "predict_proba nor decision_function, which rank the unlabelled "
                "rows."
            )

    def fit(self, X, y, tasks, sample_weight):
        kwargs = {}
        # No labelled target row yet (unsupervised adaptation: every target
        # row is unlabelled, and the first round fits the labelled rows
        # alone): the target term of a joint loss is empty and a per-domain
        # model has no target task, so the base sees the rows as one domain,
        # the source-only limit, until pseudo-labelled target rows arrive.
        self.fitted_with_tasks = (
            self.with_tasks and rows_with_label(tasks, self.target).any()
        )
        if self.fitted_with_tasks:
            kwargs["tasks"] = tasks
        if sample_weight is not None:
            if not self.with_weights:
                raise ValueError(
                    f"the estimator {type(self.prototype).__name__} does not accept "
                    "sample_weight in fit, which these weights need (sample_weight, "
                    "unlabelled_weight or soft labels)."
                )
            kwargs[self.weight_key] = sample_weight
        self.model = weighted_clone(self.prototype).fit(X, y, **kwargs)
        return self.model

    def _call(self, method, X):
        fn = getattr(self.model, method)
        if self.fitted_with_tasks and _takes(fn, "tasks"):
            return fn(X, tasks=repeat_label(self.target, X.shape[0]))
        return fn(X)

    def scores(self, X, prefer_proba=True):
        """Per-class scores, shape (n_samples, n_classes): larger is likelier.

        ``predict_proba`` when the base has it (and ``prefer_proba``), else
        the margin of each class's decision value over the best other class
        (binary: ``[-d, d]``).
        """
        if prefer_proba and hasattr(self.model, "predict_proba"):
            return np.asarray(self._call("predict_proba", X), dtype=np.float64)
        D = np.asarray(self._call("decision_function", X), dtype=np.float64)
        if D.ndim == 1:
            return np.column_stack([-D, D])
        top2 = np.sort(D, axis=1)[:, -2:]
        best_other = np.where(D == top2[:, [1]], top2[:, [0]], top2[:, [1]])
        return D - best_other

    def predict_proba(self, X):
        return np.asarray(self._call("predict_proba", X), dtype=np.float64)

    def predict(self, X):
        return self._call("predict", X)

    def decision_function(self, X):
        return self._call("decision_function", X)
