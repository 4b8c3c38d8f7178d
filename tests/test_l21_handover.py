"""``solver="auto"`` for the L2,1 logistic model: FISTA, then BCD on a slow working set.

Each working set gets the FISTA iterations that a BCD solve of it is
estimated to cost; when they do not suffice, BCD finishes the working set
from FISTA's point (and takes the next ones at once). The answer must be the
same optimum either way.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import skmtl.solvers._dispatch as dispatch
from skmtl import MultiTaskClassifier
from skmtl.solvers._bcd_kernels import have_numba

pytestmark = pytest.mark.skipif(not have_numba(), reason="hand-over needs numba")


def _problem(sparse, seed=0):
    rng = np.random.default_rng(seed)
    n, p, T = 300, 120, 4
    X = rng.normal(size=(n, p)) * np.exp(rng.normal(size=p))  # ill-conditioned
    if sparse:
        X = sp.csr_matrix(X * (rng.random((n, p)) < 0.2))
    W = np.zeros((p, T))
    W[:6] = rng.normal(size=(6, T))
    S = X @ W
    Y = (S / S.std(axis=0) + rng.logistic(size=(n, T)) > 0).astype(int)
    return X, Y


@pytest.fixture
def spy(monkeypatch):
    """Records whether a working set was handed over to BCD."""
    calls = []
    original = dispatch.BlockCoordinateDescent.solve

    def solve(self, *args, **kwargs):
        calls.append(args[0].design.n_features)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dispatch.BlockCoordinateDescent, "solve", solve)
    return calls


@pytest.mark.parametrize("sparse", [False, True])
def test_a_handed_over_fit_reaches_fistas_optimum(sparse, spy, monkeypatch):
    # a budget of 50 FISTA iterations per working set: the hand-over happens
    monkeypatch.setattr(dispatch, "_BCD_NEWTON_STEPS", 0)
    monkeypatch.setattr(dispatch, "_BCD_EPOCHS", 0)
    X, Y = _problem(sparse)
    params = dict(alpha=0.002, penalty="l21", tol=1e-8, max_iter=20_000)
    auto = MultiTaskClassifier(**params).fit(X, Y)
    assert spy, "no working set was handed over to BCD"
    ref = MultiTaskClassifier(solver="fista", **params).fit(X, Y)
    assert auto.objective_ == pytest.approx(ref.objective_, rel=1e-9)
    gap = np.max(np.abs(auto.coef_ - ref.coef_)) / np.max(np.abs(ref.coef_))
    assert gap <= 1e-5
    np.testing.assert_array_equal(auto.coef_ != 0, ref.coef_ != 0)
    assert auto.kkt_violation_ <= auto.kkt_tol_


def test_no_hand_over_when_the_grams_would_not_fit(spy, monkeypatch):
    monkeypatch.setattr(dispatch, "_BCD_NEWTON_STEPS", 0)
    monkeypatch.setattr(dispatch, "_BCD_EPOCHS", 0)
    monkeypatch.setattr(dispatch, "_SWITCH_GRAM_BYTES", 0)
    X, Y = _problem(False)
    params = dict(alpha=0.002, penalty="l21", tol=1e-8, max_iter=20_000)
    auto = MultiTaskClassifier(**params).fit(X, Y)
    ref = MultiTaskClassifier(solver="fista", **params).fit(X, Y)
    assert not spy
    np.testing.assert_array_equal(auto.coef_, ref.coef_)
    assert auto.n_iter_ == ref.n_iter_


def test_the_budget_follows_the_cost_model():
    # dense rows: a FISTA iteration costs 2 T n p, a BCD solve
    # 8 T n p^2 + 40 p^2 T; shared design (2-D Y): T copies
    from skmtl._design import TaskDesign

    X = np.ones((30, 7))
    design = TaskDesign(X, None, 3)
    fista, bcd, gram_bytes = dispatch._switch_costs(design)
    assert fista == 2 * 3 * 30 * 7
    assert bcd == 8 * 3 * 30 * 49 + 40 * 49 * 3
    assert gram_bytes == 8 * 49 * 3
    rows = sp.csr_matrix(np.eye(30, 7))  # one stored entry in 7 rows
    ragged = TaskDesign(rows, np.repeat([0, 1, 2], 10), 3)
    fista, bcd, _ = dispatch._switch_costs(ragged)
    assert fista == 2 * 7 and bcd == 8 * 7 + 40 * 49 * 3
