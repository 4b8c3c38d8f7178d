"""The package's one thread policy (skmtl._threads) and that every entry point uses it.

A small fit must not be slower with the default BLAS threads than with one:
the policy gives small problems one thread, so the fit is the one-thread
fit. Timing tests would be flaky on a shared machine; instead the tests
check the decision, and record the BLAS thread count in force inside every
product with X (``TaskDesign.forward`` / ``backward``) and inside base
learners' fits, with two threads allowed outside.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._design import TaskDesign
from skmtl._threads import (
    MANY_THREADS_WORK,
    blas_max_threads,
    blas_threads,
    n_threads_for,
    product_work,
)
from skmtl.model_selection import MultiTaskClassifierCV, MultiTaskRegressorCV
from skmtl.solvers import GramSolver, KernelNewton, NewtonCG, SmoothAuto
from skmtl.solvers._dispatch import blas_work
from skmtl.transfer import (
    DistilledClassifier,
    FineTunedClassifier,
    FineTunedRegressor,
    JointTransferClassifier,
    JointTransferRegressor,
    RegularizedTransferClassifier,
    RegularizedTransferRegressor,
    TrAdaBoostClassifier,
)


def _two_threads_possible():
    with threadpool_limits(2, user_api="blas"):
        return blas_max_threads() >= 2


needs_two = pytest.mark.skipif(
    not _two_threads_possible(), reason="BLAS cannot run 2 threads here"
)


# ------------------------------------------------------------- the decision
def test_n_threads_for():
    assert n_threads_for(0, 8) == 1
    assert n_threads_for(MANY_THREADS_WORK - 1, 8) == 1
    assert n_threads_for(MANY_THREADS_WORK, 8) == 2
    assert n_threads_for(3.5 * MANY_THREADS_WORK, 8) == 4
    assert n_threads_for(1e15, 8) == 8  # never above what is allowed
    assert n_threads_for(1e15, 1) == 1
    assert n_threads_for(1e15, 0) == 1


def test_product_work():
    assert product_work(np.zeros((30, 4)), 5) == 600
    assert product_work(sp.random(30, 4, density=0.5, format="csr"), 5) == 0
    assert product_work([[1.0, 2.0]], 3) == 6


def test_design_product_work():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    # shared design: one product with n_tasks * n_outputs columns
    assert TaskDesign(X, None, 5).product_work(3) == 40 * 6 * 5 * 3
    # few dense tasks: one product per block, the largest counts
    codes = np.repeat([0, 1], [30, 10])
    design = TaskDesign(X, codes, 2)
    assert design.mode == "blocks"
    assert design.product_work() == 30 * 6
    # sparse X: scipy's products are single-threaded
    assert TaskDesign(sp.csr_matrix(X), codes, 2).product_work() == 0


def _loss(X, codes, n_tasks):
    from skmtl._loss import SmoothLoss
    from skmtl.datafits import Quadratic

    design = TaskDesign(X, codes, n_tasks)
    n = design.n_rows
    datafit = Quadratic().initialize(np.zeros(n), np.full(n, 1.0 / n))
    return SmoothLoss(design, datafit, fit_intercept=False)


def test_blas_work_large_and_small():
    from skmtl.penalties import Independent, MeanRegularized

    # a large shared dense design keeps threads (np.zeros is not touched)
    n, p, T = 20_000, 1_000, 50
    loss = _loss(np.zeros((n, p)), None, T)
    labels = np.arange(T)
    mean = MeanRegularized().bind(labels, 1.0)
    work = blas_work(NewtonCG(), loss, mean, np.zeros((p, T)))
    assert work == n * p * T
    assert n_threads_for(work, 2) == 2
    # solved task by task, the same design has one product per task
    indep = Independent().bind(labels, 1.0)
    work = blas_work(NewtonCG(), loss, indep, np.zeros((p, T)), per_task=True)
    assert work == n * p
    assert n_threads_for(work, 2) == 1


def test_blas_work_direct_solvers():
    from skmtl.penalties import MeanRegularized

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8))
    codes = np.repeat([0, 1, 2], 20)
    loss = _loss(X, codes, 3)
    bound = MeanRegularized().bind(np.arange(3), 1.0)
    W0 = np.zeros((8, 3))
    assert blas_work(GramSolver(), loss, bound, W0) == 8**3 + 20 * 8 * 8
    assert blas_work(KernelNewton(), loss, bound, W0) == 60**3 / 3 + 60 * 60 * 8
    # "auto" decides from the solver it will run
    auto = SmoothAuto()
    chosen = auto.choose(loss, bound, W0)
    assert blas_work(auto, loss, bound, W0) == blas_work(chosen(), loss, bound, W0)


@needs_two
def test_blas_threads_only_lowers():
    with threadpool_limits(2, user_api="blas"):
        with blas_threads(0) as n:
            assert n == 1 and blas_max_threads() == 1
            with blas_threads(1e15) as inner:  # nested: never raised
                assert inner == 1 and blas_max_threads() == 1
        assert blas_max_threads() == 2  # restored
        with blas_threads(1e15) as n:
            assert n == 2 and blas_max_threads() == 2
    with threadpool_limits(1, user_api="blas"):
        with blas_threads(1e15) as n:  # the caller's limit is respected
            assert n == 1


# ------------------------------------------------ every entry point uses it
@pytest.fixture
def recorder(monkeypatch):
    """BLAS thread counts seen by every product with X of a design."""
    seen = []
    for name in ("forward", "backward"):
        original = getattr(TaskDesign, name)

        def wrapped(self, *args, _original=original, **kwargs):
            seen.append(blas_max_threads())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TaskDesign, name, wrapped)
    return seen


class _RecordingLogisticRegression(LogisticRegression):
    seen = []

    def fit(self, X, y, sample_weight=None):
        type(self).seen.append(blas_max_threads())
        return super().fit(X, y, sample_weight=sample_weight)


def _data(kind, sparse=False):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5))
    tasks = np.repeat(["a", "b", "target"], 30)
    score = X[:, 0] + 0.3 * rng.normal(size=90)
    if kind == "regression":
        y = score
    elif kind == "binary":
        y = (score > 0).astype(int)
    else:
        y = np.digitize(score, [-0.5, 0.5])
    return (sp.csr_matrix(X) if sparse else X), y, tasks


_TASK_ESTIMATORS = [
    ("regression", MultiTaskRegressor(penalty="independent")),
    ("regression", MultiTaskRegressor(penalty="mean")),
    ("regression", MultiTaskRegressor(penalty="mean", solver="gram")),
    ("regression", MultiTaskRegressor(penalty="mean", solver="kernel")),
    ("regression", MultiTaskRegressor(penalty="l21", alpha=0.05)),
    ("regression", MultiTaskRegressor(penalty="trace", alpha=0.05)),
    ("binary", MultiTaskClassifier(penalty="graph")),
    ("multiclass", MultiTaskClassifier(penalty="mean", solver="lbfgs")),
    ("regression", MultiTaskRegressorCV([1.0, 0.1], penalty="mean", cv=2)),
    ("binary", MultiTaskClassifierCV([1.0, 0.1], penalty="l21", cv=2)),
    ("regression", JointTransferRegressor()),
    ("binary", JointTransferClassifier()),
]

_PLAIN_ESTIMATORS = [
    ("regression", FineTunedRegressor(max_iter=5)),
    ("binary", FineTunedClassifier(max_iter=5)),
    ("regression", RegularizedTransferRegressor()),
    ("binary", RegularizedTransferClassifier()),
    ("multiclass", DistilledClassifier()),
]


def _fit_predict(est, X, y, tasks):
    if tasks is None:
        est.fit(X, y)
        est.predict(X)
    else:
        est.fit(X, y, tasks=tasks)
        est.predict(X, tasks=tasks)


@needs_two
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "kind, est",
    _TASK_ESTIMATORS + _PLAIN_ESTIMATORS,
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v,
)
def test_small_fits_run_on_one_thread(recorder, kind, est, sparse):
    X, y, tasks = _data(kind, sparse)
    with_tasks = any(est is e for _, e in _TASK_ESTIMATORS)
    with threadpool_limits(2, user_api="blas"):
        _fit_predict(est, X, y, tasks if with_tasks else None)
        assert blas_max_threads() == 2  # the caller's setting is restored
    assert recorder, "no product with X went through a TaskDesign"
    assert set(recorder) == {1}


@needs_two
def test_shared_design_and_partial_fit_run_on_one_thread(recorder):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    Y = X @ rng.normal(size=(4, 3))
    with threadpool_limits(2, user_api="blas"):
        MultiTaskRegressor(penalty="mean").fit(X, Y).predict(X)
        seen_fit = list(recorder)
        model = MultiTaskRegressor(penalty="mean")
        # partial_fit solves from statistics: record inside its Gram solve
        import skmtl.linear_model._regressor as regressor_module

        inner = []
        original = regressor_module.solve_gram_system

        def recording(*args, **kwargs):
            inner.append(blas_max_threads())
            return original(*args, **kwargs)

        regressor_module.solve_gram_system = recording
        try:
            model.partial_fit(X[:25], Y[:25]).partial_fit(X[25:], Y[25:])
        finally:
            regressor_module.solve_gram_system = original
        model.predict(X)
    assert set(seen_fit) == {1}
    assert inner == [1, 1]


@needs_two
def test_classifier_partial_fit_runs_on_one_thread(recorder):
    X, y, tasks = _data("binary")
    model = MultiTaskClassifier(penalty="mean")
    with threadpool_limits(2, user_api="blas"):
        model.partial_fit(X[:45], y[:45], tasks=tasks[:45], classes=[0, 1])
        model.partial_fit(X[45:], y[45:], tasks=tasks[45:])
        model.predict(X, tasks=tasks)
    assert recorder and set(recorder) == {1}


@needs_two
def test_tradaboost_rounds_run_on_one_thread():
    X, y, _ = _data("binary")
    tasks = np.repeat(["source", "target"], 45)
    _RecordingLogisticRegression.seen = []
    est = TrAdaBoostClassifier(_RecordingLogisticRegression(), n_estimators=4)
    with threadpool_limits(2, user_api="blas"):
        est.fit(X, y, tasks=tasks)
    assert _RecordingLogisticRegression.seen == [1] * 4


def test_torch_follows_the_same_rule():
    torch = pytest.importorskip("torch")
    from skmtl.neural._training import torch_threads

    small = torch.nn.Linear(10, 2)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch_threads(small, 32):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        # a step of MANY_THREADS_WORK parameter-rows keeps both threads
        batch = int(MANY_THREADS_WORK // sum(p.numel() for p in small.parameters()))
        with torch_threads(small, batch + 1):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
