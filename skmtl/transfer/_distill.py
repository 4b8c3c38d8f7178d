"""Knowledge distillation into a linear softmax student (Hinton et al., 2015)."""

import sys
from numbers import Real

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from .._design import TaskDesign
from .._loss import SmoothLoss
from .._threads import blas_threads, product_work
from .._validation import check_sample_weight, check_unlabelled
from ..base import fit_or_restore
from ..datafits import Distillation
from ..linear_model import MultiTaskClassifier
from ..penalties import Independent
from ..solvers import SOLVER_CONSTRAINTS, absolute_tolerance, solve_path
from ._base_model import weight_key, weighted_clone
from ._unlabelled import labelled_targets

__all__ = ["DistilledClassifier"]


def _teacher_logits(teacher, X, n_classes, response):
    """The teacher's logits, shape (n_samples, n_classes)."""
    if response == "auto":
        has_df = hasattr(teacher, "decision_function")
        response = "decision_function" if has_df else "predict_proba"
    if response == "decision_function":
        logits = np.asarray(teacher.decision_function(X), dtype=np.float64)
        if logits.ndim == 1 or logits.shape[1] == 1:
            # binary scikit-learn convention: the score of classes_[1]
            logits = logits.reshape(-1)
            logits = np.column_stack([np.zeros_like(logits), logits])
    else:
        with np.errstate(divide="ignore"):
            logits = np.log(np.asarray(teacher.predict_proba(X), dtype=np.float64))
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise ValueError(
            f"the teacher's {response} has shape {logits.shape}; expected "
            f"(n_samples, {n_classes}) for its {n_classes} classes_."
        )
    if np.any(np.isnan(logits)) or np.any(np.isposinf(logits)):
        raise ValueError(f"the teacher's {response} contains NaN or +inf.")
    if np.any(np.all(np.isneginf(logits), axis=1)):
        raise ValueError(f"the teacher's {response} gives no finite class on a row.")
    return logits


def _is_network(student):
    """Whether ``student`` is a network of :mod:`skmtl.neural` (a classifier).

    Such a student exists only once ``skmtl.neural`` is imported, so asking
    ``sys.modules`` never imports torch.
    """
    neural = sys.modules.get("skmtl.neural")
    return neural is not None and isinstance(student, neural.MultiTaskNetClassifier)


class DistilledClassifier(ClassifierMixin, BaseEstimator):
    """Linear softmax student trained on labels and a teacher's soft targets.

    Knowledge distillation (Hinton, Vinyals & Dean, 2015): the student fits a
    mix of the usual cross-entropy on the labels and the cross-entropy to the
    teacher's probabilities softened by a temperature ``T``. Minimises over
    the student's weights ``W`` (one column per class) and intercepts::

        sum_i w_i * [ (1 - mix) * CE(y_i, softmax(z_i))
                      + mix * T**2 * CE(q_i, softmax(z_i / T)) ]  (labelled rows)
      + sum_i w_i * T**2 * CE(q_i, softmax(z_i / T))               (unlabelled rows)
      + alpha / 2 * ||W||^2

    where ``z_i = x_i W + b`` are the student's logits, ``q_i =
    softmax(t_i / T)`` the teacher's probabilities at temperature ``T`` (``t_i``
    its logits), ``CE(u, p) = -sum_k u_k log p_k`` and ``w_i = s_i / sum_j s_j``
    the normalised sample weights (the loss is a per-row mean over all rows,
    labelled or not, as in :class:`~skmtl.MultiTaskClassifier`). The
    ``T**2`` factor keeps the soft term's gradients on the scale of the hard
    term's (Hinton et al., 2015, section 2).

    Unlabelled rows (the fit metadata ``unlabelled``, a bool mask; their
    ``y`` is a placeholder that is never read) are learned from the teacher
    alone: their whole weight ``w_i`` goes to the soft term, whatever
    ``mix``. ``mix`` only splits the weight of labelled rows.

    With ``mix=0`` and every row labelled this is exactly
    :class:`~skmtl.MultiTaskClassifier` with the same ``alpha`` (one task); a
    binary problem is solved with two softmax columns whose ridge strength is
    doubled, which is exactly the binary logistic model with ridge ``alpha``
    on ``w_1 - w_0``.

    Parameters
    ----------
    teacher : fitted classifier or None, default=None
        Any fitted classifier with ``classes_`` and ``decision_function`` or
        ``predict_proba``, applied to ``X`` in fit (or to ``teacher_X``, see
        :meth:`fit`). Its logits are its ``decision_function`` when it has one
        (a binary one-column score ``d`` gives logits ``[0, d]``), else
        ``log(predict_proba)``; see ``teacher_response``. ``None`` is
        self-distillation: a ridge logistic teacher,
        ``MultiTaskClassifier(alpha, fit_intercept, tol, max_iter)``, is fitted
        inside ``fit`` on the labelled rows and then teaches the student on all
        rows (its classes are those of the labelled rows).
    temperature : float, default=2.0
        Softmax temperature ``T > 0`` of the soft term (student and teacher).
    mix : float, default=0.5
        Weight in [0, 1] of the soft term on labelled rows.
    alpha : float, default=0.01
        Ridge strength on the student's weights (per-row-mean loss, so
        ``alpha = 1 / (C * n_samples)`` for scikit-learn's ``C``).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per class.
    student : None, MultiTaskNetClassifier or scikit-learn classifier, \
default=None
        ``None``: the built-in linear softmax student above (any temperature).
        A :class:`skmtl.neural.MultiTaskNetClassifier` (or a subclass) is a
        network student: a clone of it is trained on the objective above, at
        any temperature, with ``z_i`` its outputs (two classes: one output
        ``s_i`` standing for the logits ``[0, s_i]``), and with its own
        architecture, optimizer and penalty (its ``alpha``; ``alpha``,
        ``fit_intercept``, ``solver``, ``tol`` and ``max_iter`` here are then
        not used, except by a ``teacher=None``). With ``hidden_layer_sizes=()``
        and ``optimizer="lbfgs"`` it reaches the built-in student's optimum.
        A classifier (or a ``Pipeline`` ending in one, whose final step gets
        the weights) whose ``fit`` accepts ``sample_weight`` and whose loss
        is the log-loss (e.g. ``LogisticRegression``) is fitted on rows
        expanded per class: a labelled row gives one row of its label with
        weight ``s_i * (1 - mix)``, and every row gives one row per class
        ``k`` with weight ``s_i * c_i * q_ik`` (``c_i = mix`` if labelled else
        1). Its weighted log-loss then equals the objective above exactly, but
        only for ``temperature=1`` (a ``ValueError`` otherwise: the student's
        tempered probabilities are not available), and with the student's own
        regularisation (``alpha``, ``fit_intercept``, ``solver``, ``tol`` and
        ``max_iter`` are then not used, except by a ``teacher=None``).
    teacher_response : {"auto", "decision_function", "predict_proba"}, \
default="auto"
        Which teacher output gives the logits. ``"auto"`` prefers
        ``decision_function``; use ``"predict_proba"`` for a teacher whose
        decision function is not a logit (an SVM margin, a calibrated model).
    tol : float, default=1e-4
        Tolerance on the KKT violation, relative to the gradient at the zero
        model.
    max_iter : int, default=1000
    solver : {"auto", "newton-cg", "lbfgs", "fista"}, default="auto"
        ``"auto"`` is Newton-CG. The direct solvers ``"gram"`` and
        ``"kernel"`` need the squared or binary logistic loss and raise a
        ``ValueError`` saying so.
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The teacher's ``classes_``.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Built-in student only. Binary: the weights of ``classes_[1]`` against
        ``classes_[0]`` (``w_1 - w_0``), as scikit-learn's
        ``LogisticRegression``; multiclass: one row per class.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Built-in student only.
    teacher_ : classifier
        The teacher used (the given object, not a copy, or the fitted
        self-distillation teacher).
    student_ : classifier
        Only with a network or scikit-learn ``student``: its fitted clone,
        which ``predict``, ``predict_proba`` and ``decision_function`` use.
    n_iter_ : int
        Iterations of the solver (with a network ``student``: its epochs or
        rounds of L-BFGS; with a scikit-learn ``student``: its ``n_iter_``,
        when it has one).
    kkt_violation_, kkt_tol_, objective_ : float
        Built-in student only: how the solver run went.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    skmtl.MultiTaskClassifier : the student's model without a teacher.
    sklearn.semi_supervised.SelfTrainingClassifier : hard pseudo-labels
        instead of soft targets.

    Notes
    -----
    ``predict_proba`` gives the student's probabilities at temperature 1.
    ``objective_`` is the value of the objective above (cross-entropies, so it
    includes the teacher's entropy, a constant).

    References
    ----------
    G. Hinton, O. Vinyals and J. Dean, "Distilling the knowledge in a neural
    network", NIPS Deep Learning Workshop, 2015 (arXiv:1503.02531).

    D. Lopez-Paz, L. Bottou, B. Schoelkopf and V. Vapnik, "Unifying
    distillation and privileged information", ICLR 2016 (a teacher that sees
    other features: ``teacher_X``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmtl.transfer import DistilledClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> teacher = LogisticRegression().fit(X, y)
    >>> unlabelled = np.arange(200) >= 10  # 10 labels, 190 unlabelled rows
    >>> student = DistilledClassifier(teacher, temperature=2.0)
    >>> student = student.fit(X, y, unlabelled=unlabelled)
    >>> student.classes_
    array([0, 1])
    >>> bool(student.score(X, y) > 0.9)
    True
    """

    _parameter_constraints = {
        "teacher": [
            HasMethods(["predict_proba"]),
            HasMethods(["decision_function"]),
            None,
        ],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "mix": [Interval(Real, 0, 1, closed="both")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "student": [HasMethods(["fit", "predict_proba"]), None],
        "teacher_response": [
            StrOptions({"auto", "decision_function", "predict_proba"})
        ],
        **SOLVER_CONSTRAINTS,
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        teacher=None,
        *,
        temperature=2.0,
        mix=0.5,
        alpha=0.01,
        fit_intercept=True,
        student=None,
        teacher_response="auto",
        tol=1e-4,
        max_iter=1000,
        solver="auto",
        verbose=0,
    ):
        self.teacher = teacher
        self.temperature = temperature
        self.mix = mix
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.student = student
        self.teacher_response = teacher_response
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.verbose = verbose

    # the unlabelled rows' mask is requested by the class, as skmtl's tasks
    __metadata_request__fit = {"unlabelled": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y, sample_weight=None, teacher_X=None, unlabelled=None):
        """Fit the student on the labels and the teacher's soft targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The student's features.
        y : array-like of shape (n_samples,)
            Labels among the teacher's ``classes_``; any placeholder on the
            unlabelled rows (never read).
        sample_weight : array-like of shape (n_samples,), default=None
        teacher_X : object, default=None
            The same rows in the teacher's representation (raw documents for
            a text pipeline, privileged features, ...). ``None`` gives the
            teacher ``X`` as passed (before validation, so a DataFrame keeps its
            column names). Not allowed with ``teacher=None``.
        unlabelled : array-like of bool of shape (n_samples,), default=None
            True marks an unlabelled row, learned from the teacher alone. None:
            every row is labelled. Every row may be unlabelled when a teacher
            is given. Requested by the class for fit, so ``Pipeline`` and
            ``GridSearchCV`` route it with metadata routing on.

        Returns
        -------
        self : object
        """
        X_raw = X
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32]
        )
        n = X.shape[0]
        sw = check_sample_weight(sample_weight, n)
        if not (sw > 0).any():
            raise ValueError("sample_weight is zero on every row.")
        unlabelled = check_unlabelled(unlabelled, n, require_labelled=False)
        labelled = ~unlabelled
        if labelled.any():
            y_lab = labelled_targets(y, unlabelled)
        else:
            y_lab = np.asarray([])
            if y is None:  # the same message as with labelled rows
                labelled_targets(y, unlabelled)

        teacher = self._fitted_teacher(X, y_lab, sw, labelled, teacher_X)
        classes = np.asarray(teacher.classes_)
        if len(classes) < 2:
            raise ValueError(
                f"the teacher has {len(classes)} class(es); distillation needs 2 "
                "or more."
            )
        lookup = {c: k for k, c in enumerate(classes.tolist())}
        # a row of weight 0 is absent: its label is not looked up (code 0)
        present = sw[labelled] > 0
        y_codes = np.zeros(len(y_lab), dtype=int)
        try:
            y_codes[present] = [lookup[v] for v in y_lab[present].tolist()]
        except (KeyError, TypeError):
            unknown = sorted(
                {repr(v) for v in y_lab[present].tolist()}
                - set(map(repr, classes.tolist()))
            )
            raise ValueError(
                f"y has labels {', '.join(unknown[:5])} that are not among the "
                f"teacher's classes_ {classes.tolist()[:10]} (mark unlabelled rows "
                "with unlabelled=, a bool mask)."
            ) from None
        self.classes_ = classes
        self.teacher_ = teacher
        n_classes = len(classes)

        if self.teacher is None:
            Xt = X  # the self-distillation teacher was fitted on validated X
        else:
            Xt = X_raw if teacher_X is None else teacher_X
        logits = _teacher_logits(teacher, Xt, n_classes, self.teacher_response)
        if logits.shape[0] != n:
            raise ValueError(
                f"the teacher gave {logits.shape[0]} rows of logits for {n} rows of X."
            )
        Y = np.zeros((n, n_classes))
        Y[np.flatnonzero(labelled), y_codes] = 1.0

        if self.student is None:
            self._fit_linear(X, Y, sw, logits)
        elif _is_network(self.student):
            self._fit_network_student(X, Y, sw, logits)
        else:
            self._fit_sklearn_student(X, Y, sw, logits)
        return self

    def _fitted_teacher(self, X, y_lab, sw, labelled, teacher_X):
        if self.teacher is not None:
            check_is_fitted(self.teacher)
            if not hasattr(self.teacher, "classes_"):
                raise ValueError(
                    "the teacher must be a fitted classifier with classes_."
                )
            return self.teacher
        if teacher_X is not None:
            raise ValueError("teacher_X needs a teacher: teacher=None fits one on X.")
        seen = np.unique(y_lab[sw[labelled] > 0]).tolist()
        if len(seen) < 2:
            raise ValueError(
                "teacher=None (self-distillation) needs labelled rows of at least 2 "
                f"classes, got {len(seen)} class(es) {seen[:1]} (unlabelled= marks "
                "the unlabelled rows)."
            )
        self_teacher = MultiTaskClassifier(
            self.alpha,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        return self_teacher.fit(X[labelled], y_lab, sample_weight=sw[labelled])

    def _fit_linear(self, X, Y, sw, logits):
        n, p = X.shape
        n_classes = Y.shape[1]
        total = sw.sum()
        if not total > 0:
            raise ValueError("sample_weight sums to zero: nothing to fit.")
        row_weights = sw / total
        design = TaskDesign(X, None, 1)
        if self.fit_intercept:
            design.center(row_weights)
        datafit = Distillation(n_classes, self.temperature, self.mix)
        datafit.initialize(Y, row_weights, logits)
        loss = SmoothLoss(design, datafit, self.fit_intercept)
        # Two softmax columns with ridge 2 * alpha equal one logistic column
        # w_1 - w_0 with ridge alpha (the minimiser has w_0 = -w_1).
        alpha = 2.0 * self.alpha if n_classes == 2 else self.alpha
        W0, b0 = np.zeros((p, 1, n_classes)), np.zeros((1, n_classes))
        # tolerance relative to the gradient at the zero model, as the core
        tol_abs = absolute_tolerance(loss, W0, b0, self.tol)
        # the same solver dispatch as the core ("auto": Newton-CG here; a
        # direct solver that does not apply raises a clear ValueError)
        [result], _ = solve_path(
            loss,
            [(Independent(), alpha)],
            np.array([0]),
            W0,
            b0,
            tol_abs,
            solver=self.solver,
            max_iter=self.max_iter,
            verbose=self.verbose,
        )
        W = result.W[:, 0]
        b = result.b[0]  # solve_path returns the uncentred intercepts
        if not self.fit_intercept:
            b = np.zeros_like(b)
        self._W, self._b = W, b
        if n_classes == 2:
            coef, intercept = (W[:, 1] - W[:, 0])[None], b[1:] - b[:1]
        else:
            coef, intercept = W.T, b
        self.coef_ = np.ascontiguousarray(coef).astype(X.dtype, copy=False)
        self.intercept_ = intercept.astype(X.dtype, copy=False)
        self.n_iter_ = result.n_iter
        self.kkt_violation_ = result.kkt_violation
        self.kkt_tol_ = tol_abs
        self.objective_ = result.objective

    def _fit_network_student(self, X, Y, sw, logits):
        # torch is imported only here: a network student means skmtl.neural
        # (and torch) were imported by the caller already
        from ..neural._distill import fit_distilled_network

        labelled = Y.sum(axis=1) > 0
        self.student_ = fit_distilled_network(
            self.student,
            X,
            np.argmax(Y, axis=1),
            labelled,
            softmax(logits / self.temperature, axis=1),
            self.classes_,
            self.temperature,
            self.mix,
            sw,
        )
        self.n_iter_ = int(self.student_.n_iter_)

    def _fit_sklearn_student(self, X, Y, sw, logits):
        if self.temperature != 1:
            raise ValueError(
                f"a scikit-learn student is exact for temperature=1 only (rows "
                f"expanded per class), got temperature={self.temperature}; use "
                "student=None (the built-in softmax student) for any temperature."
            )
        key = weight_key(self.student)  # a Pipeline: its final step
        if key is None:
            raise ValueError(
                f"the student {type(self.student).__name__} does not accept "
                "sample_weight in fit, which the row expansion needs."
            )
        n, n_classes = Y.shape
        labelled = Y.sum(axis=1) > 0
        Q = softmax(logits, axis=1)
        soft_w = sw * np.where(labelled, self.mix, 1.0)
        # one row per (row, class) with the teacher's probability as weight,
        # plus one row per labelled row for the hard term
        rows_s, cls_s = np.nonzero(soft_w[:, None] * Q > 0)
        rows_h = np.flatnonzero(labelled & (sw * (1.0 - self.mix) > 0))
        rows = np.concatenate([rows_h, rows_s])
        codes = np.concatenate([np.argmax(Y[rows_h], axis=1), cls_s])
        weights = np.concatenate(
            [sw[rows_h] * (1.0 - self.mix), soft_w[rows_s] * Q[rows_s, cls_s]]
        )
        self.student_ = weighted_clone(self.student).fit(
            X[rows], self.classes_[codes], **{key: weights}
        )
        if hasattr(self.student_, "n_iter_"):
            self.n_iter_ = int(np.max(self.student_.n_iter_))

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

    def _logits(self, X):
        X = self._validate_X_predict(X)
        with blas_threads(product_work(X, np.shape(self._W)[1])):
            return np.asarray(X @ self._W, dtype=np.float64) + self._b

    def decision_function(self, X):
        """The student's logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary: the score of ``classes_[1]`` against ``classes_[0]``.
        """
        if self.student is not None:
            check_is_fitted(self)
            return self.student_.decision_function(self._validate_X_predict(X))
        Z = self._logits(X)
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict_proba(self, X):
        """The student's class probabilities (temperature 1).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        if self.student is not None:
            check_is_fitted(self)
            P = self.student_.predict_proba(self._validate_X_predict(X))
            # a class that no expanded row carried is absent from the student
            out = np.zeros((P.shape[0], len(self.classes_)))
            pos = {c: k for k, c in enumerate(self.classes_.tolist())}
            for j, c in enumerate(self.student_.classes_.tolist()):
                out[:, pos[c]] = P[:, j]
            return out
        return softmax(self._logits(X), axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
