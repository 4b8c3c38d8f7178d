"""Penalties on a sum of parts (dirty, RMTL, rMTFL), checked against references.

- the penalty maths: values from numpy's norms, proximal steps and the
  distances to the subdifferentials against convex programs solved by cvxpy
  (a norm's subdifferential at ``a`` is ``{u : N*(u) <= 1, <u, a> = N(a)}``);
- whole fits (squared, binary and multinomial logistic losses; dense and
  sparse; float64 and float32; sample weights) against cvxpy minimising the
  same objective over both parts, written here from its definition;
- the limits (one part priced out) against scikit-learn's ``MultiTaskLasso``
  and ``Lasso`` and against the trace-norm model;
- planted structure recovered; the protocol (gate, paths, warm starts) and the
  scikit-learn API round trips.
"""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.linear_model import Lasso, MultiTaskLasso

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import (
    L21,
    PENALTY_ALIASES,
    Dirty,
    RobustFeatureLearning,
    RobustLowRank,
    TraceNorm,
)

from .conftest import (
    as_container,
    check_cv_matches_grid_search,
    cp,
    needs_cvxpy,
    ragged_problem,
    solve_cvxpy,
)

LABELS = np.array(["a", "b", "c", "d"])

# the parts' norms, from numpy, on one part A (p, T[, K])


def _rows(A):
    return A.reshape(A.shape[0], -1)


def _cols(A):
    return np.swapaxes(A, 0, 1).reshape(A.shape[1], -1)


def _nuclear(A):
    A = A if A.ndim == 3 else A[:, :, None]
    return sum(np.linalg.norm(A[:, :, k], "nuc") for k in range(A.shape[2]))


NORMS = {
    "l1": lambda A: np.abs(A).sum(),
    "block_linf": lambda A: np.abs(_rows(A)).max(axis=1).sum(),
    "block_l2": lambda A: np.linalg.norm(_rows(A), axis=1).sum(),
    "task_l2": lambda A: np.linalg.norm(_cols(A), axis=1).sum(),
    "nuclear": _nuclear,
}

# penalty object -> (norm of P, strength of P, norm of Q, strength of Q)
SETTINGS = {
    "dirty": (Dirty(block=1.0, sparse=0.5), "block_linf", "l1"),
    "dirty_l2": (Dirty(block=1.0, sparse=0.8, block_norm="l2"), "block_l2", "l1"),
    "rmtl": (RobustLowRank(low_rank=1.0, outlier=0.7), "nuclear", "task_l2"),
    "rmtfl": (RobustFeatureLearning(block=1.0, outlier=1.0), "block_l2", "task_l2"),
    # multinomial: the task columns gather the classes, the trace norm is per
    # class, so the parts mix nearer outlier = low_rank
    "rmtl_multi": (RobustLowRank(low_rank=1.0, outlier=0.9), "nuclear", "task_l2"),
}


def _strengths(penalty):
    params = penalty.get_params()
    params.pop("block_norm", None)
    first = "low_rank" if "low_rank" in params else "block"
    second = next(k for k in params if k != first)
    return params[first], params[second]


def _penalty_value(name, V, alpha):
    penalty, n0, n1 = SETTINGS[name]
    a, c = _strengths(penalty)
    return alpha * (a * NORMS[n0](V[0]) + c * NORMS[n1](V[1]))


# ------------------------------------------------------------- penalty maths
@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2)])
def test_value_and_declarations(name, shape):
    penalty = SETTINGS[name][0]
    bound = penalty.bind(LABELS[: shape[1]], 0.7)
    V = np.random.default_rng(0).normal(size=(2,) + shape)
    assert_allclose(bound.value(V), _penalty_value(name, V, 0.7), rtol=1e-12)
    assert bound.n_components == 2
    assert bound.is_smooth is False
    assert bound.separable_by_task is False
    assert bound.separable_by_feature is False
    assert bound.smooth_value(V) == 0.0 and bound.lipschitz() == 0.0
    assert_array_equal(bound.gradient(V), 0.0)
    parts = bound.split(V[0] + V[1])
    assert parts.shape == V.shape
    assert_allclose(parts.sum(axis=0), V[0] + V[1])


def _cvx_norm(kind, A):
    """The norm ``kind`` of a cvxpy matrix variable (p, T)."""
    return {
        "l1": lambda: cp.sum(cp.abs(A)),
        "block_linf": lambda: cp.sum(cp.max(cp.abs(A), axis=1)),
        "block_l2": lambda: cp.sum(cp.norm(A, 2, axis=1)),
        "task_l2": lambda: cp.sum(cp.norm(A, 2, axis=0)),
        "nuclear": lambda: cp.normNuc(A),
    }[kind]()


@needs_cvxpy
@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("step", [0.3, 2.0])
def test_prox_matches_cvxpy(name, step):
    penalty, n0, n1 = SETTINGS[name]
    alpha = 0.6
    bound = penalty.bind(LABELS, alpha)
    V = np.random.default_rng(1).normal(size=(2, 5, 4))
    ours = bound.prox(V, step)
    a, c = _strengths(penalty)
    for k, (kind, lam) in enumerate(((n0, a), (n1, c))):
        Z = cp.Variable((5, 4))
        objective = 0.5 * cp.sum_squares(Z - V[k]) + step * alpha * lam * _cvx_norm(
            kind, Z
        )
        solve_cvxpy(cp.Problem(cp.Minimize(objective)))
        assert_allclose(ours[k], Z.value, atol=1e-7)


def _groups(kind, A):
    """The groups of ``A`` (p, T) on which ``kind``'s distance is measured."""
    if kind == "l1":
        return list(A.ravel())
    if kind in ("block_linf", "block_l2"):
        return list(A)
    if kind == "task_l2":
        return list(A.T)
    return [A]  # nuclear: the whole slice (Frobenius distance)


def _group_distance(kind, a, g, lam):
    """Distance of ``g`` to ``lam dN(a)`` on one group.

    Closed forms where the subdifferential is a point or a ball (L1 entries,
    Euclidean groups); cvxpy where it is a face: for L1,inf the signed simplex
    on the entries of largest magnitude (``{u : ||u||_1 <= lam, <u, a> = lam
    ||a||_inf}``), for the trace norm ``lam (U_r V_r^T + U_o M V_o^T)`` with
    ``||M||_2 <= 1`` (Watson 1992), ``U_o``, ``V_o`` orthonormal complements.
    """
    if kind == "l1":
        return abs(g - lam * np.sign(a)) if a != 0 else max(abs(g) - lam, 0.0)
    if kind in ("block_l2", "task_l2"):
        n = np.linalg.norm(a)
        if n > 0:
            return np.linalg.norm(g - lam * a / n)
        return max(np.linalg.norm(g) - lam, 0.0)
    if kind == "block_linf":
        U = cp.Variable(a.shape)
        constraints = [cp.norm(U, 1) <= lam]
        constraints.append(U @ a == lam * np.abs(a).max())
        value = solve_cvxpy(cp.Problem(cp.Minimize(cp.sum_squares(U - g)), constraints))
        return np.sqrt(max(value, 0.0))
    Uf, s, Vtf = np.linalg.svd(a)
    r = int(np.sum(s > 1e-10 * s.max())) if s.size and s.max() > 0 else 0
    Ur, Vr = Uf[:, :r], Vtf[:r].T
    Uo, Vo = Uf[:, r:], Vtf[r:].T
    M = cp.Variable((Uo.shape[1], Vo.shape[1]))
    U = lam * (Ur @ Vr.T + Uo @ M @ Vo.T)
    constraints = [cp.sigma_max(M) <= 1] if M.size else []
    value = solve_cvxpy(cp.Problem(cp.Minimize(cp.sum_squares(U - g)), constraints))
    return np.sqrt(max(value, 0.0))


def _reference_distance(kind, A, G, lam):
    """Largest distance over groups of ``G`` to ``lam dN(A)``."""
    return max(
        _group_distance(kind, a, g, lam)
        for a, g in zip(_groups(kind, A), _groups(kind, G))
    )


@needs_cvxpy
@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_kkt_violation_is_distance_to_subdifferential(name, seed):
    penalty, n0, n1 = SETTINGS[name]
    alpha = 0.5
    bound = penalty.bind(LABELS, alpha)
    rng = np.random.default_rng(seed)
    # parts with zero groups, ties at the row maximum and low rank, as the
    # proximal steps leave them
    V = bound.prox(rng.normal(size=(2, 5, 4)), 0.8)
    grad = rng.normal(size=(5, 4))
    a, c = _strengths(penalty)
    expected = max(
        _reference_distance(kind, V[k], -grad, alpha * lam)
        for k, (kind, lam) in enumerate(((n0, a), (n1, c)))
    )
    ours = bound.kkt_violation(V, np.stack([grad, grad]))
    assert_allclose(ours, expected, atol=2e-6)


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 3)])
def test_kkt_violation_zero_after_prox(name, shape):
    # Z = prox(V, step) means (V - Z) / step is in the subdifferential at Z
    bound = SETTINGS[name][0].bind(LABELS, 0.4)
    V = np.random.default_rng(3).normal(size=(2,) + shape)
    Z = bound.prox(V, 0.7)
    assert bound.kkt_violation(Z, -(V - Z) / 0.7) <= 1e-10
    assert bound.kkt_violation(Z, (V - Z) / 0.7) > 0.1


# ------------------------------------------------------------------ whole fits
def _row_weights(tasks, labels, sample_weight):
    sw = np.ones(len(tasks)) if sample_weight is None else sample_weight
    totals = {label: sw[tasks == label].sum() for label in labels}
    return sw / np.array([totals[t] for t in tasks])


def _losses(kind, X, y, tasks, labels, coef, intercept):
    codes = np.searchsorted(labels, tasks)
    if kind == "multinomial":
        S = np.einsum("ip,ikp->ik", X, coef[codes]) + intercept[codes]
        classes = np.unique(y)
        return logsumexp(S, axis=1) - S[np.arange(len(y)), np.searchsorted(classes, y)]
    s = np.einsum("ip,ip->i", X, coef[codes]) + intercept[codes]
    if kind == "squared":
        return 0.5 * (y - s) ** 2
    return np.logaddexp(0.0, -np.where(y > 0, 1.0, -1.0) * s)


def _objective(name, kind, X, y, tasks, labels, c, model, alpha):
    """The objective at the fitted parts, from its definition."""
    part_names = [n for n in model._penalty_attributes if n.startswith("coef_")]
    parts = [np.asarray(getattr(model, n), dtype=np.float64) for n in part_names]
    coef = parts[0] + parts[1]
    losses = _losses(kind, X, y, tasks, labels, coef, model.intercept_)
    V = np.stack([np.moveaxis(P, -1, 0) for P in parts])  # internal layout
    return float(c @ losses) + _penalty_value(name, V, alpha)


def _cvxpy_optimum(name, kind, X, y, tasks, labels, c, alpha):
    penalty, n0, n1 = SETTINGS[name]
    a, b_ = _strengths(penalty)
    onehot = (tasks[:, None] == labels[None]).astype(float)
    p, T = X.shape[1], len(labels)
    K = len(np.unique(y)) if kind == "multinomial" else 1
    Ps = [cp.Variable((p, T)) for _ in range(K)]
    Qs = [cp.Variable((p, T)) for _ in range(K)]
    bs = [cp.Variable(T) for _ in range(K)]
    ss = [
        cp.sum(cp.multiply(X @ (P + Q), onehot), axis=1) + onehot @ b
        for P, Q, b in zip(Ps, Qs, bs)
    ]
    if kind == "multinomial":
        S = cp.vstack(ss).T
        Y = (y[:, None] == np.unique(y)[None]).astype(float)
        losses = cp.log_sum_exp(S, axis=1) - cp.sum(cp.multiply(Y, S), axis=1)
        # groups run over tasks and classes: stack the class slices
        Pk, Qk = cp.hstack(Ps), cp.hstack(Qs)  # (p, K T), class-major columns
        if n0 == "nuclear":
            reg0 = sum(cp.normNuc(P) for P in Ps)
        else:
            reg0 = _cvx_norm(n0, Pk)
        if n1 == "task_l2":
            reg1 = cp.sum(cp.norm(cp.vstack(Qs), 2, axis=0))  # (K p, T) columns
        else:
            reg1 = _cvx_norm(n1, Qk)
    else:
        s = ss[0]
        if kind == "squared":
            losses = 0.5 * cp.square(y - s)
        else:
            losses = cp.logistic(-cp.multiply(np.where(y > 0, 1.0, -1.0), s))
        reg0, reg1 = _cvx_norm(n0, Ps[0]), _cvx_norm(n1, Qs[0])
    objective = c @ losses + alpha * (a * reg0 + b_ * reg1)
    return solve_cvxpy(cp.Problem(cp.Minimize(objective)))


_REFERENCES = {}
_ALPHAS = {  # strengths at which both parts are non-zero at the optimum
    ("dirty", "squared"): 0.1,
    ("dirty_l2", "squared"): 0.1,
    ("rmtl", "squared"): 0.3,
    ("rmtfl", "squared"): 0.2,
    ("dirty", "binary"): 0.01,
    ("rmtl", "binary"): 0.03,
    ("rmtfl", "binary"): 0.02,
    ("dirty", "multinomial"): 0.005,
    ("rmtfl", "multinomial"): 0.002,
    ("rmtl_multi", "multinomial"): 0.01,
}


def _reference(name, kind, weighted):
    key = (name, kind, weighted)
    if key not in _REFERENCES:
        if kind == "squared":
            X, y, tasks, labels = ragged_problem()
        else:
            n_classes = 3 if kind == "multinomial" else 2
            X, y, tasks, labels = ragged_problem(
                classification=True, n_classes=n_classes
            )
        alpha = _ALPHAS[(name, kind)]
        sw = np.random.default_rng(6).uniform(0.5, 2.0, len(y)) if weighted else None
        c = _row_weights(tasks, labels, sw)
        best = _cvxpy_optimum(name, kind, X, y, tasks, labels, c, alpha)
        _REFERENCES[key] = (X, y, tasks, labels, sw, c, alpha, best)
    return _REFERENCES[key]


def _check_fit(name, kind, weighted, container, dtype):
    X, y, tasks, labels, sw, c, alpha, best = _reference(name, kind, weighted)
    Model = MultiTaskRegressor if kind == "squared" else MultiTaskClassifier
    tol = 1e-10 if dtype == np.float64 else 1e-5
    model = Model(alpha=alpha, penalty=SETTINGS[name][0], tol=tol, max_iter=50000).fit(
        as_container(X, container, dtype), y, tasks=tasks, sample_weight=sw
    )
    ours = _objective(name, kind, X, y, tasks, labels, c, model, alpha)
    rel = 1e-6 if dtype == np.float64 else 1e-5
    assert abs(ours - best) <= rel * abs(best)
    assert_allclose(model.objective_, ours, rtol=1e-8 if dtype == np.float64 else 1e-5)
    assert model.kkt_violation_ <= model.kkt_tol_
    assert model.coef_.dtype == dtype
    parts = [getattr(model, n) for n in model._penalty_attributes if "coef_" in n]
    assert all(P.dtype == dtype and P.shape == model.coef_.shape for P in parts)
    assert_allclose(parts[0] + parts[1], model.coef_, rtol=1e-5, atol=1e-6)
    # both parts are active at these strengths: the coupling is not trivial
    assert all(np.abs(P).max() > 1e-3 for P in parts)


@needs_cvxpy
@pytest.mark.parametrize(
    "name, kind, weighted",
    [
        ("dirty", "squared", False),
        ("dirty", "squared", True),
        ("dirty_l2", "squared", False),
        ("rmtl", "squared", False),
        ("rmtl", "squared", True),
        ("rmtfl", "squared", False),
        ("dirty", "binary", False),
        ("rmtl", "binary", True),
        ("rmtfl", "binary", False),
    ],
)
def test_fit_matches_cvxpy(name, kind, weighted, container, dtype):
    _check_fit(name, kind, weighted, container, dtype)


@needs_cvxpy
@pytest.mark.parametrize("name", ["dirty", "rmtfl", "rmtl_multi"])
def test_multinomial_fit_matches_cvxpy(name):
    _check_fit(name, "multinomial", False, "dense", np.float64)


# ------------------------------------------------------------------ limits
def _shared_X_problem(seed=0, n=60, p=8, T=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    W = np.zeros((p, T))
    W[:3] = rng.normal(size=(3, T))
    W[5, 1] = 2.0
    Y = X @ W + 0.3 * rng.normal(size=(n, T))
    return X, Y


@pytest.mark.parametrize("block_norm", ["l2", "linf"])
def test_sparse_part_priced_out_is_the_block_model(block_norm):
    # sparse >= block: a row costs at least as much in Q as in P, Q = 0
    X, Y = _shared_X_problem()
    alpha = 0.05
    model = MultiTaskRegressor(
        penalty=Dirty(sparse=1.5, block_norm=block_norm), alpha=alpha, tol=1e-10,
        max_iter=20000,
    ).fit(X, Y)  # fmt: skip
    assert_array_equal(model.coef_sparse_, 0.0)
    if block_norm == "l2":
        # ... and the L1,2 norm alone on one X is scikit-learn's MultiTaskLasso
        ref = MultiTaskLasso(alpha=alpha, tol=1e-12, max_iter=100000).fit(X, Y)
        assert_allclose(model.coef_, ref.coef_, atol=1e-6)
        assert_allclose(model.intercept_, ref.intercept_, atol=1e-6)
    else:
        assert np.any(np.abs(model.coef_block_) > 0)


@pytest.mark.parametrize("block_norm", ["l2", "linf"])
def test_block_part_priced_out_is_the_lasso_of_each_task(block_norm, container):
    # sparse <= block / n_tasks (L1,inf) or / sqrt(n_tasks) (L1,2): P = 0,
    # each task's Lasso with alpha * sparse (the loss is each task's mean)
    X, Y = _shared_X_problem()
    alpha, sparse = 0.05, 0.3
    model = MultiTaskRegressor(
        penalty=Dirty(sparse=sparse, block_norm=block_norm), alpha=alpha,
        tol=1e-10, max_iter=20000,
    ).fit(as_container(X, container), Y)  # fmt: skip
    assert_array_equal(model.coef_block_, 0.0)
    for t in range(Y.shape[1]):
        ref = Lasso(alpha=alpha * sparse, tol=1e-12, max_iter=100000).fit(X, Y[:, t])
        assert_allclose(model.coef_[t], ref.coef_, atol=1e-6)
        assert_allclose(model.intercept_[t], ref.intercept_, atol=1e-6)


def test_outlier_part_priced_out_is_the_trace_norm():
    # outlier >= low_rank: the trace norm is at most the sum of column norms
    X, y, tasks, _ = ragged_problem()
    kw = dict(alpha=0.3, tol=1e-10, max_iter=20000)
    robust = MultiTaskRegressor(penalty=RobustLowRank(outlier=1.2), **kw)
    robust.fit(X, y, tasks=tasks)
    trace = MultiTaskRegressor(penalty=TraceNorm(), **kw).fit(X, y, tasks=tasks)
    assert_array_equal(robust.coef_outlier_, 0.0)
    assert robust.outlier_tasks_.size == 0
    assert_allclose(robust.coef_, trace.coef_, atol=1e-6)
    assert robust.rank_ == trace.rank_
    assert_allclose(robust.objective_, trace.objective_, rtol=1e-9)


def test_outlier_part_only_for_rmtfl_is_l21():
    # outlier large: Q = 0, the row group norm alone (L21)
    X, y, tasks, _ = ragged_problem()
    kw = dict(alpha=0.1, tol=1e-10, max_iter=20000)
    robust = MultiTaskRegressor(penalty=RobustFeatureLearning(outlier=10.0), **kw).fit(
        X, y, tasks=tasks
    )
    l21 = MultiTaskRegressor(penalty=L21(), **kw).fit(X, y, tasks=tasks)
    assert_array_equal(robust.coef_outlier_, 0.0)
    assert_allclose(robust.coef_, l21.coef_, atol=1e-6)
    assert_allclose(robust.objective_, l21.objective_, rtol=1e-9)


def test_alpha_max_gives_zero():
    # W = 0 is optimal once alpha * block exceeds the row L1 norms (dual of
    # L1,inf) of the gradient at zero and alpha * sparse its max entry
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty=Dirty(), alpha=1e3).fit(X, y, tasks=tasks)
    assert_array_equal(model.coef_, 0.0)
    assert_array_equal(model.coef_block_, 0.0)


# ------------------------------------------------------------- recovery
def _planted(kind, seed=0, n_per_task=120, p=12, T=6):
    rng = np.random.default_rng(seed)
    if kind == "dirty":
        W = np.zeros((p, T))
        W[:4] = rng.choice([-1.0, 1.0], size=(4, T)) * rng.uniform(1, 2, (4, T))
        W[8, 2], W[10, 4] = 2.0, -2.0
    else:
        W = np.outer(rng.normal(size=p), rng.uniform(0.5, 1.5, T))  # rank one
        if kind == "rmtfl":
            W[4:] = 0.0  # a shared support of four features
        W[:, 3] = 2.0 * rng.normal(size=p)  # task 3 is an outlier
    tasks = np.repeat(np.arange(T), n_per_task)
    X = rng.normal(size=(len(tasks), p))
    y = np.einsum("ij,ji->i", X, W[:, tasks]) + 0.1 * rng.normal(size=len(tasks))
    return X, y, tasks, W


def test_dirty_recovers_shared_and_specific_supports():
    X, y, tasks, W = _planted("dirty")
    penalty = Dirty(sparse=0.3)
    model = MultiTaskRegressor(penalty=penalty, alpha=0.1).fit(X, y, tasks=tasks)
    rows = np.flatnonzero(np.abs(model.coef_block_).max(axis=0) > 1e-8)
    assert_array_equal(rows, np.arange(4))
    big = np.argwhere(np.abs(model.coef_sparse_) > 0.5)
    assert_array_equal(big, [[2, 8], [4, 10]])
    assert_allclose(model.coef_, W.T, atol=0.1)


@pytest.mark.parametrize(
    "kind, penalty, alpha",
    [
        ("rmtl", RobustLowRank(outlier=0.7), 0.1),
        ("rmtfl", RobustFeatureLearning(outlier=1.5), 0.05),
    ],
)
def test_outlier_task_is_recovered(kind, penalty, alpha):
    X, y, tasks, W = _planted(kind)
    model = MultiTaskRegressor(penalty=penalty, alpha=alpha).fit(X, y, tasks=tasks)
    assert_array_equal(model.outlier_tasks_, [3])
    if kind == "rmtl":
        assert model.rank_ == 1
    else:
        support = np.flatnonzero(np.abs(model.coef_block_).max(axis=0) > 0)
        assert_array_equal(support, np.arange(4))
    assert np.corrcoef(model.coef_.ravel(), W.T.ravel())[0, 1] > 0.99


def test_outlier_tasks_keep_float_labels_exact():
    # float task labels are not cast to the data's float32 with coef_
    X, y, tasks, W = _planted("rmtfl")
    labels = np.array([0.1, 0.2, 0.3, 0.7, 1.1, 1.3])
    model = MultiTaskRegressor(penalty=RobustFeatureLearning(outlier=1.5), alpha=0.05)
    model.fit(X.astype(np.float32), y, tasks=labels[tasks])
    assert model.coef_.dtype == np.float32
    assert list(model.outlier_tasks_) == [0.7]
    assert model.outlier_tasks_[0] in model.tasks_


def test_classifier_recovers_outlier_task():
    X, y, tasks, W = _planted("rmtl", n_per_task=400)
    labels = (y > 0).astype(int)
    model = MultiTaskClassifier(penalty=RobustLowRank(outlier=0.75), alpha=0.05)
    model.fit(X, labels, tasks=tasks)
    assert_array_equal(model.outlier_tasks_, [3])
    assert model.rank_ == 1


# ------------------------------------------------------------------ protocol
def test_aliases_and_defaults():
    assert PENALTY_ALIASES["dirty"] is Dirty
    assert PENALTY_ALIASES["rmtl"] is RobustLowRank
    assert PENALTY_ALIASES["rmtfl"] is RobustFeatureLearning
    X, y, tasks, _ = ragged_problem()
    for alias in ("dirty", "rmtl", "rmtfl"):
        model = MultiTaskRegressor(penalty=alias, alpha=0.1).fit(X, y, tasks=tasks)
        assert model.kkt_violation_ <= model.kkt_tol_
        assert type(model.penalty_) is PENALTY_ALIASES[alias]


@pytest.mark.parametrize(
    "penalty, match",
    [
        (Dirty(block=-1.0), "Dirty.block"),
        (Dirty(sparse=np.nan), "Dirty.sparse"),
        (Dirty(block_norm="l1"), "block_norm"),
        (RobustLowRank(outlier=np.inf), "RobustLowRank.outlier"),
        (RobustFeatureLearning(block=-0.1), "RobustFeatureLearning.block"),
    ],
)
def test_invalid_strengths_raise_and_keep_the_fitted_model(penalty, match):
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty="dirty", alpha=0.1).fit(X, y, tasks=tasks)
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match=match):
        model.set_params(penalty=penalty).fit(X, y, tasks=tasks)
    assert_array_equal(model.coef_, coef)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "gram"])
def test_other_solvers_refuse_with_a_clear_error(solver):
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty="dirty", solver=solver)
    with pytest.raises(ValueError, match="fista"):
        model.fit(X, y, tasks=tasks)


def test_gate_names_the_parts():
    from skmtl.solvers import LBFGS
    from skmtl.solvers.base import check_solver_requirements

    bound = Dirty().bind(LABELS, 1.0)

    class _Loss:
        datafit = object()

    solver = LBFGS()
    solver._datafit_required_attr = ()
    with pytest.raises(ValueError, match="sum of parts"):
        check_solver_requirements(solver, _Loss(), bound)


def test_switching_penalty_drops_the_parts():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty="rmtl", alpha=0.3).fit(X, y, tasks=tasks)
    assert hasattr(model, "coef_outlier_")
    model.set_params(penalty="trace").fit(X, y, tasks=tasks)
    assert not hasattr(model, "coef_outlier_")
    assert not hasattr(model, "outlier_tasks_")
    assert hasattr(model, "rank_")


def test_warm_start_and_coef_init_reach_the_same_optimum():
    X, y, tasks, _ = ragged_problem()
    kw = dict(penalty=Dirty(), alpha=0.1, tol=1e-10, max_iter=20000)
    cold = MultiTaskRegressor(**kw).fit(X, y, tasks=tasks)
    warm = MultiTaskRegressor(**kw, warm_start=True).fit(X, y, tasks=tasks)
    warm.fit(X, y, tasks=tasks)
    init = MultiTaskRegressor(**kw).fit(
        X, y, tasks=tasks, coef_init=cold.coef_, intercept_init=cold.intercept_
    )
    for other in (warm, init):
        assert_allclose(other.objective_, cold.objective_, rtol=1e-9)
        assert_allclose(other.coef_, cold.coef_, atol=1e-6)


@pytest.mark.parametrize(
    "Est, penalty, alpha",
    [
        (MultiTaskRegressor, Dirty(), 0.1),
        (MultiTaskRegressor, RobustLowRank(outlier=0.7), 0.1),
        (MultiTaskRegressor, RobustFeatureLearning(outlier=1.5), 0.05),
        (MultiTaskClassifier, Dirty(block_norm="l2", sparse=0.8), 0.02),
    ],
)
def test_warm_start_reuses_the_parts(Est, penalty, alpha):
    # a warm refit at the same alpha starts from the fitted parts: one KKT
    # check (FISTA checks every 10 iterations) and the cold fit's parts
    X, y, tasks, _ = ragged_problem(classification=Est is MultiTaskClassifier)
    kw = dict(penalty=penalty, alpha=alpha, tol=1e-8, max_iter=20000)
    cold = Est(**kw).fit(X, y, tasks=tasks)
    assert cold.n_iter_ > 10
    names = [n for n in cold._penalty_attributes if n.startswith("coef_")]
    warm = Est(**kw, warm_start=True).fit(X, y, tasks=tasks)
    warm.fit(X, y, tasks=tasks)
    again = clone(cold).fit(X, y, tasks=tasks)
    again.fit(X, y, tasks=tasks, coef_init=again.coef_, intercept_init=again.intercept_)
    for model in (warm, again):
        assert model.n_iter_ <= 10
        assert_allclose(model.objective_, cold.objective_, rtol=1e-10)
        for name in names:
            assert_allclose(getattr(model, name), getattr(cold, name), atol=1e-6)
    # from another model's coef_ (W in the first part), the solver finds the
    # split again (when the second part is not 0, more iterations)
    other = Est(**kw).fit(X, y, tasks=tasks, coef_init=cold.coef_)
    assert other.n_iter_ >= warm.n_iter_
    assert_allclose(other.objective_, cold.objective_, rtol=1e-8)


def test_path_carries_the_parts():
    # a path warm-starts each point from the previous point's parts (memory)
    from skmtl._design import TaskDesign
    from skmtl._loss import SmoothLoss
    from skmtl.datafits import Quadratic
    from skmtl.solvers import solve_path

    X, y, tasks, labels = ragged_problem()
    codes = np.searchsorted(labels, tasks)
    design = TaskDesign(X, codes, len(labels))
    rw = design.sort_rows(_row_weights(tasks, labels, None))
    design.center(rw)
    datafit = Quadratic()
    datafit.initialize(design.sort_rows(y), rw)
    loss = SmoothLoss(design, datafit, True)
    W0, b0 = np.zeros((X.shape[1], len(labels))), np.zeros(len(labels))
    penalty = Dirty()
    results, _ = solve_path(
        loss, [(penalty, 0.3), (penalty, 0.1)], labels, W0, b0, 1e-9, solver="fista"
    )
    for result in results:
        assert result.components.shape == (2,) + W0.shape
        assert_allclose(result.components.sum(axis=0), result.W)
        assert result.memory is result.components


def test_sparse_and_dense_agree_and_inputs_untouched():
    X, y, tasks, _ = ragged_problem()
    X0, y0 = X.copy(), y.copy()
    kw = dict(penalty="rmtfl", alpha=0.2, tol=1e-10, max_iter=20000)
    dense = MultiTaskRegressor(**kw).fit(X, y, tasks=tasks)
    sparse = MultiTaskRegressor(**kw).fit(as_container(X, "csr"), y, tasks=tasks)
    assert_allclose(dense.coef_block_, sparse.coef_block_, atol=1e-7)
    assert_allclose(dense.coef_outlier_, sparse.coef_outlier_, atol=1e-7)
    assert_array_equal(X, X0)
    assert_array_equal(y, y0)


def test_pickle_clone_get_params():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty=Dirty(sparse=0.4), alpha=0.1)
    fitted = model.fit(X, y, tasks=tasks)
    again = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(again.coef_sparse_, fitted.coef_sparse_)
    assert clone(model).get_params()["penalty__sparse"] == 0.4
    fitted.set_params(penalty__sparse=0.1)
    assert fitted.penalty_.sparse == 0.4
    assert repr(Dirty(sparse=0.4)) == "Dirty(sparse=0.4)"


@pytest.mark.parametrize(
    "penalty, name, values",
    [(Dirty(), "sparse", [0.5, 0.8]), (RobustLowRank(), "outlier", [0.6, 0.9])],
)
def test_grid_search_and_cv_estimator_agree(penalty, name, values):
    check_cv_matches_grid_search(penalty, name, values, [1.0, 0.3, 0.03], atol=1e-5)
