"""FeatureAugmenter: Daume's augmentation against the mean-coupled core model."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import MeanRegularized
from skmtl.transfer import FeatureAugmenter

from .conftest import as_container, ragged_problem


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_ridge_on_augmented_features_equals_mean_coupling(container, dtype, scale):
    X, y, tasks, labels = ragged_problem()
    codes = np.searchsorted(labels, tasks)
    n_t = np.bincount(codes)
    alpha = 0.1
    Z = FeatureAugmenter(shared_scale=scale).fit_transform(
        as_container(X, container, dtype), tasks=tasks
    )
    assert sp.issparse(Z) == (container != "dense")
    assert Z.dtype == dtype
    # per-task mean loss as sample weights 1 / n_t; sklearn's Ridge has no 1/2
    ridge = Ridge(alpha=alpha, fit_intercept=False, tol=1e-12)
    ridge.fit(Z.astype(np.float64), y, sample_weight=1.0 / n_t[codes])
    coupled = MultiTaskRegressor(
        alpha=alpha,
        penalty=MeanRegularized(shared=1.0 / scale**2, specific=1.0),
        fit_intercept=False,
        tol=1e-10 if dtype == np.float64 else 1e-5,
    ).fit(X, y, tasks=tasks)
    p = X.shape[1]
    W = scale * ridge.coef_[:p] + ridge.coef_[p:].reshape(len(labels), p)
    tol = 1e-5 if dtype == np.float64 else 1e-3  # float32 features: 7 digits
    assert_allclose(W, coupled.coef_, rtol=tol, atol=tol / 10)


def test_logistic_on_augmented_features_equals_mean_coupling():
    X, y, tasks, labels = ragged_problem(classification=True, sizes=(40, 40, 40))
    alpha = 0.05
    Z = FeatureAugmenter().fit_transform(X, tasks=tasks)
    # sum over 3 tasks of the per-task mean loss = (sum of all losses) / 40
    coupled = MultiTaskClassifier(
        alpha=alpha, penalty=MeanRegularized(shared=1.0, specific=1.0), tol=1e-10
    )
    # a single intercept in sklearn: compare on a model without intercepts
    ref = LogisticRegression(
        C=1.0 / (alpha * 40), tol=1e-10, max_iter=10000, fit_intercept=False
    ).fit(Z, y)
    coupled.set_params(fit_intercept=False).fit(X, y, tasks=tasks)
    p = X.shape[1]
    W = ref.coef_[0, :p] + ref.coef_[0, p:].reshape(3, p)
    assert_allclose(W, coupled.coef_, rtol=1e-4, atol=1e-5)


def test_coupled_intercepts_as_a_constant_feature_equal_augmented_ridge():
    # the documented way to couple the intercepts like the weights: a column of
    # ones and fit_intercept=False; Daume's augmentation of [X, 1] puts the
    # ones in the shared block (shared intercept) and in the task's block
    # (its offset), both penalised as the weights
    X, y, tasks, labels = ragged_problem()
    codes = np.searchsorted(labels, tasks)
    n_t = np.bincount(codes)
    alpha, scale = 0.1, 0.5
    X1 = np.hstack([X, np.ones((len(y), 1))])
    Z = FeatureAugmenter(shared_scale=scale).fit_transform(X1, tasks=tasks)
    ridge = Ridge(alpha=alpha, fit_intercept=False, solver="cholesky")
    ridge.fit(Z, y, sample_weight=1.0 / n_t[codes])
    coupled = MultiTaskRegressor(
        alpha=alpha,
        penalty=MeanRegularized(shared=1.0 / scale**2, specific=1.0),
        fit_intercept=False,
        tol=1e-12,
    ).fit(X1, y, tasks=tasks)
    p = X1.shape[1]
    shared, specific = ridge.coef_[:p], ridge.coef_[p:].reshape(len(labels), p)
    assert_allclose(scale * shared + specific, coupled.coef_, rtol=1e-8, atol=1e-10)
    # the task intercepts: a penalised shared part plus penalised offsets
    assert_allclose(coupled.shared_coef_[-1], scale * shared[-1], rtol=1e-8)
    assert_allclose(
        coupled.specific_coef_[:, -1], specific[:, -1], rtol=1e-8, atol=1e-10
    )


def test_free_task_intercepts_equal_augmented_logistic_with_task_columns():
    # the default (one free intercept per task) is Daume's augmentation with
    # one indicator column per task whose penalty vanishes (scaled by 1e3)
    X, y, tasks, labels = ragged_problem(classification=True, sizes=(40, 40, 40))
    alpha, big = 0.05, 1e3
    aug = FeatureAugmenter().fit(X, tasks=tasks)
    codes = np.searchsorted(labels, tasks)
    Z = np.hstack([aug.transform(X, tasks=tasks), big * np.eye(3)[codes]])
    ref = LogisticRegression(
        C=1.0 / (alpha * 40), solver="newton-cholesky", tol=1e-12, max_iter=100,
        fit_intercept=False,
    ).fit(Z, y)  # fmt: skip
    coupled = MultiTaskClassifier(
        alpha=alpha, penalty=MeanRegularized(shared=1.0, specific=1.0), tol=1e-10
    ).fit(X, y, tasks=tasks)
    p = X.shape[1]
    W = ref.coef_[0, :p] + ref.coef_[0, p : 4 * p].reshape(3, p)
    # the 1e3 columns leave a penalty of 1e-6 on the intercepts
    assert_allclose(W, coupled.coef_, rtol=1e-5, atol=1e-5)
    assert_allclose(big * ref.coef_[0, 4 * p :], coupled.intercept_, atol=1e-5)


def test_unseen_tasks_get_the_shared_block_and_names():
    X = np.arange(6.0).reshape(3, 2)
    aug = FeatureAugmenter().fit(X, tasks=["a", "b", "a"])
    out = aug.transform(X, tasks=["a", "new", "b"])
    assert_array_equal(out[1], [2.0, 3.0, 0, 0, 0, 0])
    assert_array_equal(out[2], [4.0, 5.0, 0, 0, 4.0, 5.0])
    assert list(aug.get_feature_names_out()) == [
        "shared__x0", "shared__x1", "task_a__x0", "task_a__x1", "task_b__x0",
        "task_b__x1",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not seen during fit: 'new'"):
        FeatureAugmenter(unseen_tasks="error").fit(X, tasks=["a", "b", "a"]).transform(
            X, tasks=["new", "a", "a"]
        )
    with pytest.raises(ValueError, match="tasks is required"):
        aug.transform(X)
    sparse = aug.transform(sp.csr_matrix(X), tasks=["a", "new", "b"])
    assert_array_equal(sparse.toarray(), out)


def test_any_sklearn_model_becomes_multitask_in_a_pipeline():
    X, y, tasks, _ = ragged_problem(classification=True)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(FeatureAugmenter(), LogisticRegression(max_iter=1000))
        pipe.fit(X, y, tasks=tasks)
        acc = pipe.score(X, y, tasks=tasks)
    assert acc > 0.8
