"""Validation and encoding of per-sample task ids.

Every estimator of skmtl goes through this module to turn the user's ``tasks``
argument into integer codes, so that the rules (what a task label may be, what
a scalar means, what happens to unseen tasks) are written once.
"""

import numbers

import numpy as np

__all__ = ["check_task_labels", "encode_tasks", "TaskIndex"]


def is_scalar_label(tasks):
    # Strings and bytes are iterable but are single labels; numpy scalars too.
    # A tuple is a sequence of per-row labels, as for numpy and scikit-learn
    # (issue [6/9]: reading it as one label pooled every row silently); one
    # tuple-labelled task for every row is ``[label] * n_rows``.
    return isinstance(tasks, (str, bytes, numbers.Number, np.generic))


def repeat_label(label, n_samples):
    """An object array of ``n_samples`` copies of one label.

    ``np.full`` would broadcast a tuple label (``("t", 0)``) over the rows;
    here a tuple stays one label.
    """
    labels = np.empty(n_samples, dtype=object)
    labels[:] = [label] * n_samples
    return labels


def rows_with_label(labels, label):
    """Boolean mask of the entries of ``labels`` equal to ``label``.

    Compared label by label: ``labels == label`` would broadcast a tuple label.
    """
    return np.fromiter(
        (value == label for value in labels.tolist()), dtype=bool, count=len(labels)
    )


def check_task_labels(tasks, n_samples, *, name="tasks"):
    """Validate per-sample task labels and return them as a 1-D array.

    Parameters
    ----------
    tasks : hashable scalar or array-like of shape (n_samples,)
        Task label of each row. A scalar (a string or a number) means that
        every row belongs to that task. A tuple is a sequence of labels, one
        per row, like a list; a list of tuples is one tuple label per row.
    n_samples : int
        Number of rows that ``tasks`` must describe.
    name : str, default="tasks"
        Name of the argument, used in error messages.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        A new array (the caller's object is never modified).
    """
    if tasks is None:
        raise ValueError(f"{name} must not be None here.")
    if is_scalar_label(tasks):
        return _normalise_dtype(repeat_label(tasks, n_samples), name)
    if hasattr(tasks, "toarray"):
        raise TypeError(
            f"{name} must be a 1-D array-like of labels, got a sparse matrix."
        )
    # Series, lists, arrays: copy so that later steps can never write into the
    # caller's object.
    if isinstance(tasks, tuple):
        tasks = list(tasks)
    if isinstance(tasks, list) and any(isinstance(v, tuple) for v in tasks):
        # tuples are labels (("school", 3)), not rows of a 2-D array
        labels = np.empty(len(tasks), dtype=object)
        labels[:] = tasks
        return _normalise_dtype(_check_length(labels, n_samples, name), name)
    labels = np.array(getattr(tasks, "to_numpy", lambda: tasks)(), copy=True)
    if (
        labels.dtype.kind in "US"
        and labels.ndim == 1
        and not isinstance(tasks, np.ndarray)
    ):
        # numpy turns [1, "a"] or ["a", nan] into strings ("1", "nan"): keep
        # the user's labels as they are, so that 1 and "1" stay two tasks
        # (and are refused as unsortable) and NaN stays missing
        values = list(tasks)
        if not all(isinstance(v, (str, bytes)) for v in values):
            labels = np.empty(len(values), dtype=object)
            labels[:] = values
    if labels.ndim == 2 and 1 in labels.shape:
        raise ValueError(
            f"{name} must be 1-D, got an array of shape {labels.shape}; pass "
            f"{name}.ravel() if it is a column of labels."
        )
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}.")
    return _normalise_dtype(_check_length(labels, n_samples, name), name)


def _check_length(labels, n_samples, name):
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {labels.shape[0]} labels but X has {n_samples} rows; "
            f"pass one task label per row (or a single scalar label)."
        )
    return labels


#: the one wording of a missing label, for tasks, y and the other label arguments
_MISSING = "missing labels (None, NaN or pd.NA)"


def _normalise_dtype(labels, name):
    """Reject missing labels and make object arrays of strings comparable."""
    if labels.dtype.kind == "f":
        if np.any(np.isnan(labels)):
            # pandas' nullable / pyarrow integers arrive here as NaN floats
            raise ValueError(f"{name} contains {_MISSING}.")
        if not np.all(np.isfinite(labels)):
            raise ValueError(f"{name} contains infinite labels.")
        return labels
    if labels.dtype.kind == "O":
        for value in labels:
            if is_missing(value):
                raise ValueError(f"{name} contains {_MISSING}.")
        try:
            hash(tuple(labels))
        except TypeError as exc:
            raise TypeError(f"{name} labels must be hashable: {exc}") from None
    return labels


def is_missing(value):
    """None, NaN, or pandas' missing-value markers (pd.NA, pd.NaT)."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


def unique_sorted(labels, name):
    try:
        return np.unique(labels)
    except TypeError:
        raise TypeError(
            f"{name} mixes label types that cannot be sorted together "
            f"({sorted({type(v).__name__ for v in labels})}); use labels of one type."
        ) from None


def encode_tasks(tasks, n_samples, *, name="tasks"):
    """Encode training task labels.

    Returns
    -------
    task_labels : ndarray of shape (n_tasks,)
        Sorted unique labels; this is the order of the tasks in every fitted
        attribute (``coef_`` rows, ``tasks_``).
    codes : ndarray of int of shape (n_samples,)
        Index of each row's task in ``task_labels``.
    """
    labels = check_task_labels(tasks, n_samples, name=name)
    if n_samples == 0:
        raise ValueError(f"{name}: no rows to fit.")
    task_labels = unique_sorted(labels, name)
    codes = np.searchsorted(task_labels, labels).astype(np.intp)
    return task_labels, codes


class TaskIndex:
    """Fitted task labels and the rule for tasks that were not seen in fit.

    Parameters
    ----------
    task_labels : ndarray of shape (n_tasks,)
        Sorted labels, as returned by :func:`encode_tasks`.
    """

    def __init__(self, task_labels):
        self.task_labels = task_labels

    @property
    def n_tasks(self):
        return len(self.task_labels)

    def transform(self, tasks, n_samples, *, allow_unseen=False, name="tasks"):
        """Codes of ``tasks`` in the fitted order; -1 marks unseen tasks.

        Unseen tasks raise a ``ValueError`` unless ``allow_unseen`` is true.
        """
        labels = check_task_labels(tasks, n_samples, name=name)
        known = self.task_labels
        try:
            pos = np.searchsorted(known, labels)
        except TypeError:
            pos = None
        if pos is not None:
            pos = np.clip(pos, 0, len(known) - 1)
            found = known[pos] == labels
            found = np.asarray(found, dtype=bool)
        else:
            lookup = {label: i for i, label in enumerate(known.tolist())}
            pos = np.array([lookup.get(v, 0) for v in labels.tolist()], dtype=np.intp)
            found = np.array([v in lookup for v in labels.tolist()], dtype=bool)
        codes = np.where(found, pos, -1).astype(np.intp)
        if not allow_unseen and not found.all():
            unseen = list(dict.fromkeys(labels[~found].tolist()))
            shown = ", ".join(repr(u) for u in unseen[:5])
            more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
            raise ValueError(
                f"{name} contains task(s) not seen during fit: {shown}{more}. "
                f"Known tasks: {short_list(known)}."
            )
        return codes


def short_list(values, limit=10):
    """``values`` for an error message: ``[a, b, ...]``, at most ``limit`` shown."""
    # tolist() turns numpy scalars into Python ones, so messages read [0, 1]
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    text = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        text += f", ... ({len(values)} in all)"
    return f"[{text}]"


def _is_labelled_series(values):
    """A pandas Series whose index holds labels, not the default positions."""
    index = getattr(values, "index", None)
    if (
        index is None
        or not hasattr(values, "to_numpy")
        or getattr(values, "ndim", 0) != 1
    ):
        return False
    return index.tolist() != list(range(len(index)))


def check_task_weights(task_weights, task_labels, *, name="task_weights"):
    """Per-task loss weights as an array aligned with ``task_labels``.

    ``task_weights`` may be None (all ones), a mapping ``{task label: weight}``
    or a pandas Series indexed by task labels (tasks not named keep weight 1),
    or an array-like of length n_tasks in the order of ``task_labels`` (a
    Series with the default index too).
    """
    n_tasks = len(task_labels)
    if task_weights is None:
        return np.ones(n_tasks)
    if _is_labelled_series(task_weights):
        # a Series indexed by task labels is a mapping, in any order (read by
        # position it silently gave weights to the wrong tasks)
        task_weights = dict(
            zip(task_weights.index.tolist(), task_weights.to_numpy(dtype=object))
        )
    if isinstance(task_weights, dict):
        weights = np.ones(n_tasks)
        index = TaskIndex(task_labels)
        keys = list(task_weights.keys())
        key_arr = np.empty(len(keys), dtype=object)
        key_arr[:] = keys
        if len(keys):
            if all(isinstance(k, (numbers.Number, np.generic)) for k in keys):
                key_arr = np.asarray(keys)
            try:
                codes = index.transform(key_arr, len(keys), allow_unseen=True)
            except TypeError:
                codes = -np.ones(len(keys), dtype=np.intp)
            unknown = [k for k, c in zip(keys, codes) if c < 0]
            if unknown:
                raise ValueError(
                    f"{name} names task(s) that are not in the training data: "
                    f"{short_list(unknown)}. Known tasks: {short_list(task_labels)}."
                )
            try:
                weights[codes] = [float(task_weights[k]) for k in keys]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} must map tasks to numbers: {exc}") from None
    else:
        try:
            weights = np.asarray(task_weights, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from None
        if weights.ndim != 1 or weights.shape[0] != n_tasks:
            raise ValueError(
                f"{name} must be a dict {{task: weight}} or an array of length "
                f"n_tasks={n_tasks}, got shape {weights.shape}."
            )
        weights = weights.copy()
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{name} must be finite, got NaN or infinite values.")
    if np.any(weights < 0):
        raise ValueError(f"{name} must be non-negative, got {weights.min()}.")
    if not np.any(weights > 0):
        raise ValueError(f"{name} are all zero: at least one task must have weight.")
    return weights
