"""Several passes of ``partial_fit`` over named batches (``batch_id``).

The classifier's Laplace summary takes a named batch's earlier expansion out
before adding the new one (the incremental Newton method): its fixed point is
``fit``'s optimum. The regressor's statistics are exact after one pass, so a
named batch is not counted twice.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import skmtl.linear_model._laplace as laplace
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._design import TaskDesign
from skmtl.datafits import Logistic

from .conftest import ARCHIVE, needs_archive
from .test_partial_fit_classifier import _TIGHT, _problem, _rel_gap

PENALTIES = ["independent", "mean", "graph"]


def _passes(model, X, y, tasks, n_passes, n_batches=10, sw=None, classes=(0, 1)):
    """Coefficient gaps to ``ref`` are taken by the caller after each pass."""
    batches = np.array_split(np.arange(len(y)), n_batches)
    for _ in range(n_passes):
        for i, rows in enumerate(batches):
            kw = {} if sw is None else {"sample_weight": sw[rows]}
            model.partial_fit(
                X[rows], y[rows], tasks[rows], classes=classes, batch_id=i, **kw
            )
        yield model


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_passes_converge_to_fit_with_the_full_summary(n_classes, penalty):
    # measured (3,000 rows, 10 batches): 0.8-3.0e-2, 2.2e-6-3.4e-5, then
    # 0.9-3.2e-9 (the solver's tolerance) after 1, 2, 3 passes
    X, y, tasks, sw = _problem(seed=1, n=3000, n_classes=n_classes)
    params = dict(alpha=0.01, penalty=penalty, **_TIGHT)
    ref = MultiTaskClassifier(**params).fit(X, y, tasks=tasks, sample_weight=sw)
    model = MultiTaskClassifier(**params)
    gaps = [
        _rel_gap(m, ref)
        for m in _passes(model, X, y, tasks, 3, sw=sw, classes=range(n_classes))
    ]
    assert gaps[0] > 1e-3  # one pass is approximate
    assert gaps[1] <= 1e-4
    assert gaps[2] <= 1e-7
    np.testing.assert_allclose(model.intercept_, ref.intercept_, atol=1e-6)
    np.testing.assert_array_equal(model.task_class_mask_, ref.task_class_mask_)


@pytest.mark.parametrize("penalty", PENALTIES)
def test_passes_converge_to_fit_with_the_diagonal_summary(penalty, monkeypatch):
    # the diagonal summary (hashed text's regime) converges linearly: measured
    # 1.7-6.3e-2 after one pass, 7e-5-8.6e-4 after five, about 2.5-4x a pass
    monkeypatch.setattr(laplace, "LAPLACE_MAX_FULL", 0)
    X, y, tasks, _ = _problem(seed=0, n=3000)
    params = dict(alpha=0.01, penalty=penalty, **_TIGHT)
    ref = MultiTaskClassifier(**params).fit(X, y, tasks=tasks)
    model = MultiTaskClassifier(**params)
    gaps = [_rel_gap(m, ref) for m in _passes(model, X, y, tasks, 8)]
    assert all(b < a for a, b in zip(gaps[1:], gaps[2:])), gaps
    assert gaps[-1] <= 1e-4
    assert gaps[-1] <= 0.01 * gaps[0]


def test_passes_over_sparse_batches_equal_dense():
    X, y, tasks, _ = _problem(seed=4, n=600)
    models = []
    for data in (X, sp.csr_matrix(X)):
        model = MultiTaskClassifier(alpha=0.01, penalty="mean", **_TIGHT)
        models.append(list(_passes(model, data, y, tasks, 3, n_batches=4))[-1])
    assert _rel_gap(models[1], models[0]) <= 1e-8


def test_the_order_of_the_batches_no_longer_matters_after_passes():
    X, y, tasks, _ = _problem(seed=2, n=2000)
    batches = np.array_split(np.arange(len(y)), 8)
    models = []
    for order in (list(range(8)), list(reversed(range(8)))):
        model = MultiTaskClassifier(alpha=0.01, penalty="mean", **_TIGHT)
        for _ in range(4):
            for i in order:
                rows = batches[i]
                model.partial_fit(X[rows], y[rows], tasks[rows], classes=[0, 1],
                                  batch_id=i)  # fmt: skip
        models.append(model)
    # one pass: 0.008 between the two orders (test_partial_fit_classifier)
    assert _rel_gap(models[0], models[1]) <= 1e-7


@pytest.mark.parametrize("full", [True, False])
def test_taking_a_batch_out_restores_the_summary(full, monkeypatch):
    # the downdate inverts the merge: (A + B) - B == A, for the full summary
    # and for the diagonal one (Chan, Golub & LeVeque's update inverted)
    monkeypatch.setattr(laplace, "LAPLACE_MAX_FULL", 2048 if full else 0)
    rng = np.random.default_rng(5)
    labels, p = np.array(["a", "b"]), 6
    moments = laplace.LaplaceMoments.empty(labels, p, 1)
    parts = []
    for _ in range(2):
        X = rng.normal(size=(80, p)) + 1.5
        codes = rng.integers(0, 2, size=80)
        design = TaskDesign(X, codes, 2)
        y = design.sort_rows(np.where(rng.random(80) < 0.5, 1.0, -1.0))
        datafit = Logistic().initialize(y, np.ones(80))
        Theta = rng.normal(size=(2, p + 1))
        S = np.bincount(codes, minlength=2).astype(float)
        parts.append(moments.contribution(design, datafit, Theta, S))
    a = moments.combined(parts[0])
    back = a.combined(parts[1]).combined(parts[1], sign=-1.0)
    for name, value in a.curvature.items():
        np.testing.assert_allclose(back.curvature[name], value, rtol=1e-9, atol=1e-9)
    for name in ("r", "c", "S"):
        np.testing.assert_allclose(getattr(back, name), getattr(a, name), atol=1e-9)
    assert not np.allclose(a.combined(parts[1]).r, a.r)


def test_the_diagonal_summary_gradient_is_exact_at_a_common_point(monkeypatch):
    # every batch expanded at the same point: the summary's gradient there is
    # the sum of the batches' gradients, though its curvature is approximate
    monkeypatch.setattr(laplace, "LAPLACE_MAX_FULL", 0)
    rng = np.random.default_rng(6)
    labels, p = np.array([0]), 5
    moments = laplace.LaplaceMoments.empty(labels, p, 1)
    theta = rng.normal(size=(1, p + 1))
    total = np.zeros(p + 1)
    for _ in range(4):
        X = rng.normal(size=(50, p)) + rng.normal(size=p) * 3
        design = TaskDesign(X, np.zeros(50, dtype=int), 1)
        y = np.where(rng.random(50) < 0.4, 1.0, -1.0)
        datafit = Logistic().initialize(y, np.ones(50))
        moments = moments.added(design, datafit, theta, np.array([50.0]))
        W, b = laplace._unpack(theta, (p, 1))
        gW, gb = design.backward(datafit.gradient(design.forward(W, b)))
        total += np.concatenate([gW.ravel(), gb.ravel()])
    grad = moments.product(theta)[0] - moments.r[0]
    np.testing.assert_allclose(grad, total, rtol=1e-10, atol=1e-12)


def test_a_named_batch_with_other_rows_is_refused_and_nothing_changes():
    X, y, tasks, _ = _problem(seed=3, n=300)
    model = MultiTaskClassifier(alpha=0.01, penalty="mean")
    model.partial_fit(X[:150], y[:150], tasks[:150], classes=[0, 1], batch_id=0)
    model.partial_fit(X[150:], y[150:], tasks[150:], batch_id="second")
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match="batch_id=0 was given earlier with other"):
        model.partial_fit(X[:150] + 1.0, y[:150], tasks[:150], batch_id=0)
    with pytest.raises(ValueError, match="batch_id must be hashable"):
        model.partial_fit(X[:150], y[:150], tasks[:150], batch_id=[0])
    np.testing.assert_array_equal(model.coef_, coef)
    # the same rows again are accepted, whatever their container
    model.partial_fit(list(map(list, X[:150])), list(y[:150]), tuple(tasks[:150]),
                      batch_id=0)  # fmt: skip


def test_without_batch_id_rows_given_again_count_twice():
    X, y, tasks, _ = _problem(seed=7, n=600)
    named = MultiTaskClassifier(alpha=0.01, penalty="mean", **_TIGHT)
    anonymous = MultiTaskClassifier(alpha=0.01, penalty="mean", **_TIGHT)
    m = list(_passes(named, X, y, tasks, 3, n_batches=3))[-1]
    batches = np.array_split(np.arange(600), 3)
    for _ in range(3):
        for rows in batches:
            anonymous.partial_fit(X[rows], y[rows], tasks[rows], classes=[0, 1])
    ref = MultiTaskClassifier(alpha=0.01, penalty="mean", **_TIGHT).fit(X, y, tasks)
    assert _rel_gap(m, ref) <= 1e-6
    # three copies of every row against one alpha: a weaker penalty's model
    assert _rel_gap(anonymous, ref) > 1e-3


@pytest.mark.parametrize("shared", [False, True])
def test_regressor_named_batches_are_not_counted_twice(shared):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 4))
    if shared:
        y, tasks = X @ rng.normal(size=(4, 3)) + rng.normal(size=(300, 3)), None
    else:
        tasks = rng.choice(["a", "b", "c"], size=300)
        y = X @ rng.normal(size=4) + rng.normal(size=300)
    sw = rng.integers(0, 3, size=300).astype(float)
    params = dict(alpha=0.1, penalty="mean", tol=1e-10)
    ref = MultiTaskRegressor(**params).fit(X, y, tasks=tasks, sample_weight=sw)
    model = MultiTaskRegressor(**params)
    batches = np.array_split(np.arange(300), 5)
    for _ in range(3):
        for i, rows in enumerate(batches):
            model.partial_fit(X[rows], y[rows], None if shared else tasks[rows],
                              sample_weight=sw[rows], batch_id=i)  # fmt: skip
        np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    assert model._stream.S.sum() == pytest.approx(3 * sw.sum() if shared else sw.sum())
    with pytest.raises(ValueError, match="batch_id=1 was given earlier"):
        rows = batches[1]
        model.partial_fit(X[rows], y[rows] + 1.0, None if shared else tasks[rows],
                          sample_weight=sw[rows], batch_id=1)  # fmt: skip
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8, atol=1e-10)


@needs_archive
def test_passes_over_20newsgroups_batches_reach_fit(data_home):
    # comp_vs_rec, hashed text (the diagonal summary), 10 batches stored task
    # by task (the hardest order): measured coefficient gaps 9.5e-2, 1.6e-2,
    # 4.2e-3 after 1-3 passes; test accuracy equal to fit's on every task
    # from the third pass
    from sklearn.feature_extraction.text import HashingVectorizer

    from skmtl.datasets import fetch_20newsgroups_multitask

    kw = dict(archive_path=ARCHIVE, download_if_missing=False,
              remove=("headers", "footers", "quotes"))  # fmt: skip
    train = fetch_20newsgroups_multitask("comp_vs_rec", subset="train", **kw)
    test = fetch_20newsgroups_multitask("comp_vs_rec", subset="test", **kw)
    hasher = HashingVectorizer(n_features=2**18, alternate_sign=False)
    X, X_test = hasher.transform(train.data), hasher.transform(test.data)
    order = np.argsort(train.tasks, kind="stable")
    X, y, tasks = X[order], train.target[order], train.tasks[order]
    params = dict(alpha=1e-4, penalty="mean")
    full = MultiTaskClassifier(**params).fit(X, y, tasks=tasks)
    stream = MultiTaskClassifier(**params)
    gaps = [_rel_gap(m, full) for m in _passes(stream, X, y, tasks, 3)]
    assert gaps[2] <= 0.01 and gaps[2] < gaps[1] < gaps[0]
    for t in full.tasks_:
        sel = test.tasks == t
        accuracy = [
            np.mean(m.predict(X_test[sel], tasks=t) == test.target[sel])
            for m in (stream, full)
        ]
        assert abs(accuracy[0] - accuracy[1]) <= 0.002, (t, accuracy)
