"""TrAdaBoost: boosting for transfer learning (Dai, Yang, Xue and Yu, 2007)."""

from collections.abc import Hashable
from math import ceil, log, sqrt
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .._tasks import TaskIndex, encode_tasks, repeat_label
from .._threads import blas_threads, product_work
from .._validation import check_class_labels, check_sample_weight
from ..base import TaskClassifierMixin, fit_or_restore
from ._base_model import weight_key, weighted_clone

__all__ = ["TrAdaBoostClassifier"]

# The paper needs 0 < eps_t < 1/2 (beta_t = eps_t / (1 - eps_t) in (0, 1)).
# Errors outside are clipped into [_EPS_CLIP, 1/2 - _EPS_CLIP]; see Notes.
_EPS_CLIP = 1e-10
_MAX_INT = np.iinfo(np.int32).max


class TrAdaBoostClassifier(TaskClassifierMixin, BaseEstimator):
    """TrAdaBoost: boosting with a few target labels and many source rows.

    The rows of ``X`` come from two domains, told apart by ``tasks``: the rows
    whose task equals ``target`` are the labelled target data ``T_s`` (the
    paper's "same-distribution" data, ``m`` rows), all the others are the
    source data ``T_d`` ("diff-distribution", ``n`` rows). Labels ``c(x)`` are
    the two classes encoded as 0 (``classes_[0]``) and 1 (``classes_[1]``).

    Algorithm 1 of Dai et al. (2007), with ``N = n_estimators``: start from the
    weights ``w^1`` (``sample_weight``, uniform by default) and, for
    ``t = 1, ..., N``,

    1. ``p^t = w^t / sum(w^t)``;
    2. fit a clone of ``estimator`` on all the rows with weights ``p^t``,
       giving ``h_t`` with values in {0, 1};
    3. its error on the target rows only,
       ``eps_t = sum_{i in T_s} w_i^t |h_t(x_i) - c(x_i)| / sum_{i in T_s} w_i^t``;
    4. ``beta_t = eps_t / (1 - eps_t)`` and
       ``beta = 1 / (1 + sqrt(2 ln(n) / N))``;
    5. source rows: ``w_i^{t+1} = w_i^t * beta ** |h_t(x_i) - c(x_i)|``
       (a source row that the learner gets wrong is probably unlike the
       target, and loses weight); target rows:
       ``w_i^{t+1} = w_i^t * beta_t ** (-|h_t(x_i) - c(x_i)|)`` (AdaBoost's
       update: a target row that the learner gets wrong gains weight).

    With ``dynamic=True`` (Al-Stouhi & Reddy, 2011) the source update of step
    5 is multiplied by the correction factor ``C_t = 2 (1 - eps_t)``. Without
    it the source weights drain into the target rows even when every source
    row is classified correctly (normalisation against the growing target
    weights), so that late rounds, the only ones that vote, hardly see the
    source data any more; ``C_t`` compensates that drift exactly for the
    correctly classified source rows.

    The prediction is a weighted vote of the second half of the rounds only,
    ``t = ceil(N/2), ..., N``:
    ``h_f(x) = 1`` if ``prod_t beta_t ** (-h_t(x)) >= prod_t beta_t ** (-1/2)``,
    else 0.

    Parameters
    ----------
    estimator : object, default=None
        Base classifier; its ``fit`` must accept ``sample_weight`` (a
        ``Pipeline``: its final step, which alone gets the weights). It is
        cloned for every round. None means
        ``LogisticRegression()``, a linear learner like the SVM of the paper's
        experiments (see Notes).
    n_estimators : int, default=50
        Number of boosting rounds ``N``.
    target : hashable, default="target"
        The label, in ``tasks``, of the target rows.
    dynamic : bool, default=False
        Multiply the source weights by ``C_t = 2 (1 - eps_t)`` each round
        (Dynamic TrAdaBoost, Al-Stouhi & Reddy, 2011); False is the original
        algorithm.
    random_state : int, RandomState instance or None, default=None
        Draws one seed per round for every ``random_state`` parameter of the
        base estimator (nested ones included), so that a fit is reproducible.

    Attributes
    ----------
    estimator_ : estimator
        The unfitted template that is cloned every round.
    estimators_ : list of estimators
        The fitted ``h_1, ..., h_N``.
    estimator_errors_ : ndarray of shape (n_estimators,)
        ``eps_t`` as measured on the target rows, before clipping.
    estimator_weights_ : ndarray of shape (n_estimators,)
        ``beta_t``, computed from the clipped error. A round votes with weight
        ``ln(1 / beta_t)``.
    beta_ : float
        The source-row factor ``beta`` (NaN when there are no source rows).
    sample_weights_ : ndarray of shape (n_samples,)
        The weights ``w^{N+1}`` left by the last round, normalised to sum 1.
    classes_ : ndarray of shape (2,)
    tasks_ : ndarray of shape (n_tasks,)
        Domain labels seen in fit (``[target]`` when ``tasks`` was None).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    skmtl.transfer.FeatureAugmenter : feature-based transfer, for linear models.
    sklearn.ensemble.AdaBoostClassifier : boosting without a source domain.

    Notes
    -----
    Choices where the paper leaves room:

    - ``tasks=None`` in ``fit`` makes every row a target row: there is no
      source update and the algorithm is AdaBoost.M1 (Freund and Schapire)
      whose vote keeps the second half of the rounds. Passing ``tasks`` in
      which no row, or every row, equals ``target`` is an error.
    - The paper requires ``eps_t < 1/2``. An error ``eps_t >= 1/2`` is
      clipped to ``1/2 - 1e-10``: ``beta_t`` is then (just below) 1, the
      target weights do not move and the round's vote weight is about 0,
      while the source rows are still reweighted, so boosting goes on rather
      than stopping as AdaBoost does. An error ``eps_t = 0`` (perfect on the
      target rows) is raised to ``1e-10``: ``beta_t`` stays positive and the
      round votes with the large but finite weight ``ln(1e10)``, about 23.
    - ``h_t`` is the base learner's ``predict`` (hard 0/1 labels; the paper
      allows values in [0, 1]), so any classifier can be boosted.
    - The base learner receives ``p^t`` multiplied by ``sum(sample_weight)``
      (the number of rows by default): the same distribution, at the scale of
      the caller's weights. Scale-free learners (trees) do not see a
      difference; regularised ones (``LogisticRegression``, SVMs) keep the
      regularisation strength they have when fitted on the data directly.
    - ``n`` in ``beta`` counts the source rows with positive
      ``sample_weight`` (zero weight is the same as leaving a row out).
      With a single source row ``beta = 1`` and the source weights stay.
    - The rows are not split into a labelled and an unlabelled test set as
      in the paper's ``S``: the learner is only given ``T = T_d + T_s``.
    - The weights are renormalised after each round to avoid overflow; this
      does not change ``p^t`` or ``eps_t``.
    - The default base learner is ``LogisticRegression()``: the paper boosts
      an SVM, a strong linear learner whose target error on the pooled data is
      below 1/2, which a decision stump often is not (then most rounds would
      be clipped and the vote carried by few learners).

    ``decision_function`` returns the log of the ratio of the paper's two
    products, ``sum_t ln(1 / beta_t) * (h_t(x) - 1/2)`` over the voting
    rounds (``>= 0`` means ``classes_[1]``). ``predict_proba`` returns the
    weighted share of the voting rounds that say ``classes_[1]``,
    ``1/2 + decision_function / sum_t ln(1 / beta_t)``: a vote share in
    [0, 1] that is at least 1/2 exactly when the prediction is
    ``classes_[1]``, not a calibrated probability (use
    ``sklearn.calibration.CalibratedClassifierCV`` for one).

    ``predict`` and the other prediction methods accept ``tasks`` and ignore
    it: they predict for the target domain, whatever a row's domain.

    References
    ----------
    W. Dai, Q. Yang, G.-R. Xue and Y. Yu, "Boosting for transfer learning",
    ICML 2007, pp. 193-200.

    S. Al-Stouhi and C. K. Reddy, "Adaptive boosting for transfer learning
    using dynamic updates", ECML PKDD 2011, pp. 60-75.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.transfer import TrAdaBoostClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 2))
    >>> tasks = np.array(["source"] * 100 + ["target"] * 20)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> y[:50] = X[:50, 1] > 0  # half of the source follows another concept
    >>> clf = TrAdaBoostClassifier(n_estimators=10).fit(X, y, tasks=tasks)
    >>> clf.predict([[1.0, -1.0], [-1.0, 1.0]])
    array([1, 0])
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "target": [Hashable],
        "dynamic": ["boolean"],
        "random_state": ["random_state"],
    }  # fmt: skip

    def __init__(
        self,
        estimator=None,
        n_estimators=50,
        *,
        target="target",
        dynamic=False,
        random_state=None,
    ):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.target = target
        self.dynamic = dynamic
        self.random_state = random_state

    def _template(self):
        return LogisticRegression() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = get_tags(self._template()).input_tags.sparse
        return tags

    def _split_domains(self, tasks, n_samples, present):
        """Task labels seen (on rows of positive weight), mask of the target rows."""
        if tasks is None:
            labels, _ = encode_tasks(repeat_label(self.target, n_samples), n_samples)
            return labels, np.ones(n_samples, dtype=bool)
        labels, codes = encode_tasks(tasks, n_samples)
        # TaskIndex compares labels of any type (it falls back to a dict)
        target_code = TaskIndex(labels).transform(
            [self.target], 1, allow_unseen=True, name="target"
        )[0]
        if target_code < 0:
            raise ValueError(
                f"No target rows: target={self.target!r} is not a label in tasks "
                f"(labels found: {labels.tolist()[:10]}). Set target to the "
                "label of the target-domain rows."
            )
        if len(labels) == 1:
            raise ValueError(
                f"No source rows: every row of tasks is the target "
                f"{self.target!r}. TrAdaBoost needs source rows (tasks != target); "
                "pass tasks=None to boost on the target rows alone."
            )
        # a domain seen only on rows of weight 0 is absent (source rows all of
        # weight 0 boost the target alone, as tasks=None: tests/test_weights.py)
        return labels[np.unique(codes[present])], codes == target_code

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y, tasks=None, sample_weight=None):
        """Boost for ``n_estimators`` rounds.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Source and target rows, stacked in any order. Sparse input needs a
            base estimator that accepts it.
        y : array-like of shape (n_samples,)
            Labels of two classes.
        tasks : hashable or array-like of shape (n_samples,), default=None
            Domain of each row: rows equal to ``target`` are the target data,
            the others the source data. None makes every row a target row
            (plain boosting, see Notes).
        sample_weight : array-like of shape (n_samples,), default=None
            Initial weights ``w^1``; None is uniform.

        Returns
        -------
        self : object
        """
        check_class_labels(y)
        X, y = validate_data(
            self, X, y, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32]
        )
        check_classification_targets(y)
        n_samples = X.shape[0]
        sw = check_sample_weight(sample_weight, n_samples)
        # a row of weight 0 is absent, its label included
        present = sw > 0
        if not present.any():
            raise ValueError("sample_weight is zero on every row.")
        y_type = type_of_target(y[present], input_name="y")
        if y_type != "binary":
            raise ValueError(
                "Only binary classification is supported. TrAdaBoost (Dai et al., "
                f"2007) is a two-class method; the type of the target is {y_type}."
            )
        self.classes_ = np.unique(y[present])
        if len(self.classes_) != 2:
            raise ValueError(
                "TrAdaBoostClassifier needs y with 2 classes; got 1 class: "
                f"{self.classes_.tolist()}."
            )
        # absent rows get class 0: at weight 0 no learner reads it
        y01 = np.where(present, np.searchsorted(self.classes_, y), 0)
        self.tasks_, is_target = self._split_domains(tasks, n_samples, present)
        if not sw[is_target].sum() > 0:
            raise ValueError("sample_weight is zero on every target row.")

        self.estimator_ = clone(self._template())
        # a Pipeline weights its final step (skmtl.transfer._base_model)
        key = weight_key(self.estimator_)
        if key is None:
            raise TypeError(
                f"{type(self.estimator_).__name__} does not accept sample_weight "
                "in fit, which TrAdaBoost needs to pass the boosting weights."
            )
        rng = check_random_state(self.random_state)
        seed_keys = sorted(
            key
            for key in self.estimator_.get_params(deep=True)
            if key == "random_state" or key.endswith("__random_state")
        )
        N = self.n_estimators
        is_source = ~is_target
        n_source = int(np.count_nonzero(is_source & (sw > 0)))
        self.beta_ = 1.0 / (1.0 + sqrt(2.0 * log(n_source) / N)) if n_source else np.nan
        scale = sw.sum()  # hand p^t to the learner at the caller's weight scale

        w = sw / scale
        self.estimators_ = []
        errors, betas = np.empty(N), np.empty(N)
        # the package's thread policy (skmtl._threads) for all the rounds: each
        # is a small fit and prediction, which BLAS threads only slow down
        with blas_threads(product_work(X)):
            for t in range(N):
                p = w / w.sum()
                est = weighted_clone(self.estimator_)
                if seed_keys:
                    est.set_params(**{k: rng.randint(_MAX_INT) for k in seed_keys})
                est.fit(X, y01, **{key: p * scale})
                miss = np.asarray(est.predict(X)) != y01
                eps = np.sum(p[is_target] * miss[is_target]) / p[is_target].sum()
                eps_c = min(max(eps, _EPS_CLIP), 0.5 - _EPS_CLIP)
                beta_t = eps_c / (1.0 - eps_c)
                # w * beta ** miss on source rows, w * beta_t ** -miss on target rows
                # (no source row of positive weight: beta_ is undefined, and the
                # source rows, of weight 0, stay at 0: AdaBoost on the target)
                source_factor = self.beta_ if n_source else 1.0
                factor = np.where(is_target, 1.0 / beta_t, source_factor)
                w = np.where(miss, p * factor, p)
                if self.dynamic:
                    # correction factor C_t = 2 (1 - eps_t) on every source row
                    w = np.where(is_target, w, 2.0 * (1.0 - eps_c) * w)
                self.estimators_.append(est)
                errors[t], betas[t] = eps, beta_t
        self.estimator_errors_ = errors
        self.estimator_weights_ = betas
        self.sample_weights_ = w / w.sum()
        return self

    def _voting_rounds(self):
        # rounds ceil(N/2), ..., N of the paper (1-based)
        return slice(ceil(len(self.estimators_) / 2) - 1, None)

    def decision_function(self, X, tasks=None):
        """Log of the paper's vote ratio; ``>= 0`` predicts ``classes_[1]``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : ignored
            Accepted for metadata routing; predictions are for the target.

        Returns
        -------
        score : ndarray of shape (n_samples,)
            ``sum_t ln(1 / beta_t) * (h_t(x) - 1/2)`` over
            ``t = ceil(N/2), ..., N``.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip
        rounds = self._voting_rounds()
        alphas = -np.log(self.estimator_weights_[rounds])
        score = np.zeros(X.shape[0])
        with blas_threads(product_work(X)):
            for alpha, est in zip(alphas, self.estimators_[rounds]):
                score += alpha * (np.asarray(est.predict(X)) == 1)
        return score - 0.5 * alphas.sum()

    def predict_proba(self, X, tasks=None):
        """Weighted share of the voting rounds for each class (see Notes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : ignored

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns in the order of ``classes_``.
        """
        score = self.decision_function(X)
        total = -np.log(self.estimator_weights_[self._voting_rounds()]).sum()
        p1 = np.clip(0.5 + score / total, 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X, tasks=None):
        """The paper's ``h_f``: the class of the weighted second-half vote.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : ignored

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        score = self.decision_function(X)
        return self.classes_[(score >= 0).astype(np.intp)]
