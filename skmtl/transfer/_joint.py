"""Data-based transfer: a joint weighted loss over source and target rows."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._tasks import check_task_labels, repeat_label, rows_with_label
from .._validation import check_class_labels, check_sample_weight
from ..base import (
    TaskClassifierMixin,
    TaskEstimatorMixin,
    TaskRegressorMixin,
    fit_or_restore,
)
from ..linear_model import MultiTaskClassifier, MultiTaskRegressor
from ..penalties import PENALTY_ALIASES
from ..solvers import SOLVER_CONSTRAINTS

__all__ = ["JointTransferRegressor", "JointTransferClassifier"]


class _JointTransferBase(TaskEstimatorMixin, BaseEstimator):
    _parameter_constraints = {
        "source_weight": [Interval(Real, 0, 1, closed="left")],
        "target": "no_validation",
        "penalty": [None, StrOptions(set(PENALTY_ALIASES)), HasMethods(["bind"])],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        **SOLVER_CONSTRAINTS,
    }

    def __init__(
        self,
        source_weight=0.5,
        *,
        target="target",
        penalty=None,
        alpha=0.01,
        fit_intercept=True,
        solver="auto",
        tol=1e-4,
        max_iter=1000,
    ):
        self.source_weight = source_weight
        self.target = target
        self.penalty = penalty
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y, tasks=None, sample_weight=None):
        """Fit on source and target rows with the weighted joint loss.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        tasks : array-like of shape (n_samples,), default=None
            Domain of each row: ``target`` or anything else (source). None
            means every row is a target row.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        if is_classifier(self):
            check_class_labels(y)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            y_numeric=not is_classifier(self),
        )
        n = X.shape[0]
        domains = check_task_labels(
            repeat_label(self.target, n) if tasks is None else tasks, n
        )
        is_target = rows_with_label(domains, self.target)
        if not is_target.any():
            raise ValueError(
                f"no row of tasks is the target {self.target!r}; set target= to the "
                "label of the target domain."
            )
        lam = float(self.source_weight)
        settings = dict(
            alpha=self.alpha,
            fit_intercept=self.fit_intercept,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        sw = check_sample_weight(sample_weight, n)
        src_total, tgt_total = sw[~is_target].sum(), sw[is_target].sum()
        if tgt_total <= 0:
            raise ValueError(
                "sample_weight is zero on every target row: the target loss "
                "is undefined."
            )
        if self.penalty is None:
            # one model for both domains: per-row weights lam / n_source and
            # (1 - lam) / n_target give exactly lam L_source + (1 - lam) L_target
            w = np.where(
                is_target,
                (1 - lam) * sw / tgt_total,
                lam * sw / src_total if src_total > 0 else 0.0,
            )
            model = self._model_class(**settings).fit(X, y, sample_weight=w)
            self.target_task_ = 0
        else:
            # coupled models, one per domain, named by the text of the user's
            # labels (domains of mixed types, 0 and "target", sort as text);
            # every source domain shares lam
            # (str of each label: astype(str) refuses tuple labels)
            labels = np.array([str(d) for d in domains.tolist()])
            if len(set(labels.tolist())) != len(set(domains.tolist())):
                raise ValueError(
                    "tasks has distinct domain labels with the same text (e.g. 1 "
                    "and '1'); use labels whose str() differ."
                )
            target = labels[is_target][0]
            # a domain whose rows all weigh 0 is absent: no share of lam
            sources = sorted(set(labels[~is_target & (sw > 0)].tolist()))
            weights = {s: lam / max(len(sources), 1) for s in sources}
            weights[target] = 1.0 - lam
            model = self._model_class(
                penalty=self.penalty, task_weights=weights, **settings
            ).fit(X, y, tasks=labels, sample_weight=sample_weight)
            self.target_task_ = target
        self.model_ = model
        self.n_iter_ = model.n_iter_
        return self

    def _target_tasks(self, X):
        return np.full(X.shape[0], self.target_task_, dtype=object)

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip

    def predict(self, X, tasks=None):
        """Predict for the target domain (``tasks`` is accepted and ignored)."""
        X = self._check_X(X)
        return self.model_.predict(X, tasks=self._target_tasks(X))


_DOC = """Joint weighted loss over the domains: lam * L_source + (1 - lam) * L_target.

    ``L_source`` and ``L_target`` are the (sample-weighted) mean {loss} over
    each domain's rows, ``lam = source_weight``. With ``penalty=None`` one
    model serves both domains (ridge ``alpha``); with a core coupling
    (``"mean"``, ``"graph"``, ...) each domain has its own model, coupled by the
    penalty, and the domains' losses are weighted by ``task_weights``. Rows
    are labelled by domain in ``tasks``; ``predict(X)`` predicts for the target
    domain, so stock scorers work. ``source_weight`` is a plain parameter,
    tunable by ``GridSearchCV`` with ``skmtl.model_selection.SourceTargetSplit``
    (source rows always train, target rows are split).

    Parameters
    ----------
    source_weight : float in [0, 1), default=0.5
        ``lam``: 0 ignores the source.
    target : hashable, default="target"
        Label of the target domain in ``tasks``.
    penalty : None, str or penalty object, default=None
    alpha : float, default=0.01
    fit_intercept, solver, tol, max_iter
        As for :class:`~skmtl.{model}`.

    Attributes
    ----------
    model_ : {model}
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    """


class JointTransferRegressor(TaskRegressorMixin, _JointTransferBase):
    __doc__ = _DOC.format(loss="squared loss", model="MultiTaskRegressor")
    _model_class = MultiTaskRegressor


class JointTransferClassifier(TaskClassifierMixin, _JointTransferBase):
    __doc__ = _DOC.format(loss="log-loss", model="MultiTaskClassifier")
    _model_class = MultiTaskClassifier

    @property
    def classes_(self):
        check_is_fitted(self)
        return self.model_.classes_

    def predict_proba(self, X, tasks=None):
        """Class probabilities for the target domain."""
        X = self._check_X(X)
        return self.model_.predict_proba(X, tasks=self._target_tasks(X))

    def decision_function(self, X, tasks=None):
        """Decision values for the target domain."""
        X = self._check_X(X)
        return self.model_.decision_function(X, tasks=self._target_tasks(X))
