"""Minimum entropy regularization on the unlabelled target (Grandvalet & Bengio)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .._design import TaskDesign
from .._loss import SmoothLoss
from .._tasks import check_task_labels
from ..base import ScoreClassifierMixin, TaskClassifierMixin, fit_or_restore
from ..datafits import EntropyRegularized
from ..linear_model import MultiTaskClassifier
from ..penalties import Independent
from ..solvers import absolute_tolerance, solve_path
from ._base_model import UnlabelledTargetTagsMixin
from ._unlabelled import check_transfer_rows

__all__ = ["EntropyRegularizedClassifier"]


def transfer_rows(y, tasks, sample_weight, unlabelled, target, n_samples):
    """:func:`check_transfer_rows` with the domains reduced to target / source.

    The shared rule assigns ``target`` to the unlabelled rows' domains, which
    numpy broadcasts when ``target`` is a tuple label (("t", 0)); only
    "target or not" matters here, so the domains are mapped to two strings
    first (request in /work/notes/unl_b_requests.md).
    """
    if tasks is not None:
        labels = check_task_labels(tasks, n_samples)
        # label by label: numpy would broadcast a tuple label
        is_target = np.fromiter(
            (v == target for v in labels.tolist()), dtype=bool, count=n_samples
        )
        tasks = np.where(is_target, "target", "source")
    return check_transfer_rows(
        y, tasks, sample_weight, unlabelled, "target", n_samples, shown_target=target
    )


def _row_weights(sw, labelled, is_target, source_weight, entropy_weight):
    """Per-row weights of the objective, shape (n_rows,).

    ``lam L_source + (1 - lam) L_target`` over the labelled rows (each a
    weighted mean; a domain without labelled rows drops out and the other
    gets weight 1), plus ``entropy_weight`` times the weighted mean entropy of
    the unlabelled rows.
    """
    lab_src = labelled & ~is_target
    lab_tgt = labelled & is_target
    src_total, tgt_total = sw[lab_src].sum(), sw[lab_tgt].sum()
    unl_total = sw[~labelled].sum()
    lam = float(source_weight)
    if src_total <= 0:
        lam = 0.0
    elif tgt_total <= 0:
        lam = 1.0
    w = np.zeros_like(sw)
    if src_total > 0:
        w[lab_src] = lam * sw[lab_src] / src_total
    if tgt_total > 0:
        w[lab_tgt] = (1.0 - lam) * sw[lab_tgt] / tgt_total
    if unl_total > 0:
        w[~labelled] = entropy_weight * sw[~labelled] / unl_total
    return w


class EntropyRegularizedClassifier(
    UnlabelledTargetTagsMixin, ScoreClassifierMixin, TaskClassifierMixin, BaseEstimator
):
    """Linear classifier with minimum entropy regularization on unlabelled rows.

    Semi-supervised transfer by entropy minimization (Grandvalet & Bengio,
    2005): one softmax model ``p(y | x) = softmax(x W + b)`` minimises ::

        lam * L_source + (1 - lam) * L_target
            + entropy_weight * (H_unlabelled + class_balance * KL(p_bar || pi))
            + alpha / 2 * ||W||^2

    where ``L_source`` and ``L_target`` are the (sample-weighted) mean log-loss
    of the labelled source and labelled target rows (as
    :class:`JointTransferClassifier` with ``penalty=None``; a domain without
    labelled rows drops out and the other gets weight 1), ``H_unlabelled`` is
    the weighted mean Shannon entropy of the predicted class distribution on
    the rows marked ``unlabelled`` (any domain; their ``y`` is never read),
    and ``lam = source_weight``. The entropy term moves the decision boundary
    away from dense regions of the unlabelled target (the cluster assumption).
    Alone it is also minimised by giving every unlabelled row one class; the
    class-balance term, the Kullback-Leibler divergence of the mean predicted
    distribution ``p_bar`` over the unlabelled rows from ``pi``, the class
    shares of the labelled rows (weighted as in the labelled loss), guards
    against that collapse (the marginal term of regularized information
    maximization, Krause, Perona & Gomes, 2010).

    The objective is **not convex** (the entropy is concave near uniform
    predictions). The fit starts at the labelled-only model (the same
    objective with ``entropy_weight=0``, convex, fitted by
    :class:`~skmtl.MultiTaskClassifier`) and runs L-BFGS with an Armijo line
    search (``skmtl.solvers.LBFGS``) to a stationary point near it. Binary
    problems use two softmax columns with ridge ``2 * alpha``, equal to one
    logistic column with ridge ``alpha``.

    Parameters
    ----------
    entropy_weight : float, default=1.0
        Weight of the mean entropy of the unlabelled rows (``lambda`` in
        Grandvalet & Bengio). 0 gives the labelled-only model.
    source_weight : float in [0, 1), default=0.5
        ``lam``: weight of the labelled source rows' mean loss.
    class_balance : float, default=1.0
        Weight of ``KL(p_bar || pi)`` relative to the entropy; 0 is
        Grandvalet & Bengio's objective. With 1 and a uniform ``pi`` the
        unlabelled term is minus the mutual information between rows and
        predicted classes (Krause et al.'s objective).
    target : hashable, default="target"
        Label of the target domain in ``tasks``.
    alpha : float, default=0.01
        Ridge strength.
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Stop when the max-norm of the objective's gradient is ``tol`` times
        its value at the zero model.
    max_iter : int, default=1000
        L-BFGS iterations (after the labelled-only start, which has its own
        budget of ``max_iter``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Classes of the labelled rows.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Binary: the weights of ``classes_[1]`` against ``classes_[0]``.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    labelled_coef_ : ndarray of the shape of ``coef_``
        Weights of the labelled-only start (``entropy_weight=0``).
    n_iter_ : int
        Iterations of the labelled-only fit plus those of L-BFGS.
    entropy_n_iter_ : int
        L-BFGS iterations from the labelled-only start.
    kkt_violation_ : float
        Max-norm of the objective's gradient at the solution.
    objective_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    JointTransferClassifier : the labelled-only objective.

    References
    ----------
    Y. Grandvalet and Y. Bengio, "Semi-supervised learning by entropy
    minimization", NIPS 17, 2005.

    A. Krause, P. Perona and R. Gomes, "Discriminative clustering by
    regularized information maximization", NIPS 23, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.transfer import EntropyRegularizedClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 1, (50, 2)), rng.normal(2, 1, (50, 2))])
    >>> y = np.repeat([0, 1], 50)
    >>> unlabelled = np.ones(100, dtype=bool)
    >>> unlabelled[[0, 99]] = False  # two labelled rows
    >>> clf = EntropyRegularizedClassifier(entropy_weight=1.0, alpha=0.01)
    >>> clf = clf.fit(X, y, unlabelled=unlabelled)
    >>> clf.score(X, y)
    1.0
    """

    _parameter_constraints = {
        "entropy_weight": [Interval(Real, 0, None, closed="left")],
        "source_weight": [Interval(Real, 0, 1, closed="left")],
        "class_balance": [Interval(Real, 0, None, closed="left")],
        "target": "no_validation",
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        entropy_weight=1.0,
        source_weight=0.5,
        *,
        class_balance=1.0,
        target="target",
        alpha=0.01,
        fit_intercept=True,
        tol=1e-4,
        max_iter=1000,
    ):
        self.entropy_weight = entropy_weight
        self.source_weight = source_weight
        self.class_balance = class_balance
        self.target = target
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y, tasks=None, sample_weight=None, unlabelled=None):
        """Fit on the labelled rows and the entropy of the unlabelled ones.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; the entries of unlabelled rows are placeholders, never read.
        tasks : array-like of shape (n_samples,), default=None
            Domain of each row: ``target`` or anything else (source). None
            means every row is a target row.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row inside its term (0: the row is absent).
        unlabelled : array-like of bool of shape (n_samples,), default=None
            True marks a row whose label is unknown (a target row, whatever
            its ``tasks`` entry); None: every row is labelled (then this is
            :class:`JointTransferClassifier`). Requested for ``fit`` at class
            level: ``Pipeline`` and ``GridSearchCV`` route it.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Bad input, naming the argument; labelled rows of fewer than 2
            classes. A failed fit leaves a fitted model as it was.
        """
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32]
        )
        # the shared rule (skmtl.transfer._unlabelled): rows of weight 0 are
        # dropped, unlabelled rows are target rows, their y is never read
        rows = transfer_rows(
            y, tasks, sample_weight, unlabelled, self.target, X.shape[0]
        )
        if not rows.keep.all():
            X = X[rows.keep]
        n = X.shape[0]
        classes = rows.classes
        if len(classes) < 2:
            raise ValueError(
                "the labelled rows (unlabelled=False, positive sample_weight) must "
                f"hold at least 2 classes, got {len(classes)} class: "
                f"{classes.tolist()[:1]}."
            )
        n_classes = len(classes)
        labelled = ~rows.unlabelled
        codes = np.searchsorted(classes, rows.y[labelled])
        Y = np.zeros((n, n_classes))
        Y[np.flatnonzero(labelled), codes] = 1.0
        sw, is_target = rows.sample_weight, rows.is_target
        w = _row_weights(sw, labelled, is_target, self.source_weight, 0.0)
        w_unl = _row_weights(
            sw, labelled, is_target, self.source_weight, self.entropy_weight
        )

        # the labelled-only start: the same objective without the entropy
        # (convex), fitted by the core classifier through its public API
        start = MultiTaskClassifier(
            self.alpha,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        ).fit(X[labelled], classes[codes], sample_weight=w[labelled])
        coef0, b_start = start.coef_[0], start.intercept_[0]
        if n_classes == 2:
            # one logistic column c equals softmax columns (-c / 2, c / 2)
            W0 = np.column_stack([-coef0 / 2, coef0 / 2]).astype(np.float64)
            b_unc = np.array([-b_start / 2, b_start / 2], dtype=np.float64)
            alpha = 2.0 * self.alpha
        else:
            W0 = np.asarray(coef0.T, dtype=np.float64)
            b_unc = np.asarray(b_start, dtype=np.float64)
            alpha = self.alpha

        design = TaskDesign(X, None, 1)
        if self.fit_intercept:
            design.center(w_unl)
        # the class prior of the balance term: the labelled rows' class
        # shares, weighted as in the labelled loss
        prior = np.maximum(w @ Y, 1e-12)
        balance = self.entropy_weight * self.class_balance
        datafit = EntropyRegularized(n_classes, balance)
        datafit.initialize(Y, w_unl, prior / prior.sum())
        loss = SmoothLoss(design, datafit, self.fit_intercept)
        W_start = W0[:, None, :]
        b0 = design.intercept_to_centered(W_start, b_unc[None, :])
        if not self.fit_intercept:
            b0 = np.zeros_like(b0)
        zero_W = np.zeros_like(W_start)
        tol_abs = absolute_tolerance(loss, zero_W, np.zeros_like(b0), self.tol)
        # non-convex: L-BFGS with a line search (Newton-CG's conjugate
        # gradients need a positive semi-definite Hessian)
        [result], _ = solve_path(
            loss,
            [(Independent(), alpha)],
            np.array([0]),
            W_start,
            b0,
            tol_abs,
            solver="lbfgs",
            max_iter=self.max_iter,
        )
        W, b = result.W[:, 0], result.b[0]  # uncentred intercepts
        if not self.fit_intercept:
            b = np.zeros_like(b)
        if n_classes == 2:
            coef, intercept = (W[:, 1] - W[:, 0])[None], b[1:] - b[:1]
        else:
            coef, intercept = W.T, b - b.mean()
        self.classes_ = classes
        self.coef_ = np.ascontiguousarray(coef).astype(X.dtype, copy=False)
        self.intercept_ = intercept.astype(X.dtype, copy=False)
        self.labelled_coef_ = np.asarray(start.coef_[0]).reshape(self.coef_.shape)
        # at least 1: the labelled-only fit's iterations, then L-BFGS's
        self.n_iter_ = int(np.max(start.n_iter_)) + int(result.n_iter)
        self.entropy_n_iter_ = int(result.n_iter)
        self.kkt_violation_ = float(result.kkt_violation)
        self.objective_ = float(result.objective)
        return self

    def decision_function(self, X, tasks=None):
        """Linear scores (``tasks`` is accepted and ignored: one model).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : ignored

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary: the score of ``classes_[1]``.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip
        scores = np.asarray(X @ self.coef_.T, dtype=np.float64) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores
