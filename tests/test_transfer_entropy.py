"""Minimum entropy regularization: the datafit and EntropyRegularizedClassifier.

References: the datafit's value against a closed form written here, its
gradient against central finite differences of its value and its Hessian
product against finite differences of its gradient (with and without the
class-balance term, which couples the rows), through ``SmoothLoss`` on dense
and sparse X in float32 and float64; the estimator with ``entropy_weight=0``
against :class:`JointTransferClassifier` (the same convex objective); on a
synthetic problem with a margin (the cluster assumption holds), the
unlabelled rows must improve on the labelled-only model.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import softmax
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from skmtl._design import TaskDesign
from skmtl._loss import SmoothLoss
from skmtl.datafits import EntropyRegularized
from skmtl.datasets import make_multitask_classification
from skmtl.model_selection import SourceTargetSplit
from skmtl.transfer import EntropyRegularizedClassifier, JointTransferClassifier

K = 3


def _case(class_balance, seed=0, n=9):
    rng = np.random.default_rng(seed)
    Y = np.eye(K)[rng.integers(K, size=n)]
    Y[::2] = 0.0  # unlabelled rows
    w = rng.uniform(0.2, 1.5, n)
    prior = np.array([0.2, 0.3, 0.5])
    df = EntropyRegularized(K, class_balance).initialize(Y, w, prior)
    S = 2.0 * rng.normal(size=(n, K))
    return df, Y, w, prior, S, rng


def _reference_value(Y, w, prior, S, class_balance):
    P = softmax(S, axis=1)
    lab = Y.sum(axis=1) > 0
    per_row = np.where(
        lab, -np.sum(Y * np.log(P), axis=1), -np.sum(P * np.log(P), axis=1)
    )
    u = np.where(lab, 0.0, w) / np.where(lab, 0.0, w).sum()
    p_bar = u @ P
    return w @ per_row + class_balance * np.sum(p_bar * np.log(p_bar / prior))


@pytest.mark.parametrize("class_balance", [0.0, 0.7])
def test_datafit_value_gradient_hessian(class_balance):
    df, Y, w, prior, S, rng = _case(class_balance)
    assert_allclose(
        df.value(S), _reference_value(Y, w, prior, S, class_balance), rtol=1e-12
    )
    eps = 1e-6
    fd = np.zeros_like(S)
    for idx in np.ndindex(S.shape):
        E = np.zeros_like(S)
        E[idx] = eps
        fd[idx] = (df.value(S + E) - df.value(S - E)) / (2 * eps)
    assert_allclose(df.gradient(S), fd, rtol=1e-6, atol=1e-8)
    op = df.hessian_operator(S)
    for _ in range(3):
        V, U = rng.normal(size=S.shape), rng.normal(size=S.shape)
        fd = (df.gradient(S + eps * V) - df.gradient(S - eps * V)) / (2 * eps)
        assert_allclose(op(V), fd, rtol=1e-6, atol=1e-8)
        assert_allclose(np.sum(U * op(V)), np.sum(V * op(U)), rtol=1e-10)


def test_entropy_is_not_convex_and_curvature_bounds_it():
    # an unlabelled row alone: the Hessian has a negative eigenvalue somewhere,
    # and the documented bound holds for every spectrum met
    rng = np.random.default_rng(1)
    df = EntropyRegularized(K).initialize(np.zeros((1, K)), np.ones(1))
    bound = df.curvature()[0]
    assert_allclose(bound, 2 + 2 / np.e + 4 * np.log(K))
    lowest = np.inf
    for _ in range(300):
        s = rng.normal(size=(1, K)) * rng.uniform(0, 10)
        op = df.hessian_operator(s)
        H = np.vstack([op(np.eye(K)[[j]]) for j in range(K)])
        eig = np.linalg.eigvalsh(H)
        assert np.abs(eig).max() <= bound
        lowest = min(lowest, eig.min())
    assert lowest < -1e-3
    # with the balance term there is no global bound: a clear error
    df = EntropyRegularized(K, 1.0).initialize(np.zeros((2, K)), np.ones(2))
    with pytest.raises(ValueError, match="no Lipschitz bound"):
        df.curvature()
    with pytest.raises(ValueError, match="couples every unlabelled row"):
        df.restrict_rows(0, 1)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("class_balance", [0.0, 0.5])
def test_smooth_loss_gradient_and_hessian_product(sparse, dtype, class_balance):
    rng = np.random.default_rng(2)
    n, p = 12, 5
    X = rng.normal(size=(n, p)) * (rng.random((n, p)) < 0.6)
    X = (sp.csr_matrix(X) if sparse else X).astype(dtype)
    df, Y, w, prior, _, _ = _case(class_balance, seed=3, n=n)
    design = TaskDesign(X, None, 1).center(w)
    loss = SmoothLoss(design, df, fit_intercept=True)
    W, b = rng.normal(size=(p, 1, K)), rng.normal(size=(1, K))
    f, gW, gb, hessp = loss.gradient_hessian_product(W, b)
    # reference in float64 on the uncentred model
    Xd = np.asarray(X.toarray() if sparse else X, dtype=np.float64)
    b_unc = design.intercept_from_centered(W, b)[0]
    tol = 1e-5 if dtype == np.float32 else 1e-10
    assert_allclose(
        f, _reference_value(Y, w, prior, Xd @ W[:, 0] + b_unc, class_balance),
        rtol=tol,
    )  # fmt: skip
    # finite differences on the float64 copy of the same problem
    design64 = TaskDesign(sp.csr_matrix(Xd) if sparse else Xd, None, 1).center(w)
    loss64 = SmoothLoss(design64, df, fit_intercept=True)
    eps = 1e-6

    def grad(Wx, bx):
        return loss64.value_grad(Wx, bx)[1:]

    fd = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = eps
        plus, minus = loss64.value_grad(W + E, b)[0], loss64.value_grad(W - E, b)[0]
        fd[idx] = (plus - minus) / (2 * eps)
    rtol = 1e-4 if dtype == np.float32 else 1e-6
    assert_allclose(gW, fd, rtol=rtol, atol=1e-6)
    VW, vb = rng.normal(size=W.shape), rng.normal(size=b.shape)
    HW, Hb = hessp(VW, vb)
    plus, minus = grad(W + eps * VW, b + eps * vb), grad(W - eps * VW, b - eps * vb)
    assert_allclose(HW, (plus[0] - minus[0]) / (2 * eps), rtol=rtol, atol=1e-6)
    assert_allclose(Hb, (plus[1] - minus[1]) / (2 * eps), rtol=rtol, atol=1e-6)


# ------------------------------------------------------------------ estimator
def _margin_problem(n_labelled=8, seed=0):
    """Two related tasks, labels by a threshold, rows near the boundary removed.

    The removed band is the low-density region that entropy minimization
    looks for (the cluster assumption), so the right answer is known: the
    true target boundary.
    """
    X, y, tasks, W = make_multitask_classification(
        n_tasks=2, n_samples=600, n_features=10, relatedness=0.5,
        label_model="threshold", task_names=["source", "target"], coef=True,
        random_state=seed,
    )  # fmt: skip
    z = np.einsum("ij,ij->i", X, np.asarray(W)[(tasks == "target").astype(int)])
    keep = np.abs(z) > 0.5
    X, y, tasks = X[keep], y[keep], tasks[keep]
    rng = np.random.default_rng(seed)
    tgt = np.flatnonzero(tasks == "target")
    unlabelled = np.zeros(len(y), dtype=bool)
    unlabelled[tgt] = True
    unlabelled[rng.choice(tgt, n_labelled, replace=False)] = False
    return X, y, tasks, unlabelled


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_unlabelled_rows_help_on_a_margin(seed):
    X, y, tasks, unl = _margin_problem(n_labelled=20, seed=seed)
    tgt = tasks == "target"
    # the target alone (its few labelled rows and its unlabelled rows)
    Xt, yt, ut = X[tgt], y[tgt], unl[tgt]
    base = EntropyRegularizedClassifier(0.0, alpha=0.01).fit(Xt, yt, unlabelled=ut)
    model = EntropyRegularizedClassifier(3.0, alpha=0.01).fit(Xt, yt, unlabelled=ut)
    acc_base, acc = base.score(Xt[ut], yt[ut]), model.score(Xt[ut], yt[ut])
    assert acc >= acc_base + 0.02, (acc_base, acc)
    assert acc >= 0.99  # the true boundary is found
    assert_allclose(model.labelled_coef_, base.coef_, rtol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_entropy_weight_zero_is_joint_transfer(sparse, dtype):
    X, y, tasks, _ = _margin_problem()
    X = (sp.csr_matrix(X) if sparse else X).astype(dtype)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    kw = dict(alpha=0.05, tol=1e-10)
    ours = EntropyRegularizedClassifier(0.0, 0.3, **kw).fit(
        X, y, tasks=tasks, sample_weight=sw
    )
    ref = JointTransferClassifier(0.3, **kw).fit(X, y, tasks=tasks, sample_weight=sw)
    rtol = 1e-4 if dtype == np.float32 else 1e-6
    assert_allclose(ours.coef_, ref.model_.coef_, rtol=rtol, atol=1e-6)
    assert_allclose(ours.intercept_, ref.model_.intercept_, rtol=rtol, atol=1e-6)
    assert ours.coef_.dtype == dtype


def _objective(model, X, y, tasks, unl, lam, ew, cb, alpha, coef, intercept):
    """The documented objective, written from the formula (binary case)."""
    z = X @ coef.ravel() + intercept[0]
    S = np.column_stack([np.zeros_like(z), z])
    P = softmax(S, axis=1)
    logP = np.log(P)
    Y = np.eye(2)[y]
    tgt = tasks == "target"
    ce = -np.sum(Y * logP, axis=1)
    ent = -np.sum(P * logP, axis=1)
    src_l, tgt_l = ~unl & ~tgt, ~unl & tgt
    prior = lam * Y[src_l].mean(axis=0) + (1 - lam) * Y[tgt_l].mean(axis=0)
    p_bar = P[unl].mean(axis=0)
    kl = np.sum(p_bar * np.log(p_bar / prior))
    return (
        lam * ce[src_l].mean() + (1 - lam) * ce[tgt_l].mean()
        + ew * (ent[unl].mean() + cb * kl) + alpha / 2 * np.sum(coef**2)
    )  # fmt: skip


def test_solution_is_a_local_minimum_of_the_documented_objective():
    X, y, tasks, unl = _margin_problem()
    lam, ew, cb, alpha = 0.5, 2.0, 1.0, 0.01
    model = EntropyRegularizedClassifier(
        ew, lam, class_balance=cb, alpha=alpha, tol=1e-8
    ).fit(X, y, tasks=tasks, unlabelled=unl)
    args = (model, X, y, tasks, unl, lam, ew, cb, alpha)
    best = _objective(*args, model.coef_, model.intercept_)
    assert_allclose(model.objective_, best, rtol=1e-8)
    rng = np.random.default_rng(0)
    for _ in range(10):
        dc, db = rng.normal(size=model.coef_.shape), rng.normal(size=1)
        for t in (1e-3, -1e-3):
            moved = _objective(*args, model.coef_ + t * dc, model.intercept_ + t * db)
            assert moved >= best - 1e-12
    # and below the labelled-only start
    start = EntropyRegularizedClassifier(0.0, lam, alpha=alpha, tol=1e-8).fit(
        X, y, tasks=tasks, unlabelled=unl
    )
    assert best < _objective(*args, start.coef_, start.intercept_)


def test_unlabelled_labels_are_never_read():
    X, y, tasks, unl = _margin_problem()
    rng = np.random.default_rng(5)
    y = np.array(["neg", "pos"])[y]
    y_scrambled = y.copy()
    y_scrambled[unl] = rng.permutation(y[unl])
    y_other = y.astype(object)
    y_other[unl] = None  # not even a class
    fits = [
        EntropyRegularizedClassifier(1.0, alpha=0.01).fit(
            X, yy, tasks=tasks, unlabelled=unl
        )
        for yy in (y, y_scrambled, y_other)
    ]
    for other in fits[1:]:
        assert_array_equal(other.coef_, fits[0].coef_)
        assert_array_equal(other.intercept_, fits[0].intercept_)


@pytest.mark.parametrize("seed", [0, 1])
def test_class_balance_prevents_collapse(seed):
    # overlapping classes, 6 labelled rows: the entropy alone pushes the
    # unlabelled rows into one class; the class-balance term keeps the
    # labelled rows' class shares
    X, y = make_multitask_classification(
        n_tasks=1, n_samples=400, n_features=5, class_sep=1.0, random_state=seed
    )[:2]
    unl = np.ones(400, dtype=bool)
    unl[:6] = False
    prior = y[:6].mean()
    shares = [
        EntropyRegularizedClassifier(5.0, class_balance=cb, alpha=0.01)
        .fit(X, y, unlabelled=unl)
        .predict(X[unl])
        .mean()
        for cb in (0.0, 1.0)
    ]
    assert abs(shares[0] - 0.5) > 0.4, shares  # collapsed
    assert abs(shares[1] - prior) < 0.05, shares


def test_multiclass_and_string_labels():
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [-2.0, 3.5], [-2.0, -3.5]])
    X = np.vstack([c + rng.normal(size=(60, 2)) for c in centres])
    y = np.repeat(np.array(["a", "b", "c"]), 60)
    unl = np.ones(180, dtype=bool)
    unl[[0, 60, 120]] = False
    model = EntropyRegularizedClassifier(1.0, alpha=0.01).fit(X, y, unlabelled=unl)
    assert_array_equal(model.classes_, ["a", "b", "c"])
    assert model.coef_.shape == (3, 2) and model.intercept_.shape == (3,)
    assert_allclose(model.intercept_.sum(), 0.0, atol=1e-12)
    assert model.score(X, y) > 0.95
    assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_routing_through_a_pipeline():
    X, y, tasks, unl = _margin_problem()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(MaxAbsScaler(), EntropyRegularizedClassifier(1.0))
        pipe.fit(X, y, tasks=tasks, unlabelled=unl)
        direct = EntropyRegularizedClassifier(1.0).fit(
            MaxAbsScaler().fit_transform(X), y, tasks=tasks, unlabelled=unl
        )
    assert_allclose(pipe[-1].coef_, direct.coef_)


def test_bad_input():
    X, y, tasks, unl = _margin_problem()
    model = EntropyRegularizedClassifier()
    with pytest.raises(ValueError, match="unlabelled must be an array of bool"):
        model.fit(X, y, unlabelled=unl.astype(int))
    with pytest.raises(ValueError, match="unlabelled has"):
        model.fit(X, y, unlabelled=unl[:-1])
    only_one = np.ones(len(y), dtype=bool)
    only_one[np.flatnonzero(y == 1)[:3]] = False
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(X, y, unlabelled=only_one)
    # a failed fit leaves a fitted model as it was
    model.fit(X, y, tasks=tasks, unlabelled=unl)
    coef = model.coef_.copy()
    with pytest.raises(ValueError):
        model.fit(X[:, :3], y, unlabelled=only_one)
    assert_array_equal(model.coef_, coef)
    assert model.n_features_in_ == X.shape[1]


def test_grid_search_with_source_target_split_scores_labelled_rows_only():
    # placeholders of the unlabelled rows are a value that is not a class: a
    # test fold holding one would score it as an error (or fail)
    X, y, tasks, unl = _margin_problem(n_labelled=20)
    y_placeholder = np.where(unl, -7, y)
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            EntropyRegularizedClassifier(alpha=0.01),
            {"entropy_weight": [0.0, 3.0]},
            cv=SourceTargetSplit(n_splits=2, random_state=0),
            error_score="raise",
        )
        gs.fit(X, y_placeholder, tasks=tasks, unlabelled=unl)
        folds = list(
            SourceTargetSplit(n_splits=2, random_state=0).split(
                X, y, tasks=tasks, unlabelled=unl
            )
        )
    for train, test in folds:
        assert not unl[test].any() and (tasks[test] == "target").all()
        assert unl[train].sum() == unl.sum()  # every unlabelled row trains
    assert set(gs.best_estimator_.classes_) == {0, 1}
    assert np.all(gs.cv_results_["mean_test_score"] > 0.5)
