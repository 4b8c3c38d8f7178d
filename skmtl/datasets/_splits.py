"""Train/test draws of the transfer and multi-task evaluation protocols."""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.utils import _safe_indexing, check_consistent_length, check_random_state

from .._tasks import check_task_labels, encode_tasks
from ._base import _check_bool


def _unpack(X, y, tasks, caller):
    """Accept either (X, y, tasks) or a Bunch with data/target/tasks."""
    if isinstance(X, Mapping) and y is None and tasks is None:
        missing = [k for k in ("data", "target", "tasks") if k not in X]
        if missing:
            raise ValueError(
                f"{caller} was given a Bunch without {missing}; pass "
                "(X, y, tasks) or a Bunch from a skmtl fetcher."
            )
        X, y, tasks = X["data"], X["target"], X["tasks"]
    if y is None or tasks is None:
        raise ValueError(f"{caller} needs y and tasks (or a Bunch holding them).")
    y = np.asarray(y)
    tasks = np.asarray(tasks)
    if y.ndim != 1 or tasks.ndim != 1:
        raise ValueError(
            f"y and tasks must be 1-D; got shapes {y.shape} and {tasks.shape}."
        )
    check_consistent_length(X, y, tasks)
    # the estimators' checks: no missing label, one sortable label type
    encode_tasks(check_task_labels(tasks, tasks.shape[0]), tasks.shape[0])
    return X, y, tasks


def _n_labelled(size, n_rows, name, what):
    """Turn an int count or a float fraction into a row count."""
    if isinstance(size, bool) or not isinstance(size, (Integral, Real)):
        raise TypeError(f"{name} must be an int or a float; got {size!r}.")
    if isinstance(size, Integral):
        n = int(size)
        if n < 1:
            raise ValueError(f"{name} must be >= 1 as a count; got {n}.")
    else:
        if not 0.0 < size < 1.0:
            raise ValueError(f"{name} must be in (0, 1) as a fraction; got {size}.")
        n = max(1, int(round(size * n_rows)))
    if n >= n_rows:
        raise ValueError(
            f"{name}={size!r} asks for {n} labelled rows but {what} has "
            f"{n_rows}: at least one row must be left for testing."
        )
    return n


def _allocate(counts, n):
    """Split ``n`` among classes in proportion to ``counts``, >= 1 each.

    Largest-remainder rounding of the proportional quotas, then at least one
    row per class (the protocol needs every class seen in training), taken
    from the classes furthest above their quota.
    """
    quota = n * counts / counts.sum()
    alloc = np.minimum(np.maximum(np.floor(quota).astype(int), 1), counts)
    while alloc.sum() < n:
        room = np.where(alloc < counts, quota - alloc, -np.inf)
        alloc[np.argmax(room)] += 1
    while alloc.sum() > n:
        excess = np.where(alloc > 1, alloc - quota, -np.inf)
        alloc[np.argmax(excess)] -= 1
    return alloc


def _draw(rows, y_rows, size, stratify, rng, name, what):
    """Indices (into the full data) of the labelled rows among ``rows``."""
    n = _n_labelled(size, rows.size, name, what)
    if not stratify:
        return rng.choice(rows, n, replace=False)
    classes, inverse = np.unique(y_rows, return_inverse=True)
    if n < classes.size:
        if isinstance(size, Integral):
            raise ValueError(
                f"{name}={size} is fewer than the {classes.size} classes of "
                f"{what}; stratify=True draws at least one row per class. "
                "Pass stratify=False for regression targets."
            )
        n = classes.size  # a fraction is rounded up to one row per class
        if n >= rows.size:
            raise ValueError(
                f"{what} has {classes.size} classes in {rows.size} rows: too "
                "few to label one row per class and keep a test row. Pass "
                "stratify=False for regression targets."
            )
    alloc = _allocate(np.bincount(inverse), n)
    return np.concatenate(
        [
            rng.choice(rows[inverse == c], alloc[c], replace=False)
            for c in range(classes.size)
        ]
    )


def _draw_per_class(rows, y_rows, k, rng, what):
    """``k`` rows of every class among ``rows`` (indices into the full data)."""
    classes, inverse, counts = np.unique(
        y_rows, return_inverse=True, return_counts=True
    )
    small = np.flatnonzero(counts < k)
    if small.size:
        c = small[0]
        raise ValueError(
            f"n_per_class={k}, but class {classes[c].item()!r} of {what} has "
            f"only {counts[c]} rows."
        )
    if k * classes.size >= rows.size:
        raise ValueError(
            f"n_per_class={k} takes all {rows.size} rows of {what}: none is left "
            "for testing."
        )
    return np.concatenate(
        [rng.choice(rows[inverse == c], k, replace=False) for c in range(classes.size)]
    )


def _split_output(X, y, tasks, train_mask):
    train = np.flatnonzero(train_mask)
    test = np.flatnonzero(~train_mask)
    return (
        _safe_indexing(X, train),
        _safe_indexing(X, test),
        y[train],
        y[test],
        tasks[train],
        tasks[test],
    )


def train_test_split_target(
    X,
    y=None,
    tasks=None,
    *,
    labelled=0.05,
    target_task="target",
    stratify=True,
    random_state=None,
):
    """Draw the labelled target rows of a transfer problem.

    The usual protocol of cross-domain text classification: every row of the
    source domain(s) is labelled, a small number of target rows is labelled
    too, and the remaining target rows form the test set.

    Parameters
    ----------
    X : array-like, sparse matrix, list of str or Bunch
        The rows (documents or features), or the Bunch returned by
        :func:`fetch_20newsgroups_transfer`, whose ``data``, ``target`` and
        ``tasks`` are then used.

    y : array-like of shape (n_samples,), default=None
        Labels. Required unless ``X`` is a Bunch.

    tasks : array-like of shape (n_samples,), default=None
        Domain of each row. Required unless ``X`` is a Bunch.

    labelled : int or float, default=0.05
        Number (int) or fraction (float in (0, 1)) of target rows to label.
        A fraction is rounded to the nearest count, and up to one row per
        class when ``stratify=True``.

    target_task : object, default="target"
        The value of ``tasks`` that marks target rows; every other row is a
        source row.

    stratify : bool, default=True
        Draw the labelled rows per class, in proportion to the class sizes
        (largest remainder rounding) and at least one per class.

    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X_train, X_test : same type as X
        All source rows plus the labelled target rows; the other target
        rows. Rows keep their original order.
    y_train, y_test : ndarray
        Their labels.
    tasks_train, tasks_test : ndarray
        Their domains (``tasks_test`` is all ``target_task``).

    See Also
    --------
    train_test_split_tasks : The same draw done within every task.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.datasets import train_test_split_target
    >>> X = np.arange(20).reshape(10, 2)
    >>> y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    >>> tasks = np.array(["source"] * 4 + ["target"] * 6)
    >>> X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_target(
    ...     X, y, tasks, labelled=2, random_state=0)
    >>> len(y_tr), len(y_te), y_tr[t_tr == "target"].tolist()
    (6, 4, [0, 1])
    """
    X, y, tasks = _unpack(X, y, tasks, "train_test_split_target")
    stratify = _check_bool(stratify, "stratify")
    rng = check_random_state(random_state)
    target_rows = np.flatnonzero(tasks == target_task)
    if target_rows.size == 0:
        raise ValueError(
            f"No row has tasks == target_task={target_task!r}; tasks holds "
            f"{sorted(map(str, np.unique(tasks)))}."
        )
    chosen = _draw(
        target_rows,
        y[target_rows],
        labelled,
        stratify,
        rng,
        "labelled",
        "the target domain",
    )
    train_mask = tasks != target_task
    train_mask[chosen] = True
    return _split_output(X, y, tasks, train_mask)


def train_test_split_tasks(
    X,
    y=None,
    tasks=None,
    *,
    train_size=None,
    stratify=True,
    n_per_class=None,
    random_state=None,
):
    """Draw a labelled training set within every task; the rest is for testing.

    Parameters
    ----------
    X : array-like, sparse matrix, list of str or Bunch
        The rows, or a Bunch with ``data``, ``target`` and ``tasks`` (as
        returned by :func:`fetch_20newsgroups_multitask` or
        :func:`load_school`).

    y : array-like of shape (n_samples,), default=None
        Targets. Required unless ``X`` is a Bunch.

    tasks : array-like of shape (n_samples,), default=None
        Task of each row. Required unless ``X`` is a Bunch.

    train_size : int or float, default=None
        Per task, the number (int) or fraction (float in (0, 1)) of rows to
        put in the training set. Every task must keep at least one test row.
        None: 10 rows per task, unless ``n_per_class`` is given.

    stratify : bool, default=True
        Draw within each (task, class) in proportion to the class sizes, at
        least one row per class. Use ``stratify=False`` for regression.

    n_per_class : int, default=None
        Instead of ``train_size``: exactly this many training rows of every
        class in every task, whatever the class sizes (the protocol of most
        multi-task papers: "k labelled examples per class"). Every class of
        every task needs that many rows, and every task keeps a test row.

    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X_train, X_test : same type as X
        Training and test rows, in their original order.
    y_train, y_test, tasks_train, tasks_test : ndarray
        Their targets and tasks.

    See Also
    --------
    train_test_split_target : Labelled draw of a source -> target problem.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.datasets import train_test_split_tasks
    >>> X = np.arange(24).reshape(12, 2)
    >>> y = np.tile([0, 1], 6)
    >>> tasks = np.repeat(["a", "b"], 6)
    >>> X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
    ...     X, y, tasks, train_size=2, random_state=0)
    >>> np.unique(t_tr, return_counts=True)[1].tolist(), y_tr.tolist()
    ([2, 2], [0, 1, 0, 1])

    Exactly two rows of each class in each task, whatever the class sizes:

    >>> y = np.array([0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1])
    >>> _, _, y_tr, _, t_tr, _ = train_test_split_tasks(
    ...     X, y, tasks, n_per_class=2, random_state=0)
    >>> [(t, c, int(np.sum((t_tr == t) & (y_tr == c)))) for t in "ab" for c in (0, 1)]
    [('a', 0, 2), ('a', 1, 2), ('b', 0, 2), ('b', 1, 2)]
    """
    X, y, tasks = _unpack(X, y, tasks, "train_test_split_tasks")
    stratify = _check_bool(stratify, "stratify")
    if n_per_class is not None:
        if train_size is not None:
            raise ValueError(
                "train_size and n_per_class are two ways to size the draw; pass "
                "one of them."
            )
        if (
            isinstance(n_per_class, bool)
            or not isinstance(n_per_class, Integral)
            or n_per_class < 1
        ):
            raise ValueError(
                f"n_per_class must be a positive integer, got {n_per_class!r}."
            )
    elif train_size is None:
        train_size = 10
    rng = check_random_state(random_state)
    train_mask = np.zeros(y.shape[0], dtype=bool)
    # Tasks are visited in order of first appearance, so a seed gives the
    # same draw whatever the task labels' type.
    _, first = np.unique(tasks, return_index=True)
    for task in tasks[np.sort(first)]:
        rows = np.flatnonzero(tasks == task)
        name = task.item() if isinstance(task, np.generic) else task
        if n_per_class is not None:
            chosen = _draw_per_class(rows, y[rows], n_per_class, rng, f"task {name!r}")
        else:
            chosen = _draw(
                rows, y[rows], train_size, stratify, rng, "train_size", f"task {name!r}"
            )
        train_mask[chosen] = True
    return _split_output(X, y, tasks, train_mask)
