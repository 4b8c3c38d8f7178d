"""Domain alignment: CORAL and importance weighting by a domain classifier."""

from numbers import Real

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from .._tasks import check_task_labels
from .._validation import check_sample_weight
from ..base import TaskClassifierMixin, fit_or_restore
from ._base_model import UnlabelledTargetTagsMixin, weight_key, weighted_clone
from ._entropy import transfer_rows

__all__ = ["CORAL", "ImportanceWeightedClassifier"]


def _is_target(tasks, target, n):
    """Boolean mask of the target rows; None means every row is a target row."""
    if tasks is None:
        return np.ones(n, dtype=bool)
    labels = check_task_labels(tasks, n)
    # label by label: numpy would broadcast a tuple label (("t", 0))
    return np.fromiter((v == target for v in labels.tolist()), dtype=bool, count=n)


def _sqrtm_psd(C, power):
    """``C ** power`` of a symmetric positive definite matrix (eigendecomposition)."""
    vals, vecs = scipy.linalg.eigh(C)
    vals = np.maximum(vals, np.finfo(C.dtype).tiny)
    return (vecs * vals**power) @ vecs.T


class CORAL(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Correlation alignment: recolour the source rows with the target covariance.

    CORAL (Sun, Feng & Saenko, 2016) maps each source row ``x`` to
    ``x A`` with ::

        A = (C_s + reg I)^(-1/2) (C_t + reg I)^(1/2)

    where ``C_s`` and ``C_t`` are the covariance matrices of the source and
    target rows seen in ``fit`` (the target rows need no label: pass the
    unlabelled target here). Target rows are left unchanged. The source's
    second-order statistics then match the target's:
    ``A^T (C_s + reg I) A = C_t + reg I`` exactly (``cov(X_s A) = C_t`` with
    ``reg=0``). A classifier trained on the recoloured source (and the target
    rows) then predicts target rows as they are.

    The covariances are dense ``(n_features, n_features)`` matrices: CORAL
    refuses sparse input (a TF-IDF matrix of 10^5 features would need 80 GB);
    reduce it first, e.g. ``make_pipeline(TruncatedSVD(100), CORAL(),
    classifier)``.

    In a :class:`~sklearn.pipeline.Pipeline` with metadata routing,
    ``tasks`` reaches ``fit`` and ``transform`` (both request it); at predict
    time omit it (every row is then a target row, left unchanged).

    Parameters
    ----------
    reg : float, default=1.0
        Ridge added to both covariances (the paper's ``eye(size)``); with
        standardised features 1 is the paper's choice.
    target : hashable, default="target"
        Label of the target domain in ``tasks``.

    Attributes
    ----------
    coral_matrix_ : ndarray of shape (n_features, n_features)
        ``A``, applied to source rows.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    References
    ----------
    B. Sun, J. Feng and K. Saenko, "Return of frustratingly easy domain
    adaptation", AAAI 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.transfer import CORAL
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(500, 2)),
    ...                rng.normal(size=(500, 2)) * [3.0, 0.5]])
    >>> tasks = np.repeat(["source", "target"], 500)
    >>> Z = CORAL(reg=0.0).fit_transform(X, tasks=tasks)
    >>> np.allclose(np.cov(Z[:500].T), np.cov(Z[500:].T))
    True
    """

    __metadata_request__fit = {"tasks": True}
    __metadata_request__transform = {"tasks": True}

    _parameter_constraints = {
        "reg": [Interval(Real, 0, None, closed="left")],
        "target": "no_validation",
    }

    def __init__(self, reg=1.0, *, target="target"):
        self.reg = reg
        self.target = target

    def _validate(self, X, reset):
        if sp.issparse(X):
            raise TypeError(
                "CORAL needs dense X: its covariances are dense (n_features, "
                "n_features) matrices. Reduce sparse input first, e.g. "
                "make_pipeline(TruncatedSVD(100), CORAL(), classifier)."
            )
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y=None, tasks=None, sample_weight=None):
        """Estimate both covariances and ``coral_matrix_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Source and target rows (target rows need no label).
        y : ignored
        tasks : array-like of shape (n_samples,), default=None
            Domain of each row; None: every row is a target row (``A`` is then
            the identity).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the covariances (numpy.cov's ``aweights``: unit
            weights give the plain covariances, scaling every weight changes
            nothing). A row of weight 0 is absent.

        Returns
        -------
        self : object

        Raises
        ------
        TypeError
            Sparse ``X``.
        ValueError
            Fewer than 2 rows in a domain that has rows; ``tasks`` without
            a row labelled ``target``.
        """
        X = self._validate(X, reset=True)
        n, p = X.shape
        is_target = _is_target(tasks, self.target, n)
        sw = check_sample_weight(sample_weight, n)
        if not (sw > 0).any():
            raise ValueError("sample_weight is zero for every row.")
        # a row of weight 0 is absent from both domains
        present = sw > 0
        X, sw, is_target = X[present], sw[present], is_target[present]
        if not is_target.any():
            # a typo in target= would otherwise align nothing, silently (the
            # other transfer estimators refuse the same tasks)
            raise ValueError(
                f"no row of tasks is the target {self.target!r}; set target= to "
                "the label of the target domain."
            )
        if is_target.all():
            # one domain: nothing to align
            self.coral_matrix_ = np.eye(p)
            return self
        for name, rows in (("source", ~is_target), ("target", is_target)):
            if rows.sum() < 2:
                raise ValueError(
                    f"CORAL needs at least 2 {name} rows to estimate a "
                    f"covariance, got {int(rows.sum())}."
                )
        eye = self.reg * np.eye(p)
        Xd = X.astype(np.float64, copy=False)
        Cs, Ct = (
            np.atleast_2d(np.cov(Xd[rows], rowvar=False, aweights=sw[rows])) + eye
            for rows in (~is_target, is_target)
        )
        self.coral_matrix_ = _sqrtm_psd(Cs, -0.5) @ _sqrtm_psd(Ct, 0.5)
        return self

    def transform(self, X, tasks=None):
        """Recolour the source rows; target rows are returned unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        tasks : array-like of shape (n_samples,), default=None
            Domain of each row; None: every row is a target row.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            A new array (``X`` is never modified).
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        out = np.array(X, copy=True)
        src = ~_is_target(tasks, self.target, X.shape[0])
        if src.any():
            out[src] = (X[src] @ self.coral_matrix_).astype(X.dtype, copy=False)
        return out

    def fit_transform(self, X, y=None, tasks=None, sample_weight=None):
        """Fit, then transform the same rows (``tasks`` goes to both)."""
        fitted = self.fit(X, y, tasks=tasks, sample_weight=sample_weight)
        return fitted.transform(X, tasks=tasks)


def _estimator_has(attr):
    """Whether the (fitted, else the given, else the default) estimator has attr."""

    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        est = LogisticRegression() if self.estimator is None else self.estimator
        return hasattr(est, attr)

    return check


class ImportanceWeightedClassifier(
    UnlabelledTargetTagsMixin, TaskClassifierMixin, BaseEstimator
):
    """Source rows weighted by the target density ratio from a domain classifier.

    A probabilistic domain classifier ``g`` learns to tell target rows
    (labelled and unlabelled) from source rows; by Bayes' rule the density
    ratio of a source row is ::

        w(x) = p_target(x) / p_source(x)
             = [g(x) / (1 - g(x))] * [n_source / n_target]

    (Zadrozny, 2004; Bickel, Brückner & Scheffer, 2007), with ``n_*`` the
    (sample-weighted) row counts the classifier saw. The estimator is then
    fitted on the labelled rows, source rows with weight ``w(x)`` times their
    ``sample_weight`` (clipped at ``max_weight`` times their mean), labelled
    target rows with their ``sample_weight``. Unlabelled rows enter only the
    domain classifier; their ``y`` is never read.

    Parameters
    ----------
    estimator : classifier, default=None
        Fitted on the weighted labelled rows; its ``fit`` must take
        ``sample_weight`` (a ``Pipeline``: its final step, which alone gets
        the weights). None is ``LogisticRegression()``.
    domain_classifier : classifier, default=None
        With ``predict_proba``; fitted with ``sample_weight`` when its ``fit``
        (or a ``Pipeline``'s final step) takes it. None is
        ``LogisticRegression()``.
    target : hashable, default="target"
        Label of the target domain in ``tasks``.
    max_weight : float, default=10.0
        Source weights are clipped at ``max_weight`` times their mean (the
        ratio is unbounded where the source is rare).

    Attributes
    ----------
    estimator_ : classifier
    domain_classifier_ : classifier
    source_weights_ : ndarray of shape (n_source_rows,)
        ``w(x)`` of the source rows of positive weight (after clipping), in
        row order.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    References
    ----------
    B. Zadrozny, "Learning and evaluating classifiers under sample selection
    bias", ICML 2004.

    S. Bickel, M. Brückner and T. Scheffer, "Discriminative learning for
    differing training and test distributions", ICML 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.transfer import ImportanceWeightedClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-1, 1, (200, 1)), rng.normal(1, 1, (200, 1))])
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> tasks = np.repeat(["source", "target"], 200)
    >>> unlabelled = tasks == "target"
    >>> clf = ImportanceWeightedClassifier().fit(
    ...     X, y, tasks=tasks, unlabelled=unlabelled)
    >>> w = clf.source_weights_
    >>> bool(w[X[:200, 0] > 0].mean() > w[X[:200, 0] < 0].mean())
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "domain_classifier": [HasMethods(["fit", "predict_proba"]), None],
        "target": "no_validation",
        "max_weight": [Interval(Real, 1, None, closed="left")],
    }

    def __init__(
        self, estimator=None, *, domain_classifier=None, target="target",
        max_weight=10.0,
    ):  # fmt: skip
        self.estimator = estimator
        self.domain_classifier = domain_classifier
        self.target = target
        self.max_weight = max_weight

    @_fit_context(prefer_skip_nested_validation=False)
    @fit_or_restore
    def fit(self, X, y, tasks=None, sample_weight=None, unlabelled=None):
        """Fit the domain classifier, then the weighted estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; placeholders on unlabelled rows (never read).
        tasks : array-like of shape (n_samples,), default=None
            Domain of each row: ``target`` or anything else (source). None:
            every row is a target row (no source to weight).
        sample_weight : array-like of shape (n_samples,), default=None
        unlabelled : array-like of bool of shape (n_samples,), default=None
            True marks a row whose label is unknown (a target row, whatever its
            ``tasks`` entry).

        Returns
        -------
        self : object
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
        if len(rows.classes) < 2:
            raise ValueError(
                "the labelled rows (unlabelled=False, positive sample_weight) must "
                "hold at least 2 classes, got 1 class."
            )
        sw, is_target = rows.sample_weight, rows.is_target
        labelled = ~rows.unlabelled
        weights = sw.copy()
        src = ~is_target
        self.domain_classifier_ = None
        self.source_weights_ = np.zeros(0)
        if src.any() and is_target.any():
            dom = (
                LogisticRegression()
                if self.domain_classifier is None
                else clone(self.domain_classifier)
            )
            domain = is_target.astype(int)
            key = weight_key(dom)
            if key is not None:
                dom = weighted_clone(dom).fit(X, domain, **{key: sw})
            else:
                dom.fit(X, domain)
            col = list(dom.classes_).index(1)
            g = np.clip(dom.predict_proba(X[src])[:, col], 1e-12, 1 - 1e-12)
            prior = sw[src].sum() / sw[is_target].sum()
            ratio = g / (1.0 - g) * prior
            ratio = np.minimum(ratio, self.max_weight * ratio.mean())
            weights[src] = sw[src] * ratio
            self.domain_classifier_ = dom
            self.source_weights_ = ratio
        est = LogisticRegression() if self.estimator is None else self.estimator
        key = weight_key(est)
        if key is None:
            raise ValueError(
                f"the estimator {type(est).__name__} does not accept sample_weight "
                "in fit, which the importance weights need."
            )
        # a Pipeline weights its final step (see weight_key)
        est = weighted_clone(est)
        est.fit(X[labelled], rows.y[labelled], **{key: weights[labelled]})
        self.estimator_ = est
        self.classes_ = est.classes_
        return self

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip

    def predict(self, X, tasks=None):
        """Predicted classes, shape (n_samples,) (``tasks`` is accepted and ignored)."""
        X = self._check_X(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X, tasks=None):
        """The estimator's class probabilities, shape (n_samples, n_classes)."""
        X = self._check_X(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X, tasks=None):
        """The estimator's decision values (``tasks`` is accepted and ignored)."""
        X = self._check_X(X)
        return self.estimator_.decision_function(X)
