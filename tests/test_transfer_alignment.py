"""CORAL and ImportanceWeightedClassifier against their closed forms.

CORAL: the recoloured source covariance equals the target covariance
(``A^T (C_s + reg I) A = C_t + reg I``), ``A`` against scipy's matrix square
root. Importance weights: on two Gaussian domains with a shared covariance the
logistic domain classifier is well specified, so the weights must approach the
true density ratio ``p_t(x) / p_s(x)``.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from skmtl.transfer import CORAL, ImportanceWeightedClassifier


def _domains(seed=0, n=400, p=4):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(n, p)) @ rng.normal(size=(p, p))
    Xt = rng.normal(size=(n + 50, p)) @ rng.normal(size=(p, p)) + 1.0
    X = np.vstack([Xs, Xt])
    tasks = np.array(["source"] * n + ["target"] * (n + 50))
    return X, tasks


@pytest.mark.parametrize("reg", [0.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_coral_matches_target_covariance(reg, dtype):
    X, tasks = _domains()
    X = X.astype(dtype)
    src = tasks == "source"
    coral = CORAL(reg=reg).fit(X, tasks=tasks)
    A = coral.coral_matrix_
    p = X.shape[1]
    Cs = np.cov(X[src].astype(np.float64), rowvar=False) + reg * np.eye(p)
    Ct = np.cov(X[~src].astype(np.float64), rowvar=False) + reg * np.eye(p)
    # the closed form, with scipy's matrix square root
    ref = np.linalg.inv(scipy.linalg.sqrtm(Cs)) @ scipy.linalg.sqrtm(Ct)
    assert_allclose(A, ref.real, rtol=1e-6, atol=1e-8)
    assert_allclose(A.T @ Cs @ A, Ct, rtol=1e-8, atol=1e-8)
    Z = coral.transform(X, tasks=tasks)
    assert Z.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-9
    if reg == 0:
        assert_allclose(np.cov(Z[src].T), np.cov(Z[~src].T), rtol=tol, atol=tol)
    assert_array_equal(Z[~src], X[~src])  # target rows unchanged
    assert_array_equal(coral.transform(X), X)  # no tasks: all target


def test_coral_refuses_sparse_and_keeps_input():
    X, tasks = _domains()
    with pytest.raises(TypeError, match="TruncatedSVD"):
        CORAL().fit(sp.csr_matrix(X), tasks=tasks)
    X0 = X.copy()
    CORAL().fit_transform(X, tasks=tasks)
    assert_array_equal(X, X0)
    with pytest.raises(ValueError, match="at least 2 source rows"):
        CORAL().fit(X[399:], tasks=tasks[399:])
    # one domain: the identity
    assert_allclose(CORAL().fit(X[:10]).coral_matrix_, np.eye(X.shape[1]))


def test_coral_in_a_pipeline_routes_tasks():
    X, tasks = _domains()
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = LogisticRegression()
        pipe = make_pipeline(CORAL(), clf).fit(X, y, tasks=tasks)
        direct = LogisticRegression().fit(CORAL().fit_transform(X, tasks=tasks), y)
        assert_allclose(pipe[-1].coef_, direct.coef_)
        # predict without tasks: target rows, unchanged
        assert_array_equal(pipe.predict(X), direct.predict(X))


@pytest.mark.parametrize("sparse", [False, True])
def test_importance_weights_approach_the_density_ratio(sparse):
    # p_s = N(-0.5, 1), p_t = N(0.5, 1): p_t / p_s = exp(x)
    rng = np.random.default_rng(0)
    n = 20000
    X = np.vstack([rng.normal(-0.5, 1, (n, 1)), rng.normal(0.5, 1, (n, 1))])
    tasks = np.repeat(["source", "target"], n)
    y = (X[:, 0] + 0.3 * rng.normal(size=2 * n) > 0).astype(int)
    unl = tasks == "target"
    unl[-50:] = False  # a few labelled target rows
    Xf = sp.csr_matrix(X) if sparse else X
    clf = ImportanceWeightedClassifier(
        domain_classifier=LogisticRegression(C=1e6), max_weight=1e6
    ).fit(Xf, y, tasks=tasks, unlabelled=unl)
    w = clf.source_weights_
    true = np.exp(X[:n, 0])
    central = np.abs(X[:n, 0]) < 2
    assert_allclose(w[central], true[central], rtol=0.1)
    assert_allclose(w.mean(), 1.0, rtol=0.05)  # E_s[p_t / p_s] = 1


def test_importance_weighted_fit_is_the_weighted_estimator():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(-1, 1, (150, 2)), rng.normal(1, 1, (150, 2))])
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    tasks = np.repeat(["source", "target"], 150)
    unl = tasks == "target"
    unl[150:160] = False
    clf = ImportanceWeightedClassifier(LinearSVC(C=0.1), max_weight=5.0)
    clf.fit(X, y, tasks=tasks, unlabelled=unl)
    w = clf.source_weights_
    g = clf.domain_classifier_.predict_proba(X[:150])[:, 1]
    raw = g / (1 - g) * 150 / 150  # equal domain sizes
    assert_allclose(w, np.minimum(raw, 5.0 * raw.mean()))
    lab = ~unl
    weights = np.ones(300)
    weights[:150] = w
    ref = LinearSVC(C=0.1).fit(X[lab], y[lab], sample_weight=weights[lab])
    assert_allclose(clf.estimator_.coef_, ref.coef_)
    assert not hasattr(clf, "predict_proba")  # LinearSVC has none
    # labels of unlabelled rows are never read
    y_str = np.array(["a", "b"])[y]
    y2 = y_str.astype(object)
    y2[unl] = None
    base = ImportanceWeightedClassifier(LinearSVC(C=0.1), max_weight=5.0)
    base.fit(X, y_str, tasks=tasks, unlabelled=unl)
    other = ImportanceWeightedClassifier(LinearSVC(C=0.1), max_weight=5.0)
    other.fit(X, y2, tasks=tasks, unlabelled=unl)
    assert_allclose(base.estimator_.coef_, clf.estimator_.coef_)
    assert_allclose(other.estimator_.coef_, clf.estimator_.coef_)


def test_importance_weighted_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="sample_weight"):
        ImportanceWeightedClassifier(_NoWeights()).fit(X, y)
    with pytest.raises(ValueError, match="unlabelled must"):
        ImportanceWeightedClassifier().fit(X, y, unlabelled=np.ones(20))


class _NoWeights(LogisticRegression):
    def fit(self, X, y):
        return super().fit(X, y)
