import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import approx_fprime


def ragged_problem(
    sizes=(30, 55, 80), n_features=6, *, classification=False, n_classes=2, seed=0
):
    """Tasks of different sizes with related coefficients: X, y, tasks, labels."""
    rng = np.random.default_rng(seed)
    labels = np.array([f"task-{i}" for i in range(len(sizes))])
    tasks = np.repeat(labels, sizes)
    rng.shuffle(tasks)  # rows of a task need not be contiguous
    X = rng.normal(size=(len(tasks), n_features))
    shared = rng.normal(size=(n_features, max(n_classes, 2)))
    y = np.empty(len(tasks), dtype=float)
    for i, label in enumerate(labels):
        rows = tasks == label
        coef = shared + 0.3 * rng.normal(size=shared.shape)
        scores = X[rows] @ coef + 0.2 * rng.normal(size=(rows.sum(), coef.shape[1]))
        if not classification:
            y[rows] = scores[:, 0] + i
        elif n_classes == 2:
            y[rows] = scores[:, 0] > 0
        else:
            y[rows] = np.argmax(scores[:, :n_classes], axis=1)
    return X, y, tasks, labels


def num_grad(f, x, eps=1e-6):
    """Gradient of the scalar function ``f`` at the array ``x`` by finite differences.

    Central differences from ``scipy.optimize.approx_fprime``: the mean of its
    forward (``+eps``) and backward (``-eps``) one-sided differences, so the
    error is O(eps^2) instead of O(eps).
    """
    x = np.array(x, dtype=np.float64)

    def flat(v):
        return f(v.reshape(x.shape))

    forward = approx_fprime(x.ravel(), flat, eps)
    backward = approx_fprime(x.ravel(), flat, -eps)
    return (0.5 * (forward + backward)).reshape(x.shape)


def check_cv_matches_grid_search(penalty, name, values, alphas, atol=1e-5):
    """``MultiTask*CV`` scores equal ``GridSearchCV``'s on the same grid and folds.

    ``penalty`` is tuned over ``penalty__<name>`` in ``values``; returns the
    fitted CV estimator and the data.
    """
    import sklearn
    from sklearn.model_selection import GridSearchCV, KFold

    from skmtl import MultiTaskRegressor
    from skmtl.model_selection import MultiTaskRegressorCV

    X, y, tasks, _ = ragged_problem()
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    grid = {"alpha": alphas, f"penalty__{name}": values}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            MultiTaskRegressor(penalty=penalty, tol=1e-8), grid, cv=folds
        ).fit(X, y, tasks=tasks)
    assert set(search.best_params_) == {"alpha", f"penalty__{name}"}
    cv_model = MultiTaskRegressorCV(
        alphas, penalty=penalty, penalty_grid={name: values}, cv=folds, tol=1e-8
    ).fit(X, y, tasks=tasks)
    expected = {
        tuple(sorted(params.items())): score
        for params, score in zip(
            search.cv_results_["params"], search.cv_results_["mean_test_score"]
        )
    }
    for params, score in zip(
        cv_model.cv_results_["params"], cv_model.cv_results_["mean_test_score"]
    ):
        assert abs(score - expected[tuple(sorted(params.items()))]) <= atol
    return cv_model, (X, y, tasks)


def as_container(X, container, dtype=np.float64):
    X = X.astype(dtype)
    if container == "dense":
        return X
    return sp.csr_matrix(X) if container == "csr" else sp.csc_matrix(X)


@pytest.fixture(params=["dense", "csr"])
def container(request):
    return request.param


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARCHIVE = SHARED_DATA / "20news-bydate.tar.gz"
needs_archive = pytest.mark.skipif(
    not ARCHIVE.is_file(),
    reason=f"20 Newsgroups archive not found at {ARCHIVE} (tests never download)",
)


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """Parse caches go to a temporary folder, never to the user's home."""
    home = tmp_path_factory.mktemp("skmtl_data")
    old = os.environ.get("SKMTL_DATA_HOME")
    os.environ["SKMTL_DATA_HOME"] = str(home)
    yield home
    if old is None:
        del os.environ["SKMTL_DATA_HOME"]
    else:
        os.environ["SKMTL_DATA_HOME"] = old


try:  # the cvxpy references (in the "test" extra); other tests run without it
    import cvxpy as cp
except ImportError:  # pragma: no cover
    cp = None
needs_cvxpy = pytest.mark.skipif(
    cp is None, reason="cvxpy is not installed (pip install skmtl[test])"
)
# interior-point accuracy of the references (Clarabel handles the SDP and
# exponential cones of the nuclear norm and the logistic loss)
CLARABEL = {
    "solver": "CLARABEL",
    "tol_gap_abs": 1e-10,
    "tol_gap_rel": 1e-10,
    "tol_feas": 1e-10,
}


def solve_cvxpy(problem):
    """Solve a cvxpy problem to reference accuracy; its optimal value."""
    problem.solve(**CLARABEL)
    assert problem.status == "optimal", problem.status
    return problem.value
