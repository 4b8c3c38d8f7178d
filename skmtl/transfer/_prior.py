"""Model-based transfer: regularization toward a fitted source model."""

import copy
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..base import fit_or_restore
from ..linear_model import MultiTaskClassifier, MultiTaskRegressor
from ..penalties import TransferPrior
from ..solvers import SOLVER_CONSTRAINTS

__all__ = ["RegularizedTransferRegressor", "RegularizedTransferClassifier"]


_NO_TASKS = (
    "source_task={!r} was given but the source has no tasks (it is not a skmtl "
    "multi-task model); leave source_task=None."
)


def source_parts(source, *, source_task=None):
    """Source weights (public layout, no task axis), feature steps and classes.

    ``source`` may be an array of weights, a fitted linear estimator (scikit-
    learn's or skmtl's), a fitted Pipeline whose last step is linear (its other
    steps then build the target's features), or either wrapped in
    ``sklearn.frozen.FrozenEstimator`` (which survives ``clone``). From a skmtl
    multi-task model, ``source_task`` picks a task; by default the shared part
    ``shared_coef_`` of a ``"mean"``-coupled model, or its only task.
    """
    features, classes = None, None
    if source is None:
        if source_task is not None:
            raise ValueError(
                f"source_task={source_task!r} was given without a source "
                "(source=None is a prior at zero); leave source_task=None."
            )
        return None, None, None
    inner = getattr(source, "estimator", None)  # FrozenEstimator
    if inner is not None and hasattr(source, "__sklearn_clone__"):
        source = inner
    if isinstance(source, Pipeline):
        # a copy of the fitted steps: refitting the source later must not
        # change the target model (fitted state never aliases a parameter)
        features, source = copy.deepcopy(source[:-1]), source[-1]
    if not hasattr(source, "coef_"):
        if hasattr(source, "fit"):
            raise ValueError(
                "source must be a fitted linear model (with coef_) or an array of "
                "weights; got an unfitted estimator. clone() (e.g. in GridSearchCV) "
                "returns unfitted copies: wrap the source in "
                "sklearn.frozen.FrozenEstimator(source)."
            )
        if source_task is not None:
            raise ValueError(_NO_TASKS.format(source_task))
        try:
            coef = np.asarray(source, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "source must be a fitted linear model (with coef_) or an array of "
                f"weights (numbers): {exc}"
            ) from None
        return coef, features, classes
    coef = np.array(source.coef_, dtype=float)  # a copy, as the steps
    classes = getattr(source, "classes_", None)
    if hasattr(source, "tasks_"):  # a skmtl multi-task model
        if source_task is not None:
            labels = np.asarray(source.tasks_).tolist()
            if source_task not in labels:
                raise ValueError(
                    f"source_task={source_task!r} is not a task of the source; "
                    f"its tasks are {labels}."
                )
            coef = coef[labels.index(source_task)]
        elif hasattr(source, "shared_coef_"):
            coef = np.asarray(source.shared_coef_, dtype=float)
        elif len(source.tasks_) == 1:
            coef = coef[0]
        else:
            raise ValueError(
                f"source is a multi-task model with {len(source.tasks_)} tasks and "
                "no shared part: choose one with source_task=..."
            )
    elif source_task is not None:
        raise ValueError(_NO_TASKS.format(source_task))
    elif classes is not None and len(classes) == 2:
        coef = coef.reshape(-1)  # sklearn binary: (1, n_features)
    return coef, features, classes


class _TargetModel(BaseEstimator):
    """Delegation to the fitted one-task target model ``model_``.

    ``features_`` (the feature steps of a Pipeline source, or None) transform
    X first.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _features(self, X):
        return X if self.features_ is None else self.features_.transform(X)

    def predict(self, X):
        """Predict with the target model."""
        check_is_fitted(self)
        return self.model_.predict(self._features(X))

    def score(self, X, y, sample_weight=None):
        """Score of the target model (R^2 or accuracy)."""
        check_is_fitted(self)
        return self.model_.score(self._features(X), y, sample_weight=sample_weight)


class _TargetClassifier:
    """Classifier methods of :class:`_TargetModel`."""

    @property
    def classes_(self):
        check_is_fitted(self)
        return self.model_.classes_

    def predict_proba(self, X):
        """Class probabilities of the target model."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._features(X))

    def decision_function(self, X):
        """Decision values of the target model."""
        check_is_fitted(self)
        return self.model_.decision_function(self._features(X))


class _RegularizedTransferBase(_TargetModel):
    _parameter_constraints = {
        "source": "no_validation",
        "alpha": [Interval(Real, 0, None, closed="left")],
        "source_task": "no_validation",
        "fit_intercept": ["boolean"],
        **SOLVER_CONSTRAINTS,
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        source=None,
        *,
        alpha=1.0,
        source_task=None,
        fit_intercept=True,
        solver="auto",
        tol=1e-4,
        max_iter=1000,
        verbose=0,
    ):
        self.source = source
        self.alpha = alpha
        self.source_task = source_task
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y, sample_weight=None):
        """Fit the target model, pulled toward the source weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Target rows (raw input of the source Pipeline, if it is one).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        coef, self.features_, source_classes = source_parts(
            self.source, source_task=self.source_task
        )
        Xf = self._features(X)
        # no source: a prior at zero, i.e. plain ridge
        penalty = "independent" if coef is None else TransferPrior(coef=coef)
        model = self._model_class(
            alpha=self.alpha,
            penalty=penalty,
            fit_intercept=self.fit_intercept,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            verbose=self.verbose,
        )
        if len(getattr(y, "shape", ())) == 2:
            # one target task: a column vector is raveled with sklearn's warning
            y = column_or_1d(y, warn=True)
        model.fit(Xf, y, sample_weight=sample_weight)
        if (
            source_classes is not None
            and hasattr(model, "classes_")
            and not np.array_equal(np.asarray(source_classes), model.classes_)
        ):
            raise ValueError(
                f"the source's classes {np.asarray(source_classes).tolist()} differ "
                f"from the target's {model.classes_.tolist()}: the weights cannot be "
                "matched."
            )
        self.model_ = model
        self.coef_ = model.coef_[0]
        self.intercept_ = model.intercept_[0]
        self.n_iter_ = model.n_iter_
        if self.features_ is None:
            self.n_features_in_ = model.n_features_in_
            if hasattr(model, "feature_names_in_"):
                self.feature_names_in_ = model.feature_names_in_
        return self


_DOC = """Target model regularized toward a source model (biased regularization).

    Minimises, over the target rows only::

        sum_i s_i loss(y_i, x_i.w + b) / sum_i s_i + alpha / 2 * ||w - w_source||^2

    with the {loss}, an unpenalised intercept and the source weights
    ``w_source`` taken from ``source`` (Chelba & Acero, 2004). The penalty is
    linear in ``alpha``: ``alpha -> 0`` gives the unpenalised target-only model,
    ``alpha -> inf`` the source weights with a refitted intercept. Sparse X is
    supported.

    Parameters
    ----------
    source : array-like, fitted estimator, Pipeline or None, default=None
        None puts the prior at zero (plain ridge, the target-only model). An
        array of weights, a fitted linear estimator (scikit-learn's or
        skmtl's), or a fitted Pipeline whose last step is linear (its earlier
        steps then transform the target rows). Wrap it in
        ``sklearn.frozen.FrozenEstimator`` to keep it fitted through ``clone``
        (GridSearchCV).
    alpha : float, default=1.0
        Strength of the pull toward the source.
    source_task : hashable, default=None
        With a skmtl multi-task source: the task whose weights to use; by
        default its shared part ``shared_coef_`` (``penalty="mean"``), so that
        a new task learns only its specific part.
    fit_intercept : bool, default=True
    solver, tol, max_iter, verbose
        As for :class:`~skmtl.{model}`.

    Attributes
    ----------
    model_ : {model}
        The fitted target model (one task).
    coef_, intercept_ : ndarray
    n_iter_ : int
    features_ : Pipeline or None
        The source Pipeline's feature steps, when the source is a Pipeline.
    {extra}
    """


class RegularizedTransferRegressor(RegressorMixin, _RegularizedTransferBase):
    __doc__ = _DOC.format(
        loss="squared loss (y - x.w - b)^2 / 2", model="MultiTaskRegressor", extra=""
    )
    _model_class = MultiTaskRegressor


class RegularizedTransferClassifier(
    _TargetClassifier, ClassifierMixin, _RegularizedTransferBase
):
    __doc__ = _DOC.format(
        loss="logistic (binary) or multinomial log-loss",
        model="MultiTaskClassifier",
        extra="classes_ : ndarray\n        Must equal the source's classes.",
    )
    _model_class = MultiTaskClassifier
