"""Scale without surprises: many small tasks cost O(n_tasks) memory ([6/9], kind 4)."""

import tracemalloc

import numpy as np
from numpy.testing import assert_allclose

from skmtl import MultiTaskRegressor
from skmtl.penalties import MeanRegularized


def test_mean_coupling_on_20000_tasks_stays_small():
    # 20,000 tasks of 3 rows: a dense (n_tasks, n_tasks) coupling would take
    # 3.2 GB; the mean coupling is identity plus rank one
    rng = np.random.default_rng(0)
    n_tasks, rows, p = 20_000, 3, 5
    tasks = np.repeat(np.arange(n_tasks), rows)
    X = rng.normal(size=(n_tasks * rows, p))
    w = rng.normal(size=p)
    y = X @ w + 0.1 * rng.normal(size=len(tasks))
    tracemalloc.start()
    try:
        model = MultiTaskRegressor(alpha=0.01, penalty="mean").fit(X, y, tasks=tasks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1e9, f"peak {peak / 1e6:.0f} MB"
    assert model.kkt_violation_ <= model.kkt_tol_
    assert model.coef_.shape == (n_tasks, p)
    # the shared part is the common weight vector the tasks were drawn from
    assert_allclose(model.shared_coef_, w, atol=0.05)


def test_structured_mean_coupling_equals_its_dense_matrix():
    rng = np.random.default_rng(1)
    labels = np.arange(7)
    for shared, specific in [(0.1, 2.0), (1.0, 0.0), (0.0, 0.5)]:
        bound = MeanRegularized(shared=shared, specific=specific).bind(labels, 0.3)
        alpha, M = bound.quadratic_form
        for W in (rng.normal(size=(4, 7)), rng.normal(size=(4, 7, 3))):
            dense = np.einsum("ptk,ts->psk", W[..., None] if W.ndim == 2 else W, M)
            dense = dense[..., 0] if W.ndim == 2 else dense
            assert_allclose(bound.gradient(W), alpha * dense, rtol=1e-12, atol=1e-12)
            assert_allclose(bound.hvp(W), alpha * dense, rtol=1e-12, atol=1e-12)
        assert_allclose(
            bound.lipschitz(), alpha * np.linalg.eigvalsh(M)[-1], rtol=1e-12, atol=1e-15
        )


def test_feature_augmenter_is_sparse_when_dense_would_not_fit():
    import scipy.sparse as sp

    from skmtl.transfer import FeatureAugmenter

    rng = np.random.default_rng(0)
    n_tasks, rows, p = 5_000, 4, 10  # dense output: 20,000 x 50,010 = 8 GB
    tasks = np.repeat(np.arange(n_tasks), rows)
    X = rng.normal(size=(n_tasks * rows, p))
    tracemalloc.start()
    try:
        out = FeatureAugmenter().fit_transform(X, tasks=tasks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sp.issparse(out) and out.shape == (len(tasks), (n_tasks + 1) * p)
    assert peak < 1e9, f"peak {peak / 1e6:.0f} MB"
    # the same values as the dense output of a small slice of tasks
    small = FeatureAugmenter().fit(X[:8], tasks=tasks[:8])
    assert_allclose(
        small.transform(X[:8], tasks=tasks[:8]),
        FeatureAugmenter()
        .fit(X[:8], tasks=tasks[:8])
        .transform(sp.csr_matrix(X[:8]), tasks=tasks[:8])
        .toarray(),
    )
    row = out[5].toarray().ravel()  # row 5: task 1
    assert_allclose(row[:p], X[5])
    assert_allclose(row[2 * p : 3 * p], X[5])
    assert np.count_nonzero(row) == 2 * p
