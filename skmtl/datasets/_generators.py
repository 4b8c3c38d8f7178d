"""Synthetic multi-task problems with a known, tunable task relatedness."""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._tasks import check_task_labels

_COMMON_CONSTRAINTS = {
    "n_tasks": [Interval(Integral, 1, None, closed="left")],
    "n_samples": [Interval(Integral, 1, None, closed="left"), "array-like"],
    "n_features": [Interval(Integral, 1, None, closed="left")],
    "n_informative": [Interval(Integral, 1, None, closed="left"), None],
    "relatedness": [Interval(Real, 0, 1, closed="both")],
    "n_clusters": [Interval(Integral, 1, None, closed="left")],
    "bias": [Real, "array-like"],
    "sparse": ["boolean"],
    "density": [Interval(Real, 0, 1, closed="right")],
    "task_names": ["array-like", None],
    "coef": ["boolean"],
    "random_state": ["random_state"],
}


def _per_task(value, n_tasks, name, dtype):
    """Broadcast a scalar or check a sequence of one value per task."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n_tasks, arr, dtype=dtype)
    if arr.shape != (n_tasks,):
        raise ValueError(
            f"{name} must be a scalar or have one value per task ({n_tasks}); "
            f"got shape {arr.shape}."
        )
    return arr


def _check_common(
    n_tasks, n_samples, n_features, n_informative, n_clusters, bias, task_names
):
    raw = np.asarray(n_samples)
    if raw.dtype.kind not in "iu" and not (
        raw.dtype.kind == "f" and np.all(np.isfinite(raw) & (raw == np.round(raw)))
    ):
        # astype(int64) would cut 5.5 to 5, or read "5" as 5, silently
        raise ValueError(
            f"n_samples must be integers (one per task or one for all); got "
            f"{n_samples!r}."
        )
    sizes = _per_task(n_samples, n_tasks, "n_samples", np.int64)
    if np.any(sizes < 1):
        raise ValueError(f"Every task needs n_samples >= 1; got {sizes.tolist()}.")
    if n_informative is None:
        n_informative = n_features
    if n_informative > n_features:
        raise ValueError(
            f"n_informative={n_informative} exceeds n_features={n_features}."
        )
    if n_clusters > n_tasks:
        raise ValueError(f"n_clusters={n_clusters} exceeds n_tasks={n_tasks}.")
    bias = _per_task(bias, n_tasks, "bias", np.float64)
    if task_names is not None:
        task_names = np.asarray(task_names)
        # the estimators' check: no missing label (None, NaN)
        check_task_labels(task_names, task_names.shape[0], name="task_names")
        if task_names.shape != (n_tasks,) or len(set(task_names.tolist())) != n_tasks:
            raise ValueError(
                f"task_names must hold {n_tasks} distinct names; got {task_names!r}."
            )
    return sizes, n_informative, bias, task_names


def _task_coefs(rng, n_tasks, n_features, n_informative, relatedness, n_clusters):
    """W[t] = sqrt(r) * m[cluster(t)] + sqrt(1 - r) * e[t] on a shared support."""
    support = np.sort(rng.choice(n_features, n_informative, replace=False))
    cluster = np.arange(n_tasks) * n_clusters // n_tasks
    centres = rng.standard_normal((n_clusters, n_informative))
    specific = rng.standard_normal((n_tasks, n_informative))
    # The square roots keep every coefficient's variance at 1 whatever the
    # relatedness, so that r moves only the correlation between tasks.
    W = np.zeros((n_tasks, n_features))
    W[:, support] = (
        np.sqrt(relatedness) * centres[cluster] + np.sqrt(1 - relatedness) * specific
    )
    return W


def _design(rng, n_rows, n_features, sparse, density):
    if not sparse:
        return rng.standard_normal((n_rows, n_features))
    return sp.random(
        n_rows,
        n_features,
        density=density,
        format="csr",
        random_state=rng,
        data_rvs=rng.standard_normal,
    )


def _rowwise_dot(X, W, task_idx):
    """(X[i] @ W[task_idx[i]]) for every row i, dense or CSR."""
    if sp.issparse(X):
        return np.asarray(X.multiply(W[task_idx]).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, W[task_idx])


def _tasks_out(task_idx, task_names):
    return task_idx if task_names is None else task_names[task_idx]


_MODEL_DOC = """
    Generative model, in this order of draws from ``random_state``:

    1. A support ``S`` of ``n_informative`` features drawn without
       replacement, shared by all tasks; the other coefficients are 0.
    2. Task ``t`` belongs to cluster ``c(t) = t * n_clusters // n_tasks``
       (contiguous, balanced blocks). Cluster centres ``m_c`` and task
       deviations ``e_t`` have i.i.d. N(0, 1) entries on ``S``, and
       ``w_t = sqrt(r) * m_c(t) + sqrt(1 - r) * e_t`` with
       ``r = relatedness``. Every coefficient on ``S`` has variance 1 and
       two tasks' coefficients have correlation ``r`` in the same cluster
       and 0 across clusters: ``r = 1`` makes the tasks of a cluster
       identical, ``r = 0`` (or ``n_clusters = n_tasks``) makes all tasks
       unrelated, which simulates negative transfer.
    3. ``X`` has i.i.d. N(0, 1) entries; with ``sparse=True`` each entry is
       nonzero with probability ``density`` and the matrix is CSR. Rows are
       grouped by task: task 0's ``n_samples[0]`` rows first.
"""


@validate_params(
    {**_COMMON_CONSTRAINTS, "noise": [Interval(Real, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def make_multitask_regression(
    n_tasks=5,
    n_samples=100,
    n_features=20,
    *,
    n_informative=None,
    relatedness=0.8,
    n_clusters=1,
    noise=0.1,
    bias=0.0,
    sparse=False,
    density=0.1,
    task_names=None,
    coef=False,
    random_state=None,
):
    """Generate a multi-task linear regression problem.

    {model}
    4. ``y_i = X_i @ w_t(i) + bias_t(i) + noise * eps_i`` with
       ``eps_i ~ N(0, 1)`` i.i.d.

    Parameters
    ----------
    n_tasks : int, default=5
        Number of tasks.

    n_samples : int or array-like of shape (n_tasks,), default=100
        Rows per task: the same number for every task, or one per task.

    n_features : int, default=20
        Number of features.

    n_informative : int, default=None
        Size of the shared support; None means all features.

    relatedness : float in [0, 1], default=0.8
        Correlation of the coefficients of two tasks of the same cluster.

    n_clusters : int, default=1
        Number of clusters of related tasks (at most ``n_tasks``).

    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to ``y``.

    bias : float or array-like of shape (n_tasks,), default=0.0
        Intercept of every task, or of each task.

    sparse : bool, default=False
        Return ``X`` as a CSR matrix with a fraction ``density`` of nonzeros.

    density : float in (0, 1], default=0.1
        Expected fraction of nonzero entries of ``X`` when ``sparse=True``.

    task_names : array-like of shape (n_tasks,), default=None
        Labels to use in ``tasks`` instead of ``0 .. n_tasks - 1``.

    coef : bool, default=False
        Whether to return the true coefficients.

    random_state : int, RandomState instance or None, default=None
        Seed of all draws.

    Returns
    -------
    X : ndarray or CSR matrix of shape (n_total, n_features)
        ``n_total = sum(n_samples)``.
    y : ndarray of shape (n_total,)
    tasks : ndarray of shape (n_total,)
        Task index (int) of each row, or its name from ``task_names``.
    coef : ndarray of shape (n_tasks, n_features)
        The ``w_t``, row ``t`` for task ``t``; only if ``coef=True``.

    Examples
    --------
    >>> from skmtl.datasets import make_multitask_regression
    >>> X, y, tasks, W = make_multitask_regression(
    ...     n_tasks=3, n_samples=[10, 20, 30], n_features=5, n_informative=2,
    ...     relatedness=1.0, coef=True, random_state=0)
    >>> X.shape, y.shape, np.bincount(tasks).tolist()
    ((60, 5), (60,), [10, 20, 30])
    >>> bool((W == W[0]).all()), int((W[0] != 0).sum())
    (True, 2)
    """
    sizes, n_informative, bias, task_names = _check_common(
        n_tasks, n_samples, n_features, n_informative, n_clusters, bias, task_names
    )
    rng = check_random_state(random_state)
    W = _task_coefs(rng, n_tasks, n_features, n_informative, relatedness, n_clusters)
    task_idx = np.repeat(np.arange(n_tasks), sizes)
    X = _design(rng, task_idx.size, n_features, sparse, density)
    y = _rowwise_dot(X, W, task_idx) + bias[task_idx]
    y += noise * rng.standard_normal(task_idx.size)
    out = (X, y, _tasks_out(task_idx, task_names))
    return out + (W,) if coef else out


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "class_sep": [Interval(Real, 0, None, closed="left")],
        "flip_y": [Interval(Real, 0, 1, closed="both")],
        "label_model": [StrOptions({"logistic", "threshold"})],
    },
    prefer_skip_nested_validation=True,
)
def make_multitask_classification(
    n_tasks=5,
    n_samples=100,
    n_features=20,
    *,
    n_informative=None,
    relatedness=0.8,
    n_clusters=1,
    class_sep=2.0,
    label_model="logistic",
    flip_y=0.0,
    bias=0.0,
    sparse=False,
    density=0.1,
    task_names=None,
    coef=False,
    random_state=None,
):
    """Generate a multi-task binary classification problem (labels 0/1).

    {model}
    4. The coefficients are rescaled, ``w_t <- w_t * class_sep / sqrt(q)``
       with ``q = n_informative`` (``density * n_informative`` for sparse
       ``X``), so that the logit ``z_i = X_i @ w_t(i) + bias_t(i)`` has
       standard deviation about ``class_sep`` around the bias.
    5. ``label_model="logistic"``: ``y_i ~ Bernoulli(1 / (1 + exp(-z_i)))``;
       ``"threshold"``: ``y_i = 1[z_i > 0]`` (separable).
    6. Each label is then flipped (``y_i <- 1 - y_i``) independently with
       probability ``flip_y``.

    Parameters
    ----------
    n_tasks : int, default=5
        Number of tasks.

    n_samples : int or array-like of shape (n_tasks,), default=100
        Rows per task: the same number for every task, or one per task.

    n_features : int, default=20
        Number of features.

    n_informative : int, default=None
        Size of the shared support; None means all features.

    relatedness : float in [0, 1], default=0.8
        Correlation of the coefficients of two tasks of the same cluster.

    n_clusters : int, default=1
        Number of clusters of related tasks (at most ``n_tasks``).

    class_sep : float, default=2.0
        Standard deviation of the noise-free logit: larger is easier.

    label_model : {{"logistic", "threshold"}}, default="logistic"
        How labels follow from the logit (step 5).

    flip_y : float in [0, 1], default=0.0
        Probability that a label is flipped (label noise).

    bias : float or array-like of shape (n_tasks,), default=0.0
        Logit intercept of every task, or of each task; 0 gives balanced
        classes.

    sparse : bool, default=False
        Return ``X`` as a CSR matrix with a fraction ``density`` of nonzeros.

    density : float in (0, 1], default=0.1
        Expected fraction of nonzero entries of ``X`` when ``sparse=True``.

    task_names : array-like of shape (n_tasks,), default=None
        Labels to use in ``tasks`` instead of ``0 .. n_tasks - 1``.

    coef : bool, default=False
        Whether to return the true (rescaled) coefficients.

    random_state : int, RandomState instance or None, default=None
        Seed of all draws.

    Returns
    -------
    X : ndarray or CSR matrix of shape (n_total, n_features)
        ``n_total = sum(n_samples)``.
    y : ndarray of shape (n_total,), dtype=int64
        Labels in {{0, 1}}.
    tasks : ndarray of shape (n_total,)
        Task index (int) of each row, or its name from ``task_names``.
    coef : ndarray of shape (n_tasks, n_features)
        The rescaled ``w_t``; only if ``coef=True``.

    Examples
    --------
    >>> from skmtl.datasets import make_multitask_classification
    >>> X, y, tasks = make_multitask_classification(
    ...     n_tasks=2, n_samples=50, n_features=4, task_names=["a", "b"],
    ...     random_state=0)
    >>> X.shape, sorted(set(y.tolist())), sorted(set(tasks.tolist()))
    ((100, 4), [0, 1], ['a', 'b'])
    """
    sizes, n_informative, bias, task_names = _check_common(
        n_tasks, n_samples, n_features, n_informative, n_clusters, bias, task_names
    )
    rng = check_random_state(random_state)
    W = _task_coefs(rng, n_tasks, n_features, n_informative, relatedness, n_clusters)
    W *= class_sep / np.sqrt(n_informative * (density if sparse else 1.0))
    task_idx = np.repeat(np.arange(n_tasks), sizes)
    X = _design(rng, task_idx.size, n_features, sparse, density)
    z = _rowwise_dot(X, W, task_idx) + bias[task_idx]
    if label_model == "logistic":
        # 1 / (1 + exp(-z)) computed without overflow for large |z|.
        p = np.exp(-np.logaddexp(0.0, -z))
        y = (rng.uniform(size=z.size) < p).astype(np.int64)
    else:
        y = (z > 0).astype(np.int64)
    flip = rng.uniform(size=z.size) < flip_y
    y[flip] = 1 - y[flip]
    out = (X, y, _tasks_out(task_idx, task_names))
    return out + (W,) if coef else out


for _function in (make_multitask_regression, make_multitask_classification):
    if _function.__doc__ is not None:  # None under python -OO
        _function.__doc__ = _function.__doc__.format(model=_MODEL_DOC.strip())
