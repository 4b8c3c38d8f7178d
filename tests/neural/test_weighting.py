"""Task weighting of skmtl.neural against closed forms, cvxpy and the papers' rules.

Most tests call ``backward`` directly on losses that are linear in a tiny
shared parameter, so that every task gradient is known by hand; the expected
``.grad`` is then written from the method's definition (projection, min-norm
point, CAGrad's max-min problem solved by cvxpy, softmax of loss ratios),
never by calling our own code a second time.
"""

import numpy as np
import pytest
from sklearn.base import clone

from ..conftest import ragged_problem

torch = pytest.importorskip("torch")
pytest.importorskip("torchjd")

from skmtl.neural import (  # noqa: E402
    MGDA,
    CAGrad,
    DynamicWeightAverage,
    FixedWeighting,
    GradNorm,
    MultiTaskNetClassifier,
    PCGrad,
    UncertaintyWeighting,
)

DTYPE = torch.float64


def linear_problem(grads, head_coefs=None):
    """Losses ``L_t = <g_t, p> + a_t h_t``: shared ``p``, one scalar head ``h_t``.

    The gradient of ``L_t`` is ``g_t`` on ``p`` and ``a_t`` on ``h_t`` (0 on
    the other heads), whatever the point.
    """
    grads = torch.as_tensor(np.asarray(grads, float), dtype=DTYPE)
    n_tasks, dim = grads.shape
    coefs = np.arange(1.0, n_tasks + 1) if head_coefs is None else head_coefs
    p = torch.linspace(-1, 1, dim, dtype=DTYPE).requires_grad_(True)
    heads = [torch.tensor(0.5, dtype=DTYPE, requires_grad=True) for _ in grads]
    losses = torch.stack([g @ p + a * h for g, a, h in zip(grads, coefs, heads)])
    return losses, p, heads, np.asarray(coefs, float)


def run_backward(method, grads, head_coefs=None):
    losses, p, heads, coefs = linear_problem(grads, head_coefs)
    n = len(losses)
    method.initialize(n, "cpu", DTYPE)
    weights = method.backward(losses, np.arange(n), [p], heads, None)
    return weights, p.grad.numpy(), np.array([h.grad.item() for h in heads]), coefs


# ----------------------------------------------------------------- fixed
def test_fixed_equals_autograd_of_the_sum():
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh()).double()
    heads = [torch.nn.Linear(4, 1).double() for _ in range(2)]
    X, y = torch.randn(10, 3, dtype=DTYPE), torch.randn(10, dtype=DTYPE)
    params = [*encoder.parameters(), *(q for h in heads for q in h.parameters())]

    def losses():
        z = encoder(X)
        return torch.stack(
            [((h(z[t::2]).ravel() - y[t::2]) ** 2).mean() for t, h in enumerate(heads)]
        )

    expected = torch.autograd.grad(losses().sum(), params)
    w = FixedWeighting().initialize(2, "cpu", DTYPE)
    shared = list(encoder.parameters())
    out = w.backward(losses(), np.arange(2), shared, params[len(shared) :], None)
    np.testing.assert_array_equal(out, [1.0, 1.0])
    for e, q in zip(expected, params):
        torch.testing.assert_close(q.grad, e)


# ---------------------------------------------------------------- PCGrad
def test_pcgrad_projects_conflicting_gradients():
    # g1.g2 = -1: g1 -> g1 - (g1.g2)/|g2|^2 g2 = (0.5, 0.5); g2 -> g2 + g1 = (0, 1)
    _, grad, head_grads, coefs = run_backward(PCGrad(), [[1, 0], [-1, 1]])
    np.testing.assert_allclose(grad, [0.5, 1.5], atol=1e-12)
    np.testing.assert_allclose(head_grads, coefs)  # each head: its own gradient


def test_pcgrad_keeps_agreeing_gradients():
    _, grad, head_grads, coefs = run_backward(PCGrad(), [[1, 0], [1, 1]])
    np.testing.assert_allclose(grad, [2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(head_grads, coefs)


# ------------------------------------------------------------------ MGDA
def mgda_two_task_alpha(g1, g2):
    """Weight of g1 in the min-norm point of the segment [g1, g2] (closed form)."""
    g1, g2 = np.asarray(g1, float), np.asarray(g2, float)
    return np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0, 1)


@pytest.mark.parametrize(
    "g1, g2, interior",
    [([1, 0], [0, 2], True), ([1, 0], [3, 1], False), ([2, 1, 0], [-1, 1, 1], True)],
)
def test_mgda_two_task_closed_form(g1, g2, interior):
    alpha = mgda_two_task_alpha(g1, g2)
    assert (0 < alpha < 1) == interior
    weights, grad, head_grads, coefs = run_backward(MGDA(), [g1, g2])
    np.testing.assert_allclose(weights, [2 * alpha, 2 * (1 - alpha)], atol=1e-9)
    point = alpha * np.asarray(g1, float) + (1 - alpha) * np.asarray(g2, float)
    np.testing.assert_allclose(grad, 2 * point, atol=1e-9)
    # heads train on their own loss, also the one MGDA gives weight 0
    np.testing.assert_allclose(head_grads, coefs)


def test_mgda_upper_bound_weighs_by_inverse_squared_feature_gradient():
    # z = X W^T; task t owns rows R_t and L_t = sum_{r in R_t} <v_t, z_r>, so
    # grad_z L_t is v_t on R_t and 0 elsewhere: the gradients are orthogonal,
    # |grad_z L_t|^2 = |R_t| |v_t|^2 =: q_t, and the min-norm point of their
    # hull has a_t = (1 / q_t) / sum_k (1 / q_k).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    rows = [np.arange(3), np.arange(3, 7)]
    V = np.array([[1.0, 2.0], [0.5, -0.5]])
    W = torch.tensor(rng.normal(size=(2, 3)), dtype=DTYPE, requires_grad=True)
    z = torch.as_tensor(X, dtype=DTYPE) @ W.T
    Vt = torch.as_tensor(V, dtype=DTYPE)
    losses = torch.stack([(z[r] @ Vt[t]).sum() for t, r in enumerate(rows)])
    method = MGDA(upper_bound=True).initialize(2, "cpu", DTYPE)
    weights = method.backward(losses, np.arange(2), [W], [], z)

    q = np.array([len(r) * V[t] @ V[t] for t, r in enumerate(rows)])
    expected = 2 * (1 / q) / (1 / q).sum()
    np.testing.assert_allclose(weights, expected, rtol=1e-9)
    np.testing.assert_allclose(method.weights_, expected, rtol=1e-9)
    # d/dW sum_{r in R_t} <v_t, W x_r> = v_t (sum_{r in R_t} x_r)^T
    grad = sum(
        w * np.outer(V[t], X[r].sum(0)) for t, (w, r) in enumerate(zip(expected, rows))
    )
    np.testing.assert_allclose(W.grad.numpy(), grad, rtol=1e-9)


# ---------------------------------------------------------------- CAGrad
def cagrad_direction(G, c):
    """argmax_d min_i <g_i, d> s.t. |d - g0| <= c |g0| (Liu et al. 2021, eq. 3)."""
    cp = pytest.importorskip("cvxpy")
    g0 = G.mean(axis=0)
    d, t = cp.Variable(G.shape[1]), cp.Variable()
    constraints = [G @ d >= t, cp.norm(d - g0, 2) <= c * np.linalg.norm(g0)]
    cp.Problem(cp.Maximize(t), constraints).solve(cp.CLARABEL)
    return d.value


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_matches_cvxpy(c):
    pytest.importorskip("cvxpy")
    rng = np.random.default_rng(3)
    G = rng.normal(size=(3, 5))
    G[2] = -0.5 * G[0] + 0.3 * rng.normal(size=5)  # a conflict, so the ball binds
    d = cagrad_direction(G, c)
    # the ball constraint is active: the answer is not just the mean gradient
    g0 = G.mean(axis=0)
    assert np.linalg.norm(d - g0) == pytest.approx(c * np.linalg.norm(g0), rel=1e-6)
    assert (G @ d).min() > (G @ g0).min()
    _, grad, head_grads, coefs = run_backward(CAGrad(c=c), G)
    # n_tasks * d / (1 + c): equal gradients give the plain sum. torchjd solves
    # the dual over the simplex to ~1e-5 and the direction g_w / |g_w| amplifies
    # that where |g_w| is small (c=0.9 here): about 5e-4 relative, against 10 %
    # or more for a wrong scaling (1 + c ** 2 or none)
    expected = 3 * d / (1 + c)
    assert np.linalg.norm(grad - expected) <= 2e-3 * np.linalg.norm(expected)
    np.testing.assert_allclose(head_grads, coefs)


def test_cagrad_c0_is_the_sum():
    pytest.importorskip("cvxpy")
    G = np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.5]])
    _, grad, _, _ = run_backward(CAGrad(c=0.0), G)
    np.testing.assert_allclose(grad, G.sum(0), rtol=1e-6)


def test_cagrad_small_gradients_are_not_zeroed():
    # torchjd's CAGrad returns 0 when sum_t |g_t|^2 < 1e-4; ours is scale-free
    pytest.importorskip("cvxpy")
    rng = np.random.default_rng(1)
    G = rng.normal(size=(3, 4))
    _, big, _, _ = run_backward(CAGrad(c=0.5), G)
    _, small, _, _ = run_backward(CAGrad(c=0.5), 1e-4 * G)
    assert np.abs(big).max() > 0.1
    np.testing.assert_allclose(small, 1e-4 * big, rtol=1e-5)


# --------------------------------------------- the convention of all methods
ALL_METHODS = [
    FixedWeighting(),
    UncertaintyWeighting(),
    DynamicWeightAverage(),
    GradNorm(),
    PCGrad(),
    MGDA(),
    MGDA(upper_bound=True),
    CAGrad(),
]


@pytest.mark.parametrize("method", ALL_METHODS, ids=repr)
def test_equal_gradients_give_the_plain_sum(method):
    # the module docstring's promise: every update is on the scale of sum_t L_t
    if isinstance(method, CAGrad):
        pytest.importorskip("cvxpy")
    W = torch.tensor([[0.3, -0.2], [0.1, 0.4]], dtype=DTYPE, requires_grad=True)
    x = torch.tensor([1.0, 2.0], dtype=DTYPE)
    z = (W @ x).unsqueeze(0)  # one row shared by both tasks
    losses = torch.stack([z.sum() + 1.0, z.sum() + 2.0])
    method = clone(method).initialize(2, "cpu", DTYPE)
    method.backward(losses, np.arange(2), [W], [], z)
    np.testing.assert_allclose(W.grad.numpy(), 2 * np.outer([1, 1], x), rtol=1e-6)


# ----------------------------------------------------------- uncertainty
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_uncertainty_converges_to_the_task_losses(optimizer):
    # d/ds [exp(-s) L + s] = 1 - exp(-s) L = 0  <=>  sigma^2 = exp(s) = L
    L = np.array([0.3, 2.0, 5.0])
    method = UncertaintyWeighting().initialize(3, "cpu", DTYPE)
    opt = (
        torch.optim.SGD(method.parameters(), lr=0.5)
        if optimizer == "sgd"
        else torch.optim.Adam(method.parameters(), lr=0.05)
    )
    ids = np.array([2, 0, 1])  # a batch need not list its tasks in order
    for _ in range(300 if optimizer == "sgd" else 2000):
        opt.zero_grad()
        losses = torch.tensor(L[ids], dtype=DTYPE, requires_grad=True)
        weights = method.backward(losses, ids, [], [], None)
        opt.step()
    variance = np.exp(method.log_variance_.detach().numpy())
    np.testing.assert_allclose(variance, L, rtol=1e-3)
    np.testing.assert_allclose(method.weights_, 1 / L, rtol=1e-3)
    np.testing.assert_allclose(weights, 1 / L[ids], rtol=1e-2)
    # the losses' own gradient is the weight exp(-s_t)
    np.testing.assert_allclose(losses.grad.numpy(), weights, rtol=1e-2)


# ------------------------------------------------------------------- DWA
def test_dwa_softmax_of_loss_ratios():
    method = DynamicWeightAverage(temperature=2.0).initialize(3, "cpu", DTYPE)
    epochs = np.array([[1.0, 2.0, 4.0], [0.5, 1.8, 4.0], [0.4, 1.0, 3.0]])
    method.end_epoch(epochs[0])
    np.testing.assert_array_equal(method.weights_, np.ones(3))  # first epochs
    for e in (1, 2):
        method.end_epoch(epochs[e])
        r = epochs[e] / epochs[e - 1]
        expected = 3 * np.exp(r / 2) / np.exp(r / 2).sum()
        np.testing.assert_allclose(method.weights_, expected, rtol=1e-12)
    # the task whose loss fell least (ratio 0.8) gets the largest weight
    assert np.argmax(method.weights_) == 0
    # the next batch trains with these weights
    losses, p, heads, coefs = linear_problem([[1, 0], [0, 1], [1, 1]])
    out = method.backward(losses, np.arange(3), [p], heads, None)
    np.testing.assert_allclose(out, expected)
    np.testing.assert_allclose(p.grad.numpy(), expected @ [[1, 0], [0, 1], [1, 1]])
    np.testing.assert_allclose([h.grad.item() for h in heads], expected * coefs)


def test_dwa_large_temperature_gives_equal_weights():
    method = DynamicWeightAverage(temperature=1e8).initialize(2, "cpu", DTYPE)
    for losses in ([1.0, 1.0], [0.1, 1.0], [0.05, 2.0]):
        method.end_epoch(losses)
    np.testing.assert_allclose(method.weights_, [1.0, 1.0], rtol=1e-6)


def test_dwa_task_absent_from_an_epoch_gets_ratio_one():
    method = DynamicWeightAverage(temperature=1.0).initialize(2, "cpu", DTYPE)
    method.end_epoch([1.0, np.nan])
    method.end_epoch([0.5, 2.0])
    r = np.array([0.5, 1.0])
    np.testing.assert_allclose(method.weights_, 2 * np.exp(r) / np.exp(r).sum())


# -------------------------------------------------------------- GradNorm
def gradnorm_losses(W, values, scales):
    """``L_t = values_t + scales_t <A_t, W>``: |grad_W L_t| = scales_t |A_t|, fixed."""
    A = [
        torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=DTYPE),
        torch.tensor([[0.0, 0.6], [0.8, 0.0]], dtype=DTYPE),
    ]
    return torch.stack([v + s * (a * W).sum() for v, s, a in zip(values, scales, A)])


def test_gradnorm_alpha0_balances_gradient_norms():
    # task 1's gradient on W is 10x task 0's: equilibrium w = 2 * (10, 1) / 11
    W = torch.zeros(2, 2, dtype=DTYPE, requires_grad=True)
    method = GradNorm(alpha=0.0).initialize(2, "cpu", DTYPE)
    ratios = []
    for _ in range(200):
        W.grad = None
        losses = gradnorm_losses(W, [1.0, 1.0], [1.0, 10.0])
        used = method.backward(losses, np.arange(2), [W], [], None)
        ratios.append(used[1] * 10 / used[0])
        # the network trains on sum_t w_t L_t with the weights it returned
        expected = used[0] * np.array([[1, 0], [0, 0]]) + used[1] * 10 * np.array(
            [[0, 0.6], [0.8, 0]]
        )
        np.testing.assert_allclose(W.grad.numpy(), expected, rtol=1e-12)
        assert used.sum() == pytest.approx(2.0)
    assert ratios[0] == pytest.approx(10.0)
    # a sign step of 0.025 in log w: the ratio settles within ~2 * 2.5 %
    np.testing.assert_allclose(ratios[-20:], 1.0, rtol=0.06)
    np.testing.assert_allclose(method.weights_, [20 / 11, 2 / 11], rtol=0.06)
    np.testing.assert_allclose(
        method.gradient_norms_[1] / method.gradient_norms_[0], 1, rtol=0.06
    )


def test_gradnorm_alpha_favours_the_slow_task():
    # equal gradient norms; task 0's loss halves, task 1's stays: r = (2/3, 4/3),
    # and G_1 / G_0 -> (r_1 / r_0) ** alpha = 2 ** alpha
    alpha = 1.5
    W = torch.zeros(2, 2, dtype=DTYPE, requires_grad=True)
    method = GradNorm(alpha=alpha).initialize(2, "cpu", DTYPE)
    method.backward(
        gradnorm_losses(W, [1.0, 1.0], [1.0, 1.0]), np.arange(2), [W], [], None
    )
    for _ in range(200):
        W.grad = None
        losses = gradnorm_losses(W, [0.5, 1.0], [1.0, 1.0])
        method.backward(losses, np.arange(2), [W], [], None)
    w = method.weights_
    assert w[1] > w[0]
    assert w.sum() == pytest.approx(2.0)
    assert w[1] / w[0] == pytest.approx(2**alpha, rel=0.06)


def test_gradnorm_in_training_balances_a_scaled_task():
    # task_weights multiply task a's loss (and its gradients) by 10; GradNorm
    # with alpha=0 must give it a weight well under the other's
    from skmtl.neural import MultiTaskNetRegressor

    X, y, tasks, labels = ragged_problem((40, 40), n_features=4)
    net = MultiTaskNetRegressor(
        hidden_layer_sizes=(8,),
        task_weights={labels[0]: 10.0, labels[1]: 1.0},
        task_weighting=GradNorm(alpha=0.0, learning_rate=0.1),
        batch_size=80,  # full batch: one GradNorm step per epoch, no batch noise
        learning_rate=1e-2,
        max_epochs=40,
        tol=1e6,  # stops, converged, after 1 + n_iter_no_change epochs
        n_iter_no_change=29,
        random_state=0,
    ).fit(X, y, tasks=tasks)
    history = net.task_weights_history_
    assert history.shape == (30, 2)
    np.testing.assert_allclose(history.sum(axis=1), 2.0)
    w, G = net.task_weighting_.weights_, net.task_weighting_.gradient_norms_
    assert w[0] < 0.5 and w[1] > 1.5
    assert 0.7 < G[0] / G[1] < 1.4


def test_gradnorm_needs_a_weight_matrix():
    losses, p, heads, _ = linear_problem([[1, 0], [0, 1]])
    method = GradNorm().initialize(2, "cpu", DTYPE)
    with pytest.raises(ValueError, match="weight matrix"):
        method.backward(losses, np.arange(2), [p], heads, None)


# ------------------------------------------------------------- reindexing
def test_reindex_uncertainty():
    method = UncertaintyWeighting().initialize(2, "cpu", DTYPE)
    with torch.no_grad():
        method.log_variance_.copy_(torch.tensor([0.5, -1.0]))
    method.weights_ = np.exp(-np.array([0.5, -1.0]))
    method.reindex_tasks(np.array([1, -1, 0]))
    s = method.log_variance_
    assert s.is_leaf and s.requires_grad and s.dtype == DTYPE
    np.testing.assert_allclose(s.detach().numpy(), [-1.0, 0.0, 0.5])
    np.testing.assert_allclose(method.weights_, np.exp([1.0, 0.0, -0.5]))
    assert method.parameters() == [s]


def test_reindex_dwa():
    method = DynamicWeightAverage().initialize(2, "cpu", DTYPE)
    method.end_epoch([1.0, 2.0])
    method.end_epoch([0.5, 2.0])
    before = method.weights_.copy()
    method.reindex_tasks(np.array([1, -1, 0]))
    np.testing.assert_allclose(method.weights_, [before[1], 1.0, before[0]])
    np.testing.assert_allclose(method.loss_history_[1], [2.0, np.nan, 0.5])
    # the new task has no history: ratio 1 until it has two epochs
    method.end_epoch([1.0, 3.0, 0.25])
    r = np.array([0.5, 1.0, 0.5])
    np.testing.assert_allclose(method.weights_, 3 * np.exp(r / 2) / np.exp(r / 2).sum())


def test_reindex_gradnorm():
    W = torch.zeros(2, 2, dtype=DTYPE, requires_grad=True)
    method = GradNorm(alpha=0.0).initialize(2, "cpu", DTYPE)
    for _ in range(5):
        W.grad = None
        method.backward(
            gradnorm_losses(W, [3.0, 7.0], [1.0, 10.0]), np.arange(2), [W], [], None
        )
    weights, norms = method.weights_.copy(), method.gradient_norms_.copy()
    method.reindex_tasks(np.array([1, -1, 0]))
    np.testing.assert_allclose(method.initial_losses_, [7.0, np.nan, 3.0])
    np.testing.assert_allclose(method.weights_, [weights[1], 1.0, weights[0]])
    np.testing.assert_allclose(method.gradient_norms_, [norms[1], np.nan, norms[0]])
    # the new task's first batch sets its initial loss
    W.grad = None
    method.backward(
        gradnorm_losses(W, [2.0, 5.0], [1.0, 1.0]), np.array([1, 2]), [W], [], None
    )
    np.testing.assert_allclose(method.initial_losses_, [7.0, 2.0, 3.0])


def test_reindex_mgda_weights():
    method = MGDA()
    run_backward(method, [[1, 0], [0, 2]])
    before = method.weights_.copy()
    method.reindex_tasks(np.array([-1, 0, 1]))
    np.testing.assert_allclose(method.weights_, [1.0, *before])
    assert method.n_tasks_ == 3


# -------------------------------------------------------- scikit-learn API
@pytest.mark.parametrize(
    "method, name, value",
    [
        (DynamicWeightAverage(), "temperature", 5.0),
        (GradNorm(), "alpha", 0.5),
        (GradNorm(), "learning_rate", 0.1),
        (MGDA(), "upper_bound", True),
        (CAGrad(), "c", 0.3),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_get_set_params_and_clone(method, name, value):
    method.set_params(**{name: value})
    assert method.get_params()[name] == value
    copy = clone(method)
    assert copy is not method and copy.get_params() == method.get_params()
    net = MultiTaskNetClassifier(task_weighting=method)
    assert net.get_params()[f"task_weighting__{name}"] == value
    net.set_params(**{f"task_weighting__{name}": value * 2})
    assert getattr(net.task_weighting, name) == value * 2


def test_clone_drops_fitted_state():
    method = UncertaintyWeighting().initialize(2, "cpu", DTYPE)
    assert not hasattr(clone(method), "log_variance_")


# ------------------------------------------------------------ end to end
E2E = [
    "fixed",
    "uncertainty",
    DynamicWeightAverage(temperature=1.0),
    GradNorm(alpha=1.0),
    "pcgrad",
    "mgda",
    MGDA(upper_bound=True),
    "cagrad",
]


@pytest.mark.parametrize("weighting", E2E, ids=str)
def test_end_to_end(weighting):
    if weighting == "cagrad":
        pytest.importorskip("cvxpy")
    X, y, tasks, labels = ragged_problem((30, 40), n_features=4, classification=True)
    # tol far above any improvement: training stops after 1 + n_iter_no_change
    # epochs, converged, so no ConvergenceWarning (an error under our pytest config)
    net = MultiTaskNetClassifier(
        hidden_layer_sizes=(8,),
        task_weighting=weighting,
        max_epochs=10,
        tol=1e6,
        n_iter_no_change=3,
        batch_size=32,
        learning_rate=1e-2,
        random_state=0,
    ).fit(X, y, tasks=tasks)
    assert net.n_iter_ == 4
    history = net.task_weights_history_
    assert history.shape == (4, 2)
    assert np.isfinite(history).all() and (history >= 0).all()
    assert np.isfinite(net.loss_curve_).all()
    assert net.task_weighting is weighting  # the parameter is never fitted in place
    if isinstance(weighting, DynamicWeightAverage):
        np.testing.assert_array_equal(history[:2], 1.0)  # equal for two epochs
        assert not np.allclose(history[3], 1.0)
    assert net.predict(X, tasks=tasks).shape == y.shape
