"""Multi-task linear regression."""

import warnings

import numpy as np
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if

from .._design import task_weighted_means
from .._tasks import TaskIndex, check_task_weights
from .._threads import blas_threads, product_work
from .._validation import check_sample_weight, drop_absent_rows
from ..base import TaskRegressorMixin, restore_on_error
from ..datafits import Quadratic
from ..solvers import solve_gram_system
from ._base import (
    _COMMON_OBJECTIVE_DOC,
    _check_y_finite,
    _MultiTaskLinearBase,
    _Problem,
)
from ._incremental import (
    PARTIAL_FIT_MAX_FEATURES,
    NamedDigest,
    TaskMoments,
    batch_digest,
    check_named_batch,
    quadratic_coupling,
)
from ._laplace import regressor_partial_fit


class MultiTaskRegressor(TaskRegressorMixin, _MultiTaskLinearBase):
    """Multi-task linear regression with a task-coupling penalty.

    Minimises over the weights ``w_t`` and intercepts ``b_t`` of every task::

        sum_t lambda_t sum_{i in t} s_i (y_i - x_i.w_t - b_t)^2 / (2 sum_{i in t} s_i)
            + penalty(W)

    where ``penalty`` couples the tasks (see ``penalty``) and is scaled by
    ``alpha``. The intercepts are not penalised. With one task and
    ``penalty="independent"`` this is ``ElasticNet(l1_ratio=0)``'s objective,
    i.e. ``Ridge(alpha=alpha * n_samples)``.
    %(objective)s
    Parameters
    ----------
    alpha : float, default=0.01
        Overall strength of the penalty (scikit-learn's convention: larger is
        stronger). The losses are per-task means, so ``alpha`` is on the scale
        of ``SGDRegressor`` / ``MultiTaskLasso``'s alpha, not of ``Ridge``'s;
        the default is a mild regularisation on standardised features.
        ``alpha=0`` fits unregularised models (which need enough rows per task
        to be well posed).
    penalty : {"independent", "mean", "graph", "l21", "trace", "relationship"} \
or penalty object, default="independent"
        Task coupling. Aliases build the penalty with default strengths:

        - ``"independent"``: :class:`~skmtl.penalties.Independent`,
          ``alpha / 2 * sum_t ||w_t||^2`` (no coupling);
        - ``"mean"``: :class:`~skmtl.penalties.MeanRegularized`, shared plus
          task-specific weights ``w_t = w_0 + v_t``;
        - ``"graph"``: :class:`~skmtl.penalties.GraphLaplacian`, pulls linked
          tasks together, every pair linked by default;
        - ``"l21"``: :class:`~skmtl.penalties.L21`, joint feature selection as
          in ``MultiTaskLasso``;
        - ``"trace"``: :class:`~skmtl.penalties.TraceNorm`, the trace
          (nuclear) norm of ``W``: task weights in a shared low-rank subspace;
        - ``"relationship"``: :class:`~skmtl.penalties.TaskRelationship`, a
          task covariance learned with the weights (MTRL).

        Pass an object (e.g. ``MeanRegularized(shared=0.1, specific=2.0)``) to
        set its strengths; they are tunable as ``penalty__specific`` etc.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per task.
    task_weights : dict or array-like of shape (n_tasks,), default=None
        Per-task loss weights ``lambda_t``: a dict ``{task: weight}`` (other
        tasks keep 1) or an array in the order of the sorted task labels.
    solver : {"auto", "newton-cg", "lbfgs", "fista", "gram", "kernel"}, \
            default="auto"
        ``"newton-cg"`` (truncated Newton on Hessian-vector products) or
        ``"lbfgs"`` for smooth penalties, ``"fista"`` (accelerated proximal
        gradient with backtracking and restart, on working sets of features
        for L2,1) for any penalty. Two direct solvers for the quadratic
        couplings (independent, mean, graph): ``"gram"`` (squared loss, at most
        256 features; per-task Gram matrices, an exact solve when every pair of
        tasks is coupled alike, a few preconditioned CG steps otherwise) and
        ``"kernel"`` (squared or binary logistic loss, alpha > 0, positive
        definite coupling, at most 2000 rows; Newton on one dual coefficient
        per row, for fewer rows than coefficients as with text). ``"auto"``
        picks a direct solver where its operation count is clearly below
        Newton-CG's (more often along the alpha paths of the cross-validated
        estimators, which share its factorisations), else Newton-CG for
        smooth penalties, and FISTA otherwise. See :class:`skmtl.solvers.SmoothAuto`.
    tol : float, default=1e-4
        Stop when the KKT violation (max-norm of the gradient, or its distance
        to the penalty's subdifferential) falls below ``tol`` times its value
        at the zero model.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    warm_start : bool, default=False
        Start from the previous solution when the tasks and shapes match.
    unseen_tasks : {"error", "shared"}, default="error"
        Rows of tasks not seen in fit raise an error, or (``"shared"``, only
        with a penalty that has a shared component such as ``"mean"``) are
        predicted with the shared weights ``w_0`` and the mean intercept.
    verbose : int, default=0
        Print solver progress.

    Attributes
    ----------
    coef_ : ndarray of shape (n_tasks, n_features)
        Weights of each task, rows in the order of ``tasks_``.
    intercept_ : ndarray of shape (n_tasks,)
    tasks_ : ndarray of shape (n_tasks,)
        Sorted task labels seen in fit. With ``tasks=None`` and 1-D ``y`` there
        is one task, labelled 0; with 2-D ``y`` the tasks are the columns
        ``0 .. n_tasks - 1``.
    shared_coef_, specific_coef_, shared_intercept_ : ndarray
        Shared part ``w_0`` (n_features,) and specific parts ``v_t``
        (n_tasks, n_features), with ``coef_ = shared_coef_ + specific_coef_``;
        only for penalties with a shared component (``"mean"``).
    n_iter_ : int
        Solver iterations.
    kkt_violation_ : float
        Optimality criterion at the solution (see ``tol``).
    kkt_tol_ : float
        The absolute threshold the solver aimed for: ``tol`` times the KKT
        violation of the zero model.
    objective_ : float
        Objective value at the solution.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when X has feature names that are all strings.

    See Also
    --------
    MultiTaskClassifier : the same models with a logistic loss.
    sklearn.linear_model.MultiTaskLasso : shared design, L2,1 penalty.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> tasks = np.repeat(["a", "b", "c"], 20)
    >>> y = X @ [1.0, 2.0, 0.0] + (tasks == "b") + 0.01 * rng.normal(size=60)
    >>> model = MultiTaskRegressor(alpha=0.01, penalty="mean").fit(X, y, tasks=tasks)
    >>> model.coef_.shape
    (3, 3)
    >>> model.predict(X[:2], tasks="b").round(1)
    array([0.9, 0. ])
    """

    # blank lines around the snippet keep its section and the next one
    # sections (numpydoc reads a section header only after a blank line)
    if __doc__ is not None:  # None under python -OO
        __doc__ = __doc__.replace(
            "%(objective)s", "\n" + _COMMON_OBJECTIVE_DOC.strip("\n") + "\n"
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, tasks=None, sample_weight=None, coef_init=None, intercept_init=None
    ):
        """Fit the coupled models.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets. 2-D ``y`` (with ``tasks=None``) is the shared design: every
            column is a task observed on all rows of X.
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task label of each row (any hashable labels); a scalar puts every
            row in one task.
        sample_weight : array-like of shape (n_samples,), default=None
        coef_init : array-like of shape (n_tasks, n_features) or (n_features,), \
default=None
            Starting weights (tasks in the order of the sorted labels; one row
            for every task), as scikit-learn's ``SGDRegressor``. The solution
            does not depend on it (the problem is convex), only the path to it:
            with a small ``max_iter`` it is a fine-tuning start. Takes
            precedence over ``warm_start``.
        intercept_init : array-like of shape (n_tasks,) or float, default=None
            Starting intercepts; None starts from each task's weighted mean of
            ``y`` (the best intercept of the centred model).

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Bad input: the message names the argument (``X``, ``y``, ``tasks``,
            ``sample_weight``, ``coef_init`` ...). A failed fit leaves a fitted
            model as it was.
        """
        return self._fit(X, y, tasks, sample_weight, coef_init, intercept_init)

    @available_if(quadratic_coupling)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, tasks=None, sample_weight=None, batch_id=None):
        """Add rows to the model: ``fit`` on every row seen so far (to 2048 features).

        Each call adds the rows' weighted moments to per-task statistics (the
        weight sum, the means of x and y and the centred co-moments: a
        ``n_features x n_features`` matrix per task), then solves the coupled
        problem from the statistics alone, warm-started from the previous
        ``coef_``. The squared loss is quadratic, so the statistics determine
        the objective exactly: any split of the rows into calls (one row at a
        time included) gives the solution ``fit`` gives on all of them, to the
        solver's tolerance (``tol``, the same KKT criterion; a single exact
        solve for ``"independent"``, ``"mean"`` and the all-pairs
        ``"graph"``). Rows of weight 0 are absent, as in ``fit``.

        Tasks may first appear at any call; ``tasks_`` stays sorted and the
        statistics and coefficients follow. ``task_weights`` is read at every
        call: a dict may name tasks that have not arrived yet, an array must
        have one entry per task seen so far. Each call costs
        ``O(n_rows p^2 + n_tasks p^3)``, whatever the number of rows seen
        before; memory is ``O(n_tasks p^2)``.

        Only the quadratic couplings are supported (``"independent"``,
        ``"mean"``, ``"graph"``, or their objects): L2,1, the trace norm and
        the task relationships are not quadratic, so their solution is not a
        function of these statistics. With those penalties the model has no
        ``partial_fit`` (``hasattr`` is False; calling it raises an
        ``AttributeError`` whose cause says why), as scikit-learn hides
        methods that a setting does not support. A dict ``adjacency`` of
        ``GraphLaplacian`` must name tasks already seen (the penalty refuses
        others): start the stream with a row of each, or use the array form.
        The statistics are kept up to
        ``skmtl.linear_model._incremental.PARTIAL_FIT_MAX_FEATURES`` (2048)
        features (32 MiB per task). Above, ``partial_fit`` is no longer exact:
        it takes the route of :meth:`MultiTaskClassifier.partial_fit` for
        hashed features, an online Laplace summary of the squared loss with
        the diagonal of the centred curvature and the curvature-weighted
        means, ``O(n_tasks p)``. One pass is then approximate, and passes
        over batches named by ``batch_id`` converge to ``fit``'s solution for
        sparse, nearly uncorrelated features (hashed or TF-IDF text).
        Measured on 2100 sparse count features, 8 batches: predictions
        correlated 0.980 with ``fit``'s after one pass and 0.9996 after
        three, coefficients 1.7% from ``fit``'s after eight passes. On dense
        correlated features the diagonal summary does not converge
        (coefficients 50-70% away, predictions correlated 0.94-0.98, after
        eight passes): reduce the features first (``TruncatedSVD``) or use
        ``fit``. ``solver`` is not used: the solve is the Gram system of
        ``solver="gram"`` (above the limit, scipy's trust-region Newton-CG).

        ``fit`` starts over: it discards the statistics, and a
        ``partial_fit`` after ``fit`` starts a new stream (the rows given to
        ``fit`` are not part of it).

        ``batch_id`` names a batch for a loop that passes over the same
        batches several times, as :meth:`MultiTaskClassifier.partial_fit`
        needs to converge. Up to the feature limit the statistics are exact
        after one pass, so a batch given again under its ``batch_id`` is not
        added a second time (the call re-solves with the statistics as they
        are); above it, the batch's earlier expansion is replaced, as for the
        classifier; without
        ``batch_id`` a second pass counts every row twice. The model keeps a
        16-byte digest per named batch.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            2-D ``y`` is the shared design, as in ``fit``; every call of a
            stream must then have the same columns.
        tasks : hashable or array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None
        batch_id : hashable, default=None
            The name of this batch (e.g. its index in the stream): the same
            rows given again under the same name are not counted twice.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Bad input (the message names the argument; a changed number of
            features is refused), an unhashable
            ``batch_id``, or a ``batch_id`` given earlier with other rows. A
            failed call leaves the model and its statistics as they were.
        AttributeError
            With a penalty that is not a quadratic coupling (the method does
            not exist for it).
        """
        # the thread policy (skmtl._threads): the statistics cost n p^2, the
        # solve p^3 per task; above the limit, products with X (Laplace route)
        p = np.shape(X)[-1]
        work = product_work(X, p) + float(p) ** 3
        if p > PARTIAL_FIT_MAX_FEATURES:
            work = product_work(X, 1)
        with restore_on_error(self), blas_threads(work):
            self._partial_fit(X, y, tasks, sample_weight, batch_id)
        return self

    def _partial_fit(self, X, y, tasks, sample_weight, batch_id):
        stream = getattr(self, "_stream", None)
        X, y = self._validate_X_y(X, y, multi_output=True, reset=stream is None)
        _check_y_finite(y)
        shared = y.ndim == 2
        if stream is not None and shared != self._shared_design:
            raise ValueError(
                f"y is {y.ndim}-D but the earlier partial_fit calls had "
                f"{2 if self._shared_design else 1}-D y; a stream keeps one form."
            )
        if shared and tasks is not None:
            raise ValueError(
                f"y has shape {y.shape}: 2-D y means one column per task on a "
                "shared X and cannot be combined with tasks."
            )
        if shared and stream is not None and y.shape[1] != len(self.tasks_):
            raise ValueError(
                f"y has {y.shape[1]} columns but the earlier partial_fit calls "
                f"had {len(self.tasks_)} (one per task)."
            )
        sw = check_sample_weight(sample_weight, X.shape[0])
        if X.shape[1] > PARTIAL_FIT_MAX_FEATURES:
            # no p x p statistics: the diagonal Laplace summary (see docstring)
            regressor_partial_fit(self, X, y, tasks, sw, batch_id, shared)
            return
        batches = dict(getattr(stream, "batches", {}))
        batch = None  # only absent rows, or rows already in the statistics
        if stream is None or np.any(sw > 0):
            X, y, tasks, sw = drop_absent_rows(X, y, tasks, sw)
            seen = None
            if batch_id is not None:
                row_tasks = []  # 2-D y: the columns are the tasks
                if not shared:
                    labels, codes = self._encode_fit_tasks(tasks, len(y))
                    row_tasks = labels[codes]
                digest = batch_digest(X, y, row_tasks, sw)
                seen = check_named_batch(batches, batch_id, digest)
                batches[batch_id] = NamedDigest(digest)
            if seen is None:
                batch = self._batch_moments(X, y, tasks, sw)
        moments = stream if batch is None else batch
        if stream is not None and batch is not None:
            moments = stream.merge(batch)
        # a new object: the stored stream is never changed in place
        moments = moments.with_batches(batches)
        self._solve_moments(moments, shared, X.dtype)

    def _batch_moments(self, X, y, tasks, sw):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            labels, codes = self._encode_fit_tasks(tasks, X.shape[0])
            return TaskMoments.from_batch(X, y, codes, sw, labels)
        # shared design: column j is task j on every row
        codes = np.zeros(X.shape[0], dtype=np.intp)
        out = None
        for j in range(y.shape[1]):
            col = TaskMoments.from_batch(X, y[:, j], codes, sw, np.array([j]))
            out = col if out is None else out.merge(col)
        return out

    def _solve_moments(self, moments, shared, dtype):
        """Solve the coupled problem from ``moments`` and store the model."""
        labels = moments.task_labels
        penalty = self._resolve_fit_penalty(self.penalty, labels)
        bound = penalty.bind(labels, self.alpha)
        form = bound.quadratic_form if bound.is_smooth else None
        if form is None:
            raise ValueError(
                "partial_fit needs a quadratic task coupling (penalty="
                "'independent', 'mean' or 'graph'); "
                f"{type(penalty).__name__} is not quadratic, so its solution is "
                "not a function of the per-task statistics. Use fit."
            )
        alpha, M = form
        task_w = self.task_weights
        if isinstance(task_w, dict):
            # tasks that have not arrived yet keep their weight for later
            known = set(labels.tolist())
            task_w = {k: v for k, v in task_w.items() if k in known}
        task_w = check_task_weights(task_w, labels)
        A, R, intercept, loss_value = moments.system(task_w, self.fit_intercept)

        # warm start: the previous weights, new tasks at 0
        W0 = np.zeros(R.shape)
        W_prev = getattr(self, "_W", None)
        if getattr(self, "_stream", None) is not None and W_prev is not None:
            pos = TaskIndex(labels).transform(self.tasks_, len(self.tasks_))
            W0[:, pos] = W_prev
        scale = float(np.max(np.abs(R), initial=0.0))
        tol_abs = self.tol * (scale if scale > 0 else 1.0)
        W, n_iter, kkt = solve_gram_system(A, R, alpha, M, W0, tol_abs, self.max_iter)
        if not kkt <= tol_abs:
            warnings.warn(
                f"partial_fit: the Gram solve stopped at a KKT violation of "
                f"{kkt:.3g} above the tolerance {tol_abs:.3g} after {n_iter} "
                "iterations; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        b = intercept(W)
        state = self._make_state(
            {"tasks_": labels, "_shared_design": shared},
            penalty,
            bound,
            W,
            b,
            dtype,
            n_iter=n_iter,
            kkt_violation=kkt,
            kkt_tol=tol_abs,
            objective=loss_value(W) + bound.value(W),
        )
        state["_stream"] = moments
        self._set_state(state)

    def _prepare(self, X, y, tasks, sample_weight):
        X, y = self._validate_X_y(X, y, multi_output=True)
        _check_y_finite(y)
        sw = check_sample_weight(sample_weight, X.shape[0])
        X, y, tasks, sw = drop_absent_rows(X, y, tasks, sw)
        n, p = X.shape
        if y.ndim == 2:
            if tasks is not None:
                raise ValueError(
                    f"y has shape {y.shape}: 2-D y means one column per task on a "
                    "shared X and cannot be combined with tasks; pass 1-D y with "
                    "tasks for the stacked form."
                )
            n_tasks = y.shape[1]
            task_labels = np.arange(n_tasks)
            codes = None
            y_rows = np.ascontiguousarray(y.T).ravel()
            sw_rows = np.tile(sw, n_tasks)
        else:
            task_labels, codes = self._encode_fit_tasks(tasks, n)
            y_rows, sw_rows = y, sw
        return _Problem(
            X,
            codes,
            task_labels,
            y_rows.astype(np.float64),
            sw_rows if codes is None else sw,
            Quadratic(),
            (p, len(task_labels)),
            _shared_design=codes is None,
        )

    def _initial_intercept(self, y_rows, row_weights, design, b_shape):
        # The best intercept of the zero model: each task's weighted mean of y.
        if not self.fit_intercept:
            return np.zeros(b_shape)
        return task_weighted_means(y_rows, row_weights, design.row_codes, b_shape[0])

    def predict(self, X, tasks=None):
        """Predict with each row's task model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task of each row. May be None when the model has a single task; for
            a model fitted on 2-D ``y``, None predicts every task.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_tasks)
        """
        if tasks is None and getattr(self, "_shared_design", False):
            X = self._validate_X_predict(X)
            with blas_threads(product_work(X, self._W.shape[1])):
                pred = X @ self._W.astype(X.dtype, copy=False)
            pred = pred + self._b  # zero when fitted without intercepts
            return np.asarray(pred, dtype=X.dtype)
        scores, _ = self._raw_scores(X, tasks)
        return scores.astype(self.coef_.dtype, copy=False)
