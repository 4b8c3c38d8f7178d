"""Knowledge distillation: the loss, the student's fit, scikit-learn checks."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import log_softmax, softmax
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from skmtl import MultiTaskClassifier
from skmtl.datafits import Distillation
from skmtl.transfer import DistilledClassifier

from .conftest import as_container


def _direct_loss(Z, Y, labelled, w, teacher_logits, T, lam):
    """The distillation loss written out row by row (Hinton et al., 2015)."""
    total = 0.0
    for i in range(len(Z)):
        q = softmax(teacher_logits[i] / T)
        soft = -np.dot(q, log_softmax(Z[i] / T))
        if labelled[i]:
            hard = -np.dot(Y[i], log_softmax(Z[i]))
            total += w[i] * ((1 - lam) * hard + lam * T**2 * soft)
        else:
            total += w[i] * T**2 * soft
    return total


def _loss_problem(seed=0, n=7, K=3):
    rng = np.random.default_rng(seed)
    labelled = np.array([True, True, False, True, False, True, False])[:n]
    Y = np.zeros((n, K))
    Y[np.flatnonzero(labelled), rng.integers(K, size=labelled.sum())] = 1.0
    w = rng.uniform(0.5, 2.0, size=n)
    w /= w.sum()
    teacher = 2.0 * rng.normal(size=(n, K))
    Z = rng.normal(size=(n, K))
    return Z, Y, labelled, w, teacher


# ----------------------------------------------------------------- datafit
@pytest.mark.parametrize("T, lam", [(1.0, 0.5), (2.0, 0.3), (4.0, 1.0), (0.5, 0.0)])
def test_loss_value_matches_direct_computation(T, lam):
    Z, Y, labelled, w, teacher = _loss_problem()
    df = Distillation(3, temperature=T, mix=lam).initialize(Y, w, teacher)
    expected = _direct_loss(Z, Y, labelled, w, teacher, T, lam)
    assert df.value(Z) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("T, lam", [(1.0, 0.5), (3.0, 0.7)])
def test_gradient_and_hessian_match_finite_differences(T, lam):
    Z, Y, labelled, w, teacher = _loss_problem(seed=1)
    df = Distillation(3, temperature=T, mix=lam).initialize(Y, w, teacher)
    G = df.gradient(Z)
    eps = 1e-6
    fd = np.zeros_like(Z)
    for idx in np.ndindex(*Z.shape):
        E = np.zeros_like(Z)
        E[idx] = eps
        fd[idx] = (df.value(Z + E) - df.value(Z - E)) / (2 * eps)
    np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-9)

    assert not df.diagonal_hessian  # NewtonCG then uses hessian_operator
    V = np.random.default_rng(2).normal(size=Z.shape)
    fd_hv = (df.gradient(Z + eps * V) - df.gradient(Z - eps * V)) / (2 * eps)
    HV = df.hessian_operator(Z)(V)
    np.testing.assert_allclose(HV, fd_hv, rtol=1e-5, atol=1e-9)
    # curvature bounds every row's Hessian: v^T H_i v <= c_i ||v||^2
    assert np.all(np.einsum("ik,ik->i", V, HV) <= df.curvature() * (V * V).sum(1))


def test_datafit_rejects_bad_shapes():
    df = Distillation(3)
    with pytest.raises(ValueError, match="shape"):
        df.initialize(np.zeros((4, 2)), np.ones(4), np.zeros((4, 3)))


# ------------------------------------------------------------------ student
def _objective_gradient(est, X, y, teacher_logits, sample_weight=None, unl=None):
    """Gradient of the whole objective at the fitted multiclass student."""
    X = X.toarray() if sp.issparse(X) else X
    n, K = teacher_logits.shape
    sw = np.ones(n) if sample_weight is None else sample_weight
    w = sw / sw.sum()
    labelled = np.ones(n, dtype=bool) if unl is None else ~unl
    Y = np.zeros((n, K))
    Y[np.flatnonzero(labelled), np.searchsorted(est.classes_, y[labelled])] = 1.0
    T, lam = est.temperature, est.mix
    Z = X @ est.coef_.T.astype(float) + est.intercept_
    Q = softmax(teacher_logits / T, axis=1)
    a = np.where(labelled, (1 - lam) * w, 0.0)
    c = np.where(labelled, lam * w, w)
    G = a[:, None] * (softmax(Z, axis=1) - Y)
    G += (T * c)[:, None] * (softmax(Z / T, axis=1) - Q)
    return X.T @ G + est.alpha * est.coef_.T, G.sum(axis=0)


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs"])
def test_kkt_at_solution(container, dtype, solver):
    X, y = make_classification(
        120, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )
    teacher = LogisticRegression(C=0.5).fit(X, y)
    unl = np.arange(len(y)) % 3 == 0
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    # float32 products limit how far the gradient can be driven down
    tol = 1e-8 if dtype == np.float64 else 1e-5
    est = DistilledClassifier(
        teacher, temperature=3.0, mix=0.4, alpha=0.02, tol=tol, solver=solver
    )
    est.fit(as_container(X, container, dtype), y, sample_weight=sw, unlabelled=unl)
    assert est.coef_.shape == (3, 5) and est.coef_.dtype == dtype
    gW, gb = _objective_gradient(est, X, y, teacher.decision_function(X), sw, unl)
    tol = 1e-6 if dtype == np.float64 else 1e-4
    assert np.max(np.abs(gW)) < tol
    assert np.max(np.abs(gb)) < tol
    assert est.kkt_violation_ <= est.kkt_tol_


@pytest.mark.parametrize("n_classes", [2, 3])
def test_mix_zero_is_the_core_classifier(n_classes):
    X, y = make_classification(
        150, 6, n_informative=4, n_classes=n_classes, random_state=1
    )
    teacher = GaussianNB().fit(X, y)  # ignored when mix=0 and all rows labelled
    alpha = 0.03
    est = DistilledClassifier(teacher, mix=0.0, alpha=alpha, tol=1e-10).fit(X, y)
    core = MultiTaskClassifier(alpha, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(
        est.coef_, core.coef_.reshape(est.coef_.shape), atol=1e-7
    )
    np.testing.assert_allclose(
        est.intercept_, core.intercept_.reshape(est.intercept_.shape), atol=1e-7
    )
    np.testing.assert_allclose(est.predict_proba(X), core.predict_proba(X), atol=1e-8)
    # and scikit-learn's (multinomial) logistic regression, C = 1 / (alpha * n)
    sk = LogisticRegression(C=1 / (alpha * len(y)), tol=1e-12, max_iter=10_000)
    sk.fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X), sk.predict_proba(X), atol=1e-5)


def test_mix_one_recovers_a_linear_teacher():
    X, y = make_classification(
        300, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=2
    )
    teacher = MultiTaskClassifier(0.05).fit(X, y)
    est = DistilledClassifier(teacher, temperature=1.0, mix=1.0, alpha=1e-8, tol=1e-10)
    est.fit(X, y)
    np.testing.assert_allclose(
        est.predict_proba(X), teacher.predict_proba(X), atol=1e-4
    )


def test_binary_logits_from_decision_function_or_proba_agree():
    X, y = make_classification(100, 4, random_state=3)
    teacher = LogisticRegression().fit(X, y)
    kw = dict(temperature=2.5, mix=0.6, tol=1e-10)
    a = DistilledClassifier(teacher, **kw).fit(X, y)
    b = DistilledClassifier(teacher, teacher_response="predict_proba", **kw).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-6)
    assert a.coef_.shape == (1, 4) and a.intercept_.shape == (1,)
    assert a.decision_function(X).shape == (100,)
    np.testing.assert_array_equal(
        a.predict(X), a.classes_[(a.decision_function(X) > 0) * 1]
    )


def test_unlabelled_rows_carry_the_teachers_knowledge():
    gains = []
    for seed in range(5):
        X, y = make_classification(
            2200, 20, n_informative=10, n_classes=3, class_sep=1.0, random_state=seed
        )
        X_teach, y_teach = X[:1000], y[:1000]
        X_tr, y_tr, X_te, y_te = X[1000:1600], y[1000:1600], X[1600:], y[1600:]
        teacher = LogisticRegression(max_iter=1000).fit(X_teach, y_teach)
        rng = np.random.default_rng(seed)
        few = np.zeros(len(y_tr), dtype=bool)
        for k in range(3):  # 5 labels per class
            few[rng.choice(np.flatnonzero(y_tr == k), 5, replace=False)] = True
        distilled = DistilledClassifier(teacher, temperature=2.0)
        distilled.fit(X_tr, y_tr, unlabelled=~few)
        alone = MultiTaskClassifier(0.01).fit(X_tr[few], y_tr[few])
        gains.append(distilled.score(X_te, y_te) - alone.score(X_te, y_te))
    gains = np.array(gains)
    assert np.all(gains > 0), gains
    assert gains.mean() > 0.05, gains


def test_sklearn_student_is_exact_at_temperature_one():
    X, y = make_classification(
        200, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=4
    )
    teacher = GaussianNB().fit(X[:100], y[:100])
    unl = np.arange(len(y)) % 4 == 0
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    alpha = 0.05
    kw = dict(temperature=1.0, mix=0.3)
    builtin = DistilledClassifier(teacher, alpha=alpha, tol=1e-10, **kw)
    builtin.fit(X, y, sample_weight=sw, unlabelled=unl)
    sk = LogisticRegression(
        C=1 / (alpha * sw.sum()), solver="newton-cholesky", tol=1e-12, max_iter=1000
    )
    wrapped = DistilledClassifier(teacher, student=sk, **kw)
    wrapped.fit(X, y, sample_weight=sw, unlabelled=unl)
    np.testing.assert_allclose(
        wrapped.predict_proba(X), builtin.predict_proba(X), atol=1e-5
    )
    with pytest.raises(ValueError, match="temperature=1 only"):
        DistilledClassifier(teacher, student=sk, temperature=2.0).fit(
            X, y, unlabelled=unl
        )


def test_string_labels_with_unlabelled_rows():
    X, y = make_classification(
        120, 4, n_classes=3, n_informative=3, n_redundant=0, random_state=5
    )
    names = np.array(["ant", "bee", "cat"])
    teacher = LogisticRegression().fit(X, names[y])
    y_obj = names[y].astype(object)
    unl = np.arange(len(y)) % 2 == 0
    y_obj[unl] = -1  # any placeholder, never read
    est = DistilledClassifier(teacher).fit(X, y_obj, unlabelled=unl)
    np.testing.assert_array_equal(est.classes_, names)
    ref = DistilledClassifier(teacher).fit(X, names[y], unlabelled=unl)
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    assert set(est.predict(X)) <= set(names)
    with pytest.raises(ValueError, match="not among the teacher's classes_"):
        DistilledClassifier(teacher).fit(X, np.where(y == 0, "dog", names[y]))


def test_teacher_sees_other_features():
    # generalized distillation: the teacher sees privileged features
    X, y = make_classification(300, 8, n_informative=6, random_state=6)
    teacher = LogisticRegression().fit(X, y)
    X_student = X[:, :3]
    est = DistilledClassifier(teacher).fit(X_student, y, teacher_X=X)
    assert est.coef_.shape == (1, 3) and est.n_features_in_ == 3
    with pytest.raises(ValueError, match="needs a teacher"):
        DistilledClassifier().fit(X_student, y, teacher_X=X)


def test_errors():
    X, y = make_classification(50, 4, random_state=7)
    with pytest.raises(NotFittedError):
        DistilledClassifier(LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="unlabelled"):
        DistilledClassifier().fit(X, y, unlabelled=np.ones(50, dtype=bool))
    with pytest.raises(ValueError, match="unlabelled must be an array of bool"):
        DistilledClassifier().fit(X, y, unlabelled=(y == 0).astype(int))
    with pytest.raises(NotFittedError):
        DistilledClassifier().predict(X)


def test_self_distillation_and_pickle_roundtrip(container):
    X, y = make_classification(
        80, 4, n_classes=3, n_informative=3, n_redundant=0, random_state=8
    )
    unl = np.arange(len(y)) >= 40
    y = np.where(unl, -1, y)
    Xc = as_container(X, container)
    est = DistilledClassifier(temperature=3.0, mix=0.5).fit(Xc, y, unlabelled=unl)
    assert isinstance(est.teacher_, MultiTaskClassifier)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(Xc), est.predict_proba(Xc))
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "coef_")
    # the caller's arrays are left alone
    assert np.sum(y == -1) == 40


def test_minus_one_is_an_ordinary_class():
    """-1 is a class like any other: only the unlabelled mask marks rows."""
    X, y = make_classification(90, 4, n_informative=3, n_redundant=0, random_state=9)
    y_pm = np.where(y == 0, -1, 1)
    teacher = LogisticRegression().fit(X, y_pm)
    unl = np.arange(90) >= 30
    est = DistilledClassifier(teacher).fit(X, y_pm, unlabelled=unl)
    np.testing.assert_array_equal(est.classes_, [-1, 1])
    # placeholders of unlabelled rows are never read: any values, same model
    scrambled = np.where(unl, 999, y_pm)
    again = DistilledClassifier(teacher).fit(X, scrambled, unlabelled=unl)
    np.testing.assert_array_equal(again.coef_, est.coef_)
    # with no mask every row is labelled, the -1 rows included
    full = DistilledClassifier(teacher, mix=0.0).fit(X, y_pm)
    core = MultiTaskClassifier(full.alpha, tol=1e-4).fit(X, y_pm)
    np.testing.assert_allclose(full.predict_proba(X), core.predict_proba(X), atol=1e-3)


def test_unlabelled_mask_is_routed():
    import sklearn
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import GridSearchCV

    X, y = make_classification(120, 4, n_informative=3, n_redundant=0, random_state=3)
    teacher = FrozenEstimator(LogisticRegression().fit(X, y))  # clone keeps it
    unl = np.arange(120) % 2 == 0
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(DistilledClassifier(teacher), {"mix": [0.2, 0.8]}, cv=2)
        gs.fit(X, np.where(unl, -5, y), unlabelled=unl)
    direct = DistilledClassifier(teacher, mix=gs.best_params_["mix"])
    direct.fit(X, y, unlabelled=unl)
    np.testing.assert_allclose(gs.best_estimator_.coef_, direct.coef_)


# scikit-learn checks: tests/test_common.py (the one expected-failure list)
