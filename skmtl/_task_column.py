"""Task labels carried in a column of ``X`` (column mode), beside the task code.

:class:`skmtl.pipeline.TaskColumnEstimator` and the task-aware splitters of
:mod:`skmtl.model_selection` read the task id of each row from a column of
``X`` through these helpers; the labels then go through
:func:`skmtl._tasks.check_task_labels` like any other ``tasks`` argument.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from ._tasks import check_task_labels

__all__ = ["task_column_values", "split_task_column", "as_table"]


def _is_column_key(key):
    return isinstance(key, (str, numbers.Integral)) and not isinstance(key, bool)


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def as_table(X, name="X"):
    """X as a DataFrame, a 2-D array or a sparse matrix (never copied if one)."""
    if sp.issparse(X):
        # column slicing needs CSR / CSC (COO, DIA, ... are not subscriptable)
        return X if X.format in ("csr", "csc") else X.tocsr()
    if hasattr(X, "iloc"):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (rows x columns), got a Series.")
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with a task column, got an array of shape "
            f"{X.shape}. Reshape your data: X.reshape(-1, 1) for a single column."
        )
    if np.iscomplexobj(X):
        raise ValueError("Complex data not supported.")
    return X


def _check_two_columns(X, name):
    if X.shape[1] < 2:
        # Worded as scikit-learn's check_array, which users know.
        raise ValueError(
            f"{name} has {X.shape[1]} feature(s) (shape={X.shape}) while a minimum "
            "of 2 is required: the task column and at least one feature column."
        )
    return X


def _column_position(X, column, param):
    """Integer position of ``column`` (a DataFrame name, or an integer index)."""
    n_columns = X.shape[1]
    if hasattr(X, "columns"):
        if column in X.columns:
            return X.columns.get_loc(column)
        if isinstance(column, numbers.Integral) and not isinstance(column, bool):
            pass  # a position in a DataFrame without that name, checked below
        else:
            raise ValueError(
                f"{param}={column!r} is not a column of X; columns are "
                f"{list(X.columns)[:20]}."
            )
    elif not isinstance(column, numbers.Integral) or isinstance(column, bool):
        raise ValueError(
            f"{param}={column!r}: X is an array without column names, so the "
            f"column must be an integer index; pass a pandas DataFrame to select "
            f"columns by name."
        )
    if not -n_columns <= column < n_columns:
        raise ValueError(
            f"{param}={column} is out of range for X with {n_columns} columns."
        )
    return int(column) % n_columns


def _take_columns(X, positions):
    if hasattr(X, "iloc"):
        return X.iloc[:, positions]
    return X[:, positions]


def _holds_text(columns):
    """Whether a one-column table holds strings (text), not numbers."""
    if sp.issparse(columns):
        return False
    values = np.asarray(columns).reshape(-1)
    if values.dtype.kind in "USa":
        return True
    if values.dtype.kind == "O":
        return any(isinstance(v, (str, bytes)) for v in values)
    return False


def task_column_values(X, task_column, *, param="task_column"):
    """Task labels read from one column of ``X``, validated.

    Parameters
    ----------
    X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)
    task_column : str or int
        Column name (DataFrame) or integer position.
    param : str, default="task_column"
        Name used in error messages.

    Returns
    -------
    tasks : ndarray of shape (n_samples,)
    """
    X = as_table(X)
    pos = _column_position(X, task_column, param)
    col = _take_columns(X, [pos])
    if sp.issparse(col):
        col = col.toarray()
    col = np.asarray(col).reshape(-1)
    return check_task_labels(col, _n_rows(X), name=f"task column {task_column!r}")


def split_task_column(X, task_column, feature_columns=None):
    """Split ``X`` into its feature part and its task labels.

    Parameters
    ----------
    X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)
    task_column : str or int
        Column name (DataFrame) or integer position of the task labels.
    feature_columns : str, int, list or None, default=None
        Columns handed on. None: every column but the task column, as a 1-D
        Series / array when exactly one remains and it holds strings (text).
        A single name or index: that column, 1-D. A list: those columns, 2-D.

    Returns
    -------
    X_features : DataFrame, Series, ndarray or sparse matrix
    tasks : ndarray of shape (n_samples,)
    """
    X = _check_two_columns(as_table(X), "X")
    pos = _column_position(X, task_column, "task_column")
    tasks = task_column_values(X, task_column)
    if feature_columns is None:
        keep = [j for j in range(X.shape[1]) if j != pos]
        if not keep:
            raise ValueError(
                f"X has no column besides the task column {task_column!r}."
            )
        squeeze = len(keep) == 1 and _holds_text(_take_columns(X, keep))
    elif _is_column_key(feature_columns):
        keep = [_column_position(X, feature_columns, "feature_columns")]
        squeeze = True
    else:
        if isinstance(feature_columns, (bool, float)) or not np.iterable(
            feature_columns
        ):
            raise TypeError(
                "feature_columns must be a column name, an integer position, a "
                f"list of them or None, got {feature_columns!r}."
            )
        keep = [_column_position(X, c, "feature_columns") for c in feature_columns]
        squeeze = False
        if not keep:
            raise ValueError("feature_columns must name at least one column.")
    if squeeze:
        # A single text column: TfidfVectorizer and friends take 1-D input.
        if hasattr(X, "iloc"):
            return X.iloc[:, keep[0]], tasks
        col = X[:, [keep[0]]]
        col = col.toarray() if sp.issparse(col) else col
        return np.asarray(col).reshape(-1), tasks
    return _take_columns(X, keep), tasks
