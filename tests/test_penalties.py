"""Bound penalties, checked against their definitions written here.

Each penalty's value is compared with its definition (the mean-regularized
coupling through its minimisation over the shared weights, the graph coupling
through its sum over pairs of tasks), its gradient with finite differences of
its smooth part, its Hessian product with finite differences of its gradient,
``lipschitz()`` with the spectrum of the explicit Hessian, the L2,1 prox with
its optimality conditions, and the declared capabilities with what the maths
allows.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize

from skmtl.penalties import (
    L21,
    GraphLaplacian,
    Independent,
    MeanRegularized,
    TransferPrior,
)

from .conftest import num_grad

N_FEATURES, N_CLASSES = 3, 2
LABELS = np.array(["apple", "kiwi", "lime", "pear"])


def labels_for(n_tasks):
    return LABELS[:n_tasks]


def mean_reference(shared, specific):
    """alpha/2 * min_w0 (shared ||w0||^2 + specific sum_t ||w_t - w0||^2)."""

    def value(W, alpha):
        T = W.shape[1]
        if shared + T * specific == 0:
            return 0.0
        # d/dw0: shared w0 - specific sum_t (w_t - w0) = 0
        w0 = specific * W.sum(axis=1) / (shared + T * specific)
        D = W - w0[:, None]
        return 0.5 * alpha * (shared * np.sum(w0**2) + specific * np.sum(D**2))

    return value


def graph_reference(A, coupling, ridge):
    """alpha/2 (ridge sum_t ||w_t||^2 + coupling sum_{s!=t} A_st ||w_s - w_t||^2)."""

    def value(W, alpha):
        T = W.shape[1]
        total = ridge * np.sum(W**2)
        for s in range(T):
            for t in range(T):
                if s != t:
                    a = 0.5 * (A[s, t] + A[t, s])  # an asymmetric A acts symmetrised
                    total += coupling * a * np.sum((W[:, s] - W[:, t]) ** 2)
        return 0.5 * alpha * total

    return value


def _dict_adjacency(labels):
    # weights named by label; pairs may repeat in both directions or be a loop
    first, last, second = labels[0], labels[-1], labels[1 % len(labels)]
    adjacency = {(first, last): 2.0, (last, first): 0.5, (second, last): 1.0}
    index = {label: i for i, label in enumerate(labels)}
    A = np.zeros((len(labels), len(labels)))
    for (s, t), weight in adjacency.items():
        A[index[s], index[t]] += weight
    return adjacency, A


def _matrix_adjacency(labels):
    rng = np.random.default_rng(len(labels))
    return rng.uniform(0, 2, size=(len(labels), len(labels)))  # asymmetric, diagonal


def _source(shape, with_task_axis):
    """Source weights in the public layout (n_tasks, [n_classes,] n_features)."""
    rng = np.random.default_rng(7)
    public = np.moveaxis(rng.normal(size=shape), 0, -1)
    return public if with_task_axis else public[0]


def make_penalty(name, labels, shape):
    """(user penalty, value reference (W, alpha) -> float, smooth part reference)."""
    if name == "independent":
        ref = graph_reference(np.zeros((len(labels),) * 2), 0.0, 1.0)
        return Independent(), ref, ref
    if name.startswith("mean"):
        shared, specific = (float(v) for v in name.split(":")[1].split(","))
        ref = mean_reference(shared, specific)
        return MeanRegularized(shared=shared, specific=specific), ref, ref
    if name == "graph-all":
        A = np.ones((len(labels),) * 2)
        ref = graph_reference(A, 0.7, 0.4)
        return GraphLaplacian(coupling=0.7, ridge=0.4), ref, ref
    if name == "graph-dict":
        adjacency, A = _dict_adjacency(labels)
        ref = graph_reference(A, 1.3, 0.2)
        return GraphLaplacian(adjacency, coupling=1.3, ridge=0.2), ref, ref
    if name == "graph-matrix-ridge0":
        A = _matrix_adjacency(labels)
        ref = graph_reference(A, 0.5, 0.0)
        return GraphLaplacian(A.copy(), coupling=0.5, ridge=0.0), ref, ref
    if name.startswith("l21"):
        l1_ratio = float(name.split(":")[1])

        def smooth(W, alpha):
            return 0.5 * alpha * (1 - l1_ratio) * np.sum(W**2)

        def value(W, alpha):
            norms = np.linalg.norm(W.reshape(W.shape[0], -1), axis=1)
            return alpha * l1_ratio * norms.sum() + smooth(W, alpha)

        return L21(l1_ratio=l1_ratio), value, smooth
    assert name.startswith("prior")
    coef = _source(shape, with_task_axis=name == "prior")
    W_source = np.moveaxis(coef, -1, 0)  # (p, [n_classes]) or (p, T, [n_classes])
    if name != "prior":
        W_source = np.expand_dims(W_source, 1)  # one source for every task

    def ref(W, alpha):
        return 0.5 * alpha * np.sum((W - W_source) ** 2)

    return TransferPrior(coef=coef), ref, ref


SMOOTH = [
    "independent",
    "mean:1,1",
    "mean:0.5,2",
    "mean:0,1",
    "mean:1,0",
    "mean:0,0",
    "graph-all",
    "graph-dict",
    "graph-matrix-ridge0",
    "prior",
    "prior-shared-source",
]
NON_SMOOTH = ["l21:1", "l21:0.5"]
NAMES = SMOOTH + NON_SMOOTH
QUADRATIC_FORMS = [n for n in SMOOTH if not n.startswith("prior")]
SETTINGS = [(1, 0.3), (2, 2.0), (4, 0.7)]  # (n_tasks, alpha)


@pytest.fixture(params=[2, 3], ids=["2d", "3d"])
def ndim(request):
    return request.param


def setup(name, n_tasks, alpha, ndim, seed=0):
    labels = labels_for(n_tasks)
    shape = (N_FEATURES, n_tasks) + ((N_CLASSES,) if ndim == 3 else ())
    penalty, ref, smooth_ref = make_penalty(name, labels, shape)
    bound = penalty.bind(labels, alpha)
    rng = np.random.default_rng(seed)
    return bound, ref, smooth_ref, rng.normal(size=shape), rng


def explicit_hessian(bound, shape, eps=1.0):
    """Hessian of the smooth part, column by column from differences of gradients.

    The smooth parts are quadratic, so central differences are exact up to
    rounding at any step.
    """
    n = int(np.prod(shape))
    H = np.empty((n, n))
    W0 = np.zeros(shape)
    for j in range(n):
        E = np.zeros(n)
        E[j] = eps
        E = E.reshape(shape)
        H[:, j] = (
            (bound.gradient(W0 + E) - bound.gradient(W0 - E)) / (2 * eps)
        ).ravel()
    return H


params = pytest.mark.parametrize("n_tasks, alpha", SETTINGS)


@params
@pytest.mark.parametrize("name", NAMES)
def test_value_matches_definition(name, n_tasks, alpha, ndim):
    bound, ref, smooth_ref, W, _ = setup(name, n_tasks, alpha, ndim)
    assert_allclose(bound.value(W), ref(W, alpha), rtol=1e-12, atol=1e-14)
    assert_allclose(bound.smooth_value(W), smooth_ref(W, alpha), rtol=1e-12, atol=1e-14)
    if bound.is_smooth:
        assert bound.value(W) == bound.smooth_value(W)


@params
@pytest.mark.parametrize("name", NAMES)
def test_gradient_and_hvp_match_finite_differences(name, n_tasks, alpha, ndim):
    bound, _, _, W, rng = setup(name, n_tasks, alpha, ndim)
    g = bound.gradient(W)
    fd = num_grad(bound.smooth_value, W)
    assert g.shape == W.shape
    assert_allclose(g, fd, rtol=1e-7, atol=1e-8)
    for _ in range(2):
        V = rng.normal(size=W.shape)
        HV = bound.hvp(V)
        assert HV.shape == W.shape
        eps = 1e-3  # the gradient is affine: exact up to rounding
        fd = (bound.gradient(W + eps * V) - bound.gradient(W - eps * V)) / (2 * eps)
        assert_allclose(HV, fd, rtol=1e-9, atol=1e-10)


@params
@pytest.mark.parametrize("name", NAMES)
def test_lipschitz_bounds_hessian_spectrum(name, n_tasks, alpha, ndim):
    bound, _, _, W, _ = setup(name, n_tasks, alpha, ndim)
    H = explicit_hessian(bound, W.shape)
    assert_allclose(H, H.T, atol=1e-12)
    top = np.linalg.eigvalsh(0.5 * (H + H.T))[-1]
    L = bound.lipschitz()
    assert L >= top * (1 - 1e-10) - 1e-12
    assert L <= 2 * top + 1e-12  # a bound, but not a uselessly loose one
    # hvp is the same matrix
    V = np.random.default_rng(3).normal(size=W.shape)
    assert_allclose(bound.hvp(V).ravel(), H @ V.ravel(), rtol=1e-10, atol=1e-12)


@params
@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_prox_is_identity_and_kkt_is_gradient_size(name, n_tasks, alpha, ndim):
    bound, _, _, W, rng = setup(name, n_tasks, alpha, ndim)
    for step in (0.1, 10.0):
        assert_array_equal(bound.prox(W, step), W)
    assert bound.kkt_violation(W, np.zeros_like(W)) == 0.0
    G = rng.normal(size=W.shape)
    kkt = bound.kkt_violation(W, G)
    # a distance from -G to {0}: between its max-norm and its Euclidean norm
    assert np.abs(G).max() * (1 - 1e-12) <= kkt <= np.linalg.norm(G) * (1 + 1e-12)


def _l21_objective(Z, W, thresh):
    norms = np.linalg.norm(Z.reshape(Z.shape[0], -1), axis=1)
    return 0.5 * np.sum((Z - W) ** 2) + thresh * norms.sum()


@params
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("step", [0.2, 1.5])
def test_l21_prox_optimality(l1_ratio, step, n_tasks, alpha, ndim):
    labels = labels_for(n_tasks)
    bound = L21(l1_ratio=l1_ratio).bind(labels, alpha)
    thresh = step * alpha * l1_ratio  # prox of step times the non-smooth part
    rng = np.random.default_rng(2)
    shape = (6, n_tasks) + ((N_CLASSES,) if ndim == 3 else ())
    W = rng.normal(size=shape)
    rows = W.reshape(6, -1)
    # rows below, at and above the threshold
    rows[0] *= 0.5 * thresh / np.linalg.norm(rows[0])
    rows[1] *= thresh / np.linalg.norm(rows[1])
    rows[2] = 0.0
    rows[3] *= 3.0 * thresh / np.linalg.norm(rows[3])
    W_before = W.copy()
    Z = bound.prox(W, step)
    assert_array_equal(W, W_before)  # the input is not modified
    assert Z.shape == W.shape
    Zr, Wr = Z.reshape(6, -1), W.reshape(6, -1)
    for j in range(6):
        norm_w, norm_z = np.linalg.norm(Wr[j]), np.linalg.norm(Zr[j])
        if norm_w < thresh * (1 - 1e-12):
            assert_array_equal(Zr[j], 0.0)  # 0 is optimal iff ||W_j|| <= thresh
        elif norm_w <= thresh * (1 + 1e-12):  # on the threshold, up to rounding
            assert norm_z <= 1e-12 * max(thresh, 1.0)
        else:
            assert norm_z > 0
            # stationarity: Z_j - W_j + thresh Z_j / ||Z_j|| = 0
            assert_allclose(Zr[j] - Wr[j] + thresh * Zr[j] / norm_z, 0.0, atol=1e-12)
    # no nearby point does better
    best = _l21_objective(Z, W, thresh)
    for _ in range(20):
        other = Z + 1e-3 * rng.normal(size=Z.shape)
        assert best <= _l21_objective(other, W, thresh) + 1e-15


def test_l21_prox_against_numerical_minimiser():
    bound = L21(l1_ratio=0.5).bind(labels_for(2), 1.2)
    step = 0.8
    thresh = step * 1.2 * 0.5
    W = np.array([[0.3, -0.2], [1.0, 2.0], [-0.1, 0.05]])
    res = minimize(
        lambda z: _l21_objective(z.reshape(W.shape), W, thresh),
        W.ravel(),
        method="Powell",
        options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 20000},
    )
    Z = bound.prox(W, step)
    assert _l21_objective(Z, W, thresh) <= res.fun + 1e-12
    assert_allclose(Z.ravel(), res.x, atol=1e-4)
    assert_array_equal(Z[[0, 2]], 0.0)


@params
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_l21_kkt_violation(l1_ratio, n_tasks, alpha, ndim):
    labels = labels_for(n_tasks)
    bound = L21(l1_ratio=l1_ratio).bind(labels, alpha)
    lam = alpha * l1_ratio
    rng = np.random.default_rng(4)
    shape = (5, n_tasks) + ((N_CLASSES,) if ndim == 3 else ())
    W = rng.normal(size=shape)
    W[[1, 3]] = 0.0
    # an optimal point: -G in the subdifferential of lam * sum_j ||W_j||
    G = np.empty_like(W)
    for j in range(5):
        norm = np.linalg.norm(W[j])
        if norm > 0:
            G[j] = -lam * W[j] / norm
        else:
            U = rng.normal(size=W[j].shape)
            G[j] = 0.6 * lam * U / np.linalg.norm(U)
    assert bound.kkt_violation(W, G) <= 1e-12
    # elsewhere: between the max-norm and the Euclidean norm of the residual
    G2 = G + 0.3 * rng.normal(size=G.shape)
    residual = np.empty_like(G2)
    for j in range(5):
        norm = np.linalg.norm(W[j])
        if norm > 0:
            residual[j] = G2[j] + lam * W[j] / norm
        else:  # distance to the ball of radius lam
            gnorm = np.linalg.norm(G2[j])
            residual[j] = G2[j] * max(gnorm - lam, 0.0) / gnorm
    kkt = bound.kkt_violation(W, G2)
    assert kkt > 0
    lo, hi = np.abs(residual).max(), np.linalg.norm(residual)
    assert lo * (1 - 1e-12) <= kkt <= hi * (1 + 1e-12)


EXPECTED = {
    # name prefix: (is_smooth, separable_by_task, quadratic_form, shared_component)
    "independent": (True, True, True, False),
    "mean": (True, False, True, True),
    "graph": (True, False, True, False),
    "prior": (True, False, False, False),
    "l21": (False, False, False, False),
}


@pytest.mark.parametrize("name", NAMES)
def test_declared_capabilities(name):
    bound, *_ = setup(name, 3, 0.7, 2)
    expected = EXPECTED[name.split(":")[0].split("-")[0]]
    is_smooth, by_task, has_form, shared = expected
    assert bound.is_smooth is is_smooth
    if name in ("mean:1,0", "mean:0,0"):  # no coupling left: either is right
        assert isinstance(bound.separable_by_task, bool)
    else:
        assert bound.separable_by_task is by_task
    assert (bound.quadratic_form is not None) is has_form
    assert bound.shared_component is shared
    assert isinstance(bound.separable_by_feature, bool)
    if name.startswith("l21"):
        assert bound.separable_by_feature is True


@pytest.mark.parametrize("name", NAMES)
def test_declared_separability_holds(name, ndim):
    """What a penalty declares separable is: a change in one block moves only it."""
    bound, _, _, W, rng = setup(name, 3, 0.7, ndim)
    for flag, axis in (("separable_by_task", 1), ("separable_by_feature", 0)):
        if not getattr(bound, flag):
            continue
        W2 = W.copy()
        np.moveaxis(W2, axis, 0)[1] += rng.normal(size=np.moveaxis(W, axis, 0)[1].shape)
        others = [i for i in range(W.shape[axis]) if i != 1]
        for method in ("gradient", "prox"):
            args = () if method == "gradient" else (0.7,)
            a = np.take(getattr(bound, method)(W, *args), others, axis=axis)
            b = np.take(getattr(bound, method)(W2, *args), others, axis=axis)
            assert_allclose(a, b, rtol=1e-14, atol=1e-15, err_msg=f"{flag} {method}")
        # and the value is the sum of the values of the blocks
        blocks = [np.zeros_like(W) for _ in range(W.shape[axis])]
        for i, B in enumerate(blocks):
            np.moveaxis(B, axis, 0)[i] = np.moveaxis(W, axis, 0)[i]
        zero = bound.value(np.zeros_like(W))
        parts = sum(bound.value(B) - zero for B in blocks) + zero
        assert_allclose(bound.value(W), parts, rtol=1e-12, err_msg=flag)


@params
@pytest.mark.parametrize("name", QUADRATIC_FORMS)
def test_quadratic_form_consistent_with_value(name, n_tasks, alpha, ndim):
    bound, ref, _, W, _ = setup(name, n_tasks, alpha, ndim)
    a, M = bound.quadratic_form
    M = np.eye(n_tasks) if M is None else np.asarray(M)
    assert M.shape == (n_tasks, n_tasks)
    assert_allclose(M, M.T, atol=1e-14)
    assert np.linalg.eigvalsh(M)[0] >= -1e-12  # positive semi-definite
    Wk = W if W.ndim == 3 else W[:, :, None]
    form = (
        0.5 * a * sum(np.sum(Wk[..., k] * (Wk[..., k] @ M)) for k in range(Wk.shape[2]))
    )
    assert_allclose(form, bound.value(W), rtol=1e-12, atol=1e-14)
    assert_allclose(form, ref(W, alpha), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("mean")])
def test_fitted_attributes_empty(name, ndim):
    bound, _, _, W, rng = setup(name, 3, 0.7, ndim)
    assert bound.fitted_attributes(W, rng.normal(size=(3,) + W.shape[2:])) == {}


@pytest.mark.parametrize("shared, specific", [(1, 1), (0.5, 2), (0, 1), (1, 0), (0, 0)])
@pytest.mark.parametrize("n_tasks", [1, 4])
def test_mean_regularized_fitted_attributes(shared, specific, n_tasks, ndim):
    labels = labels_for(n_tasks)
    bound = MeanRegularized(shared=shared, specific=specific).bind(labels, 0.9)
    rng = np.random.default_rng(5)
    out = (N_CLASSES,) if ndim == 3 else ()
    W = rng.normal(size=(N_FEATURES, n_tasks) + out)
    b = rng.normal(size=(n_tasks,) + out)
    attrs = bound.fitted_attributes(W, b)
    assert set(attrs) == {"shared_coef_", "specific_coef_", "shared_intercept_"}
    coef = np.moveaxis(W, 0, -1)  # public layout (n_tasks, [n_classes,] n_features)
    shared_coef, specific_coef = attrs["shared_coef_"], attrs["specific_coef_"]
    assert shared_coef.shape == coef.shape[1:]
    assert specific_coef.shape == coef.shape
    assert_allclose(shared_coef[None] + specific_coef, coef, rtol=1e-14, atol=1e-15)
    if shared + n_tasks * specific > 0:
        w0 = specific * W.sum(axis=1) / (shared + n_tasks * specific)
        assert_allclose(shared_coef, np.moveaxis(w0, 0, -1), rtol=1e-14, atol=1e-15)
    assert_allclose(attrs["shared_intercept_"], b.mean(axis=0), rtol=1e-14)


@pytest.mark.parametrize(
    "cls, param, value",
    [
        (MeanRegularized, "shared", -1.0),
        (MeanRegularized, "shared", np.nan),
        (MeanRegularized, "specific", -0.5),
        (MeanRegularized, "specific", np.nan),
        (GraphLaplacian, "coupling", -1.0),
        (GraphLaplacian, "coupling", np.nan),
        (GraphLaplacian, "ridge", -2.0),
        (GraphLaplacian, "ridge", np.nan),
        (L21, "l1_ratio", -0.1),
        (L21, "l1_ratio", np.nan),
        (L21, "l1_ratio", 1.5),
    ],
)
def test_invalid_strengths_raise(cls, param, value):
    with pytest.raises(ValueError, match=param):
        cls(**{param: value}).bind(labels_for(3), 1.0)


@pytest.mark.parametrize(
    "adjacency",
    [
        np.ones((4, 4)),
        np.ones((2, 2)),
        np.ones(3),
        np.ones((3, 3, 1)),
        {("apple", "banana"): 1.0},  # a task not in the fit
        {("apple",): 1.0},  # not a pair
        -np.ones((3, 3)),
        np.full((3, 3), np.nan),
    ],
    ids=["4x4", "2x2", "1-D", "3-D", "unknown-task", "not-a-pair", "negative", "nan"],
)
def test_bad_adjacency_raises(adjacency):
    with pytest.raises(ValueError, match="adjacency"):
        GraphLaplacian(adjacency).bind(labels_for(3), 1.0)


@pytest.mark.parametrize(
    "coef_shape",
    [(3, 4), (2, 3), (3, 2, 3), (4,), (3, 3, 4)],
    ids=["features", "tasks", "classes", "shared-features", "3d-vs-2d"],
)
def test_transfer_prior_wrong_coef_shape_raises(coef_shape):
    # W of shape (n_features=3, n_tasks=3): coef_ layout (3, 3)
    W = np.ones((N_FEATURES, 3))
    with pytest.raises(ValueError, match="coef"):
        bound = TransferPrior(coef=np.ones(coef_shape)).bind(labels_for(3), 1.0)
        bound.value(W)
        bound.gradient(W)


@pytest.mark.parametrize("coef", [None, np.full((3, 3), np.nan)], ids=["none", "nan"])
def test_transfer_prior_invalid_coef_raises(coef):
    with pytest.raises(ValueError, match="coef"):
        bound = TransferPrior(coef=coef).bind(labels_for(3), 1.0)
        bound.value(np.ones((N_FEATURES, 3)))


def test_transfer_prior_pulls_towards_source():
    coef = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])  # (n_tasks, n_features)
    bound = TransferPrior(coef=coef).bind(labels_for(3), 2.0)
    W_source = coef.T
    assert bound.value(W_source) == 0.0
    assert_array_equal(bound.gradient(W_source), 0.0)
    W = W_source + 1.0
    assert_allclose(bound.value(W), 0.5 * 2.0 * 6)
    assert_allclose(bound.gradient(W), 2.0)
