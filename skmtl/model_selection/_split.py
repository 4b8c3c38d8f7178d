"""Cross-validation splitters that know each row's task.

The task labels reach ``split`` in one of two ways:

- routing mode: with ``sklearn.config_context(enable_metadata_routing=True)``,
  ``GridSearchCV.fit(X, y, tasks=tasks)`` / ``cross_validate(...,
  params={"tasks": tasks})`` route ``tasks`` to ``cv.split`` because the
  splitters request it at class level (``__metadata_request__split``);
- column mode: given ``task_column=``, a splitter reads the tasks from that
  column of ``X`` (as :class:`skmtl.pipeline.TaskColumnEstimator` does), with
  no routing at all.
"""

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.multiclass import type_of_target

from .._task_column import task_column_values
from .._tasks import check_task_labels, short_list
from .._validation import check_unlabelled

__all__ = ["TaskStratifiedKFold", "LeaveOneTaskOut", "SourceTargetSplit"]


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_n_splits(n_splits, owner):
    if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool):
        raise ValueError(
            f"{owner}: n_splits must be an integer, got {n_splits!r} "
            f"({type(n_splits).__name__})."
        )
    if n_splits < 2:
        raise ValueError(
            f"{owner}: n_splits must be at least 2 (one train/test split), got "
            f"n_splits={n_splits}."
        )


def _check_shuffle(shuffle, random_state, owner):
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"{owner}: shuffle must be True or False, got {shuffle!r}.")
    if not shuffle and random_state is not None:
        # As sklearn's KFold: a seed without shuffling is a user error.
        raise ValueError(
            f"{owner}: setting random_state has no effect since shuffle is False; "
            "set shuffle=True or leave random_state=None."
        )


def _class_codes(y):
    """Integer class codes when ``y`` is a classification target, else None."""
    if y is None:
        return None
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        return None  # continuous / multi-output: stratify by task only
    return np.unique(np.asarray(y).reshape(-1), return_inverse=True)[1]


def _deal_folds(strata, n_splits, rng):
    """Fold index of each row, dealt stratum by stratum in turn.

    The rows sorted by stratum (shuffled within each stratum when ``rng`` is
    given) are dealt to folds 0, 1, ..., n_splits - 1, 0, ... continuing
    across strata: a stratum of at least ``n_splits`` rows is in every fold,
    and fold sizes differ by at most one row.
    """
    n = len(strata)
    if rng is None:
        order = np.argsort(strata, kind="stable")
        offset = 0
    else:
        order = np.lexsort((rng.permutation(n), strata))
        offset = int(rng.randint(n_splits))
    folds = np.empty(n, dtype=np.intp)
    folds[order] = (np.arange(n) + offset) % n_splits
    return folds


class _TaskSplitter(BaseCrossValidator):
    """Reading of the task labels, shared by the splitters."""

    # Routing: ``tasks`` is requested by the class, so meta-estimators route it
    # to ``split`` (and ``get_n_splits``) without set_split_request calls.
    # ``unlabelled`` (the mask of the rows whose y is a placeholder) too: the
    # mask that an estimator learning from unlabelled rows gets in fit must
    # keep those rows out of every test fold, or they are scored against
    # their placeholders.
    __metadata_request__split = {"tasks": True, "unlabelled": True}

    def _tasks(self, X, tasks):
        if X is None:
            if tasks is None:
                raise ValueError(f"{type(self).__name__}: X and tasks are both None.")
            n_rows = len(tasks)
        else:
            n_rows = _n_rows(X)
        if tasks is not None:
            return check_task_labels(tasks, n_rows, name="tasks")
        if self.task_column is not None and X is not None:
            return task_column_values(X, self.task_column)
        name = type(self).__name__
        raise ValueError(
            f"{name}.split needs each row's task, got tasks=None. Either enable "
            "metadata routing (with sklearn.config_context("
            "enable_metadata_routing=True): GridSearchCV(...).fit(X, y, "
            "tasks=tasks) or cross_validate(..., params={'tasks': tasks}) route "
            f"it here), call {name}.split(X, y, tasks=tasks), or use column "
            f"mode: {name}(..., task_column=<column of X holding the tasks>)."
        )

    def split(self, X, y=None, groups=None, tasks=None, unlabelled=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Target, used to stratify classification folds (never read on the
            unlabelled rows).
        groups : object, default=None
            Ignored, present for API compatibility.
        tasks : array-like of shape (n_samples,), default=None
            Task label of each row. When None, read from the column
            ``task_column`` of ``X``.
        unlabelled : array-like of bool of shape (n_samples,), default=None
            True marks a row whose label is not known (fit metadata of the
            estimators of :mod:`skmtl.transfer` that learn from unlabelled
            rows; requested by the class, so routing passes it here). Such a
            row is in every training set and in no test set, whatever its
            task, so that only labelled rows are scored. None: every row is
            labelled.

        Yields
        ------
        train : ndarray
            The training set indices for that split.
        test : ndarray
            The testing set indices for that split.
        """
        task_labels = self._tasks(X, tasks)
        n = len(task_labels)
        if y is not None and _n_rows(y) != n:
            raise ValueError(f"y has {_n_rows(y)} rows but X has {n}.")
        mask_u = None
        if unlabelled is not None:
            mask_u = check_unlabelled(unlabelled, n, require_labelled=False)
        indices = np.arange(n)
        for test in self._iter_test_indices_tasks(task_labels, y, mask_u):
            mask = np.zeros(n, dtype=bool)
            mask[test] = True
            yield indices[~mask], indices[mask]


class TaskStratifiedKFold(_TaskSplitter):
    """K-fold stratified by task and class: every fold sees every task.

    The folds are stratified by the pair (task, class) for classification
    targets, and by task alone for continuous ones (regression, detected with
    :func:`sklearn.utils.multiclass.type_of_target`). Every task with at
    least ``n_splits`` rows is in every test fold, and so in every training
    set; every class with at least ``n_splits`` rows in a task is in every
    fold of that task. Fold sizes differ by at most one row.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=False
        Shuffle the rows of each (task, class) group before dealing them to
        the folds. Without shuffling, rows are dealt in their order.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling; only with ``shuffle=True``.
    task_column : str or int, default=None
        Column of ``X`` holding the task labels, read when ``split`` gets
        ``tasks=None`` (column mode, see
        :class:`skmtl.pipeline.TaskColumnEstimator`).

    See Also
    --------
    sklearn.model_selection.StratifiedKFold : stratified by class only.
    LeaveOneTaskOut : one fold per task.
    SourceTargetSplit : folds of the target task only.

    Notes
    -----
    ``tasks`` reaches ``split`` by metadata routing: the class requests it,
    so with ``sklearn.config_context(enable_metadata_routing=True)``,
    ``GridSearchCV(..., cv=TaskStratifiedKFold()).fit(X, y, tasks=tasks)``
    routes it here, to the estimator's ``fit`` (the training rows' tasks) and
    to its ``score`` (the test rows').

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.model_selection import TaskStratifiedKFold
    >>> tasks = np.repeat(["a", "b"], 6)
    >>> y = np.tile([0, 0, 0, 1, 1, 1], 2)
    >>> X = np.zeros((12, 1))
    >>> cv = TaskStratifiedKFold(n_splits=3)
    >>> for train, test in cv.split(X, y, tasks=tasks):
    ...     print(test, tasks[test], y[test])
    [0 3 6 9] ['a' 'a' 'b' 'b'] [0 1 0 1]
    [ 1  4  7 10] ['a' 'a' 'b' 'b'] [0 1 0 1]
    [ 2  5  8 11] ['a' 'a' 'b' 'b'] [0 1 0 1]
    """

    def __init__(
        self, n_splits=5, *, shuffle=False, random_state=None, task_column=None
    ):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state
        self.task_column = task_column

    def _iter_test_indices_tasks(self, task_labels, y, unlabelled=None):
        name = type(self).__name__
        _check_n_splits(self.n_splits, name)
        _check_shuffle(self.shuffle, self.random_state, name)
        # unlabelled rows are dealt to no fold: they train in every one
        rows = np.arange(len(task_labels))
        if unlabelled is not None:
            rows = np.flatnonzero(~unlabelled)
            task_labels = task_labels[rows]
            y = None if y is None else _safe_indexing(y, rows)
        uniq, task_codes, counts = np.unique(
            task_labels, return_inverse=True, return_counts=True
        )
        small = counts < self.n_splits
        if small.any():
            detail = ", ".join(
                f"{label!r} ({count} rows)"
                for label, count in zip(uniq[small].tolist(), counts[small])
            )
            what = "labelled rows" if unlabelled is not None else "rows"
            raise ValueError(
                f"{name}: n_splits={self.n_splits} is more than the {what} of "
                f"task(s) {detail}; every task needs at least n_splits {what} to "
                "be in every fold. Lower n_splits or drop those tasks."
            )
        classes = _class_codes(y)
        strata = task_codes
        if classes is not None:
            strata = task_codes * (classes.max() + 1) + classes
        rng = check_random_state(self.random_state) if self.shuffle else None
        folds = _deal_folds(strata, self.n_splits, rng)
        for k in range(self.n_splits):
            yield rows[folds == k]

    def get_n_splits(self, X=None, y=None, groups=None, tasks=None, unlabelled=None):
        """Number of splitting iterations, ``n_splits``.

        Parameters
        ----------
        X, y, groups, tasks, unlabelled : object
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
        """
        return self.n_splits


class LeaveOneTaskOut(_TaskSplitter):
    """Leave one task out: each task's rows are the test set once.

    Measures how well a model transfers to a task it never saw, for models
    that can predict unseen tasks (e.g. ``MultiTaskRegressor(penalty="mean",
    unseen_tasks="shared")``). Folds follow the sorted task labels.

    Parameters
    ----------
    task_column : str or int, default=None
        Column of ``X`` holding the task labels, read when ``split`` gets
        ``tasks=None`` (column mode).

    See Also
    --------
    sklearn.model_selection.LeaveOneGroupOut : the same with ``groups``.
    TaskStratifiedKFold : folds with every task.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.model_selection import LeaveOneTaskOut
    >>> tasks = np.array(["b", "a", "b", "c"])
    >>> cv = LeaveOneTaskOut()
    >>> cv.get_n_splits(tasks=tasks)
    3
    >>> for train, test in cv.split(np.zeros((4, 1)), tasks=tasks):
    ...     print(train, test)
    [0 2 3] [1]
    [1 3] [0 2]
    [0 1 2] [3]
    """

    def __init__(self, *, task_column=None):
        self.task_column = task_column

    def _iter_test_indices_tasks(self, task_labels, y, unlabelled=None):
        uniq, codes = np.unique(task_labels, return_inverse=True)
        if len(uniq) < 2:
            raise ValueError(
                f"LeaveOneTaskOut needs at least 2 tasks, got {len(uniq)}: "
                f"{short_list(uniq)}."
            )
        for k in self._tested(codes, len(uniq), unlabelled):
            test = codes == k
            if unlabelled is not None:
                test &= ~unlabelled  # unlabelled rows train, never test
            yield np.flatnonzero(test)

    @staticmethod
    def _tested(codes, n_tasks, unlabelled):
        """The tasks with a labelled row: a fold each."""
        if unlabelled is None:
            return list(range(n_tasks))
        return np.flatnonzero(np.bincount(codes[~unlabelled], minlength=n_tasks))

    def get_n_splits(self, X=None, y=None, groups=None, tasks=None, unlabelled=None):
        """Number of tasks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), default=None
            Read only in column mode (``task_column``) or for its length.
        y, groups : object
            Ignored, present for API compatibility.
        tasks : array-like of shape (n_samples,), default=None
            Task label of each row.
        unlabelled : array-like of bool of shape (n_samples,), default=None
            A task whose rows are all unlabelled has no fold.

        Returns
        -------
        n_splits : int
        """
        task_labels = self._tasks(X, tasks)
        uniq, codes = np.unique(task_labels, return_inverse=True)
        if unlabelled is not None:
            unlabelled = check_unlabelled(
                unlabelled, len(task_labels), require_labelled=False
            )
        return len(self._tested(codes, len(uniq), unlabelled))


class SourceTargetSplit(_TaskSplitter):
    """K-fold over the target task; the source tasks are always trained on.

    For transfer learning: the rows of every task other than ``target`` (the
    source domains) are in every training set, and only the target rows are
    split into ``n_splits`` folds (stratified by class for classification
    targets), so that a grid search scores the target task alone. Rows marked
    ``unlabelled`` (see :meth:`split`) are in every training set and never
    tested, so a model that learns from unlabelled target rows is selected on
    the labelled target rows only.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds of the target rows, at least 2.
    target : hashable, default="target"
        Task label of the target rows.
    shuffle : bool, default=True
        Shuffle the target rows before dealing them to folds.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling; only with ``shuffle=True``.
    stratify : bool, default=True
        Stratify the target folds by class when ``y`` is a classification
        target.
    task_column : str or int, default=None
        Column of ``X`` holding the task labels, read when ``split`` gets
        ``tasks=None`` (column mode).

    See Also
    --------
    TaskStratifiedKFold : folds of every task.
    skmtl.datasets.train_test_split_target : one split of the target rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.model_selection import SourceTargetSplit
    >>> tasks = np.array(["source"] * 4 + ["target"] * 4)
    >>> y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    >>> cv = SourceTargetSplit(n_splits=2, shuffle=False)
    >>> for train, test in cv.split(np.zeros((8, 1)), y, tasks=tasks):
    ...     print(train, test)
    [0 1 2 3 6 7] [4 5]
    [0 1 2 3 4 5] [6 7]
    """

    def __init__(
        self,
        n_splits=5,
        *,
        target="target",
        shuffle=True,
        random_state=None,
        stratify=True,
        task_column=None,
    ):
        self.n_splits = n_splits
        self.target = target
        self.shuffle = shuffle
        self.random_state = random_state
        self.stratify = stratify
        self.task_column = task_column

    def _target_mask(self, task_labels):
        mask = np.array([label == self.target for label in task_labels], dtype=bool)
        if not mask.any():
            raise ValueError(
                f"SourceTargetSplit: the target task target={self.target!r} has no "
                f"rows; tasks are {short_list(np.unique(task_labels))}."
            )
        return mask

    def _iter_test_indices_tasks(self, task_labels, y, unlabelled=None):
        name = type(self).__name__
        _check_n_splits(self.n_splits, name)
        _check_shuffle(self.shuffle, self.random_state, name)
        if not isinstance(self.stratify, (bool, np.bool_)):
            raise TypeError(
                f"{name}: stratify must be True or False, got {self.stratify!r}."
            )
        is_target = self._target_mask(task_labels)
        if unlabelled is not None:
            is_target &= ~unlabelled
        rows = np.flatnonzero(is_target)
        if len(rows) < self.n_splits:
            what = "labelled rows" if unlabelled is not None else "rows"
            raise ValueError(
                f"{name}: the target task {self.target!r} has {len(rows)} {what}, "
                f"fewer than n_splits={self.n_splits}."
            )
        strata = np.zeros(len(rows), dtype=np.intp)
        if self.stratify and y is not None:
            classes = _class_codes(np.asarray(y)[rows])
            if classes is not None:
                strata = classes
        rng = check_random_state(self.random_state) if self.shuffle else None
        folds = _deal_folds(strata, self.n_splits, rng)
        for k in range(self.n_splits):
            yield rows[folds == k]

    def get_n_splits(self, X=None, y=None, groups=None, tasks=None, unlabelled=None):
        """Number of splitting iterations, ``n_splits``.

        Parameters
        ----------
        X, y, groups, tasks, unlabelled : object
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
        """
        return self.n_splits
