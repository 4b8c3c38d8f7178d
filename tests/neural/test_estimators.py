"""MultiTaskNetClassifier / MultiTaskNetRegressor against independent references."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge

from skmtl import MultiTaskClassifier, MultiTaskRegressor

from ..conftest import num_grad, ragged_problem

torch = pytest.importorskip("torch")

from skmtl.neural import MultiTaskNetClassifier, MultiTaskNetRegressor  # noqa: E402

LINEAR = {"hidden_layer_sizes": (), "optimizer": "lbfgs", "max_epochs": 200}


def _heads(net):
    W = np.array([h.output.weight.detach().double().numpy()[0] for h in net.heads_])
    b = np.array([float(h.output.bias.detach()[0]) for h in net.heads_])
    return W, b


# ------------------------------------------------------- reference optimum
@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_classifier_reaches_linear_optimum(container, dtype):
    X, y, tasks, labels = ragged_problem(classification=True)
    Xc = sp.csr_matrix(X) if container == "csr" else X
    alpha = 0.05
    # float32: L-BFGS's line search stops where the objective no longer
    # changes in float32 (|grad| about 3e-3): coefficients to about 1e-2
    tol, rtol = (1e-10, 1e-4) if dtype == "float64" else (1e-5, 5e-2)
    net = MultiTaskNetClassifier(alpha=alpha, dtype=dtype, tol=tol, **LINEAR)
    net.fit(Xc, y, tasks=tasks)
    lin = MultiTaskClassifier(penalty="independent", alpha=alpha, tol=1e-10)
    lin.fit(X, y, tasks=tasks)
    W, b = _heads(net)
    np.testing.assert_allclose(W, lin.coef_, rtol=rtol, atol=rtol * 1e-1)
    np.testing.assert_allclose(b, lin.intercept_, rtol=rtol, atol=rtol * 1e-1)
    # and per task, scikit-learn's C = 1 / (alpha * n_t)
    for t, label in enumerate(labels):
        rows = tasks == label
        ref = LogisticRegression(C=1 / (alpha * rows.sum()), tol=1e-12, max_iter=10_000)
        ref.fit(X[rows], y[rows])
        np.testing.assert_allclose(W[t], ref.coef_[0], rtol=rtol, atol=rtol * 1e-1)


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_regressor_reaches_linear_optimum(container, dtype):
    X, y, tasks, labels = ragged_problem()
    Xc = sp.csr_matrix(X) if container == "csr" else X
    alpha = 0.1
    # float32: L-BFGS's line search stops where the objective no longer
    # changes in float32 (|grad| about 3e-3): coefficients to about 1e-2
    tol, rtol = (1e-10, 1e-4) if dtype == "float64" else (1e-5, 5e-2)
    net = MultiTaskNetRegressor(alpha=alpha, dtype=dtype, tol=tol, **LINEAR)
    net.fit(Xc, y, tasks=tasks)
    lin = MultiTaskRegressor(penalty="independent", alpha=alpha, tol=1e-10)
    lin.fit(X, y, tasks=tasks)
    W, b = _heads(net)
    np.testing.assert_allclose(W, lin.coef_, rtol=rtol, atol=rtol * 1e-1)
    np.testing.assert_allclose(b, lin.intercept_, rtol=rtol, atol=rtol * 1e-1)
    for t, label in enumerate(labels):
        rows = tasks == label
        ref = Ridge(alpha=alpha * rows.sum()).fit(X[rows], y[rows])
        np.testing.assert_allclose(W[t], ref.coef_, rtol=rtol, atol=rtol * 1e-1)
    # the objective's scale: (y - f)^2 / 2 per-task mean + alpha / 2 ||W||^2
    pred = net.predict(X, tasks=tasks)
    expected = (
        sum(
            0.5 * np.mean((y[tasks == lab] - pred[tasks == lab]) ** 2) for lab in labels
        )
        + 0.5 * alpha * (W**2).sum()
    )
    assert net.loss_curve_[-1] == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------- gradient check
@pytest.mark.parametrize("container", ["dense", "csr"])
def test_gradient_matches_finite_differences(container):
    X, y, tasks, _ = ragged_problem(sizes=(6, 9), n_features=4, classification=True)
    Xc = sp.csr_matrix(X) if container == "csr" else X
    net = MultiTaskNetClassifier(
        (3,),
        activation="tanh",
        alpha=0.3,
        dtype="float64",
        max_epochs=1,
        optimizer="lbfgs",
        random_state=0,
    )
    net.partial_fit(Xc, y, tasks=tasks, classes=[0.0, 1.0])
    module = net.module_
    data = net._prepare(Xc, y, tasks, None, True, None, partial=True)
    rows = np.arange(X.shape[0])
    params = [p for p in module.parameters()]
    sizes = [p.numel() for p in params]

    def objective(theta):
        with torch.no_grad():
            start = 0
            for p, n in zip(params, sizes):
                p.copy_(torch.as_tensor(theta[start : start + n]).view_as(p))
                start += n
        _, losses, _, _ = net.get_loss(module, data, rows, torch.device("cpu"))
        return losses.sum() + net._l2_value(module, {})

    theta0 = torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy()
    module.zero_grad()
    objective(theta0).backward()
    grad = torch.cat([p.grad.reshape(-1) for p in params]).numpy()
    numeric = num_grad(lambda th: float(objective(th).detach()), theta0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


# -------------------------------------------------- determinism, pickling
def _small(**kwargs):
    params = {"hidden_layer_sizes": (8,), "max_epochs": 5, "random_state": 0}
    return MultiTaskNetRegressor(**{**params, **kwargs})


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_seed_sparse_dense_and_rng_state():
    X, y, tasks, _ = ragged_problem()
    before = torch.random.get_rng_state()
    a = _small().fit(X, y, tasks=tasks)
    assert torch.equal(before, torch.random.get_rng_state())
    b = _small().fit(X, y, tasks=tasks)
    c = _small().fit(sp.csr_matrix(X), y, tasks=tasks)
    d = _small(random_state=1).fit(X, y, tasks=tasks)
    pa, pb = a.predict(X, tasks=tasks), b.predict(X, tasks=tasks)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_allclose(c.predict(X, tasks=tasks), pa, rtol=1e-5, atol=1e-5)
    assert not np.allclose(d.predict(X, tasks=tasks), pa)
    # pickle: identical predictions, tensors on the CPU
    e = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(e.predict(X, tasks=tasks), pa)
    assert all(p.device.type == "cpu" for p in e.module_.parameters())


# ------------------------------------------------------------------ tasks
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_task_labels_and_unseen_tasks():
    X, y, tasks, _ = ragged_problem(sizes=(20, 20))
    for labels in (np.where(tasks == "task-0", 3, 7), [(1, "a")] * 40):
        net = _small().fit(X, y, tasks=labels)
        assert len(net.tasks_) == (2 if not isinstance(labels, list) else 1)
    one = _small().fit(X, y, tasks="only")
    np.testing.assert_array_equal(one.tasks_, ["only"])
    one.predict(X)  # one task: tasks=None is that task
    net = _small().fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="nope"):
        net.predict(X, tasks="nope")
    with pytest.raises(ValueError, match="tasks is required"):
        net.predict(X)


def test_per_task_classes_and_one_class_task():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    tasks = np.repeat(["a", "b", "c"], 20)
    y = np.where(tasks == "a", rng.integers(0, 3, 60), rng.integers(0, 2, 60))
    y[tasks == "c"] = 1
    net = MultiTaskNetClassifier((), optimizer="lbfgs", tol=1e-6, random_state=0)
    with pytest.warns(UserWarning, match="one class"):
        net.fit(X, y, tasks=tasks)
    proba = net.predict_proba(X, tasks=tasks)
    dec = net.decision_function(X, tasks=tasks)
    b = tasks == "b"
    assert np.all(proba[b, 2] == 0) and np.all(np.isneginf(dec[b, 2]))
    np.testing.assert_array_equal(net.predict(X[tasks == "c"], tasks="c"), 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_sample_weights_and_task_weights():
    X, y, tasks, labels = ragged_problem(classification=True)
    kw = {"alpha": 0.05, "dtype": "float64", "tol": 1e-10, **LINEAR}
    sw = np.random.default_rng(0).integers(0, 3, len(y)).astype(float)
    sw_copy, X_copy, y_copy = sw.copy(), X.copy(), y.copy()
    a = MultiTaskNetClassifier(**kw).fit(X, y, tasks=tasks, sample_weight=sw)
    keep = sw > 0
    b = MultiTaskNetClassifier(**kw).fit(
        X[keep], y[keep], tasks=tasks[keep], sample_weight=sw[keep]
    )
    np.testing.assert_allclose(_heads(a)[0], _heads(b)[0], rtol=1e-5, atol=1e-6)
    # scaling one task's weights leaves its (mean-loss) model unchanged
    sw2 = np.where(tasks == labels[0], 5 * sw, sw)
    c = MultiTaskNetClassifier(**kw).fit(X, y, tasks=tasks, sample_weight=sw2)
    np.testing.assert_allclose(_heads(a)[0], _heads(c)[0], rtol=1e-5, atol=1e-6)
    # task weights: dict and array agree; lambda_t = 2 halves that task's alpha
    d = MultiTaskNetClassifier(task_weights={labels[0]: 2.0}, **kw).fit(
        X, y, tasks=tasks
    )
    e = MultiTaskNetClassifier(task_weights=[2.0, 1.0, 1.0], **kw).fit(
        X, y, tasks=tasks
    )
    np.testing.assert_allclose(_heads(d)[0], _heads(e)[0], rtol=1e-5, atol=1e-6)
    rows = tasks == labels[0]
    ref = MultiTaskNetClassifier(**{**kw, "alpha": 0.025}).fit(
        X[rows], y[rows], tasks=labels[0]
    )
    np.testing.assert_allclose(_heads(d)[0][0], _heads(ref)[0][0], rtol=1e-4)
    for got, orig in ((sw, sw_copy), (X, X_copy), (y, y_copy)):
        np.testing.assert_array_equal(got, orig)


# -------------------------------------------------------------- bad input
def test_bad_input():
    X, y, tasks, _ = ragged_problem(sizes=(20, 20))
    net = _small(max_epochs=1)
    for bad_X in (np.where(X > 1, np.nan, X), np.where(X > 1, np.inf, X)):
        with pytest.raises(ValueError, match="NaN|infinity"):
            net.fit(bad_X, y, tasks=tasks)
    with pytest.raises(ValueError, match="NaN|infinity"):
        net.fit(X, np.where(y > 1, np.nan, y), tasks=tasks)
    with pytest.raises(ValueError):
        net.fit(X[:0], y[:0], tasks=tasks[:0])
    with pytest.raises(ValueError, match="device"):
        MultiTaskNetRegressor(
            device="cuda:99" if torch.cuda.is_available() else "cuda"
        ).fit(X, y, tasks=tasks)
    with pytest.warns(Warning):
        net.fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="features"):
        net.predict(X[:, :3], tasks=tasks)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("how", ["fit", "warm_start", "partial_fit"])
def test_diverging_fit_leaves_model_unchanged(how):
    X, y, tasks, _ = ragged_problem(sizes=(20, 20))
    net = _small(optimizer="sgd").fit(X, y, tasks=tasks)
    before = net.predict(X, tasks=tasks)
    # small batches: the second step meets the first one's overflow
    net.set_params(learning_rate=1e12, batch_size=5, warm_start=how == "warm_start")
    with pytest.raises(ValueError, match="learning_rate"):
        if how == "partial_fit":
            net.partial_fit(1e6 * X, y, tasks=tasks)
        else:
            net.fit(1e6 * X, y, tasks=tasks)
    np.testing.assert_array_equal(net.predict(X, tasks=tasks), before)


# ------------------------------------------------------------ partial_fit
def test_partial_fit_new_tasks_and_loss_decreases():
    X, y, tasks, labels = ragged_problem(classification=True)
    net = MultiTaskNetClassifier((8,), learning_rate=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clone(net).partial_fit(X, y, tasks=tasks)
    first = tasks != labels[2]
    for _ in range(5):
        net.partial_fit(X[first], y[first], tasks=tasks[first], classes=[0.0, 1.0])
    old = net.decision_function(X[first], tasks=tasks[first])
    head0 = net.heads_[0]
    losses = [net.loss_curve_[-1]]
    net.partial_fit(X[~first], y[~first], tasks=tasks[~first])
    assert list(net.tasks_) == list(labels) and net.heads_[0] is not None
    np.testing.assert_allclose(
        net.heads_[0].output.weight.detach(), head0.output.weight.detach()
    )
    # the old tasks' heads are the ones trained so far (only the encoder moved)
    assert net.decision_function(X[first], tasks=tasks[first]).shape == old.shape
    for _ in range(10):
        net.partial_fit(X, y, tasks=tasks)
        losses.append(net.loss_curve_[-1])
    assert losses[-1] < losses[1]
    n = net.n_iter_
    net.set_params(warm_start=True, max_epochs=2, n_iter_no_change=1, tol=1e9)
    net.fit(X, y, tasks=tasks)
    assert net.n_iter_ > n


# --------------------------------------------------------- custom encoder
class TwoLayer(torch.nn.Module):
    def __init__(self, n_features=6, width=4):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_features, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
        )

    def forward(self, x):
        return self.net(x)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_custom_encoder_class_and_instance():
    X, y, tasks, _ = ragged_problem()
    net = MultiTaskNetRegressor(encoder=TwoLayer, encoder__width=8, max_epochs=3)
    net.fit(X, y, tasks=tasks)
    assert net.encoder_.net[0].out_features == 8
    assert net.get_params()["encoder__width"] == 8
    net2 = clone(net).set_params(encoder__width=16).fit(X, y, tasks=tasks)
    assert net2.encoder_.net[0].out_features == 16
    inst = TwoLayer(width=5)
    saved = {k: v.clone() for k, v in inst.state_dict().items()}
    fitted = MultiTaskNetRegressor(encoder=inst, max_epochs=3).fit(X, y, tasks=tasks)
    assert fitted.encoder_ is not inst
    for k, v in inst.state_dict().items():
        assert torch.equal(v, saved[k])
    with pytest.raises(TypeError, match="unexpected parameter"):
        MultiTaskNetRegressor(encdoer__width=3)


class SmallCNN(torch.nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, channels, 3)
        self.pool = torch.nn.AdaptiveAvgPool2d(2)

    def forward(self, x):
        z = self.pool(torch.relu(self.conv(x.reshape(-1, 1, 8, 8))))
        return z.flatten(1)


def test_cnn_encoder_on_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    tasks = np.where(y < 5, "low", "high")
    target = (y % 2).astype(int)
    net = MultiTaskNetClassifier(
        encoder=SmallCNN,
        encoder__channels=8,
        learning_rate=0.01,
        max_epochs=30,
        n_iter_no_change=30,
        tol=0.0,
        random_state=0,
    )
    with pytest.warns(Warning):  # 30 epochs: stops at max_epochs
        net.fit(X, target, tasks=tasks)
    assert net.score(X, target, tasks=tasks) > 0.8


# ------------------------------------------------------------- ecosystem
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_with_routing():
    import sklearn
    from sklearn.model_selection import GridSearchCV

    X, y, tasks, _ = ragged_problem()
    net = MultiTaskNetRegressor(
        encoder=TwoLayer, encoder__width=4, max_epochs=3, random_state=0
    )
    grid = {"encoder__width": [4, 8], "optimizer__weight_decay": [0.0, 1e-3]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(net, grid, cv=2).fit(X, y, tasks=tasks)
    assert set(search.best_params_) == set(grid)
    assert search.best_estimator_.encoder_.net[0].out_features in (4, 8)


# ------------------------------------------------------------- imports
def test_import_skmtl_does_not_import_torch():
    code = "import sys, skmtl; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_neural_without_torch_says_how_to_install():
    # a meta-path finder that refuses torch, as if it were not installed
    # (sys.modules['torch'] = None breaks libraries that probe sys.modules)
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n    import skmtl.neural\nexcept ImportError as e:\n"
        "    assert 'pip install \"skmtl[torch]\"' in str(e), e\nelse:\n"
        "    raise SystemExit('imported')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
