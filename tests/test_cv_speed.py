"""What makes the cross-validated estimators cheaper than GridSearchCV, tested
against GridSearchCV and cold fits: folds without the features they lack, and
the refit warm-started from the folds' solutions."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

import skmtl.model_selection._cv as cv_module
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.model_selection import (
    MultiTaskClassifierCV,
    MultiTaskRegressorCV,
    TaskStratifiedKFold,
)
from skmtl.model_selection._cv import _drops_absent_features, _refit_start
from skmtl.penalties import (
    L21,
    Dirty,
    GraphLaplacian,
    Independent,
    MeanRegularized,
    TraceNorm,
    TransferPrior,
)

ALPHAS = [1.0, 0.1, 0.01, 0.001]
TASKS3 = np.array(["a", "b", "c"])


def _rare_features(classification, seed=0):
    """Sparse rows: 8 shared features, then 120 features each used by one row.

    Every fold's training rows miss the rare features of its test rows (a
    third of them), as the rare words of a TF-IDF design.
    """
    rng = np.random.default_rng(seed)
    n = 150
    tasks = np.repeat(TASKS3, n // 3)
    common = rng.normal(size=(n, 8)) * (rng.random((n, 8)) < 0.6)
    rare = np.zeros((n, 120))
    rare[rng.permutation(n)[:120], np.arange(120)] = rng.normal(size=120)
    X = sp.csr_matrix(np.hstack([common, rare]))
    w = rng.normal(size=8)
    shift = np.select([tasks == "a", tasks == "b"], [0.5, -0.5], 0.0)
    z = common @ w + shift + 0.5 * rng.normal(size=n) + rare.sum(axis=1)
    y = (z > 0).astype(int) if classification else z
    return X, y, tasks


def _folds(X, y, tasks):
    splitter = TaskStratifiedKFold(3, shuffle=True, random_state=0)
    return list(splitter.split(X, y, tasks=tasks))


def _by_params(results, name):
    def key(params):
        return tuple(sorted((k, float(v)) for k, v in params.items()))

    return dict(zip(map(key, results["params"]), results[name]))


def _fold_widths(monkeypatch):
    """Record the number of features of every fold's training design."""
    widths, fit_path = [], cv_module.fit_path

    def recording(estimator, X, *args, **kwargs):
        widths.append(X.shape[1])
        return fit_path(estimator, X, *args, **kwargs)

    monkeypatch.setattr(cv_module, "fit_path", recording)
    return widths


CASES = [
    (MultiTaskClassifier, MultiTaskClassifierCV, True,
     MeanRegularized(), {"specific": [0.3, 3.0]}),
    (MultiTaskClassifier, MultiTaskClassifierCV, True, "independent", None),
    (MultiTaskRegressor, MultiTaskRegressorCV, False,
     GraphLaplacian(), {"coupling": [0.1, 1.0]}),
    (MultiTaskRegressor, MultiTaskRegressorCV, False, L21(), None),
]  # fmt: skip


@pytest.mark.parametrize(
    "Est, EstCV, classification, penalty, grid",
    CASES,
    ids=["logistic-mean", "logistic-independent", "squared-graph", "squared-l21"],
)
def test_folds_without_absent_features_match_grid_search(
    Est, EstCV, classification, penalty, grid, monkeypatch
):
    X, y, tasks = _rare_features(classification)
    folds = _folds(X, y, tasks)
    widths = _fold_widths(monkeypatch)
    cvm = EstCV(ALPHAS, penalty=penalty, penalty_grid=grid, cv=folds, tol=1e-8)
    cvm.fit(X, y, tasks=tasks)
    # every fold dropped the rare features of its test rows
    assert len(widths) == 3 and all(w < X.shape[1] - 30 for w in widths)
    param_grid = {"alpha": ALPHAS}
    param_grid.update({f"penalty__{k}": v for k, v in (grid or {}).items()})
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(Est(penalty=penalty, tol=1e-8), param_grid, cv=folds)
        gs.fit(X, y, tasks=tasks)
    names = ["mean_test_score"] + [f"split{k}_test_score" for k in range(3)]
    for name in names:
        ours = _by_params(cvm.cv_results_, name)
        theirs = _by_params(gs.cv_results_, name)
        assert ours.keys() == theirs.keys()
        for key, score in theirs.items():
            assert_allclose(ours[key], score, rtol=0, atol=1e-6, err_msg=f"{key}")
    scores = list(_by_params(gs.cv_results_, "mean_test_score").values())
    assert np.ptp(scores) > 1e-3  # the candidates differ: the match means something
    assert {
        k: float(v) if k == "alpha" else v for k, v in cvm.best_params_.items()
    } == {k: float(v) if k == "alpha" else v for k, v in gs.best_params_.items()}
    # the refit is a model of all the features, GridSearchCV's up to tol
    ref = gs.best_estimator_
    assert cvm.best_estimator_.coef_.shape == ref.coef_.shape
    assert_allclose(cvm.best_estimator_.coef_, ref.coef_, rtol=1e-5, atol=1e-6)


def test_dense_and_sparse_folds_agree(monkeypatch):
    # dense X keeps every feature; sparse X drops the absent ones: same scores
    X, y, tasks = _rare_features(True, seed=1)
    folds = _folds(X, y, tasks)
    grid = {"specific": [0.3, 3.0]}
    widths = _fold_widths(monkeypatch)
    sparse = MultiTaskClassifierCV(
        ALPHAS, penalty="mean", penalty_grid=grid, cv=folds, tol=1e-8
    ).fit(X, y, tasks=tasks)
    dense = MultiTaskClassifierCV(
        ALPHAS, penalty="mean", penalty_grid=grid, cv=folds, tol=1e-8
    ).fit(X.toarray(), y, tasks=tasks)
    assert all(w < X.shape[1] for w in widths[:3]) and widths[3:] == [X.shape[1]] * 3
    for k in range(3):
        name = f"split{k}_test_score"
        assert_allclose(sparse.cv_results_[name], dense.cv_results_[name], atol=1e-6)
    assert sparse.best_params_ == dense.best_params_


@pytest.mark.parametrize(
    "penalty, expected",
    [
        ("independent", True),
        (Independent(), True),
        (MeanRegularized(specific=3.0), True),
        (GraphLaplacian(coupling=0.5), True),
        (L21(), True),
        # a linear term: a feature without data is pulled toward the source
        (TransferPrior(coef=np.ones((3, 5))), False),
        # parts of W (n_components = 2), or a coupling across features
        (Dirty(), False),
        (TraceNorm(), False),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, (str, bool)) else str(v),
)
def test_which_penalties_keep_absent_features_at_zero(penalty, expected):
    assert _drops_absent_features(penalty, TASKS3) is expected


def test_transfer_prior_keeps_every_feature(monkeypatch):
    # W_source is non-zero on the rare features: dropping them would change
    # the fold's solution (and the prior's shape); they are kept
    X, y, tasks = _rare_features(True)
    folds = _folds(X, y, tasks)
    prior = TransferPrior(coef=np.full((3, X.shape[1]), 0.1))
    widths = _fold_widths(monkeypatch)
    cvm = MultiTaskClassifierCV([1.0, 0.1], penalty=prior, cv=folds, tol=1e-8)
    cvm.fit(X, y, tasks=tasks)
    assert widths == [X.shape[1]] * 3
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            MultiTaskClassifier(penalty=prior, tol=1e-8),
            {"alpha": [1.0, 0.1]},
            cv=folds,
        ).fit(X, y, tasks=tasks)
    assert_allclose(
        cvm.cv_results_["mean_test_score"], gs.cv_results_["mean_test_score"]
    )


def test_refit_starts_from_the_folds_mean(monkeypatch):
    X, y, tasks = _rare_features(True)
    folds = _folds(X, y, tasks)
    starts, fit = [], MultiTaskClassifier.fit

    def recording(self, X, y, tasks=None, sample_weight=None, **init):
        starts.append(init)
        return fit(self, X, y, tasks=tasks, sample_weight=sample_weight, **init)

    monkeypatch.setattr(MultiTaskClassifier, "fit", recording)
    cvm = MultiTaskClassifierCV([0.1, 0.01], penalty="mean", cv=folds, tol=1e-8).fit(
        X, y, tasks=tasks
    )
    [init] = starts
    # the mean of the three folds' solutions at the chosen alpha, all features
    best = cvm.best_params_["alpha"]
    coefs, intercepts = [], []
    for tr, _ in folds:
        m = fit(
            MultiTaskClassifier(alpha=best, penalty="mean", tol=1e-8),
            X[tr], y[tr], tasks=tasks[tr],
        )  # fmt: skip
        coefs.append(m.coef_)
        intercepts.append(m.intercept_)
    assert init["coef_init"].shape == (3, X.shape[1])
    assert_allclose(init["coef_init"], np.mean(coefs, axis=0), atol=1e-6)
    assert_allclose(init["intercept_init"], np.mean(intercepts, axis=0), atol=1e-6)
    # and the refit reaches the cold fit's solution
    cold = fit(MultiTaskClassifier(alpha=best, penalty="mean", tol=1e-8), X, y,
               tasks=tasks)  # fmt: skip
    assert_allclose(cvm.best_estimator_.coef_, cold.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(cvm.best_estimator_.intercept_, cold.intercept_, atol=1e-6)


def test_refit_starts_cold_when_the_folds_cannot_tell():
    X, y, tasks = _rare_features(True)
    folds = _folds(X, y, tasks)
    # a custom split that never trains on the rows of task "c"'s last fold
    dropped = folds[0][1][tasks[folds[0][1]] == "c"]
    trains = [np.setdiff1d(tr, dropped) for tr, _ in folds]
    solutions = []
    for tr in trains:
        s = cv_module._FoldSolutions(None, TASKS3, np.array([0, 1]))
        m = MultiTaskClassifier(alpha=0.1).fit(X[tr], y[tr], tasks=tasks[tr])
        s.add(m)
        solutions.append(s)
    assert _refit_start(solutions, 0, trains, len(y), None) is None
    # with every row in some training set: a start
    start = _refit_start(solutions, 0, [tr for tr, _ in folds], len(y), None)
    assert start is not None and start[0].shape == (3, X.shape[1])
    # rows of weight 0 need not be seen
    sw = np.ones(len(y))
    sw[dropped] = 0.0
    assert _refit_start(solutions, 0, trains, len(y), sw) is not None
    # folds that disagree on the tasks: no start
    solutions[1].tasks = TASKS3[:2]
    assert _refit_start(solutions, 0, [tr for tr, _ in folds], len(y), None) is None
    # a fold without kept solutions: no start
    assert _refit_start([solutions[0], None], 0, trains[:2], len(y), None) is None


def test_a_linear_term_keeps_every_feature():
    # a quadratic coupling that declares its Hessian but pulls W toward 1:
    # zero rows are not optimal, so the features are kept
    from skmtl.penalties import BasePenalty, BoundPenalty

    class _Bound(BoundPenalty):
        def __init__(self, alpha):
            self.alpha = alpha
            self.coupling_hessian = ("identity_minus_ones", alpha, 0.0)

        def gradient(self, W):
            return self.alpha * (W - 1.0)

    class Pull(BasePenalty):
        def bind(self, task_labels, alpha):
            return _Bound(alpha)

    assert _drops_absent_features(Pull(), TASKS3) is False


def test_newton_memory_saves_the_next_points_first_gradient():
    # a path's next point starting at this solution reuses its loss
    # gradient (a forward and a backward pass) and, while the scores have
    # not moved much, its curvature; the solution is the cold solve's
    from skmtl._design import count_data_passes
    from skmtl.solvers import NewtonCG, absolute_tolerance

    from .test_newton_precond import make_loss

    loss = make_loss("blockdiag", "csr", np.float64, logistic=True, fit_intercept=True)
    p, T = loss.design.n_features, loss.design.n_tasks
    W0, b0 = np.zeros((p, T)), np.zeros(T)
    tol_abs = absolute_tolerance(loss, W0, b0, 1e-8)
    first = NewtonCG().solve(loss, MeanRegularized().bind(np.arange(T), 0.5), W0, b0,
                             tol_abs)  # fmt: skip
    bound = MeanRegularized().bind(np.arange(T), 0.3)
    with count_data_passes() as cold_passes:
        cold = NewtonCG().solve(loss, bound, first.W, first.b, tol_abs)
    memory = first.memory
    with count_data_passes() as warm_passes:
        warm = NewtonCG().solve(loss, bound, first.W, first.b, tol_abs, memory=memory)
    assert warm_passes.total <= cold_passes.total - 2
    assert warm.converged and cold.converged
    assert_allclose(warm.W, cold.W, atol=1e-6)
    assert_allclose(warm.b, cold.b, atol=1e-6)
    # used once: its arrays are dropped (a path's results keep their memory)
    assert memory.parts is None and memory.curvature is None
    # the memory of another loss, or of another start, is not used
    other = make_loss("blockdiag", "csr", np.float64, logistic=True,
                      fit_intercept=True, seed=1)  # fmt: skip
    with count_data_passes() as passes:
        NewtonCG().solve(other, bound, first.W, first.b, tol_abs, memory=warm.memory)
    with count_data_passes() as passes_cold:
        NewtonCG().solve(other, bound, first.W, first.b, tol_abs)
    assert passes.total == passes_cold.total
