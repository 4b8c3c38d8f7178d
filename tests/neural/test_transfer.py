"""FineTunedNet* and JointTransferNet* against independent references."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss

from ..conftest import num_grad, ragged_problem

torch = pytest.importorskip("torch")

from skmtl.neural import (  # noqa: E402
    FineTunedNetClassifier,
    FineTunedNetRegressor,
    JointTransferNetClassifier,
    JointTransferNetRegressor,
    MultiTaskModule,
    MultiTaskNetClassifier,
    MultiTaskNetRegressor,
    TaskHead,
)

# a fixed budget of Adam epochs (the tests compare states, not optima)
BUDGET = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
EXACT = {"optimizer": "lbfgs", "dtype": "float64"}


@pytest.fixture(scope="module")
def problem():
    return ragged_problem(sizes=(30, 40, 50), n_features=4, classification=True)


@pytest.fixture(scope="module")
def source(problem):
    """A float64 source network on task-0 and task-1 (two hidden layers).

    Any weights serve as a source: a fixed budget of 30 Adam steps.
    """
    X, y, tasks, labels = problem
    rows = tasks != labels[2]
    net = MultiTaskNetClassifier(
        (5, 4),
        activation="tanh",
        alpha=0.01,
        learning_rate=0.05,
        max_epochs=30,
        random_state=0,
        dtype="float64",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return net.fit(X[rows], y[rows], tasks=tasks[rows])


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


def _target(problem):
    X, y, tasks, labels = problem
    rows = tasks == labels[2]
    return X[rows], y[rows]


# ------------------------------------------------------------------ freeze
@BUDGET
def test_frozen_parameters_are_unchanged(problem, source):
    X, y, tasks, _ = problem
    src = _state(source.module_)
    kw = {"max_epochs": 5, "learning_rate": 0.01, "random_state": 0, "dtype": "float64"}
    net = FineTunedNetClassifier(source, freeze="encoder", heads="copy", **kw)
    net.fit(X, y, tasks=tasks)
    fit = _state(net.module_)
    for name in fit:
        if name.startswith("encoder."):
            assert torch.equal(fit[name], src[name]), name
        elif name.startswith("heads.0.") or name.startswith("heads.1."):
            # copied heads (task-0, task-1) start at the source and move
            assert not torch.equal(fit[name], src[name]), name
    # a prefix list freezes exactly the parameters it names
    net = FineTunedNetClassifier(source, freeze=["encoder.layers.0"], **kw)
    net.fit(X, y, tasks=tasks)
    fit = _state(net.module_)
    frozen = {n for n, p in net.module_.named_parameters() if not p.requires_grad}
    assert frozen == {"encoder.layers.0.weight", "encoder.layers.0.bias"}
    for name in ("encoder.layers.0.weight", "encoder.layers.0.bias"):
        assert torch.equal(fit[name], src[name])
    for name in ("encoder.layers.2.weight", "encoder.layers.2.bias"):
        assert not torch.equal(fit[name], src[name])
    with pytest.raises(ValueError, match="encoder.layers.2.weight"):
        FineTunedNetClassifier(source, freeze=["encoder.nope"]).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="no parameter to train"):
        FineTunedNetClassifier(source, freeze=["encoder", "heads"]).fit(
            X, y, tasks=tasks
        )


@BUDGET
def test_unfreeze_after_and_encoder_learning_rate(problem, source):
    X, y, tasks, _ = problem
    src = _state(source.module_)
    kw = {"freeze": "encoder", "unfreeze_after": 2, "learning_rate": 0.01}
    kw["dtype"] = "float64"

    def fit(max_epochs, **more):
        net = FineTunedNetClassifier(
            source, max_epochs=max_epochs, random_state=0, **{**kw, **more}
        )
        return net.fit(X, y, tasks=tasks)

    def encoder_equal(net):
        return all(
            torch.equal(v, src[k])
            for k, v in _state(net.module_).items()
            if k.startswith("encoder.")
        )

    one, two, four = fit(1), fit(2), fit(4)
    assert one.unfrozen_epoch_ is None and encoder_equal(one)
    # unfrozen after epoch 2: no step on the encoder yet
    assert two.unfrozen_epoch_ == 2 and encoder_equal(two)
    assert four.unfrozen_epoch_ == 2 and not encoder_equal(four)
    # a refit freezes again; a warm start after the unfreeze continues
    four.set_params(max_epochs=2).fit(X, y, tasks=tasks)
    assert encoder_equal(four) and four.unfrozen_epoch_ == 2
    four.set_params(max_epochs=4).fit(X, y, tasks=tasks)
    four.set_params(warm_start=True, max_epochs=1).fit(X, y, tasks=tasks)
    assert four.n_iter_ == 5 and not encoder_equal(four)
    # the encoder's rate reaches its parameter group, before and after unfreezing
    for net in (
        fit(1, encoder_learning_rate=1e-4, freeze=None),
        fit(3, encoder_learning_rate=1e-4),
    ):
        groups = net.optimizer_.param_groups
        assert [g["lr"] for g in groups] == [0.01, 1e-4]
        assert {id(p) for p in groups[1]["params"]} == {
            id(p) for p in net.module_.encoder.parameters()
        }
    # one full-batch SGD step: the encoder moves by -rate * gradient
    steps = []
    for rate in (1e-3, 2e-3):
        net = FineTunedNetClassifier(
            source,
            optimizer="sgd",
            batch_size=len(y),
            max_epochs=1,
            encoder_learning_rate=rate,
            dtype="float64",
            random_state=0,
        ).fit(X, y, tasks=tasks)
        steps.append(
            net.module_.encoder.layers[0].weight.detach()
            - src["encoder.layers.0.weight"]
        )
    np.testing.assert_allclose(2 * steps[0], steps[1], rtol=1e-9, atol=1e-15)
    for bad in ({"encoder_learning_rate": 1e-3}, {"unfreeze_after": 1}):
        with pytest.raises(ValueError, match="L-BFGS"):
            FineTunedNetClassifier(source, optimizer="lbfgs", **bad).fit(
                X, y, tasks=tasks
            )


@BUDGET
@pytest.mark.parametrize(
    "Net, Ref",
    [
        (FineTunedNetClassifier, MultiTaskNetClassifier),
        (FineTunedNetRegressor, MultiTaskNetRegressor),
    ],
)
def test_no_source_is_the_network_from_scratch(problem, Net, Ref):
    X, y, tasks, _ = problem
    kw = {"hidden_layer_sizes": (6,), "max_epochs": 4, "random_state": 0}
    net = Net(**kw).fit(X, y, tasks=tasks)
    ref = Ref(**kw).fit(X, y, tasks=tasks)
    np.testing.assert_array_equal(net.predict(X, tasks=tasks), ref.predict(X, tasks))
    assert net.source_parameters_ == {}


# -------------------------------------------------------------------- L2-SP
def test_l2sp_huge_strength_returns_source_weights(problem, source):
    X, y, tasks, labels = problem
    Xt, yt = _target(problem)
    # stationary: source_alpha (theta - theta_0) = -grad L + g with |g| <= tol,
    # so |theta - theta_0| <= (|grad L| + tol) / source_alpha, about 1e-8
    net = FineTunedNetClassifier(source, source_alpha=1e6, tol=1e-2, **EXACT)
    net.fit(Xt, yt, tasks="new")
    src = _state(source.module_)
    diff = max(
        float((v - src[k]).abs().max())
        for k, v in _state(net.module_).items()
        if k.startswith("encoder.")
    )
    assert diff < 1e-6
    # a weak pull moves them
    weak = FineTunedNetClassifier(source, source_alpha=1e-3, tol=1e-3, **EXACT)
    weak.fit(Xt, yt, tasks="new")
    moved = max(
        float((v - src[k]).abs().max())
        for k, v in _state(weak.module_).items()
        if k.startswith("encoder.")
    )
    assert moved > 1e-3
    # the reference is the source's encoder, by name
    assert set(net.source_parameters_) == {k for k in src if k.startswith("encoder.")}
    # source_alpha=0: no penalty on the encoder, alpha on the new heads only
    alpha = 0.05
    net = FineTunedNetClassifier(
        source, source_alpha=0.0, alpha=alpha, tol=1e-3, **EXACT
    ).fit(X, y, tasks=tasks)
    proba = net.predict_proba(X, tasks=tasks)
    data = sum(log_loss(y[tasks == t], proba[tasks == t]) for t in labels)
    heads = sum(float((h.output.weight.detach() ** 2).sum()) for h in net.heads_)
    assert net.loss_curve_[-1] == pytest.approx(data + 0.5 * alpha * heads, rel=1e-9)
    # and plain fine-tuning (source_alpha=None) decays the encoder too
    plain = FineTunedNetClassifier(source, alpha=alpha, tol=1e-3, **EXACT)
    plain.fit(X, y, tasks=tasks)
    enc = sum(
        float((p.detach() ** 2).sum())
        for p in plain.module_.encoder.parameters()
        if p.ndim >= 2
    )
    proba = plain.predict_proba(X, tasks=tasks)
    data = sum(log_loss(y[tasks == t], proba[tasks == t]) for t in labels)
    heads = sum(float((h.output.weight.detach() ** 2).sum()) for h in plain.heads_)
    assert plain.loss_curve_[-1] == pytest.approx(
        data + 0.5 * alpha * (heads + enc), rel=1e-9
    )


@pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"  # one round: a fitted module
)
def test_l2sp_gradient_matches_finite_differences(problem, source):
    X, y, tasks, labels = problem
    # task-0 gets the source's head (in the reference), task-2 a new one
    rows = tasks != labels[1]
    X, y, tasks = X[rows], y[rows], tasks[rows]
    net = FineTunedNetClassifier(
        source, heads="copy", source_alpha=0.7, alpha=0.3, max_epochs=1, **EXACT
    )
    net.fit(X, y, tasks=tasks)
    assert sorted(k for k in net.source_parameters_ if k.startswith("heads")) == [
        "heads.0.output.bias",
        "heads.0.output.weight",
    ]
    module = net.module_
    params = list(module.parameters())
    with torch.no_grad():  # away from the source, so that every term counts
        gen = torch.Generator().manual_seed(0)
        for p in params:
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    state = {"module_": module, "source_parameters_": net.source_parameters_}
    data = net._prepare(X, y, tasks, None, True, None, partial=True)
    rows = np.arange(len(y))
    sizes = [p.numel() for p in params]

    def objective(theta):
        with torch.no_grad():
            start = 0
            for p, n in zip(params, sizes):
                p.copy_(torch.as_tensor(theta[start : start + n]).view_as(p))
                start += n
        _, losses, _, _ = net.get_loss(module, data, rows, torch.device("cpu"))
        return losses.sum() + net._l2_value(module, state)

    theta0 = torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy()
    # by hand at theta0
    penalty = sum(
        0.5 * 0.7 * float(((p.detach() - net.source_parameters_[n]) ** 2).sum())
        if n in net.source_parameters_
        else 0.5 * 0.3 * float((p.detach() ** 2).sum()) * (p.ndim >= 2)
        for n, p in module.named_parameters()
    )
    assert float(net._l2_value(module, state).detach()) == pytest.approx(
        penalty, rel=1e-12
    )
    # the training step's gradient: the losses' by autograd, the penalty's
    # from _l2_backward
    module.zero_grad()
    _, losses, _, _ = net.get_loss(module, data, rows, torch.device("cpu"))
    losses.sum().backward()
    net._l2_backward(params, state)
    grad = torch.cat([p.grad.reshape(-1) for p in params]).numpy()
    numeric = num_grad(lambda th: float(objective(th).detach()), theta0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


# ------------------------------------------------ frozen encoder = GLM
def test_new_head_on_frozen_encoder_is_a_glm_of_the_features(problem, source):
    Xt, yt = _target(problem)
    n, a = len(yt), 0.05
    # atol: L-BFGS stops at round-off of the objective, which leaves ~1e-6 on
    # the smallest coefficients
    kw = {"freeze": "encoder", "alpha": a, "tol": 1e-8, **EXACT}
    with torch.no_grad():
        Z = source.module_.encoder(torch.as_tensor(Xt)).numpy()
    net = FineTunedNetClassifier(source, **kw).fit(Xt, yt, tasks="new")
    ref = LogisticRegression(C=1 / (a * n), tol=1e-12, max_iter=10_000).fit(Z, yt)
    head = net.heads_[0].output
    np.testing.assert_allclose(
        head.weight.detach()[0], ref.coef_[0], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(head.bias.detach(), ref.intercept_, rtol=1e-4, atol=1e-5)
    # regression on the same features: Ridge(alpha * n) (mean loss / 2)
    target = Xt @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0
    net = FineTunedNetRegressor(source, **kw).fit(Xt, target, tasks="new")
    ref = Ridge(alpha=a * n).fit(Z, target)
    head = net.heads_[0].output
    np.testing.assert_allclose(head.weight.detach()[0], ref.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        head.bias.detach(), [ref.intercept_], rtol=1e-4, atol=1e-5
    )


# -------------------------------------------------------------- sources
@BUDGET
def test_copied_heads_and_state_dict_sources(problem, source):
    X, y, tasks, labels = problem
    # a tiny step: the copied heads give the source's scores
    net = FineTunedNetClassifier(
        source,
        heads="copy",
        optimizer="sgd",
        learning_rate=1e-12,
        max_epochs=1,
        dtype="float64",
    ).fit(X, y, tasks=tasks)
    old = tasks != labels[2]
    np.testing.assert_allclose(
        net.decision_function(X[old], tasks=tasks[old]),
        source.decision_function(X[old], tasks=tasks[old]),
        rtol=1e-8,
        atol=1e-9,
    )
    y3 = np.where(X[:, 0] > 1, 2, y)
    with pytest.raises(ValueError, match="classes"):
        FineTunedNetClassifier(source, heads="copy").fit(X, y3, tasks=tasks)
    one_head = MultiTaskModule(source.module_.encoder, [TaskHead(4, 1)], True)
    with pytest.raises(ValueError, match="outputs"):
        FineTunedNetClassifier(one_head, heads="copy").fit(X, y3, tasks=tasks)
    with pytest.raises(ValueError, match="no task labels"):
        FineTunedNetClassifier(source.module_, heads="copy").fit(X, y, tasks=tasks)
    # state dicts, with and without the encoder. prefix
    kw = {"hidden_layer_sizes": (5, 4), "activation": "tanh", "freeze": "encoder"}
    kw.update(tol=1e-4, **EXACT)
    src = _state(source.module_)
    for sd in (source.module_.encoder.state_dict(), source.module_.state_dict()):
        net = FineTunedNetClassifier(sd, **kw).fit(X, y, tasks=tasks)
        fit = _state(net.module_)
        assert all(torch.equal(fit[k], src[k]) for k in fit if k.startswith("enc"))
    with pytest.raises(ValueError, match="does not fit the encoder"):
        FineTunedNetClassifier(sd, **{**kw, "hidden_layer_sizes": (7,)}).fit(
            X, y, tasks=tasks
        )
    with pytest.raises(ValueError, match="heads"):
        FineTunedNetClassifier(sd, heads="copy", **kw).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="FrozenEstimator"):
        FineTunedNetClassifier(clone(source)).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="the encoder failed"):
        FineTunedNetClassifier(source).fit(X[:, :3], y, tasks=tasks)


@BUDGET
def test_source_is_never_modified(problem, source):
    X, y, tasks, _ = problem
    before = _state(source.module_)
    encoder = source.module_.encoder
    flags = [p.requires_grad for p in encoder.parameters()]
    kw = {"max_epochs": 3, "learning_rate": 0.1, "random_state": 0, "dtype": "float64"}
    for src in (source, source.module_, encoder):
        for more in ({}, {"freeze": "encoder"}, {"source_alpha": 1.0}):
            heads = "copy" if src is source else "new"
            net = FineTunedNetClassifier(src, heads=heads, **kw, **more)
            net.fit(X, y, tasks=tasks)
            assert net.module_.encoder is not encoder
            assert not {p.data_ptr() for p in net.module_.parameters()} & {
                p.data_ptr() for p in source.module_.parameters()
            }
    assert _equal(before, _state(source.module_))
    assert flags == [p.requires_grad for p in encoder.parameters()]


# ------------------------------------------------------------------ joint
def test_joint_tasks_and_errors(problem):
    X, y, tasks, labels = problem
    kw = {"hidden_layer_sizes": (3,), "tol": 1e-4, **EXACT}
    net = JointTransferNetClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(net.tasks_, ["target"])
    np.testing.assert_array_equal(net.predict(X), net.predict(X, tasks="target"))
    with pytest.raises(ValueError, match="target"):
        JointTransferNetClassifier(**kw).fit(X, y, tasks=tasks)
    dom = np.where(tasks == labels[0], "target", "source")
    sw = np.where(dom == "target", 0.0, 1.0)
    with pytest.raises(ValueError, match="target"):
        JointTransferNetClassifier(**kw).fit(X, y, tasks=dom, sample_weight=sw)


@pytest.mark.parametrize(
    "Joint, Net", [(JointTransferNetClassifier, MultiTaskNetClassifier)]
)
@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_joint_is_a_weighted_multitask_net(problem, Joint, Net, lam):
    X, y, tasks, labels = problem
    dom = np.where(tasks == labels[2], "tgt", tasks)
    kw = {"hidden_layer_sizes": (3,), "activation": "tanh", "alpha": 0.01}
    kw.update(tol=1e-3, random_state=0, **EXACT)
    joint = Joint(lam, target="tgt", **kw).fit(X, y, tasks=dom)
    weights = {labels[0]: lam / 2, labels[1]: lam / 2, "tgt": 1 - lam}
    ref = Net(task_weights=weights, **kw).fit(X, y, tasks=dom)
    np.testing.assert_array_equal(
        joint.decision_function(X), ref.decision_function(X, "tgt")
    )
    # the objective by hand at the solution
    L = {
        d: log_loss(y[dom == d], joint.predict_proba(X[dom == d], tasks=d))
        for d in weights
    }
    W2 = sum(
        float((p.detach() ** 2).sum())
        for p in joint.module_.parameters()
        if p.ndim >= 2
    )
    expected = sum(weights[d] * L[d] for d in weights) + 0.5 * 0.01 * W2
    assert joint.loss_curve_[-1] == pytest.approx(expected, rel=1e-9)


def test_joint_regressor_loss_by_hand():
    X, y, tasks, labels = ragged_problem(sizes=(30, 40), n_features=3)
    dom = np.where(tasks == labels[1], "target", "source")
    net = JointTransferNetRegressor(
        0.25, (3,), activation="tanh", alpha=0.02, tol=1e-3, random_state=0, **EXACT
    ).fit(X, y, tasks=dom)
    loss = {
        d: 0.5 * np.mean((y[dom == d] - net.predict(X[dom == d], tasks=d)) ** 2)
        for d in ("source", "target")
    }
    W2 = sum(
        float((p.detach() ** 2).sum()) for p in net.module_.parameters() if p.ndim >= 2
    )
    expected = 0.25 * loss["source"] + 0.75 * loss["target"] + 0.01 * W2
    assert net.loss_curve_[-1] == pytest.approx(expected, rel=1e-9)


# -------------------------------------------------------------- ecosystem
@BUDGET
def test_pickle_clone_and_grid_search(problem, source):
    import sklearn
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import GridSearchCV

    X, y, tasks, _ = problem
    net = FineTunedNetClassifier(
        source, source_alpha=0.5, heads="copy", max_epochs=3, random_state=0
    ).fit(X, y, tasks=tasks)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(
        back.predict_proba(X, tasks=tasks), net.predict_proba(X, tasks=tasks)
    )
    assert _equal(back.source_parameters_, net.source_parameters_)
    assert back.source_parameters_ and back.unfrozen_epoch_ is None
    # clone copies a module source; a FrozenEstimator keeps a network fitted
    for src in (source.module_, FrozenEstimator(source)):
        est = clone(FineTunedNetClassifier(src, max_epochs=2, random_state=0))
        np.testing.assert_array_equal(
            est.fit(X, y, tasks=tasks).predict(X, tasks=tasks),
            FineTunedNetClassifier(src, max_epochs=2, random_state=0)
            .fit(X, y, tasks=tasks)
            .predict(X, tasks=tasks),
        )
    grid = {"freeze": [None, "encoder"], "encoder_learning_rate": [None, 1e-4]}
    est = FineTunedNetClassifier(
        FrozenEstimator(source), max_epochs=2, learning_rate=0.01, random_state=0
    )
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(est, grid, cv=2).fit(X, y, tasks=tasks)
    assert set(search.best_params_) == set(grid)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ------------------------------------------------- RegularizedTransferNet*
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_regularized_transfer_net_is_l2sp_with_one_strength(kind):
    from skmtl.neural import (
        MultiTaskNetClassifier,
        MultiTaskNetRegressor,
        RegularizedTransferNetClassifier,
        RegularizedTransferNetRegressor,
    )

    rng = np.random.default_rng(3)
    X = rng.normal(size=(160, 4))
    tasks = np.repeat(["a", "b"], 80)
    score = X[:, 0] + np.where(tasks == "a", 1.0, -1.0) * X[:, 1]
    if kind == "classifier":
        y = (score > 0).astype(int)
        Net, Fine, Reg = (
            MultiTaskNetClassifier,
            FineTunedNetClassifier,
            RegularizedTransferNetClassifier,
        )
    else:
        y = score
        Net, Fine, Reg = (
            MultiTaskNetRegressor,
            FineTunedNetRegressor,
            RegularizedTransferNetRegressor,
        )
    kw = {"max_epochs": 8, "learning_rate": 0.01, "random_state": 0}
    src = Net((6,), **kw).fit(X[:80], y[:80], tasks="a")
    reg = Reg(src, alpha=0.05, **kw).fit(X[80:], y[80:], tasks="b")
    fine = Fine(src, source_alpha=0.05, alpha=0.05, **kw).fit(X[80:], y[80:], tasks="b")
    # the same objective and the same steps: identical models
    for a, b in zip(reg.module_.parameters(), fine.module_.parameters()):
        assert torch.equal(a, b)
    assert reg.loss_curve_ == fine.loss_curve_
    assert set(reg.source_parameters_) == set(fine.source_parameters_)
    # without a source: the plain network with weight decay alpha
    plain = Reg(None, (6,), alpha=0.05, **kw).fit(X, y, tasks=tasks)
    ref = Net((6,), alpha=0.05, **kw).fit(X, y, tasks=tasks)
    np.testing.assert_array_equal(plain.predict(X, tasks), ref.predict(X, tasks))
    # only its own parameters: no freezing options
    params = reg.get_params(deep=False)
    assert "freeze" not in params and "source_alpha" not in params
    assert clone(reg).get_params(deep=False)["alpha"] == 0.05
