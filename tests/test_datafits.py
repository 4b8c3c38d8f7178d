"""Datafits and the smooth loss built on them, checked against written references.

Every datafit is checked against a closed form of its value written here, its
gradient against central finite differences of its value, its Hessian
operator against finite differences of its gradient, its per-row curvature
bound against the spectrum of the Hessian blocks, and its row restriction
against the full datafit. ``SmoothLoss`` is checked against a reference that
computes the scores of every row from a dense float64 copy of ``X`` (with the
task's weighted feature mean subtracted when the design is centred).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp, softmax

from skmtl._design import TaskDesign
from skmtl._loss import SmoothLoss
from skmtl.datafits import Distillation, Logistic, Multinomial, Quadratic

from .conftest import as_container, num_grad

N_CLASSES = 3
TEMPERATURE, MIX = 2.5, 0.3  # Distillation settings used below
KINDS = ("quadratic", "logistic", "multinomial", "multinomial_masked", "distillation")
SCALAR_KINDS = ("quadratic", "logistic")  # one score per row


# ------------------------------------------------------------------ helpers
def assert_rel(actual, desired, tol, what=""):
    """``||actual - desired|| <= tol * ||desired||`` (shapes must agree)."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, (what, actual.shape, desired.shape)
    err = np.linalg.norm(actual - desired)
    scale = max(np.linalg.norm(desired), 1e-12)
    assert err <= tol * scale, f"{what}: relative error {err / scale:.3g} > {tol}"


def make_rows(kind, n_rows, rng):
    """Per-row data of a datafit: targets ``y``, weights ``w`` and extras."""
    w = rng.uniform(0.2, 1.5, n_rows)
    if kind == "quadratic":
        return {"y": rng.normal(size=n_rows), "w": w}
    if kind == "logistic":
        return {"y": rng.choice([-1.0, 1.0], n_rows), "w": w}
    labels = rng.integers(N_CLASSES, size=n_rows)
    Y = np.eye(N_CLASSES)[labels]
    if kind == "multinomial":
        return {"y": Y, "w": w}
    if kind == "multinomial_masked":
        mask = rng.random((n_rows, N_CLASSES)) < 0.6
        mask[0] = False  # one row with a single class left
        mask[np.arange(n_rows), labels] = True  # a row's label is never masked
        return {"y": Y, "w": w, "mask": mask}
    assert kind == "distillation"
    Y[::3] = 0.0  # unlabelled rows: the teacher alone
    teacher = 2.0 * rng.normal(size=(n_rows, N_CLASSES))
    teacher[1, 0] = -np.inf  # a class the teacher rules out
    return {"y": Y, "w": w, "teacher": teacher}


def init_datafit(kind, data):
    if kind == "quadratic":
        datafit, extra = Quadratic(), {}
    elif kind == "logistic":
        datafit, extra = Logistic(), {}
    elif kind == "multinomial":
        datafit, extra = Multinomial(N_CLASSES), {}
    elif kind == "multinomial_masked":
        datafit, extra = Multinomial(N_CLASSES), {"class_mask": data["mask"]}
    else:
        datafit = Distillation(N_CLASSES, temperature=TEMPERATURE, mix=MIX)
        extra = {"teacher_logits": data["teacher"]}
    datafit.initialize(data["y"], data["w"], **extra)
    return datafit


def score_shape(kind, n_rows):
    return (n_rows,) if kind in SCALAR_KINDS else (n_rows, N_CLASSES)


def _distillation_weights(data):
    labelled = data["y"].sum(axis=1) > 0
    w = data["w"]
    hard = np.where(labelled, (1.0 - MIX) * w, 0.0)
    soft = np.where(labelled, MIX * w, w)
    return hard, soft, softmax(data["teacher"] / TEMPERATURE, axis=1)


def _masked(data, S):
    mask = data.get("mask")
    return S if mask is None else np.where(mask, S, -np.inf)


def ref_value(kind, data, S):
    """The loss written from its definition (stable at large scores)."""
    w, y = data["w"], data["y"]
    if kind == "quadratic":
        return 0.5 * np.sum(w * (y - S) ** 2)
    if kind == "logistic":
        z = -y * S  # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))
        return np.sum(w * (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))))
    if kind.startswith("multinomial"):
        Sm = _masked(data, S)
        linear = np.sum(y * np.where(np.isfinite(Sm), Sm, 0.0), axis=1)
        return np.sum(w * (logsumexp(Sm, axis=1) - linear))
    hard, soft, Q = _distillation_weights(data)
    T = TEMPERATURE
    ce_hard = logsumexp(S, axis=1) - np.sum(y * S, axis=1)
    ce_soft = logsumexp(S / T, axis=1) - np.sum(Q * S / T, axis=1)
    return np.sum(hard * ce_hard) + T * T * np.sum(soft * ce_soft)


def ref_gradient(kind, data, S):
    w, y = data["w"], data["y"]
    if kind == "quadratic":
        return w * (S - y)
    if kind == "logistic":
        return -w * y * expit(-y * S)
    if kind.startswith("multinomial"):
        return w[:, None] * (softmax(_masked(data, S), axis=1) - y)
    hard, soft, Q = _distillation_weights(data)
    P, R = softmax(S, axis=1), softmax(S / TEMPERATURE, axis=1)
    return hard[:, None] * (P - y) + (TEMPERATURE * soft)[:, None] * (R - Q)


def ref_hessian_product(kind, data, S, V):
    w, y = data["w"], data["y"]
    if kind == "quadratic":
        return w * V
    if kind == "logistic":
        p = expit(y * S)
        return w * p * (1 - p) * V

    def softmax_hessian(P, V):  # (diag(p) - p p^T) v, row by row
        return P * (V - np.sum(P * V, axis=1, keepdims=True))

    if kind.startswith("multinomial"):
        return w[:, None] * softmax_hessian(softmax(_masked(data, S), axis=1), V)
    hard, soft, _ = _distillation_weights(data)
    P, R = softmax(S, axis=1), softmax(S / TEMPERATURE, axis=1)
    return hard[:, None] * softmax_hessian(P, V) + soft[:, None] * softmax_hessian(R, V)


def make_case(kind, n_rows=9, seed=0):
    rng = np.random.default_rng(seed)
    data = make_rows(kind, n_rows, rng)
    S = 2.0 * rng.normal(size=score_shape(kind, n_rows))
    return init_datafit(kind, data), data, S, rng


def hessian_blocks(datafit, S):
    """Per-row Hessian blocks (n_rows, k, k) from the Hessian operator."""
    op = datafit.hessian_operator(S)
    if S.ndim == 1:
        return op(np.ones_like(S))[:, None, None]
    K = S.shape[1]
    cols = [op(np.repeat(np.eye(K)[k][None], S.shape[0], axis=0)) for k in range(K)]
    return np.stack(cols, axis=2)  # [i, :, k] = H_i e_k


# ----------------------------------------------------------------- datafits
@pytest.mark.parametrize("kind", KINDS)
def test_value_matches_closed_form(kind):
    datafit, data, S, _ = make_case(kind)
    assert_allclose(datafit.value(S), ref_value(kind, data, S), rtol=1e-12)
    zero = np.zeros_like(S)
    assert_allclose(datafit.value(zero), ref_value(kind, data, zero), rtol=1e-12)


def test_closed_form_values_by_hand():
    # one row each, numbers worked out by hand
    q = Quadratic()
    q.initialize(np.array([1.0, -2.0]), np.array([2.0, 0.5]))
    assert_allclose(q.value(np.array([0.0, 0.0])), 0.5 * (2 * 1 + 0.5 * 4))
    lg = Logistic()
    lg.initialize(np.array([1.0, -1.0]), np.array([1.0, 3.0]))
    assert_allclose(lg.value(np.array([0.0, 2.0])), np.log(2) + 3 * np.log1p(np.e**2))
    mn = Multinomial(2)
    mn.initialize(np.array([[0.0, 1.0]]), np.array([0.5]))
    assert_allclose(mn.value(np.array([[1.0, 3.0]])), 0.5 * np.log1p(np.exp(-2.0)))


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_matches_finite_differences(kind):
    datafit, data, S, _ = make_case(kind)
    g = datafit.gradient(S)
    assert_rel(g, num_grad(datafit.value, S), 1e-7, "gradient vs FD")
    assert_rel(g, ref_gradient(kind, data, S), 1e-12, "gradient vs closed form")


@pytest.mark.parametrize("kind", KINDS)
def test_hessian_operator_matches_finite_differences(kind):
    datafit, data, S, rng = make_case(kind)
    op = datafit.hessian_operator(S)
    eps = 1e-6
    for _ in range(3):
        V = rng.normal(size=S.shape)
        HV = op(V)
        assert HV.shape == S.shape
        fd = (datafit.gradient(S + eps * V) - datafit.gradient(S - eps * V)) / (2 * eps)
        assert_rel(HV, fd, 1e-7, "Hessian operator vs FD of gradient")
        assert_rel(HV, ref_hessian_product(kind, data, S, V), 1e-12, "closed form")
        U = rng.normal(size=S.shape)
        assert_allclose(np.sum(U * HV), np.sum(V * op(U)), rtol=1e-12)  # symmetric
    # block per row: a direction on row 2 alone moves the gradient of row 2 alone
    V = np.zeros_like(S)
    V[2] = 1.0
    HV = op(V)
    assert_array_equal(np.delete(HV, 2, axis=0), 0.0)


@pytest.mark.parametrize(
    "kind, is_quadratic, diagonal",
    [
        ("quadratic", True, True),
        ("logistic", False, True),
        ("multinomial", False, False),
        ("multinomial_masked", False, False),
        ("distillation", False, False),
    ],
)
def test_declared_capabilities(kind, is_quadratic, diagonal):
    datafit, _, S, rng = make_case(kind)
    assert datafit.is_quadratic is is_quadratic
    assert datafit.diagonal_hessian is diagonal
    V = rng.normal(size=S.shape)
    same = np.allclose(
        datafit.hessian_operator(S)(V), datafit.hessian_operator(-3 * S + 1)(V)
    )
    assert same is is_quadratic  # a quadratic's Hessian does not depend on scores


@pytest.mark.parametrize("kind", SCALAR_KINDS)
def test_hessian_diag_consistent_with_operator(kind):
    datafit, _, S, rng = make_case(kind)
    h = datafit.hessian_diag(S)
    assert np.shape(h) == S.shape
    V = rng.normal(size=S.shape)
    assert_allclose(datafit.hessian_operator(S)(V), h * V, rtol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [0.0, 1.0, 5.0, 30.0])
def test_curvature_bounds_hessian(kind, scale):
    datafit, _, S, _ = make_case(kind)
    S = scale * S
    curv = np.asarray(datafit.curvature(), dtype=np.float64)
    assert curv.shape == (S.shape[0],)
    blocks = hessian_blocks(datafit, S)
    assert_allclose(blocks, np.swapaxes(blocks, 1, 2), atol=1e-14)
    top = np.linalg.eigvalsh(blocks)[:, -1]
    assert np.all(top <= curv * (1 + 1e-12) + 1e-15), (top, curv)


@pytest.mark.parametrize("kind", KINDS)
def test_restrict_rows(kind):
    datafit, _, S, rng = make_case(kind)
    n = S.shape[0]
    value_before = datafit.value(S)
    pieces = [(0, 4), (4, 5), (5, n)]
    subs = [datafit.restrict_rows(lo, hi) for lo, hi in pieces]
    assert all(sub is not datafit for sub in subs)
    total = sum(sub.value(S[lo:hi]) for sub, (lo, hi) in zip(subs, pieces))
    assert_allclose(total, value_before, rtol=1e-13)
    grad = np.concatenate(
        [sub.gradient(S[lo:hi]) for sub, (lo, hi) in zip(subs, pieces)]
    )
    assert_allclose(grad, datafit.gradient(S), rtol=1e-14)
    V = rng.normal(size=S.shape)
    HV = np.concatenate(
        [
            sub.hessian_operator(S[lo:hi])(V[lo:hi])
            for sub, (lo, hi) in zip(subs, pieces)
        ]
    )
    assert_allclose(HV, datafit.hessian_operator(S)(V), rtol=1e-14)
    curv = np.concatenate([sub.curvature() for sub in subs])
    assert_allclose(curv, datafit.curvature(), rtol=1e-14)
    # the full datafit is left as it was
    assert datafit.value(S) == value_before
    # an empty range: no rows, no loss
    empty = datafit.restrict_rows(3, 3)
    assert empty.value(S[3:3]) == 0.0
    assert empty.gradient(S[3:3]).shape == S[3:3].shape


@pytest.mark.parametrize("kind", KINDS)
def test_large_scores_are_stable(kind):
    datafit, data, S, rng = make_case(kind)
    S = 1e3 * np.sign(S)
    if S.ndim == 2:
        S[:, 0] = -S[:, 1]  # the largest score far from the others
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        f = datafit.value(S)
        g = datafit.gradient(S)
        HV = datafit.hessian_operator(S)(rng.normal(size=S.shape))
    assert np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(HV))
    assert_allclose(f, ref_value(kind, data, S), rtol=1e-12)
    assert_allclose(g, ref_gradient(kind, data, S), rtol=1e-12, atol=1e-300)
    assert_rel(g, num_grad(datafit.value, S, eps=1e-3), 1e-6, "gradient vs FD")


def test_logistic_rejects_targets_outside_pm_one():
    with pytest.raises(ValueError, match="-1, \\+1"):
        Logistic().initialize(np.array([0.0, 1.0]), np.ones(2))


# -------------------------------------------------------------- smooth loss
N_FEATURES = 4


class Reference:
    """``f(W, b)`` from a dense float64 X, one row at a time.

    Row ``r`` of the problem is sample ``xi[r]`` of X for task ``ti[r]``; its
    score is ``(x - m_t) . w_t + b_t`` (``m_t``, the task's weighted feature
    mean, is zero when the design is not centred).
    """

    def __init__(self, kind, data, X, xi, ti, means, fit_intercept):
        self.kind, self.data, self.ti = kind, data, ti
        self.Z = X[xi] - means[ti]
        self.fit_intercept = fit_intercept

    def scores(self, W, b):
        Wrows = np.swapaxes(W, 0, 1)[self.ti]  # (n_rows, p[, K])
        S = np.einsum("rp,rp...->r...", self.Z, Wrows)
        return S + b[self.ti] if self.fit_intercept else S

    def value(self, W, b):
        return ref_value(self.kind, self.data, self.scores(W, b))

    def gradient(self, W, b):
        G = ref_gradient(self.kind, self.data, self.scores(W, b))
        gW = np.zeros((W.shape[1],) + (W.shape[0],) + W.shape[2:])
        np.add.at(gW, self.ti, np.einsum("rp,r...->rp...", self.Z, G))
        gb = np.zeros_like(b)
        if self.fit_intercept:
            np.add.at(gb, self.ti, G)
        return np.swapaxes(gW, 0, 1), gb


def smooth_problem(
    kind, container, dtype, intercept, *, n_tasks=3, shared=False, large_task=False
):
    """A SmoothLoss on ragged tasks, its reference and a random point (W, b).

    ``large_task``: the last task has 30 rows (dense X with many tasks is
    then too ragged to stack, and stored block-diagonal)."""
    rng = np.random.default_rng(1)
    if shared:  # every task sees all rows of X; rows are stacked task by task
        n = 7
        xi, ti = np.tile(np.arange(n), n_tasks), np.repeat(np.arange(n_tasks), n)
    else:
        sizes = [(1, 6, 4, 2, 5, 3)[t % 6] for t in range(n_tasks)]
        if large_task:
            sizes[-1] = 30
        ti = np.repeat(np.arange(n_tasks), sizes)
        rng.shuffle(ti)
        assert np.any(np.diff(ti) < 0)  # rows of a task are not contiguous
        n = len(ti)
        xi = np.arange(n)
    X = rng.normal(size=(n, N_FEATURES)) + np.array([2.0, -1.0, 0.5, 0.0])
    X[rng.random(X.shape) < 0.3] = 0.0
    Xc = as_container(X, container, dtype)
    Xref = X.astype(dtype).astype(np.float64)  # what the design holds
    data = make_rows(kind, len(ti), rng)
    design = TaskDesign(Xc, None if shared else ti, n_tasks)
    # rows of the datafit in the design's (task-grouped) order
    perm = np.arange(len(ti)) if shared else design.sort_rows(np.arange(n))
    means = np.zeros((n_tasks, N_FEATURES))
    if intercept == "centred":
        design.center(data["w"][perm])
        for t in range(n_tasks):
            w = data["w"][ti == t]
            means[t] = w @ Xref[xi[ti == t]] / w.sum()
    datafit = init_datafit(kind, {key: value[perm] for key, value in data.items()})
    fit_intercept = intercept != "none"
    loss = SmoothLoss(design, datafit, fit_intercept)
    ref = Reference(kind, data, Xref, xi, ti, means, fit_intercept)
    out = () if kind in SCALAR_KINDS else (N_CLASSES,)
    W = 0.5 * rng.normal(size=(N_FEATURES, n_tasks) + out)
    b = 0.5 * rng.normal(size=(n_tasks,) + out)
    return loss, ref, W, b, rng


def _pack(W, b):
    return np.concatenate([W.ravel(), b.ravel()])


def _unpack(x, W, b):
    return x[: W.size].reshape(W.shape), x[W.size :].reshape(b.shape)


def _fd_grad(ref, W, b, eps=1e-6):
    g = num_grad(lambda x: ref.value(*_unpack(x, W, b)), _pack(W, b), eps)
    return _unpack(g, W, b)


def _tol(dtype):
    return 1e-9 if dtype == np.float64 else 1e-4


INTERCEPTS = ["none", "plain", "centred"]


@pytest.mark.parametrize("intercept", INTERCEPTS)
@pytest.mark.parametrize("kind", KINDS)
def test_smooth_loss_value_grad(kind, container, dtype, intercept):
    loss, ref, W, b, _ = smooth_problem(kind, container, dtype, intercept)
    f, gW, gb = loss.value_grad(W, b)
    tol = _tol(dtype)
    assert_allclose(f, ref.value(W, b), rtol=tol)
    fdW, fdb = _fd_grad(ref, W, b)
    assert_rel(gW, fdW, max(tol, 1e-7), "gW vs FD")
    if intercept == "none":
        assert gb.shape == b.shape
        assert_array_equal(gb, 0.0)
    else:
        assert_rel(gb, fdb, max(tol, 1e-7), "gb vs FD")
    # the reference's own gradient agrees with its finite differences
    rW, rb = ref.gradient(W, b)
    assert_rel(rW, fdW, 1e-7, "reference gW")
    assert_allclose(rb, fdb, atol=1e-7 * max(np.abs(fdb).max(initial=0), 1))


@pytest.mark.parametrize("intercept", INTERCEPTS)
@pytest.mark.parametrize("kind", KINDS)
def test_smooth_loss_gradient_hessian_product(kind, container, dtype, intercept):
    loss, ref, W, b, rng = smooth_problem(kind, container, dtype, intercept)
    f, gW, gb, hessp = loss.gradient_hessian_product(W, b)
    f2, gW2, gb2 = loss.value_grad(W, b)
    assert_allclose(f, f2, rtol=1e-14)
    assert_allclose(gW, gW2, rtol=1e-13, atol=1e-300)
    assert_allclose(gb, gb2, rtol=1e-13, atol=1e-300)
    tol, eps = max(_tol(dtype), 1e-7), 1e-5
    directions = []
    for _ in range(2):
        VW, vb = rng.normal(size=W.shape), rng.normal(size=b.shape)
        HW, Hb = hessp(VW, vb)
        assert HW.shape == W.shape and Hb.shape == b.shape
        plus = ref.gradient(W + eps * VW, b + eps * vb)
        minus = ref.gradient(W - eps * VW, b - eps * vb)
        assert_rel(HW, (plus[0] - minus[0]) / (2 * eps), tol, "HW vs FD")
        if intercept == "none":
            assert_array_equal(Hb, 0.0)
        else:
            assert_rel(Hb, (plus[1] - minus[1]) / (2 * eps), tol, "Hb vs FD")
        directions.append((VW, vb, HW, Hb))
    # symmetric, and positive semi-definite (every datafit here is convex)
    (V1, v1, H1, h1), (V2, v2, H2, h2) = directions
    uHv = np.sum(V1 * H2) + np.sum(v1 * h2)
    vHu = np.sum(V2 * H1) + np.sum(v2 * h1)
    assert_allclose(uHv, vHu, rtol=10 * tol, atol=1e-12)
    assert np.sum(V1 * H1) + np.sum(v1 * h1) >= -1e-12


@pytest.mark.parametrize("kind", ["quadratic", "multinomial_masked"])
@pytest.mark.parametrize(
    "layout, mode",
    [
        ("3 tasks", "blocks"),
        ("6 tasks", "stacked"),
        ("6 tasks, one large", "blockdiag"),
        ("shared", "shared"),
    ],
)
def test_smooth_loss_storage_modes(kind, layout, mode):
    # dense X in each of the design's storage modes, with a centred intercept
    loss, ref, W, b, rng = smooth_problem(
        kind,
        "dense",
        np.float64,
        "centred",
        n_tasks=6 if layout.startswith("6 tasks") else 3,
        shared=layout == "shared",
        large_task=layout.endswith("one large"),
    )
    assert loss.design.mode == mode
    f, gW, gb, hessp = loss.gradient_hessian_product(W, b)
    assert_allclose(f, ref.value(W, b), rtol=1e-10)
    fdW, fdb = _fd_grad(ref, W, b)
    assert_rel(gW, fdW, 1e-7, "gW vs FD")
    assert_rel(gb, fdb, 1e-7, "gb vs FD")
    VW, vb = rng.normal(size=W.shape), rng.normal(size=b.shape)
    HW, Hb = hessp(VW, vb)
    eps = 1e-5
    plus = ref.gradient(W + eps * VW, b + eps * vb)
    minus = ref.gradient(W - eps * VW, b - eps * vb)
    assert_rel(HW, (plus[0] - minus[0]) / (2 * eps), 1e-7, "HW vs FD")
    assert_rel(Hb, (plus[1] - minus[1]) / (2 * eps), 1e-7, "Hb vs FD")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_outputs", [None, 3])
@pytest.mark.parametrize(
    "sizes", [(9, 9, 9, 9, 9), (2, 9, 0, 7, 5, 9)], ids=["equal", "ragged"]
)
def test_stacked_design_equals_per_task_products(sizes, n_outputs, dtype):
    # many small dense tasks are stacked (T, n_max, p), zero-padded when
    # ragged (an empty task too): products against per-task loops here
    rng = np.random.default_rng(3)
    T, p = len(sizes), 4
    codes = rng.permutation(np.repeat(np.arange(T), sizes))
    X = (rng.normal(size=(len(codes), p)) + 1.0).astype(dtype)
    w = rng.uniform(0.5, 2.0, size=len(codes))
    design = TaskDesign(X, codes, T)
    assert design.mode == "stacked"
    order = np.argsort(codes, kind="stable")
    design.center(w[order])
    out = () if n_outputs is None else (n_outputs,)
    W = rng.normal(size=(p, T) + out)
    b = rng.normal(size=(T,) + out)
    G = rng.normal(size=(len(codes),) + out)  # per row, task-grouped order
    h = rng.uniform(size=len(codes))
    Xs, cs, ws = X[order].astype(np.float64), codes[order], w[order]
    S_ref, gW_ref = np.empty_like(G), np.zeros_like(W)
    gb_ref, dW_ref, db_ref = np.zeros_like(b), np.zeros((p, T)), np.zeros(T)
    for t in range(T):
        rows = cs == t
        m = ws[rows] @ Xs[rows] / ws[rows].sum() if rows.any() else np.zeros(p)
        Xc = Xs[rows] - m
        S_ref[rows] = np.tensordot(Xc, W[:, t], axes=1) + b[t]
        gW_ref[:, t] = np.tensordot(Xc.T, G[rows], axes=1)
        gb_ref[t] = G[rows].sum(axis=0)
        dW_ref[:, t] = h[rows] @ Xc**2
        db_ref[t] = h[rows].sum()
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    atol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(design.forward(W, b), S_ref, rtol=rtol, atol=atol)
    gW, gb = design.backward(G)
    assert gW.flags.c_contiguous
    assert_allclose(gW, gW_ref, rtol=rtol, atol=atol)
    assert_allclose(gb, gb_ref, rtol=rtol, atol=atol)
    dW, db = design.hessian_diagonal(h)
    assert_allclose(dW, dW_ref, rtol=rtol, atol=atol)
    assert_allclose(db, db_ref, rtol=rtol, atol=atol)
