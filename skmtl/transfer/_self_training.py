"""Self-training on the unlabelled target rows, with a schedule and class balance."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import TaskClassifierMixin, fit_or_restore
from ._base_model import BaseModel, UnlabelledTargetTagsMixin, base_has
from ._unlabelled import (
    check_transfer_rows,
    class_proportions,
    fill_prior_strength_doc,
)

__all__ = ["SelfTrainingTransferClassifier"]


def _allocate(total, proportions):
    """Integer counts summing to ``total`` closest to ``total * proportions``.

    Largest remainder (Hamilton) rounding.
    """
    raw = total * np.asarray(proportions, dtype=np.float64)
    counts = np.floor(raw).astype(np.intp)
    short = int(total - counts.sum())
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def _select_balanced(scores, quota):
    """Rows and classes: each class ``c`` takes its ``quota[c]`` best-scored rows.

    The (row, class) pairs are taken in decreasing order of score; a pair is
    kept while its class has quota left and its row is still free, so a row
    goes to the class that ranks it highest among those with room.
    """
    n_rows, n_classes = scores.shape
    order = np.argsort(-scores, axis=None, kind="stable")
    rows, classes = np.divmod(order, n_classes)
    left = np.asarray(quota, dtype=np.intp).copy()
    free = np.ones(n_rows, dtype=bool)
    pick_rows, pick_classes = [], []
    for r, c in zip(rows.tolist(), classes.tolist()):
        if left[c] > 0 and free[r]:
            free[r] = False
            left[c] -= 1
            pick_rows.append(r)
            pick_classes.append(c)
            if not left.any():
                break
    return np.asarray(pick_rows, dtype=np.intp), np.asarray(pick_classes, np.intp)


@fill_prior_strength_doc
class SelfTrainingTransferClassifier(
    UnlabelledTargetTagsMixin, TaskClassifierMixin, BaseEstimator
):
    """Self-training on the unlabelled target rows, class-balanced and scheduled.

    A base classifier is fitted on the labelled rows (source and labelled
    target); each round, the ``k`` unlabelled rows it is most confident about
    are given its predicted labels (pseudo-labels) and join the training rows
    as target rows, and the base is refitted. ``k`` is fixed (an integer) or a
    fraction of the unlabelled rows, so the pseudo-labelled share grows
    linearly over the rounds (Zhu, 2005, section 4; scikit-learn's
    ``SelfTrainingClassifier(criterion="k_best")``).

    With ``balance=True`` the pseudo-labels follow the class proportions
    ``pi`` of the labelled target rows, or another ``class_prior`` (Blum &
    Mitchell, 1998; Zou et al., 2018): after each round the pseudo-labelled
    rows of class ``c`` number ``round(pi_c * n_pseudo)`` (largest
    remainder), and class ``c`` takes the
    unlabelled rows with the highest score for ``c`` (its probability, or the
    margin of its decision value). Without balance, a base biased by the
    domain shift labels ever more rows with its favoured class and the bias
    feeds itself (a confidence threshold collapses to one class); with it the
    pseudo-labels cannot drift from the target's class proportions.

    Pseudo-labels are never revised. The unlabelled rows' ``y`` is a
    placeholder that is never read.

    Parameters
    ----------
    estimator : classifier or None, default=None
        Base classifier with ``predict_proba`` or ``decision_function``; cloned
        at every round. ``None`` is :class:`JointTransferClassifier` (defaults).
        A base whose ``fit`` takes ``tasks`` (a skmtl transfer or multi-task
        model) gets the domains (pseudo-labelled rows in ``target``) and
        predicts for ``target``; any other base is fitted on the labelled
        rows of all domains pooled. Row weights (``sample_weight``,
        ``unlabelled_weight``) need a base whose ``fit`` takes
        ``sample_weight``; a ``Pipeline`` passes them to its final step.
    target : hashable, default="target"
        Label of the target domain in ``tasks``.
    k_best : int or float, default=0.2
        Unlabelled rows labelled per round: an integer ``k >= 1``, or a
        fraction in (0, 1] of the unlabelled rows (``ceil(k_best *
        n_unlabelled)``).
    balance : bool, default=True
        Pseudo-labels follow the class proportions ``class_prior``.
    class_prior : {"target", "labelled"} or array-like of shape (n_classes,), \
default="target"
        The proportions ``pi`` that balanced pseudo-labels follow:
        ``"target"``, those of the labelled target rows (of all labelled rows
        when the target has none); ``"labelled"``, those of all labelled
        rows, source included (steadier when few target rows are labelled
        and the domains share their class proportions); or given
        proportions, in the order of ``classes_``.
    %(prior_strength)s
    unlabelled_weight : float, default=1.0
        Factor on the ``sample_weight`` of the pseudo-labelled rows (Nigam et
        al.'s lambda): below 1, the labelled rows count more.
    max_iter : int or None, default=10
        Most rounds; ``None``: until every unlabelled row is labelled.

    Attributes
    ----------
    estimator_ : classifier
        The base fitted on the labelled and pseudo-labelled rows.
    classes_ : ndarray of shape (n_classes,)
        The classes of the labelled rows.
    transduction_ : ndarray of shape (n_samples,)
        The label of every training row: ``y`` on labelled rows, the
        pseudo-label on pseudo-labelled rows, and the final model's prediction
        on the others (rows left unlabelled or of weight 0).
    labeled_iter_ : ndarray of shape (n_samples,)
        Round at which each row was labelled: 0 for labelled rows, -1 for
        rows never pseudo-labelled (or of weight 0).
    n_iter_ : int
        Rounds run.
    termination_condition_ : {"max_iter", "all_labeled", "no_change"}
        Why the rounds ended (scikit-learn's names).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : the same loop without
        domains or balance; equal to ``balance=False`` with an integer
        ``k_best`` on a base without ``tasks``.
    EMTransferClassifier : soft labels for all unlabelled rows at once.

    References
    ----------
    X. Zhu, "Semi-supervised learning literature survey", Technical Report
    1530, University of Wisconsin-Madison, 2005.

    A. Blum and T. Mitchell, "Combining labeled and unlabeled data with
    co-training", COLT 1998 (class-proportional pseudo-labels per round).

    Y. Zou, Z. Yu, B. V. K. Kumar and J. Wang, "Unsupervised domain adaptation
    for semantic segmentation via class-balanced self-training", ECCV 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.transfer import SelfTrainingTransferClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> X = rng.normal(size=(300, 5))
    >>> X[:, :2] += 3.0 * y[:, None] - 1.5  # two clusters
    >>> unlabelled = np.arange(300) >= 6  # 6 labelled rows
    >>> clf = SelfTrainingTransferClassifier().fit(X, y, unlabelled=unlabelled)
    >>> clf.n_iter_, int((clf.labeled_iter_ > 0).sum())  # 5 rounds of 59 rows
    (5, 294)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _input_tags_from_base = True  # sparse, non-negative, poor score: the base's

    _parameter_constraints = {
        "estimator": [
            HasMethods(["fit", "predict_proba"]),
            HasMethods(["fit", "decision_function"]),
            None,
        ],
        "target": "no_validation",
        "k_best": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="right"),
        ],
        "balance": ["boolean"],
        "class_prior": [StrOptions({"target", "labelled"}), "array-like"],
        "prior_strength": [Interval(Real, 0, None, closed="left")],
        "unlabelled_weight": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        target="target",
        k_best=0.2,
        balance=True,
        class_prior="target",
        prior_strength=0.0,
        unlabelled_weight=1.0,
        max_iter=10,
    ):
        self.estimator = estimator
        self.target = target
        self.k_best = k_best
        self.balance = balance
        self.class_prior = class_prior
        self.prior_strength = prior_strength
        self.unlabelled_weight = unlabelled_weight
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=False)
    @fit_or_restore
    def fit(self, X, y, tasks=None, sample_weight=None, unlabelled=None):
        """Fit on the labelled rows, then pseudo-label the unlabelled ones.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; any placeholder on the unlabelled rows (never read).
        tasks : array-like of shape (n_samples,), default=None
            Domain of each row: ``target`` or a source label. None: every row
            is a target row. Unlabelled rows are target rows whatever their
            entry.
        sample_weight : array-like of shape (n_samples,), default=None
            A row of weight 0 is absent.
        unlabelled : array-like of bool of shape (n_samples,), default=None
            True marks an unlabelled row. None: every row is labelled (the
            fit is then the base's). Requested by the class for fit, so
            ``Pipeline``, ``GridSearchCV`` and ``cross_validate`` route it
            with metadata routing on.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            For a non-bool ``unlabelled``, or when no labelled row of positive
            weight is left.
        """
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32]
        )
        n = X.shape[0]
        rows = check_transfer_rows(y, tasks, sample_weight, unlabelled, self.target, n)
        base = BaseModel(self.estimator, self.target, tasks is not None)
        base.check(type(self).__name__)
        Xk = X[rows.keep] if not rows.keep.all() else X
        y_work = rows.y.copy()
        has_label = ~rows.unlabelled
        labeled_iter = np.where(has_label, 0, -1)
        n_unlabelled = int(rows.unlabelled.sum())
        if isinstance(self.k_best, Integral):
            k = int(self.k_best)
        else:
            k = max(1, math.ceil(self.k_best * n_unlabelled))
        weight = rows.sample_weight * np.where(
            rows.unlabelled, self.unlabelled_weight, 1.0
        )
        # unit weights are not passed, so that a base without sample_weight
        # (and scikit-learn's SelfTrainingClassifier) sees the same call
        plain = sample_weight is None and self.unlabelled_weight == 1.0
        proportions = (
            class_proportions(rows, self.class_prior, self.prior_strength)
            if self.balance
            else None
        )

        def fit_base():
            return base.fit(
                Xk[has_label],
                y_work[has_label],
                None if rows.tasks is None else rows.tasks[has_label],
                None if plain else weight[has_label],
            )

        self.n_iter_ = 0
        self.termination_condition_ = "all_labeled"
        while not has_label.all() and (
            self.max_iter is None or self.n_iter_ < self.max_iter
        ):
            self.n_iter_ += 1
            model = fit_base()
            self._check_base_classes(model, rows.classes)
            pool = np.flatnonzero(~has_label)
            scores = base.scores(Xk[pool])
            if self.balance:
                n_pseudo = int((labeled_iter > 0).sum())
                done = np.bincount(
                    np.searchsorted(rows.classes, y_work[labeled_iter > 0]),
                    minlength=len(rows.classes),
                )
                goal = _allocate(n_pseudo + min(k, len(pool)), proportions)
                picked, codes = _select_balanced(scores, np.maximum(goal - done, 0))
            else:
                # scikit-learn's k_best selection, to the same indices
                confidence = scores.max(axis=1)
                codes_all = np.argmax(scores, axis=1)
                if k >= len(pool):
                    picked = np.arange(len(pool))
                else:
                    picked = np.argpartition(-confidence, k)[:k]
                codes = codes_all[picked]
            chosen = pool[picked]
            y_work[chosen] = rows.classes[codes]
            has_label[chosen] = True
            labeled_iter[chosen] = self.n_iter_
            if len(chosen) == 0:
                self.termination_condition_ = "no_change"
                break
        if self.n_iter_ == self.max_iter:
            self.termination_condition_ = "max_iter"
        if has_label.all():
            self.termination_condition_ = "all_labeled"
        model = fit_base()
        self._check_base_classes(model, rows.classes)
        self._base = base
        self.estimator_ = model
        self.classes_ = rows.classes
        # the label of every row of X (weight-0 rows: the final prediction)
        transduction = np.asarray(base.predict(X)).astype(rows.classes.dtype)
        iters = np.full(n, -1)
        keep_idx = np.flatnonzero(rows.keep)
        transduction[keep_idx[has_label]] = y_work[has_label]
        iters[keep_idx] = labeled_iter
        self.transduction_ = transduction
        self.labeled_iter_ = iters
        return self

    @staticmethod
    def _check_base_classes(model, classes):
        seen = np.asarray(model.classes_)
        if len(seen) != len(classes) or np.any(seen != classes):
            raise ValueError(
                f"the base estimator's classes_ {seen.tolist()[:10]} are not the "
                f"classes of the labelled rows {classes.tolist()[:10]}."
            )

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip

    def predict(self, X, tasks=None):
        """Predict for the target domain (``tasks`` is accepted and ignored).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        X = self._check_X(X)
        return self._base.predict(X)

    @available_if(base_has("predict_proba"))
    def predict_proba(self, X, tasks=None):
        """Class probabilities for the target domain (the base's).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_X(X)
        return self._base.predict_proba(X)

    @available_if(base_has("decision_function"))
    def decision_function(self, X, tasks=None):
        """Decision values for the target domain (the base's).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        X = self._check_X(X)
        return self._base.decision_function(X)
