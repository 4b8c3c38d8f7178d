"""Warm-start fine-tuning: start at the source weights, train on the target."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .._validation import check_class_labels, check_sample_weight
from ..base import fit_or_restore
from ..linear_model import MultiTaskClassifier, MultiTaskRegressor
from ._prior import _TargetClassifier, _TargetModel, source_parts

__all__ = ["FineTunedRegressor", "FineTunedClassifier"]


class _FineTunedBase(_TargetModel):
    _parameter_constraints = {
        "source": "no_validation",
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "check_every": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"lbfgs", "fista", "newton-cg"})],
        "source_task": "no_validation",
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        source=None,
        *,
        alpha=0.01,
        max_iter=20,
        early_stopping=False,
        validation_fraction=0.2,
        n_iter_no_change=3,
        check_every=2,
        solver="lbfgs",
        source_task=None,
        random_state=None,
    ):
        self.source = source
        self.alpha = alpha
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.check_every = check_every
        self.solver = solver
        self.source_task = source_task
        self.random_state = random_state

    def _init(self, coef):
        """``coef_init`` for the target model: the source weights, or None (zeros).

        The source weights have no task axis: one start for the single target
        task. The intercept starts at 0.
        """
        if coef is None:
            return None
        return np.asarray(coef, dtype=float)

    def _run(self, model, X, y, sw, n_iter, coef_init):
        """``n_iter`` iterations from ``coef_init`` or a ``(coef, intercept)`` pair."""
        if isinstance(coef_init, tuple):
            coef_init, intercept_init = coef_init
        else:
            intercept_init = 0.0
        model.set_params(max_iter=n_iter)
        with warnings.catch_warnings():
            # a budget of iterations is meant to stop before convergence
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(
                X,
                y,
                sample_weight=sw,
                coef_init=coef_init,
                intercept_init=intercept_init,
            )

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y, sample_weight=None):
        """Fine-tune from the source weights on the target rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            When the source weights do not match the target's features (or
            classes): the message gives both shapes.
        """
        if is_classifier(self):
            check_class_labels(y)
        coef, self.features_, source_classes = source_parts(
            self.source, source_task=self.source_task
        )
        Xf = X if self.features_ is None else self.features_.transform(X)
        if len(getattr(y, "shape", ())) == 2:
            y = column_or_1d(y, warn=True)
        model = self._model_class(alpha=self.alpha, solver=self.solver, tol=0.0)
        coef_init = self._init(coef)
        if not self.early_stopping:
            self._run(model, Xf, y, sample_weight, self.max_iter, coef_init)
            self.n_iter_ = model.n_iter_
        else:
            model = self._early_stop(model, Xf, y, sample_weight, coef_init)
        if (
            coef is not None
            and source_classes is not None
            and hasattr(model, "classes_")
            and not np.array_equal(np.asarray(source_classes), model.classes_)
        ):
            # the source's weights are matched to the target's classes by
            # position: different classes would start from the wrong weights
            raise ValueError(
                f"the source's classes {np.asarray(source_classes).tolist()} differ "
                f"from the target's {model.classes_.tolist()}: the weights cannot be "
                "matched."
            )
        self.model_ = model
        self.coef_ = model.coef_[0]
        self.intercept_ = model.intercept_[0]
        if self.features_ is None:
            self.n_features_in_ = model.n_features_in_
            if hasattr(model, "feature_names_in_"):
                self.feature_names_in_ = model.feature_names_in_
        return self

    def _early_stop(self, model, X, y, sw, coef_init):
        """Fit in chunks from the source; return the best model on validation.

        Each chunk of ``check_every`` iterations starts from the previous
        chunk's fitted weights and intercepts (the public warm-start seam,
        ``fit(coef_init=, intercept_init=)``); the best model is kept whole (a
        copy), so every fitted attribute of ``model_`` belongs to it.
        """
        # the validation rows are drawn here, before the core model validates
        # anything: check the inputs first (lengths, containers)
        X = check_array(X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32])
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        sw = None if sw is None else check_sample_weight(sw, X.shape[0])
        # a row of weight 0 is absent: neither trained on nor validated on
        idx = np.arange(X.shape[0]) if sw is None else np.flatnonzero(sw > 0)
        if len(idx) < 2:
            raise ValueError(
                "early stopping needs at least 2 rows of non-zero sample_weight "
                f"(one to train, one to validate), got n_samples={len(idx)}."
            )
        strat = y[idx] if isinstance(self, ClassifierMixin) else None
        try:
            tr, va = train_test_split(
                idx, test_size=self.validation_fraction,
                random_state=self.random_state, stratify=strat,
            )  # fmt: skip
        except ValueError:  # too few rows of a class to stratify
            tr, va = train_test_split(
                idx, test_size=self.validation_fraction, random_state=self.random_state
            )
        sw_tr = None if sw is None else sw[tr]
        sw_va = None if sw is None else sw[va]
        best, best_model, stall, done = -np.inf, None, 0, 0
        self.validation_scores_ = []
        start = coef_init
        while done < self.max_iter:
            done += self.check_every
            self._run(model, X[tr], y[tr], sw_tr, self.check_every, start)
            start = (model.coef_.astype(float), model.intercept_.astype(float))
            score = model.score(X[va], y[va], sample_weight=sw_va)
            self.validation_scores_.append(score)
            # an undefined score (R^2 on one validation row) is NaN: it ranks
            # below every defined score, and the first model is kept until
            # a defined score beats it
            value = -np.inf if np.isnan(score) else score
            if best_model is None or value > best:
                best, stall = value, 0
                best_model, self.n_iter_ = copy.deepcopy(model), done
            else:
                stall += 1
                if stall >= self.n_iter_no_change:
                    break
        self.best_validation_score_ = best if np.isfinite(best) else np.nan
        return best_model


_DOC = """Warm-start fine-tuning: start at the source weights, train on the target.

    The target objective is the core {model}'s (mean {loss} + ``alpha / 2 *
    ||w||^2``), minimised by ``solver`` starting from the source weights (the
    intercept starts at 0) and stopped after ``max_iter`` iterations, or, with
    ``early_stopping=True``, at the iteration count (a multiple of
    ``check_every``) with the best (sample-weighted) score on a held-out
    ``validation_fraction`` of the target rows of positive weight, after
    ``n_iter_no_change`` checks without progress. A
    small budget keeps the model near the source; a large one converges to the
    target-only model.

    Parameters
    ----------
    source : array-like, fitted estimator, Pipeline or None, default=None
        As for :class:`RegularizedTransfer{kind}` (None starts at zero).
    alpha : float, default=0.01
    max_iter : int, default=20
        Iteration budget of the solver.
    early_stopping : bool, default=False
    validation_fraction : float, default=0.2
    n_iter_no_change : int, default=3
    check_every : int, default=2
    solver : {{"lbfgs", "fista", "newton-cg"}}, default="lbfgs"
        L-BFGS iterations are the closest to training epochs; Newton steps are
        few and large.
    source_task : hashable, default=None
    random_state : int, RandomState or None, default=None
        Draw of the validation rows.

    Attributes
    ----------
    model_ : {model}
    coef_, intercept_ : ndarray
    n_iter_ : int
        Solver iterations of ``model_``; with early stopping, the iteration
        budget used up to the kept checkpoint (a multiple of
        ``check_every``).
    validation_scores_ : list of float
        With early stopping: the score after every ``check_every`` iterations.
    """


class FineTunedRegressor(RegressorMixin, _FineTunedBase):
    __doc__ = _DOC.format(
        model="MultiTaskRegressor", loss="squared loss", kind="Regressor"
    )
    _model_class = MultiTaskRegressor
    score = _FineTunedBase.score


class FineTunedClassifier(_TargetClassifier, ClassifierMixin, _FineTunedBase):
    __doc__ = _DOC.format(
        model="MultiTaskClassifier", loss="log-loss", kind="Classifier"
    )
    _model_class = MultiTaskClassifier
    score = _FineTunedBase.score
