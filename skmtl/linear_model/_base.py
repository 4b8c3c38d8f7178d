"""Common machinery of the multi-task linear estimators.

The estimators validate input, encode tasks, build (datafit, penalty, solver),
call ``solve`` and store fitted attributes. They never reach into a solver.
"""

from functools import lru_cache, partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from .._design import SmoothLoss, TaskDesign, task_scores
from .._tasks import TaskIndex, check_task_weights, encode_tasks
from .._validation import per_task_row_weights
from ..penalties import PENALTY_ALIASES, resolve_penalty
from ..solvers import (
    FISTA,
    LBFGS,
    GramSolver,
    KernelNewton,
    NewtonCG,
    SmoothAuto,
    solve_by_task,
    solve_working_set,
)

_SOLVERS = {
    "lbfgs": LBFGS,
    "fista": FISTA,
    "newton-cg": NewtonCG,
    "gram": GramSolver,
    "kernel": KernelNewton,
}

#: constraints of the solver parameters, shared by every estimator that
#: builds a core model (one place to edit when a solver is added)
SOLVER_CONSTRAINTS = {
    "solver": [StrOptions({"auto", *_SOLVERS})],
    "tol": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
}

_COMMON_OBJECTIVE_DOC = """
    Tasks and normalisation
    -----------------------
    Row ``i`` belongs to task ``t(i)``. The loss of task ``t`` is the
    sample-weighted mean of its rows' losses,
    ``L_t = sum_{i in t} s_i * loss_i / sum_{i in t} s_i``, and the objective is
    ``sum_t lambda_t * L_t + penalty(W)``, with ``lambda_t`` the
    ``task_weights`` (1 by default). The per-task mean makes every task count
    the same whatever its size (the usual choice of the multi-task literature:
    otherwise a large task swamps the coupling of small ones) and keeps the
    meaning of ``alpha`` independent of the number of rows, like
    scikit-learn's ``Lasso`` / ``MultiTaskLasso``. Dividing by the weights' sum
    makes ``sample_weight`` equivalent to repeating rows and invariant to a
    global rescaling.
"""


@lru_cache(maxsize=1)
def _blas_controller():
    # Inspecting the loaded libraries takes ~1.5 ms: do it once per process.
    return ThreadpoolController()


def _check_y_finite(y):
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity.")


def _next_start(previous, current, path, k):
    """Starting point for ``path[k + 1]`` from the solutions at ``k - 1`` and ``k``.

    The solutions of smooth problems move smoothly with log(alpha): a linear
    extrapolation in log(alpha) (a predictor step of path following) starts
    closer than the last solution alone. Non-smooth (sparse) paths only reuse
    the last solution, so that zeros stay zeros.
    """
    if previous is None or k + 1 >= len(path) or min(path[k - 1 : k + 2]) <= 0:
        return current
    step = np.log(path[k + 1] / path[k]) / np.log(path[k] / path[k - 1])
    if not np.isfinite(step) or abs(step) > 2:
        return current
    return tuple(c + step * (c - p) for c, p in zip(current, previous))


class _MultiTaskLinearBase(BaseEstimator):
    """Parameters, fit skeleton and prediction plumbing shared by the estimators."""

    # Metadata routing: ``tasks`` is requested at class level so that
    # meta-estimators route it without set_*_request calls.
    __metadata_request__fit = {"tasks": True}
    __metadata_request__predict = {"tasks": True}
    __metadata_request__score = {"tasks": True}

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "penalty": [StrOptions(set(PENALTY_ALIASES)), HasMethods(["bind"])],
        "fit_intercept": ["boolean"],
        "task_weights": [dict, "array-like", None],
        **SOLVER_CONSTRAINTS,
        "warm_start": ["boolean"],
        "unseen_tasks": [StrOptions({"error", "shared"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        alpha=0.01,
        *,
        penalty="independent",
        fit_intercept=True,
        task_weights=None,
        solver="auto",
        tol=1e-4,
        max_iter=1000,
        warm_start=False,
        unseen_tasks="error",
        verbose=0,
    ):
        self.alpha = alpha
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.task_weights = task_weights
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.unseen_tasks = unseen_tasks
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ fit
    def _validate_X_y(self, X, y, multi_output):
        return validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            multi_output=multi_output,
            y_numeric=multi_output,
        )

    def _encode_fit_tasks(self, tasks, n_samples):
        if tasks is None:
            tasks = 0  # tasks=None with 1-D y: a single task, labelled 0
        return encode_tasks(tasks, n_samples)

    def _solve(
        self,
        X,
        codes,
        task_labels,
        y_rows,
        sample_weight,
        datafit,
        w_shape,
        alphas=None,
    ):
        """Build the loss and penalty, pick a solver and run it.

        ``codes=None`` is the shared design (every task sees every row of X);
        ``y_rows`` and ``sample_weight`` are then already stacked task by task.
        With ``alphas`` (a sequence), the problem is built once and solved
        along the path, each solution warm-starting the next (largest alpha
        first is fastest); an entry may also be a ``(penalty, alpha)`` pair,
        consecutive entries with the same penalty object forming one path.
        Returns the solver result and the user-facing penalty object (lists of
        them for a path).
        """
        self._rows_cache = None  # rows validated for the previous model
        n_tasks = len(task_labels)
        design = TaskDesign(X, codes, n_tasks)
        task_w = check_task_weights(self.task_weights, task_labels)
        if codes is None:
            row_codes = np.repeat(np.arange(n_tasks), X.shape[0])
            rw = per_task_row_weights(sample_weight, row_codes, task_w, task_labels)
        else:
            rw = design.sort_rows(
                per_task_row_weights(sample_weight, codes, task_w, task_labels)
            )
            y_rows = design.sort_rows(y_rows)
        if self.fit_intercept:
            design.center(rw)
        datafit.initialize(y_rows, rw, **self._datafit_extra(design, codes))
        loss = SmoothLoss(design, datafit, self.fit_intercept)

        b_shape = (n_tasks,) + tuple(w_shape[2:])
        b_init = self._initial_intercept(y_rows, rw, design, b_shape)
        W0, b0 = np.zeros(w_shape), b_init
        if self.warm_start and getattr(self, "_W", None) is not None:
            if self._W.shape == w_shape and np.array_equal(
                np.asarray(self.tasks_, dtype=object),
                np.asarray(task_labels, dtype=object),
            ):
                W0 = self._W.copy()
                b0 = design.intercept_to_centered(W0, self._b.copy())
        # Tolerance relative to the gradient at the zero model (with its best
        # intercept), so that ``tol`` means the same whatever the scale of y.
        _, gW0, _ = loss.value_grad(np.zeros(w_shape), b_init)
        scale = float(np.max(np.abs(gW0), initial=0.0))
        tol_abs = self.tol * (scale if scale > 0 else 1.0)
        self.kkt_tol_ = tol_abs

        if alphas is None:
            path = [(self.penalty, float(self.alpha))]
        else:
            path = [a if isinstance(a, tuple) else (self.penalty, a) for a in alphas]
        results, penalties = [], []
        previous, memory, first, current = None, None, None, None
        for k, (spec, alpha) in enumerate(path):
            alpha = float(alpha)
            if spec is not current:
                # a new penalty setting: start from the first solution of the
                # previous one (the largest alpha), not from its last
                current, penalty = spec, self._resolve_fit_penalty(spec)
                alphas_g = [float(a) for s, a in path if s is spec]
                if first is not None:
                    W0, b0, memory = first
                previous, first, k0 = None, None, k
            bound = penalty.bind(task_labels, alpha)
            result = self._run_solver(
                loss, bound, W0, b0, tol_abs, memory, on_path=len(path) > 1
            )
            memory = getattr(result, "memory", None)
            W0, b0 = (result.W, result.b)
            if first is None:
                first = (W0, b0, memory)
            if bound.is_smooth:
                W0, b0 = _next_start(previous, (W0, b0), alphas_g, k - k0)
            previous = (result.W, result.b)
            result.b = design.intercept_from_centered(result.W, result.b)
            results.append(result)
            penalties.append(penalty)
        if alphas is None:
            return results[0], penalties[0]
        return results, penalties

    def _resolve_fit_penalty(self, spec):
        penalty = resolve_penalty(spec)
        if self.unseen_tasks == "shared" and not hasattr(penalty, "split"):
            raise ValueError(
                "unseen_tasks='shared' needs a penalty with a shared component "
                f"(penalty='mean'); {type(penalty).__name__} has none."
            )
        return penalty

    def _run_solver(self, loss, bound, W0, b0, tol_abs, memory=None, on_path=False):
        if self.solver != "auto":
            solver = _SOLVERS[self.solver](max_iter=self.max_iter, verbose=self.verbose)
        elif bound.is_smooth:
            # a direct solver where it pays (more often along a path), else
            # Newton-CG
            solver = SmoothAuto(self.max_iter, self.verbose, path=on_path)
        else:
            solver = FISTA(max_iter=self.max_iter, verbose=self.verbose)
        design = loss.design
        if getattr(bound, "separable", False) and design.n_tasks > 1:
            # No coupling: one small problem per task beats one large one.
            strategy = partial(solve_by_task, solver)
        elif getattr(bound, "feature_separable", False) and design.n_features > 50:
            # Sparse solutions: solve on working sets of features.
            strategy = partial(solve_working_set, solver)
        else:
            strategy = solver.solve
        per_task = getattr(strategy, "func", None) is solve_by_task
        if memory is not None:
            # curvature pairs of the previous alpha (L-BFGS along a path)
            strategy = partial(strategy, memory=memory)
        if design.mode == "blockdiag" or per_task:
            # Sparse products are single-threaded and per-task problems are
            # small: BLAS then only sees small vector operations (numpy,
            # L-BFGS), where OpenBLAS threads cost far more than they bring
            # (10x slower on a busy 2-core machine). Dense products on one
            # large X keep their threads.
            with _blas_controller().limit(limits=1, user_api="blas"):
                return strategy(loss, bound, W0, b0, tol_abs)
        return strategy(loss, bound, W0, b0, tol_abs)

    def _fit_path(
        self, X, y, tasks=None, sample_weight=None, *, alphas, penalties=None
    ):
        """Fit along ``alphas`` on one problem; yield the model at each alpha.

        Used by the cross-validated estimators: the design, centring, datafit
        and what the solvers cache (Gram matrices, factorisations) are built
        once; each solution warm-starts the next. With ``penalties`` (a list of
        penalty objects) the path runs over every (penalty, alpha) pair,
        penalties outermost, the first alpha of each setting warm-started from
        the first of the previous one. After each ``yield`` the estimator is
        fitted at that point (its ``alpha`` and ``penalty`` parameters are set
        accordingly).
        """
        alphas = [float(a) for a in alphas]
        specs = [self.penalty] if penalties is None else list(penalties)
        path = [(spec, a) for spec in specs for a in alphas]
        results, used, task_labels, dtype = self._fit_impl(
            X, y, tasks, sample_weight, alphas=path
        )
        for (spec, alpha), result, penalty in zip(path, results, used):
            self.alpha, self.penalty = alpha, spec
            self._store_fit(result, penalty, task_labels, dtype)
            yield self

    def _datafit_extra(self, design, codes):
        return {}

    def _initial_intercept(self, y_rows, row_weights, design, b_shape):
        return np.zeros(b_shape)

    def _store_fit(self, result, penalty, task_labels, dtype):
        W, b = result.W, result.b
        self._W, self._b = W, b
        self.tasks_ = task_labels
        # public layout: tasks first, as scikit-learn's multi-output models
        self.coef_ = np.moveaxis(W, 0, -1).astype(dtype, copy=False)
        self.intercept_ = b.astype(dtype, copy=False)
        self.n_iter_ = result.n_iter
        self.kkt_violation_ = result.kkt_violation
        self.objective_ = result.objective
        self.penalty_ = penalty
        if hasattr(penalty, "split"):
            w0, V = penalty.split(W)
            self.shared_coef_ = np.moveaxis(w0, 0, -1).astype(dtype, copy=False)
            self.specific_coef_ = np.moveaxis(V, 0, -1).astype(dtype, copy=False)
            self.shared_intercept_ = b.mean(axis=0).astype(dtype, copy=False)

    # -------------------------------------------------------------- predict
    def _validate_X_predict(self, X):
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            reset=False,
        )

    def _predict_codes(self, tasks, n_samples):
        if tasks is None:
            if len(self.tasks_) == 1:
                return np.zeros(n_samples, dtype=np.intp)
            raise ValueError(
                f"tasks is required: this model was fitted on {len(self.tasks_)} "
                "tasks. Pass tasks=... (one label per row or a scalar). In "
                "GridSearchCV, cross_validate or Pipeline, either enable metadata "
                "routing (sklearn.set_config(enable_metadata_routing=True)), pass "
                "tasks as a parameter and score with skmtl.metrics.make_task_scorer, "
                "or keep the task id in a column of X and wrap the model in "
                "skmtl.pipeline.TaskColumnEstimator (column mode)."
            )
        allow = self.unseen_tasks == "shared"
        return TaskIndex(self.tasks_).transform(tasks, n_samples, allow_unseen=allow)

    def _cache_rows(self, X, tasks):
        """Validate rows once for repeated predictions on the same ``X`` object.

        Cross-validation scores the same test rows at every point of a path:
        after this, ``predict`` & co. on this very ``X`` (and ``tasks``) object
        skip the validation and reuse the task-grouped design of the rows.
        The model must be fitted; rows of unseen tasks are not cached.
        """
        self._rows_cache = None
        Xv = self._validate_X_predict(X)
        codes = self._predict_codes(tasks, Xv.shape[0])
        if np.all(codes >= 0):
            design = TaskDesign(Xv, codes, len(self.tasks_))
            self._rows_cache = (X, tasks, design, codes)

    def _raw_scores(self, X, tasks):
        """Linear scores per row (n_samples,) or (n_samples, n_classes)."""
        cache = getattr(self, "_rows_cache", None)
        if cache is not None and X is cache[0] and tasks is cache[1]:
            design, codes = cache[2], cache[3]
            b = self._b if self.fit_intercept else np.zeros_like(self._b)
            return design.unsort_rows(design.forward(self._W, b)), codes
        X = self._validate_X_predict(X)
        codes = self._predict_codes(tasks, X.shape[0])
        W, b = self._W, self._b
        if np.any(codes < 0):
            # unseen tasks fall back to the shared component (unseen_tasks="shared")
            w0, _ = self.penalty_.split(W)
            W = np.concatenate([W, w0[:, None]], axis=1)
            b = np.concatenate([b, b.mean(axis=0, keepdims=True)], axis=0)
            codes = np.where(codes < 0, W.shape[1] - 1, codes)
        if not self.fit_intercept:
            b = np.zeros_like(b)
        return task_scores(X, codes, W, b), codes
