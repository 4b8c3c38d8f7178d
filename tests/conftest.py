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
