"""Input checks shared by the estimators (weights, targets)."""

import numbers

import numpy as np

from ._tasks import check_task_labels, is_missing, is_scalar_label


def check_sample_weight(sample_weight, n_samples, *, name="sample_weight"):
    """Validated per-row weights as a new float64 array of shape (n_samples,).

    None gives ones; a scalar is broadcast. NaN, infinite or negative weights,
    or a wrong length, raise a ``ValueError`` naming the argument.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Number):
        sw = np.full(n_samples, float(sample_weight))
    else:
        try:
            sw = np.array(sample_weight, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from None
        if sw.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got an array of shape {sw.shape}.")
        if sw.shape[0] != n_samples:
            raise ValueError(
                f"{name} has {sw.shape[0]} values but X has {n_samples} rows."
            )
    if not np.all(np.isfinite(sw)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if np.any(sw < 0):
        raise ValueError(f"{name} must be non-negative, got a minimum of {sw.min()}.")
    return sw


def check_class_labels(y, *, name="y", rows=None):
    """Refuse missing class labels with one message whatever the container.

    ``y`` may be a list, tuple, numpy array or pandas Series of any dtype
    (nullable ``Int64`` / ``boolean`` / ``string``, Categorical,
    pyarrow-backed). A missing label (None, NaN, ``pd.NA``, ``pd.NaT``) raises a
    ``ValueError`` naming the argument and the first such row; without this
    check numpy or pandas raise unrelated errors ("boolean value of NA is
    ambiguous", "'<' not supported between 'NoneType' and 'str'"). Nothing is
    returned or converted: the estimator validates ``y`` as before. ``rows``
    (the original row numbers of ``y``'s entries, when ``y`` holds a subset
    such as the labelled rows) makes the message name the caller's row.
    """
    if y is None or isinstance(y, (str, bytes)) or np.isscalar(y):
        return
    values = getattr(y, "array", y)  # a pandas Series' own values, no copy
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        arr = np.asarray(list(values), dtype=object)
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
    elif arr.dtype.kind == "O" or not isinstance(values, np.ndarray):
        arr = np.asarray(values, dtype=object)
        missing = np.fromiter(
            (is_missing(v) for v in arr.ravel()), dtype=bool, count=arr.size
        ).reshape(arr.shape)
    else:
        return  # integers, bools, strings, datetimes: nothing can be missing
    if np.any(missing):
        bad = np.flatnonzero(missing.reshape(len(arr), -1).any(axis=1))
        first = bad[0] if rows is None else np.asarray(rows)[bad[0]]
        raise ValueError(
            f"{name} contains missing labels (None, NaN or pd.NA) in "
            f"{bad.size} row(s), the first at row {first}; drop those rows."
        )


def per_task_row_weights(sample_weight, codes, task_weights, task_labels):
    """Per-row weights ``c_i = lambda_t * s_i / sum_{j in t} s_j`` (per-task means).

    Raises a ``ValueError`` for a task whose rows all have zero weight, since
    its mean loss is undefined.
    """
    n_tasks = len(task_labels)
    totals = np.bincount(codes, weights=sample_weight, minlength=n_tasks)
    empty = np.flatnonzero(totals <= 0)
    if empty.size:
        plain = np.asarray(task_labels).tolist()  # not numpy reprs (np.str_)
        names = ", ".join(repr(plain[t]) for t in empty[:5])
        raise ValueError(
            f"task(s) {names} have no rows with positive sample_weight; every task "
            f"needs at least one weighted row (drop the task or its zero weights)."
        )
    return task_weights[codes] * sample_weight / totals[codes]


def drop_absent_rows(X, y, tasks, sample_weight):
    """The rows of positive weight: a row of weight 0 is absent from the fit.

    Dropping them (rather than weighting them by 0) makes the invariant hold
    everywhere at once: which tasks and classes exist, the centring, the
    solvers. Raises a ``ValueError`` when no row is left.
    """
    keep = sample_weight > 0
    if keep.all():
        return X, y, tasks, sample_weight
    if not keep.any():
        raise ValueError(
            "sample_weight is zero for every row: there is no row to fit (a row "
            "of weight 0 is absent)."
        )
    if tasks is not None and not is_scalar_label(tasks):
        tasks = check_task_labels(tasks, X.shape[0])[keep]
    return X[keep], y[keep], tasks, sample_weight[keep]


def check_unlabelled(unlabelled, n_samples, *, require_labelled=True):
    """Validated mask of the unlabelled rows, a new bool array of shape (n_samples,).

    ``unlabelled`` is the per-row fit metadata of the estimators that learn
    from unlabelled rows: ``True`` marks a row whose ``y`` is a placeholder
    that is never read. ``None`` means every row is labelled. Only a boolean
    array is accepted (0/1 integers or floats are refused: an index array or a
    label vector passed by mistake must not be read as a mask). Raises a
    ``ValueError`` naming ``unlabelled`` for another dtype, a wrong shape or
    length, or (with ``require_labelled``) when no row is labelled.
    """
    if unlabelled is None:
        return np.zeros(n_samples, dtype=bool)
    mask = np.array(unlabelled, copy=True)
    if mask.dtype != bool:
        raise ValueError(
            "unlabelled must be an array of bool (True marks a row whose label is "
            f"not known), got dtype {mask.dtype}; pass e.g. unlabelled=(y_mask == 1) "
            "or a list of True/False."
        )
    if mask.ndim != 1:
        raise ValueError(f"unlabelled must be 1-D, got an array of shape {mask.shape}.")
    if mask.shape[0] != n_samples:
        raise ValueError(
            f"unlabelled has {mask.shape[0]} values but X has {n_samples} rows."
        )
    if require_labelled and mask.all():
        raise ValueError(
            "unlabelled is True on every row: at least one labelled row is needed."
        )
    return mask
