"""Common machinery of the multi-task linear estimators.

An estimator validates its input (``_prepare``, one per family), builds the
loss (design, centring, per-row weights, datafit), hands it with the penalty
path to :func:`skmtl.solvers.solve_path` and stores the fitted attributes. It
never reaches into a solver: the solver, its strategy and its BLAS threads are
chosen in :mod:`skmtl.solvers`.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._design import TaskDesign, internal_coef, public_coef
from .._loss import SmoothLoss, task_scores
from .._tasks import check_task_weights
from .._threads import blas_threads, product_work
from .._validation import per_task_row_weights
from ..base import TaskEstimatorMixin, restore_on_error
from ..penalties import PENALTY_ALIASES, resolve_penalty
from ..solvers import SOLVER_CONSTRAINTS, absolute_tolerance, solve_path

__all__ = ["fit_path"]

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


def _check_y_finite(y):
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity.")


class _Problem:
    """A validated training set, ready to become a loss.

    ``codes`` is None for the shared design (2-D ``y``: every task sees every
    row; ``y_rows`` and ``sample_weight`` are then stacked task by task).
    ``attributes`` are fitted attributes fixed by the data (``classes_``,
    ``task_class_mask_``), stored only once the fit succeeds.
    """

    def __init__(
        self,
        X,
        codes,
        task_labels,
        y_rows,
        sample_weight,
        datafit,
        w_shape,
        task_scale=None,
        **attrs,
    ):
        self.X, self.codes, self.task_labels = X, codes, task_labels
        self.y_rows, self.sample_weight = y_rows, sample_weight
        self.datafit, self.w_shape = datafit, w_shape
        # factors on the task weights (0: the task's rows leave the loss)
        self.task_scale = task_scale
        self.attributes = attrs


class _RowsCache:
    """Prediction rows validated once and grouped by task (see :func:`fit_path`)."""

    def __init__(self, X, tasks, design, codes):
        self.X, self.tasks, self.design, self.codes = X, tasks, design, codes

    def serves(self, X, tasks):
        return X is self.X and tasks is self.tasks


class _MultiTaskLinearBase(TaskEstimatorMixin, BaseEstimator):
    """Parameters, fit skeleton and prediction plumbing shared by the estimators."""

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
    def _validate_X_y(self, X, y, multi_output, reset=True, y_numeric=None):
        return validate_data(
            self,
            X,
            y,
            reset=reset,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            multi_output=multi_output,
            y_numeric=multi_output if y_numeric is None else y_numeric,
        )

    def _prepare(self, X, y, tasks, sample_weight):  # pragma: no cover - interface
        """Validate a training set: a :class:`_Problem`."""
        raise NotImplementedError

    def _fit(self, X, y, tasks, sample_weight, coef_init=None, intercept_init=None):
        """``fit``: one point of a path; the estimator changes only on success."""
        with restore_on_error(self):
            problem = self._prepare(X, y, tasks, sample_weight)
            [state] = self._fit_states(
                problem, [(self.penalty, self.alpha)], coef_init, intercept_init
            )
            self._set_state(state)
            # fit starts over: a later partial_fit begins a new stream
            self.__dict__.pop("_stream", None)
        return self

    def _fit_states(self, problem, path, coef_init=None, intercept_init=None):
        """Fitted state (a dict of attributes) at each point of ``path``."""
        task_labels = problem.task_labels
        n_tasks = len(task_labels)
        X, codes = problem.X, problem.codes
        design = TaskDesign(X, codes, n_tasks)
        task_w = check_task_weights(self.task_weights, task_labels)
        if problem.task_scale is not None:
            task_w = task_w * problem.task_scale
        if codes is None:
            row_codes = np.repeat(np.arange(n_tasks), X.shape[0])
            rw = per_task_row_weights(
                problem.sample_weight, row_codes, task_w, task_labels
            )
            y_rows = problem.y_rows
        else:
            rw = design.sort_rows(
                per_task_row_weights(problem.sample_weight, codes, task_w, task_labels)
            )
            y_rows = design.sort_rows(problem.y_rows)
        if self.fit_intercept:
            design.center(rw)
        datafit = problem.datafit
        datafit.initialize(y_rows, rw, **self._datafit_extra(problem, design))
        loss = SmoothLoss(design, datafit, self.fit_intercept)

        w_shape = problem.w_shape
        b_zero = self._initial_intercept(y_rows, rw, design, (n_tasks,) + w_shape[2:])
        W0, b0 = self._start(problem, design, b_zero, coef_init, intercept_init)
        tol_abs = absolute_tolerance(loss, np.zeros(w_shape), b_zero, self.tol)

        # one resolved (cloned) penalty per distinct setting of the path
        resolved = {}
        for spec, _ in path:
            if id(spec) not in resolved:
                resolved[id(spec)] = self._resolve_fit_penalty(spec, task_labels)
        solved_path = [(resolved[id(spec)], alpha) for spec, alpha in path]
        # a resolved penalty (a clone) of a single point is handed to its state;
        # one shared by several points is cloned once more for each
        n_points = {}
        for spec, _ in solved_path:
            n_points[id(spec)] = n_points.get(id(spec), 0) + 1
        # a penalty on a sum of parts restarts from the fitted parts (a warm
        # start, coef_init=coef_), not from W put in its first part; the
        # solver uses them only when they sum to the start
        parts = None
        if self.warm_start or coef_init is not None:
            parts = getattr(self, "_components", None)
        if parts is not None:
            first = solved_path[0][0].bind(task_labels, solved_path[0][1])
            if parts.shape[0] != getattr(first, "n_components", 1):
                parts = None
        results, bounds = solve_path(
            loss,
            solved_path,
            task_labels,
            W0,
            b0,
            tol_abs,
            solver=self.solver,
            max_iter=self.max_iter,
            verbose=self.verbose,
            memory=parts,
        )
        states = []
        for (penalty, _), result, bound in zip(solved_path, results, bounds):
            states.append(
                self._make_state(
                    {**problem.attributes, "tasks_": task_labels},
                    penalty,
                    bound,
                    result.W,
                    self._finalize_intercept(result.b, problem),
                    X.dtype,
                    n_iter=result.n_iter,
                    kkt_violation=result.kkt_violation,
                    kkt_tol=tol_abs,
                    objective=result.objective,
                    components=result.components,
                    owns_penalty=n_points[id(penalty)] == 1,
                )
            )
        return states

    def _make_state(
        self, attributes, penalty, bound, W, b, dtype, *, n_iter, kkt_violation,
        kkt_tol, objective, components=None, owns_penalty=False,
    ):  # fmt: skip
        """The fitted attributes of the solution ``(W, b)`` (a dict).

        ``components``: the stacked parts of a penalty on a sum of parts
        (``W`` is their sum); its ``fitted_attributes`` take them.
        ``owns_penalty``: ``penalty`` is a clone made for this state alone,
        kept as ``penalty_`` without another clone (``get_params`` inspects
        the signature: ~30 us a clone).
        """
        state = dict(attributes)
        if not self.fit_intercept:
            # predict adds _b whatever fit_intercept is set to later
            b = np.zeros_like(b)
        state.update(
            _W=W,
            _b=b,
            # public layout: tasks first, as scikit-learn's multi-output models
            coef_=public_coef(W).astype(dtype, copy=False),
            intercept_=b.astype(dtype, copy=False),
            n_iter_=n_iter,
            kkt_violation_=kkt_violation,
            kkt_tol_=kkt_tol,
            objective_=objective,
            # each model owns its penalty: never the parameter, never shared
            penalty_=penalty if owns_penalty else clone(penalty, safe=False),
            n_features_in_=self.n_features_in_,
            # the stacked parts (float64) of a penalty on a sum of parts: the
            # start of a warm-started refit
            _components=components,
        )
        if hasattr(self, "feature_names_in_"):
            state["feature_names_in_"] = self.feature_names_in_
        # floating attributes in the data's dtype, as coef_; counts stay
        # as the penalty gives them (an int rank_, say)
        extra = {}
        variables = W if components is None else components
        for name, value in bound.fitted_attributes(variables, b).items():
            arr = np.asarray(value)
            extra[name] = (
                arr.astype(dtype, copy=False) if arr.dtype.kind == "f" else value
            )
        state.update(extra)
        state["_penalty_attributes"] = tuple(extra)
        return state

    def _set_state(self, state):
        # attributes a previous fit's penalty defined and this one does not
        for name in getattr(self, "_penalty_attributes", ()):
            if name not in state and hasattr(self, name):
                delattr(self, name)
        for name, value in state.items():
            setattr(self, name, value)
        self._rows_cache = None  # rows validated for the previous model

    def _resolve_fit_penalty(self, spec, task_labels):
        penalty = resolve_penalty(spec)
        if self.unseen_tasks == "shared":
            bound = penalty.bind(task_labels, 1.0)
            if not bound.shared_component:
                raise ValueError(
                    "unseen_tasks='shared' needs a penalty with a shared component "
                    f"(penalty='mean'); {type(penalty).__name__} has none."
                )
        return penalty

    def _start(self, problem, design, b_zero, coef_init, intercept_init):
        """Starting point ``(W0, b0)``, intercepts in the centred parametrisation.

        ``coef_init`` / ``intercept_init`` (public layout) first, else the
        previous solution with ``warm_start=True`` when tasks and shapes match,
        else zero weights with the zero model's best intercept.
        """
        w_shape, task_labels = problem.w_shape, problem.task_labels
        b_shape = b_zero.shape
        if not self.fit_intercept:
            b_zero = np.zeros_like(b_zero)
        if coef_init is None and intercept_init is None and self.warm_start:
            W_prev = getattr(self, "_W", None)
            if (
                W_prev is not None
                and W_prev.shape == w_shape
                and np.array_equal(
                    np.asarray(self.tasks_, dtype=object),
                    np.asarray(task_labels, dtype=object),
                )
            ):
                W0 = W_prev.copy()
                if not self.fit_intercept:
                    return W0, b_zero
                return W0, design.intercept_to_centered(W0, self._b.copy())
        W0 = np.zeros(w_shape)
        if intercept_init is not None and not self.fit_intercept:
            raise ValueError(
                "intercept_init is given but fit_intercept=False: the intercepts "
                "are fixed at 0."
            )
        if coef_init is not None:
            W0 = internal_coef(
                _check_init(coef_init, public_coef(W0).shape, "coef_init")
            ).copy()
        if intercept_init is None:
            # for the centred design, the zero model's best intercept is a
            # good start whatever the weights
            return W0, b_zero.copy()
        b = _check_init(intercept_init, b_shape, "intercept_init")
        return W0, design.intercept_to_centered(W0, b)

    def _datafit_extra(self, problem, design):
        return {}

    def _finalize_intercept(self, b, problem):
        """The fitted intercept: 0 without intercept (whatever the start)."""
        return b if self.fit_intercept else np.zeros_like(b)

    def _initial_intercept(self, y_rows, row_weights, design, b_shape):
        return np.zeros(b_shape)

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
        return self._encode_predict_tasks(
            tasks, n_samples, allow_unseen=self.unseen_tasks == "shared"
        )

    def _prepare_rows(self, X, tasks):
        """Validated, task-grouped rows of ``X`` for repeated predictions, or None.

        Rows of unseen tasks are not prepared (they use the shared part).
        """
        if tasks is None and getattr(self, "_shared_design", False):
            return None  # 2-D y: predict(X) predicts every task, no grouping
        Xv = self._validate_X_predict(X)
        codes = self._predict_codes(tasks, Xv.shape[0])
        if np.any(codes < 0):
            return None
        return _RowsCache(X, tasks, TaskDesign(Xv, codes, len(self.tasks_)), codes)

    def _n_outputs(self):
        """Scores per row of one task (1, or the number of classes)."""
        return int(np.prod(self._W.shape[2:], dtype=np.int64))

    def _raw_scores(self, X, tasks):
        """Linear scores per row (n_samples,) or (n_samples, n_classes)."""
        cache = getattr(self, "_rows_cache", None)
        if cache is not None and cache.serves(X, tasks):
            b = self._b
            design = cache.design
            with blas_threads(design.product_work(self._n_outputs())):
                return design.unsort_rows(design.forward(self._W, b)), cache.codes
        X = self._validate_X_predict(X)
        codes = self._predict_codes(tasks, X.shape[0])
        W, b = self._W, self._b
        if np.any(codes < 0):
            # unseen tasks fall back to the fitted shared part
            # (unseen_tasks="shared"): w_0 and the shared intercept
            if not hasattr(self, "shared_coef_"):
                raise ValueError(
                    "unseen_tasks='shared' needs a model fitted with a shared "
                    f"component (penalty='mean'); this one was fitted with "
                    f"{type(self.penalty_).__name__}: refit it."
                )
            w0 = internal_coef(np.asarray(self.shared_coef_, dtype=np.float64))
            b0 = np.asarray(self.shared_intercept_, dtype=np.float64)
            W = np.concatenate([W, w0[:, None]], axis=1)
            b = np.concatenate([b, b0[None]], axis=0)
            codes = np.where(codes < 0, W.shape[1] - 1, codes)
        # the thread policy (skmtl._threads), bounded by one product with all of X
        with blas_threads(product_work(X, self._n_outputs())):
            return task_scores(X, codes, W, b), codes


def _check_init(value, shape, name):
    """An array of ``shape``, or ``shape[1:]`` or a scalar repeated for each task."""
    if np.iscomplexobj(value):
        raise ValueError(f"{name} must be real, got complex values.")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if (arr.shape == shape[1:] or arr.ndim == 0) and arr.shape != shape:
        arr = np.broadcast_to(arr, shape).copy()
    if arr.shape != shape:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected {shape} (n_tasks first, "
            f"in the order of the sorted task labels) or {shape[1:]} (the same "
            "start for every task)."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def fit_path(
    estimator,
    X,
    y,
    tasks=None,
    sample_weight=None,
    *,
    alphas,
    penalties=None,
    X_eval=None,
    tasks_eval=None,
):
    """Fit a multi-task linear model along alphas (and penalty settings).

    The problem (design, centring, loss, and what the solvers factorise) is
    built once; every point is solved warm-started from the previous one (see
    :func:`skmtl.solvers.solve_path`). This is what the cross-validated
    estimators run on each fold.

    Parameters
    ----------
    estimator : MultiTaskRegressor or MultiTaskClassifier
        Its parameters define the model; it is not modified (nor fitted).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    tasks : hashable or array-like of shape (n_samples,), default=None
    sample_weight : array-like of shape (n_samples,), default=None
    alphas : sequence of float
        Strengths, solved in the order given (largest first is fastest).
    penalties : list of penalty objects, default=None
        Penalty settings (outermost loop); None uses ``estimator.penalty``.
        Each setting's first alpha starts from the previous setting's first
        solution.
    X_eval, tasks_eval : default=None
        Rows that will be predicted at every point (a test fold): validated
        and grouped by task once; ``predict`` & co. of the yielded models on
        this very ``X_eval`` (and ``tasks_eval``) object skip that work.

    Yields
    ------
    model : estimator's class
        A new fitted model per ``(penalty, alpha)``, penalties outermost,
        whose ``alpha`` and ``penalty`` parameters are that point's (the
        penalty a copy of the setting given: models share no state).

    Raises
    ------
    TypeError
        When ``estimator`` is not a skmtl multi-task linear estimator.
    ValueError
        Invalid parameters of ``estimator``, ``alphas`` not finite and >= 0,
        or bad input (as ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.linear_model import fit_path
    >>> rng = np.random.default_rng(0)
    >>> X, tasks = rng.normal(size=(40, 3)), np.repeat(["a", "b"], 20)
    >>> y = X @ [1.0, -1.0, 0.5] + 0.1 * rng.normal(size=40)
    >>> models = list(fit_path(MultiTaskRegressor(), X, y, tasks, alphas=[1, 0.1]))
    >>> [m.alpha for m in models]
    [1.0, 0.1]
    """
    if not isinstance(estimator, _MultiTaskLinearBase):
        raise TypeError(
            "fit_path needs a skmtl multi-task linear estimator "
            f"(MultiTaskRegressor, MultiTaskClassifier), got {type(estimator)}."
        )
    base = clone(estimator)
    base._validate_params()
    try:
        alphas = np.asarray(alphas, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alphas must be a sequence of numbers: {exc}") from None
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
        raise ValueError(
            f"alphas must be a non-empty sequence of finite values >= 0, got {alphas}."
        )
    specs = [base.penalty] if penalties is None else list(penalties)
    if not specs:
        raise ValueError("penalties must name at least one penalty setting.")
    problem = base._prepare(X, y, tasks, sample_weight)
    path = [(spec, float(alpha)) for spec in specs for alpha in alphas]
    rows = None
    for (spec, alpha), state in zip(path, base._fit_states(problem, path)):
        # the model's parameter is a copy of the setting: models share nothing
        penalty = spec if isinstance(spec, str) else clone(spec, safe=False)
        model = clone(base).set_params(alpha=alpha, penalty=penalty)
        model._set_state(state)
        if X_eval is not None:
            if rows is None:
                rows = model._prepare_rows(X_eval, tasks_eval)
            model._rows_cache = rows
        yield model
