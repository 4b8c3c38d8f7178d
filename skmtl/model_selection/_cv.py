"""Cross-validated multi-task estimators: alpha paths with warm starts inside folds."""

import inspect
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import r2_score
from sklearn.model_selection import ParameterGrid
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._tasks import check_task_labels, check_task_weights, encode_tasks
from .._validation import check_class_labels, check_sample_weight
from ..base import (
    TaskClassifierMixin,
    TaskEstimatorMixin,
    TaskRegressorMixin,
    fit_or_restore,
)
from ..linear_model import MultiTaskClassifier, MultiTaskRegressor, fit_path
from ..penalties import PENALTY_ALIASES, resolve_penalty
from ..solvers import SOLVER_CONSTRAINTS
from ._fold_basis import expand_coef, feature_reduction, fold_basis

__all__ = ["MultiTaskRegressorCV", "MultiTaskClassifierCV"]

#: alphas tried when none are given (the per-task mean loss puts useful
#: strengths between 1e-4 and 10 for standardised or TF-IDF features)
DEFAULT_ALPHAS = np.logspace(1, -4, 11)


def _index(X, rows):
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if isinstance(X, list):
        return [X[i] for i in rows]
    return X[rows]


def _default_score(estimator, X, y, tasks):
    """``estimator.score`` (accuracy or R^2 over all rows) without re-validation."""
    pred = estimator.predict(X, tasks=tasks)
    if isinstance(estimator, ClassifierMixin):
        return float(np.mean(pred == y))
    if np.ndim(y) == 2:
        # the shared design (one column per task): R^2 averaged over columns
        return float(r2_score(y, pred))
    # sklearn's r2_score for 1-D y without weights (force_finite=True)
    numerator = float(np.sum((y - pred) ** 2))
    denominator = float(np.sum((y - np.mean(y)) ** 2))
    if denominator == 0.0:
        return 1.0 if numerator == 0.0 else 0.0
    return 1.0 - numerator / denominator


def _fold_scores(
    base, penalties, alphas, X, y, tasks, sw, train, test, scoring, fold=None,
    reduction=None, keep_budget=0,
):  # fmt: skip
    """Scores of one fold at every (penalty setting, alpha): (n_settings, n_alphas).

    One problem is built for the fold and solved along every setting's alpha
    path; the test rows are validated once and reused at every point. An
    error says which fold it comes from (the data the user passed may be fine
    as a whole). Returns ``(scores, seconds, solutions)``, ``solutions`` a
    :class:`_FoldSolutions` or None (see :meth:`_MultiTaskCVBase.fit`).
    """
    try:
        return _fold_scores_unchecked(
            base, penalties, alphas, X, y, tasks, sw, train, test, scoring,
            reduction, keep_budget,
        )  # fmt: skip
    except ValueError as exc:
        if fold is None:
            raise
        raise ValueError(
            f"in cross-validation fold {fold} ({len(train)} training rows, "
            f"{len(test)} test rows): {exc}"
        ) from exc


class _FoldSolutions:
    """A fold's solution at every point of its path, to warm-start the refit.

    ``coefs[k]`` / ``intercepts[k]``: point ``k`` (settings outermost), in the
    public layout, over the fold's reduced columns ``X A`` (``basis`` A, see
    :func:`fold_basis`; None: all the features).
    """

    def __init__(self, basis, tasks, classes):
        self.basis = basis
        self.tasks, self.classes = tasks, classes
        self.coefs, self.intercepts = [], []

    def add(self, model):
        self.coefs.append(model.coef_)
        self.intercepts.append(model.intercept_)

    def coef(self, k):
        """The coefficients of point ``k`` over all the features."""
        return expand_coef(self.basis, self.coefs[k])


def _fold_scores_unchecked(
    base, penalties, alphas, X, y, tasks, sw, train, test, scoring,
    reduction=None, keep_budget=0,
):  # fmt: skip
    if sw is not None:
        # a row of weight 0 is absent: it is not scored either
        test = test[sw[test] > 0]
        if len(test) == 0:  # nothing to score: undefined, ranked last
            return np.full((len(penalties), len(alphas)), np.nan), 0.0, None
    X_tr, X_te = _index(X, train), _index(X, test)
    start = time.perf_counter()
    basis = None
    if reduction is not None and sp.issparse(X_tr):
        # The fold's training rows in fewer columns, the same solution (see
        # _fold_basis: absent features dropped, and with a quadratic coupling
        # the columns one row uses alone merged). The test rows and the
        # scorer see the same columns, X_te A, whose weights are the model's.
        # X_tr is the fold's own copy (row indexing copies): edited in place
        X_tr = X_tr.tocsr()
        X_tr.eliminate_zeros()
        basis = fold_basis(X_tr, merge=reduction == "merge")
        if basis is not None:
            X_tr, X_te = X_tr @ basis, X_te.tocsr() @ basis
    # tasks=None: the shared design (2-D y, one column per task)
    tasks_tr = None if tasks is None else tasks[train]
    y_te, tasks_te = y[test], (None if tasks is None else tasks[test])
    sw_tr = None if sw is None else sw[train]
    scores, solutions = [], None
    path = fit_path(
        base,
        X_tr,
        y[train],
        tasks_tr,
        sw_tr,
        alphas=alphas,
        penalties=penalties,
        X_eval=X_te,
        tasks_eval=tasks_te,
    )
    for k, fitted in enumerate(path):
        if k == 0 and fitted.coef_.size * len(penalties) * len(alphas) <= keep_budget:
            solutions = _FoldSolutions(
                basis, fitted.tasks_, getattr(fitted, "classes_", None)
            )
        if solutions is not None:
            solutions.add(fitted)
        if scoring is None:
            scores.append(_default_score(fitted, X_te, y_te, tasks_te))
        else:
            scores.append(scoring(fitted, X_te, y_te, tasks=tasks_te))
    elapsed = time.perf_counter() - start
    scores = np.asarray(scores).reshape(len(penalties), len(alphas))
    return scores, elapsed, solutions


#: the refit's warm start keeps every fold's solutions up to this many floats
_KEEP_BUDGET = 20_000_000


def _drops_absent_features(penalty, task_labels):
    """Whether a feature without data keeps a zero row of W under ``penalty``.

    True when :func:`feature_reduction` allows a reduction ("drop" or the
    stronger "merge"): such a feature can be left out of a fold's problem
    without changing its solution.
    """
    return feature_reduction(penalty, task_labels) is not None


def _fold_reduction(penalties, task_labels, X):
    """The reduction every penalty setting allows on a fold of ``X``, or None."""
    if not sp.issparse(X):
        return None
    kinds = {feature_reduction(p, task_labels) for p in penalties}
    if None in kinds:
        return None
    return "merge" if kinds == {"merge"} else "drop"


def _refit_start(solutions, point, train_rows, n_rows, sw):
    """Mean of the folds' solutions at ``point``, or None where it does not apply.

    As scikit-learn's ``LogisticRegressionCV`` warm-starts its refit: the
    folds' solutions at the chosen candidate are close to the solution on all
    rows. Used when every fold kept its solutions, the folds agree on the
    tasks and classes, and every row of positive weight is a training row of
    some fold (then the folds' tasks and classes are those of all the data).
    """
    if not solutions or any(s is None for s in solutions):
        return None
    first = solutions[0]
    for s in solutions[1:]:
        if not np.array_equal(
            np.asarray(s.tasks, dtype=object), np.asarray(first.tasks, dtype=object)
        ):
            return None
        if (s.classes is None) != (first.classes is None) or (
            s.classes is not None and not np.array_equal(s.classes, first.classes)
        ):
            return None
    seen = np.zeros(n_rows, dtype=bool)
    for rows in train_rows:
        seen[rows] = True
    if not np.all(seen | (np.zeros(n_rows, bool) if sw is None else sw <= 0)):
        return None
    coef = np.mean([s.coef(point) for s in solutions], axis=0)
    intercept = np.mean(
        [np.asarray(s.intercepts[point], dtype=np.float64) for s in solutions], axis=0
    )
    return coef, intercept


def _checked_setting(base, params, task_labels, alpha):
    """The penalty of one ``penalty_grid`` setting, checked once before the folds.

    A value the penalty refuses would otherwise surface as an error of the
    first fold, as if the data were at fault.
    """
    try:
        penalty = _MultiTaskCVBase._setting_penalty(base, params)
        # the estimator's own check (unseen_tasks="shared" needs a shared part)
        base._resolve_fit_penalty(penalty, task_labels).bind(task_labels, alpha)
    except ValueError as exc:
        if not params:
            raise
        raise ValueError(f"penalty_grid setting {params}: {exc}") from exc
    return penalty


def _is_sklearn_scorer(scoring):
    """Whether ``scoring`` is a ``sklearn.metrics`` scorer (make_scorer, get_scorer)."""
    try:
        from sklearn.metrics._scorer import _BaseScorer
    except ImportError:  # pragma: no cover - a future scikit-learn
        return False
    return isinstance(scoring, _BaseScorer)


def _split_present(cv, X, y, tasks, sw, shared):
    """``cv``'s folds over the rows of positive weight, as row indices of ``X``.

    A row of weight 0 is absent: it is in no fold, so adding one leaves every
    other row's fold (and every score) as without it.
    """
    rows = None if sw is None or np.all(sw > 0) else np.flatnonzero(sw > 0)
    if rows is not None and len(rows) == 0:
        raise ValueError(
            "sample_weight is zero for every row: there is no row to fit (a row "
            "of weight 0 is absent)."
        )
    if rows is not None:
        X, y = _index(X, rows), y[rows]
        tasks = None if tasks is None else tasks[rows]
    if "tasks" in inspect.signature(cv.split).parameters:
        # the shared design: every task sees every row, the folds split the
        # rows as for one task (the same folds as a 1-D y)
        split_tasks = np.zeros(len(y), dtype=np.intp) if shared else tasks
        folds = cv.split(X, y[:, 0] if shared else y, tasks=split_tasks)
    else:
        folds = cv.split(X, y)
    if rows is None:
        return list(folds)
    return [(rows[train], rows[test]) for train, test in folds]


class _MultiTaskCVBase(TaskEstimatorMixin, BaseEstimator):
    """Grid over alpha and penalty strengths, one warm-started path per fold."""

    _parameter_constraints = {
        "alphas": ["array-like", None],
        "penalty": [StrOptions(set(PENALTY_ALIASES)), HasMethods(["bind"])],
        "penalty_grid": [dict, list, None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "n_jobs": [numbers.Integral, None],
        "refit": ["boolean"],
        "fit_intercept": ["boolean"],
        "task_weights": [dict, "array-like", None],
        **SOLVER_CONSTRAINTS,
        "unseen_tasks": [StrOptions({"error", "shared"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        alphas=None,
        *,
        penalty="independent",
        penalty_grid=None,
        cv=5,
        scoring=None,
        n_jobs=None,
        refit=True,
        fit_intercept=True,
        task_weights=None,
        solver="auto",
        tol=1e-4,
        max_iter=1000,
        unseen_tasks="error",
        verbose=0,
    ):
        self.alphas = alphas
        self.penalty = penalty
        self.penalty_grid = penalty_grid
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.fit_intercept = fit_intercept
        self.task_weights = task_weights
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.unseen_tasks = unseen_tasks
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags

    def _base_estimator(self):
        return self._estimator_class(
            penalty=self.penalty,
            fit_intercept=self.fit_intercept,
            task_weights=self.task_weights,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            warm_start=True,
            unseen_tasks=self.unseen_tasks,
        )

    def _check_alphas(self):
        alphas = DEFAULT_ALPHAS if self.alphas is None else self.alphas
        try:
            alphas = np.asarray(alphas, dtype=float).ravel()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"alphas must be a sequence of numbers: {exc}") from exc
        if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError("alphas must be a non-empty list of finite values >= 0.")
        # largest first: strong penalties are cheap and warm-start the rest
        return np.unique(alphas)[::-1]

    def _check_cv(self, y):
        if self.cv is None or isinstance(self.cv, numbers.Integral):
            n_splits = 5 if self.cv is None else self.cv
            from ._split import TaskStratifiedKFold

            return TaskStratifiedKFold(n_splits)
        if hasattr(self.cv, "split"):
            return self.cv
        return list(self.cv)  # an iterable of (train, test)

    def _check_scoring(self):
        if isinstance(self.scoring, str):
            from ..metrics import METRIC_NAMES, make_task_scorer

            if self.scoring not in METRIC_NAMES:
                raise ValueError(
                    f"scoring={self.scoring!r} is not a known metric name; use "
                    f"one of {list(METRIC_NAMES)}, a callable or None."
                )
            return make_task_scorer(self.scoring)
        if _is_sklearn_scorer(self.scoring):
            # sklearn's scorers call estimator.predict(X) without the rows'
            # tasks and refuse tasks= without metadata routing: every fold
            # would fail, so say it once, here
            raise ValueError(
                f"scoring={self.scoring!r} is a scikit-learn scorer, which cannot "
                "pass the test rows' tasks to the model; build it with "
                "skmtl.metrics.make_task_scorer (the same arguments as "
                "sklearn.metrics.make_scorer), or pass a metric name."
            )
        return self.scoring

    @fit_or_restore
    def fit(self, X, y, tasks=None, sample_weight=None):
        """Cross-validate every (alpha, penalty setting), then refit the best.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            2-D ``y`` (regression, ``tasks=None``) is the shared design, as
            for :class:`~skmtl.MultiTaskRegressor`: folds are then drawn from
            the rows (as for a single task) and the default score is R^2
            averaged over the columns.
        tasks : hashable or array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None
            Used in fitting; rows of weight 0 are absent: a splitter or an
            integer ``cv`` draws the folds from the other rows, and an
            iterable of (train, test) indices is used as given but its test
            rows of weight 0 are not scored (the other rows are scored
            unweighted, as ``GridSearchCV`` does).

        Returns
        -------
        self : object
        """
        self._validate_params()
        regression = not isinstance(self, ClassifierMixin)
        if not regression:
            check_class_labels(y)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            y_numeric=regression,
            multi_output=regression,
        )
        if not regression:
            # once for all rows, not as an error of the first fold
            check_classification_targets(y)
        if sp.issparse(X):
            X = X.tocsr()  # the folds index rows
        n = X.shape[0]
        shared = y.ndim == 2
        if shared and tasks is not None:
            raise ValueError(
                f"y has shape {y.shape}: 2-D y means one column per task on a "
                "shared X and cannot be combined with tasks; pass 1-D y with "
                "tasks for the stacked form."
            )
        if not shared:
            tasks = check_task_labels(0 if tasks is None else tasks, n)
        sw = None if sample_weight is None else check_sample_weight(sample_weight, n)
        n_splits = self.cv if isinstance(self.cv, numbers.Integral) else None
        if n_splits is not None and n < n_splits:
            raise ValueError(
                f"Cannot have number of splits cv={n_splits} greater than the "
                f"number of samples: n_samples={n}."
            )
        alphas = self._check_alphas()
        grid, candidates = self._candidates(alphas)
        cv = self._check_cv(y)
        if not hasattr(cv, "split"):
            splits = list(cv)
        else:
            splits = _split_present(cv, X, y, tasks, sw, shared)
        scoring = self._check_scoring()
        base = self._base_estimator()
        task_labels = np.arange(y.shape[1]) if shared else encode_tasks(tasks, n)[0]
        # settings that fail whatever the data: once here, not as a fold's error
        check_task_weights(self.task_weights, task_labels)
        penalties = [
            _checked_setting(base, params, task_labels, alphas[0]) for params in grid
        ]
        reduction = _fold_reduction(penalties, task_labels, X)
        keep_budget = _KEEP_BUDGET // max(len(splits), 1) if self.refit else 0
        jobs = (
            delayed(_fold_scores)(
                base,
                penalties,
                alphas,
                X,
                y,
                tasks,
                sw,
                tr,
                te,
                scoring,
                fold=k,
                reduction=reduction,
                keep_budget=keep_budget,
            )  # fmt: skip
            for k, (tr, te) in enumerate(splits)
        )
        out = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(jobs)
        n_splits = len(splits)
        # scores[g, k, a]: penalty setting g, fold k, alpha a
        scores = np.stack([s for s, _, _ in out], axis=1)
        self.fit_time_ = float(sum(t for _, t, _ in out))
        self._store_results(scores, grid, alphas, candidates)
        if self.refit:
            best = self.best_params_
            est = clone(base).set_params(warm_start=False, alpha=best["alpha"])
            penalty_params = {
                k[len("penalty__") :]: v
                for k, v in best.items()
                if k.startswith("penalty__")
            }
            est.set_params(penalty=self._setting_penalty(base, penalty_params))
            g, a = candidates[self.best_index_]
            start = _refit_start(
                [s for _, _, s in out], g * len(alphas) + a,
                [tr for tr, _ in splits], n, sw,
            )  # fmt: skip
            init = {}
            if start is not None:
                init["coef_init"] = start[0]
                if self.fit_intercept:
                    init["intercept_init"] = start[1]
            self.best_estimator_ = est.fit(X, y, tasks=tasks, sample_weight=sw, **init)
            self.tasks_ = self.best_estimator_.tasks_
            self.n_iter_ = self.best_estimator_.n_iter_
        return self

    @staticmethod
    def _setting_penalty(base, params):
        """The penalty of one setting of ``penalty_grid`` (a new object)."""
        if not params:
            # a copy: the fitted best_estimator_ must not share the parameter
            # object that set_params on this estimator may change later
            penalty = base.penalty
            return penalty if isinstance(penalty, str) else clone(penalty)
        return clone(resolve_penalty(base.penalty)).set_params(**params)

    def _candidates(self, alphas):
        """Penalty settings to solve, and the candidates in GridSearchCV's order.

        The equivalent ``GridSearchCV`` grid is ``{"alpha": alphas,
        "penalty__<name>": ...}`` (one such dict per dict of a list
        ``penalty_grid``); ``ParameterGrid`` lists it sub-grid by sub-grid,
        alpha outermost in the order given, then the penalty parameters. The
        candidates follow that order, so that ties break as in GridSearchCV.
        Returns the flat list of settings and ``(setting, alpha index)`` pairs,
        alpha indices into ``alphas`` (largest first).
        """
        grids = self.penalty_grid
        if not grids:
            grids = [{}]
        elif isinstance(grids, dict):
            grids = [grids]
        given = DEFAULT_ALPHAS if self.alphas is None else self.alphas
        given = np.asarray(given, dtype=float).ravel()
        _, first = np.unique(given, return_index=True)
        user_order = given[np.sort(first)]  # distinct, in the order given
        position = {float(a): i for i, a in enumerate(alphas)}
        settings, candidates = [], []
        for sub in grids:
            start = len(settings)
            settings.extend(ParameterGrid(sub))
            for alpha in user_order:
                for g in range(start, len(settings)):
                    candidates.append((g, position[float(alpha)]))
        return settings, candidates

    def _store_results(self, scores, grid, alphas, candidates):
        n_grid, n_splits, n_alphas = scores.shape
        params, per_split = [], []
        for g, a in candidates:
            entry = {"alpha": float(alphas[a])}
            entry.update({f"penalty__{k}": v for k, v in grid[g].items()})
            params.append(entry)
            per_split.append(scores[g, :, a])
        per_split = np.array(per_split)  # (n_candidates, n_splits)
        mean = per_split.mean(axis=1)
        results = {"params": params}
        keys = sorted({key for p in params for key in p})
        for key in keys:
            values = np.empty(len(params), dtype=object)
            missing = np.array([key not in p for p in params])
            values[~missing] = [p[key] for p in params if key in p]
            # masked where a sub-grid lacks the parameter, as GridSearchCV
            results[f"param_{key}"] = (
                np.ma.MaskedArray(values, mask=missing) if missing.any() else values
            )
        for k in range(n_splits):
            results[f"split{k}_test_score"] = per_split[:, k]
        results["mean_test_score"] = mean
        results["std_test_score"] = per_split.std(axis=1)
        # rank 1 is best; ties share the lowest rank, and undefined (NaN)
        # means tie with the worst, as in GridSearchCV
        nan = np.isnan(mean)
        if nan.any():
            warnings.warn(
                f"{int(nan.sum())} of the {len(mean)} candidates have non-finite "
                f"mean test scores: {[params[i] for i in np.flatnonzero(nan)][:3]}"
                " ... They rank last.",
                UserWarning,
                stacklevel=3,
            )
        if nan.all():
            ranks = np.ones(len(mean), dtype=np.int32)
        else:
            ranked = np.where(nan, np.nanmin(mean) - 1.0, mean)
            order = np.argsort(-ranked, kind="stable")
            ranks = np.empty(len(mean), dtype=np.int32)
            ranks[order] = np.arange(1, len(mean) + 1)
            for i in range(len(mean)):
                ranks[i] = np.min(ranks[ranked == ranked[i]])
        results["rank_test_score"] = ranks
        self.cv_results_ = results
        # the first best candidate in parameter order, as GridSearchCV
        self.best_index_ = int(np.argmin(ranks))
        self.best_params_ = params[self.best_index_]
        self.best_score_ = float(mean[self.best_index_])
        self.alpha_ = self.best_params_["alpha"]
        self.alphas_ = alphas
        self.n_splits_ = n_splits

    def _delegate(self, name, X, tasks):
        check_is_fitted(self, "best_estimator_")
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip
        return getattr(self.best_estimator_, name)(X, tasks=tasks)

    def predict(self, X, tasks=None):
        """Predict with the refitted best model (see its ``predict``)."""
        return self._delegate("predict", X, tasks)


_DOC = """Cross-validated {model}: alpha and penalty strengths over a grid.

    Each fold is one job: the problem (design, centring, loss, and the
    solvers' factorisations) is built once, and for every penalty setting of
    ``penalty_grid`` the alphas are solved as one path, largest first, each
    solution warm-starting the next (each setting starting from the previous
    setting's first solution); the test rows are validated once. With sparse
    X a fold leaves out the features none of its training rows uses, when the
    penalty keeps such rows of the weights at zero, and with a quadratic
    coupling (independent, mean, graph) it merges the features one training
    row uses alone into one column per row: the same solution on shorter
    vectors (user guide: "Cross-validated estimators"). A
    ``GridSearchCV`` over the same grid and folds refits from scratch for every
    candidate. The best candidate (highest mean test score, first in parameter
    order on ties, as ``GridSearchCV``) is refitted on all the data, starting
    from the mean of the folds' solutions at that candidate.

    Parameters
    ----------
    alphas : array-like, default=None
        Values of ``alpha`` to try; None tries ``numpy.logspace(1, -4, 11)``.
    penalty : str or penalty object, default="independent"
        As for :class:`~skmtl.{model}`.
    penalty_grid : dict or list of dicts, default=None
        Grids of the penalty's own parameters, e.g. ``{{"specific": [0.1, 1,
        10]}}`` for ``MeanRegularized``; they appear as ``penalty__<name>`` in
        ``best_params_`` and ``cv_results_``.
    cv : int, cross-validation generator or iterable, default=5
        An int is a :class:`~skmtl.model_selection.TaskStratifiedKFold` with
        that many folds (every task{classes} in every fold). A splitter
        receives ``tasks`` in ``split(X, y, tasks=tasks)``.
    scoring : str, callable or None, default=None
        None uses the estimator's ``score`` with the test rows' tasks; a str
        is turned into a task-aware scorer by
        :func:`skmtl.metrics.make_task_scorer`; a callable is called as
        ``scoring(estimator, X, y, tasks=tasks)``. A scikit-learn scorer
        (``sklearn.metrics.make_scorer``) raises ValueError: it cannot pass
        the rows' tasks to the model; build it with ``make_task_scorer``.
    n_jobs : int, default=None
        Folds run in parallel, one job each, through joblib (any joblib
        backend, e.g. dask, applies).
    refit : bool, default=True
    fit_intercept, task_weights, solver, tol, max_iter, unseen_tasks
        As for :class:`~skmtl.{model}`.
    verbose : int, default=0

    Attributes
    ----------
    best_estimator_ : {model}
    best_params_ : dict
        ``alpha`` and ``penalty__<name>`` of the best candidate.
    best_score_ : float
    best_index_ : int
    alpha_ : float
    alphas_ : ndarray
        The alphas tried, largest first.
    cv_results_ : dict
        As ``GridSearchCV.cv_results_``: ``params``, ``param_<name>``,
        ``split<k>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``.
    fit_time_ : float
        Total seconds spent in the cross-validated paths.
    tasks_ : ndarray
    n_iter_ : int
        Solver iterations of the refit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
"""


class MultiTaskRegressorCV(TaskRegressorMixin, _MultiTaskCVBase):
    __doc__ = _DOC.format(model="MultiTaskRegressor", classes="")
    _estimator_class = MultiTaskRegressor

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # 2-D y: the shared design
        return tags


class MultiTaskClassifierCV(TaskClassifierMixin, _MultiTaskCVBase):
    __doc__ = _DOC.format(model="MultiTaskClassifier", classes=" and class")
    _estimator_class = MultiTaskClassifier

    @property
    def classes_(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    def predict_proba(self, X, tasks=None):
        """Class probabilities of the refitted best model."""
        return self._delegate("predict_proba", X, tasks)

    def decision_function(self, X, tasks=None):
        """Decision values of the refitted best model."""
        return self._delegate("decision_function", X, tasks)
