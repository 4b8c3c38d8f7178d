"""Multi-task logistic regression (binary and multinomial)."""

import warnings

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import _fit_context
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from .._threads import blas_threads, product_work
from .._validation import check_class_labels, check_sample_weight, drop_absent_rows
from ..base import ScoreClassifierMixin, TaskClassifierMixin, restore_on_error
from ..datafits import Logistic, Multinomial
from ._base import (
    _COMMON_OBJECTIVE_DOC,
    _MultiTaskLinearBase,
    _Problem,
)
from ._incremental import quadratic_coupling
from ._laplace import classifier_partial_fit


class MultiTaskClassifier(
    TaskClassifierMixin, ScoreClassifierMixin, _MultiTaskLinearBase
):
    """Multi-task logistic regression with a task-coupling penalty.

    Minimises over the weights and intercepts of every task::

        sum_t lambda_t * sum_{i in t} s_i * logloss_i / sum_{i in t} s_i + penalty(W)

    The labels are encoded once over all tasks (``classes_``). With two
    classes ``logloss_i = log(1 + exp(-y_i (x_i . w_t + b_t)))`` with ``y_i`` in
    {-1, +1} and one weight vector per task (as scikit-learn's binary
    ``LogisticRegression``); with more, the multinomial (softmax) loss with one
    weight vector per task and class. With one task and
    ``penalty="independent"`` this is ``LogisticRegression(C=1 / (alpha *
    n_samples))``.
    %(objective)s
    Classes missing from a task
    ---------------------------
    A task may miss some of ``classes_`` among its training rows (rows of
    weight 0 are absent): those classes are left out of that task's softmax, so
    the task gives them probability 0 and a decision value of ``-inf`` (the
    alternative, an unpenalised intercept drifting to ``-inf``, never
    converges). A task with a single class (normal in a cross-validation fold
    of a small task) predicts that class with probability 1, with a
    ``UserWarning`` naming it; its rows leave the loss and its weights are
    set by the coupling alone. ``task_class_mask_`` records which classes each
    task saw.

    Parameters
    ----------
    alpha : float, default=0.01
        Overall strength of the penalty, on the per-task mean loss (so
        ``alpha = 1 / (C * n_t)`` for scikit-learn's ``C``).
    penalty : {"independent", "mean", "graph", "l21", "trace", "relationship"} \
or penalty object, default="independent"
        Task coupling, see :class:`MultiTaskRegressor`. For multinomial models
        the penalties act on each task's weights of all classes (for ``"l21"``
        a feature is selected for all tasks and classes at once; ``"trace"``
        sums the nuclear norms of the (n_features, n_tasks) matrices of each
        class; ``"relationship"`` learns one task covariance shared by the
        classes).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per task (and class).
    task_weights : dict or array-like of shape (n_tasks,), default=None
        Per-task loss weights ``lambda_t``.
    solver : {"auto", "newton-cg", "lbfgs", "fista", "kernel"}, default="auto"
        See :class:`MultiTaskRegressor` (``"kernel"``: two classes only).
    tol : float, default=1e-4
        Relative tolerance on the KKT violation, see :class:`MultiTaskRegressor`.
    max_iter : int, default=1000
    warm_start : bool, default=False
    unseen_tasks : {"error", "shared"}, default="error"
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_tasks, n_features) or (n_tasks, n_classes, n_features)
        Binary: one vector per task (for ``classes_[1]``); multiclass: one per
        task and class.
    intercept_ : ndarray of shape (n_tasks,) or (n_tasks, n_classes)
    tasks_ : ndarray of shape (n_tasks,)
        Task labels; 0 .. n_tasks - 1 (the columns) for 2-D ``y``.
    task_class_mask_ : ndarray of bool of shape (n_tasks, n_classes)
        Classes seen by each task in fit.
    shared_coef_, specific_coef_, shared_intercept_ : ndarray
        Only for penalties with a shared component (``"mean"``).
    n_iter_ : int
    kkt_violation_ : float
    kkt_tol_ : float
    objective_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    MultiTaskRegressor : the same models with a squared loss.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2))
    >>> tasks = np.repeat(["t1", "t2"], 40)
    >>> y = np.where(X[:, 0] + 0.2 * rng.normal(size=80) > 0, "yes", "no")
    >>> clf = MultiTaskClassifier(penalty="mean").fit(X, y, tasks=tasks)
    >>> clf.classes_
    array(['no', 'yes'], dtype='<U3')
    >>> clf.predict([[2.0, 0.0]], tasks=["t2"])
    array(['yes'], dtype='<U3')

    Tasks that share their rows (here two labels of every row) take a 2-D
    ``y``, one column per task; X is not copied per task:

    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    >>> multi = MultiTaskClassifier(penalty="mean").fit(X, Y)
    >>> multi.predict([[2.0, -2.0]])
    array([[1, 0]])
    """

    # blank lines around the snippet keep its section and the next one
    # sections (numpydoc reads a section header only after a blank line)
    if __doc__ is not None:  # None under python -OO
        __doc__ = __doc__.replace(
            "%(objective)s", "\n" + _COMMON_OBJECTIVE_DOC.strip("\n") + "\n"
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # 2-D y: one task per column on a shared X (one-vs-rest, multi-label)
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, tasks=None, sample_weight=None, coef_init=None, intercept_init=None
    ):
        """Fit the coupled classifiers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels of any type; the classes are shared by all tasks. 2-D ``y``
            (with ``tasks=None``) is the shared design: every column is a
            task on all rows of X (one-vs-rest, multi-label), fitted without
            copying X once per task; the tasks are labelled 0 .. n_tasks - 1.
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task label of each row; a scalar puts every row in one task.
        sample_weight : array-like of shape (n_samples,), default=None
        coef_init : array-like, default=None
            Starting weights in the layout of ``coef_``: (n_tasks, n_features)
            for two classes, (n_tasks, n_classes, n_features) for more, or the
            same without the task axis (one start for every task), as
            scikit-learn's ``SGDClassifier``. Takes precedence over
            ``warm_start``.
        intercept_init : array-like or float, default=None
            Starting intercepts in the layout of ``intercept_`` (or without the
            task axis); None starts at 0.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Bad input, naming the argument; a task with fewer than 2 classes.
            A failed fit leaves a fitted model as it was.
        """
        return self._fit(X, y, tasks, sample_weight, coef_init, intercept_init)

    def _prepare(self, X, y, tasks, sample_weight):
        check_class_labels(y)
        X, y = self._validate_X_y(X, y, multi_output=True, y_numeric=False)
        check_classification_targets(y)
        sw = check_sample_weight(sample_weight, X.shape[0])
        X, y, tasks, sw = drop_absent_rows(X, y, tasks, sw)
        n, p = X.shape
        shared = y.ndim == 2
        if shared and tasks is not None:
            raise ValueError(
                f"y has shape {y.shape}: 2-D y means one column per task on a "
                "shared X and cannot be combined with tasks; pass 1-D y with "
                "tasks for the stacked form."
            )
        classes, y_enc = np.unique(y, return_inverse=True)
        y_enc = y_enc.reshape(y.shape)
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data (the "
                "rows of positive sample_weight), but the data contains only one "
                f"class: {classes.tolist()[0]!r}."
            )
        if shared:
            # every column a task on all rows: X is used once (the shared
            # design), the per-row arrays are stacked task by task
            task_labels, codes = np.arange(y.shape[1]), None
            row_codes = np.repeat(task_labels, n)
            y_enc = np.ascontiguousarray(y_enc.T).ravel()
            sw = np.tile(sw, len(task_labels))
        else:
            task_labels, codes = self._encode_fit_tasks(tasks, n)
            row_codes = codes
        n_tasks, n_classes = len(task_labels), len(classes)
        n_rows = len(y_enc)
        mask = np.zeros((n_tasks, n_classes), dtype=bool)
        mask[row_codes, y_enc] = True
        single = mask.sum(axis=1) < 2
        task_scale = None
        if single.any():
            # normal in cross-validation (a fold may hold one class of a
            # small task): the task predicts its one class; its rows leave
            # the loss, whose optimum in its intercept would be infinite
            poor = np.flatnonzero(single)
            names, kinds = task_labels.tolist(), classes.tolist()
            detail = ", ".join(
                f"{names[t]!r} (only {kinds[np.flatnonzero(mask[t])[0]]!r})"
                for t in poor[:5]
            )
            more = f" and {len(poor) - 5} more" if len(poor) > 5 else ""
            warnings.warn(
                f"task(s) {detail}{more} have training rows of one class only: "
                "they predict that class with probability 1.",
                UserWarning,
                stacklevel=3,
            )
            task_scale = np.where(single, 0.0, 1.0)
        if n_classes == 2:
            datafit = Logistic()
            y_rows = np.where(y_enc == 1, 1.0, -1.0)
            w_shape = (p, n_tasks)
        else:
            datafit = Multinomial(n_classes)
            y_rows = np.zeros((n_rows, n_classes))
            y_rows[np.arange(n_rows), y_enc] = 1.0
            w_shape = (p, n_tasks, n_classes)
        return _Problem(
            X,
            codes,
            task_labels,
            y_rows,
            sw,
            datafit,
            w_shape,
            task_scale=task_scale,
            classes_=classes,
            task_class_mask_=mask,
            _shared_design=shared,
        )

    def _datafit_extra(self, problem, design):
        mask = problem.attributes["task_class_mask_"]
        if mask.shape[1] == 2 or mask.all():
            return {}
        if problem.codes is None:  # shared design: rows stacked task by task
            return {"class_mask": np.repeat(mask, problem.X.shape[0], axis=0)}
        return {"class_mask": design.sort_rows(mask[problem.codes])}

    def _finalize_intercept(self, b, problem):
        b = super()._finalize_intercept(b, problem)
        if b.ndim == 2 and self.fit_intercept:
            # the softmax is unchanged by adding a constant to a task's
            # intercepts (they are not penalised): report the ones that sum to
            # 0 over the task's classes, as scikit-learn does, so that the
            # result does not depend on the solver's start
            mask = problem.attributes["task_class_mask_"]
            mean = (b * mask).sum(axis=1, keepdims=True) / mask.sum(
                axis=1, keepdims=True
            )
            b = b - mean
        return b

    def decision_function(self, X, tasks=None):
        """Linear scores of each row's task model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary: the score of ``classes_[1]``. Multiclass: ``-inf`` for the
            classes a row's task never saw in fit. A model fitted on 2-D ``y``
            with ``tasks=None`` scores every task: (n_samples, n_tasks) or
            (n_samples, n_tasks, n_classes).
        """
        if self._predicts_all_tasks(tasks):
            return self._shared_decision(X)
        scores, codes = self._raw_scores(X, tasks)
        if scores.ndim == 2:
            mask = self._row_mask(codes)
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            return scores
        single = self.task_class_mask_.sum(axis=1) < 2
        if single.any():
            # a task with one class: +inf (classes_[1]) or -inf (classes_[0]);
            # code n_tasks is the shared fallback of unseen tasks
            fixed = np.where(self.task_class_mask_[:, 1], np.inf, -np.inf)
            known = codes < len(single)
            idx = np.where(known, codes, 0)
            scores = np.where(known & single[idx], fixed[idx], scores)
        return scores

    def _predicts_all_tasks(self, tasks):
        # a model fitted on 2-D y predicts every task (column) when tasks=None
        return tasks is None and getattr(self, "_shared_design", False)

    def _shared_decision(self, X):
        """Scores of every task on every row: (n, n_tasks[, n_classes])."""
        X = self._validate_X_predict(X)
        W = self._W.reshape(self._W.shape[0], -1)
        with blas_threads(product_work(X, W.shape[1])):
            S = np.asarray(X @ W.astype(X.dtype, copy=False), dtype=np.float64)
        S = S.reshape((X.shape[0],) + self._W.shape[1:])
        S = S + self._b  # zero when fitted without intercepts
        mask = self.task_class_mask_
        if S.ndim == 3:
            return np.where(mask[None], S, -np.inf) if not mask.all() else S
        single = mask.sum(axis=1) < 2
        if single.any():
            # a column of one class: +inf (classes_[1]) or -inf (classes_[0])
            S[:, single] = np.where(mask[single, 1], np.inf, -np.inf)
        return S

    def predict_proba(self, X, tasks=None):
        """Class probabilities of each row under its task's model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``. A model fitted on 2-D ``y``
            with ``tasks=None`` gives every task (column of ``y``): shape
            (n_samples, n_tasks), the probability of ``classes_[1]``, for two
            classes (scikit-learn's multi-label convention), and
            (n_samples, n_tasks, n_classes) for more.
        """
        if self._predicts_all_tasks(tasks):
            S = self._shared_decision(X)
            return expit(S) if S.ndim == 2 else softmax(S, axis=2)
        return super().predict_proba(X, tasks)

    def predict(self, X, tasks=None):
        """Most probable class of each row under its task's model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_tasks)
            The second for a model fitted on 2-D ``y`` and ``tasks=None``:
            every task (column of ``y``) on every row.
        """
        if self._predicts_all_tasks(tasks):
            S = self._shared_decision(X)
            if S.ndim == 2:
                return self.classes_[(S > 0).astype(np.intp)]
            return self.classes_[np.argmax(S, axis=2)]
        return super().predict(X, tasks)

    def score(self, X, y, tasks=None, sample_weight=None):
        """Accuracy of ``predict(X, tasks)`` over all rows.

        For a model fitted on 2-D ``y``, with 2-D ``y`` and ``tasks=None``:
        the mean over tasks and rows (weighted by ``sample_weight``), the
        accuracy of the same model fitted on the stacked form (X repeated
        once per task); not scikit-learn's subset accuracy.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        tasks : hashable or array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if self._predicts_all_tasks(tasks) and np.ndim(y) == 2:
            pred = self.predict(X)
            y = np.asarray(y)
            if y.shape != pred.shape:
                raise ValueError(
                    f"y has shape {y.shape}; the model predicts {pred.shape} "
                    "(one column per task)."
                )
            hits = np.mean(pred == y, axis=1)
            if sample_weight is not None:
                sample_weight = check_sample_weight(sample_weight, len(hits))
            return float(np.average(hits, weights=sample_weight))
        return super().score(X, y, tasks=tasks, sample_weight=sample_weight)

    def _row_mask(self, codes):
        mask = self.task_class_mask_
        if mask.all():
            return None
        # unseen tasks (shared fallback, code n_tasks) may predict any class
        full = np.vstack([mask, np.ones((1, mask.shape[1]), dtype=bool)])
        return full[codes]

    @available_if(quadratic_coupling)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X, y, tasks=None, sample_weight=None, classes=None, batch_id=None
    ):
        """Add rows to the model: an online Laplace (assumed-density) update.

        The logistic loss has no finite sufficient statistics, so the rows of
        earlier calls are summarised, task by task, by a quadratic: the
        second-order Taylor expansion of each call's summed loss at the
        solution of that call, accumulated over calls (a Gaussian posterior of
        each task's weights and intercepts, the Laplace approximation; Opper
        1998, and Chapelle & Li 2011, Algorithm 3, for the diagonal form).
        Each call minimises, over all tasks at once::

            sum_t lambda_t / S_t * (loss of the call's rows of t
                                    + summary of the earlier rows of t)
                + penalty(W)

        with ``S_t`` the weight of every row of task ``t`` seen so far (as
        ``fit``'s per-task mean), by Newton steps (scipy's trust-region
        Newton-CG) warm-started from the previous ``coef_``; then it adds the
        call's expansion to the summary. The coupling is exact at every call.

        Guarantees (tested): one call equals ``fit`` on its rows (the summary
        is empty); the summary is exact for the quadratic part of the loss, so
        the error of a stream comes only from the change of curvature of the
        logistic loss between the calls' solutions, and shrinks as the
        solution settles (the summary of a call is exact at the final
        solution up to third-order terms in the distance between them). The
        result of one pass depends on the order of the calls (through those
        terms) and is not the solution of ``fit`` on all rows.

        Several passes converge to ``fit``'s solution when each batch is
        named by ``batch_id``: a batch given again under its name first
        takes its earlier expansion out of the summary, then adds the new
        one (the incremental Newton method of Rodomanov & Kropotov 2016, a
        finite-sum method: the batches must be the same at every pass). Its
        fixed point is ``fit``'s optimum, whatever the curvature
        approximation; with the full summary the passes converge
        superlinearly (measured: coefficients within 2e-5 of ``fit`` after 2
        passes, 3e-9 after 3, on 3,000 rows in 10 batches), with the
        diagonal one linearly (binary hashed 20 Newsgroups, 10 batches: 13%,
        3.6%, 1.3%, 0.5% from ``fit`` after 1-4 passes, the same test
        accuracy from the fourth). The multinomial diagonal summary drops
        the cross-class curvature and converges slowly (3-10% after 5
        passes). Each named batch keeps its expansion point: the
        coefficients of its tasks on the features its rows use. Without
        ``batch_id``, rows given again count twice (a second pass is not a
        refinement).

        The summary is a full ``d x d`` matrix per task when ``d = (n_features
        + 1) * n_outputs <= LAPLACE_MAX_FULL`` (2048; ``n_outputs`` is 1 for
        two classes, else ``len(classes_)``), its diagonal above (hashed text
        features): then the past's feature correlations are dropped, a coarser
        approximation. Memory is ``O(n_tasks d^2)`` or ``O(n_tasks d)``,
        whatever the number of rows seen.

        Tasks may first appear at any call; ``tasks_`` stays sorted.
        ``classes`` (all the classes of every task) is required on the first
        call and must not change. ``task_class_mask_`` gathers the classes
        each task has seen; a task that has seen a single class so far is
        left out of the loss, as in ``fit`` (its rows still enter its
        summary, and count once it sees a second class). Only the quadratic
        couplings (``"independent"``, ``"mean"``, ``"graph"``) are supported,
        as for :meth:`MultiTaskRegressor.partial_fit`; ``solver`` is not used.
        ``fit`` starts over: a later ``partial_fit`` begins a new stream (with
        the fitted ``classes_`` when ``classes`` is not given, as
        scikit-learn's ``SGDClassifier``). ``objective_`` is the objective of
        the last call (its rows, the summary and the penalty).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        tasks : hashable or array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None
            Rows of weight 0 are absent.
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call.
        batch_id : hashable, default=None
            The name of this batch (e.g. its index in the stream), for
            several passes over the same batches: the batch's earlier
            contribution is replaced, not added to.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            ``classes`` missing on the first call or changed later, a label
            of ``y`` outside ``classes``, a changed number of features, an
            unhashable ``batch_id`` or one given earlier with other rows, or
            bad input (the message names the argument). A failed call leaves the
            model and its summary as they were.
        AttributeError
            With a penalty that is not a quadratic coupling (the method does
            not exist for it).

        References
        ----------
        M. Opper, "A Bayesian approach to on-line learning", in On-line
        Learning in Neural Networks, Cambridge University Press, 1998.

        O. Chapelle and L. Li, "An empirical evaluation of Thompson
        sampling", NIPS 2011 (Algorithm 3).

        A. Rodomanov and D. Kropotov, "A superlinearly-convergent proximal
        Newton-type method for the optimization of finite sums", ICML 2016.

        Examples
        --------
        >>> import numpy as np
        >>> from skmtl import MultiTaskClassifier
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(100, 2))
        >>> y = (X[:, 0] > 0).astype(int)
        >>> clf = MultiTaskClassifier(penalty="mean")
        >>> clf = clf.partial_fit(X[:50], y[:50], tasks="a", classes=[0, 1])
        >>> clf = clf.partial_fit(X[50:], y[50:], tasks="b")
        >>> clf.tasks_.tolist()
        ['a', 'b']
        >>> clf.predict([[2.0, 0.0]], tasks="b")
        array([1])
        """
        # the thread policy (skmtl._threads): each task's expansion costs
        # n_t d^2 (d = n_features + 1 per output)
        d = np.shape(X)[-1] + 1
        with restore_on_error(self), blas_threads(product_work(X, d)):
            classifier_partial_fit(self, X, y, tasks, sample_weight, classes, batch_id)
        return self
