"""Validation and encoding of task labels, task weights and task columns."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from skmtl._tasks import TaskIndex, check_task_labels, check_task_weights, encode_tasks
from skmtl.pipeline import split_task_column, task_column_values


# -------------------------------------------------------- check_task_labels
@pytest.mark.parametrize(
    "label",
    ["a", b"raw", 3, -2.5, True, np.int64(7), np.str_("x")],
    ids=repr,
)
def test_scalar_label_applies_to_every_row(label):
    labels = check_task_labels(label, 4)
    assert labels.shape == (4,)
    assert all(type(v) is type(label) and v == label for v in labels)
    task_labels, codes = encode_tasks(label, 4)
    assert len(task_labels) == 1 and task_labels[0] == label
    assert_array_equal(codes, 0)


@pytest.mark.parametrize(
    "tasks",
    [
        ["b", "a", "b"],
        np.array([3, 1, 3]),
        np.array([0.5, 2.0, 0.5]),
        np.array(["x", "y", "x"], dtype=object),
        pd.Series(["u", "v", "u"], index=[10, 3, 7]),
        pd.Series([2, 1, 2]),
        pd.Series(["p", "q", "p"], dtype="category"),
        np.array([b"k", b"l", b"k"]),
    ],
    ids=["list", "int", "float", "object", "series", "int-series", "category", "bytes"],
)
def test_array_like_labels(tasks):
    expected = list(tasks)
    labels = check_task_labels(tasks, 3)
    assert isinstance(labels, np.ndarray) and labels.shape == (3,)
    assert labels.tolist() == expected  # values and positions, not the index


def test_labels_are_a_copy():
    tasks = np.array(["a", "b", "a"])
    labels = check_task_labels(tasks, 3)
    assert not np.shares_memory(labels, tasks)
    labels[0] = "z"
    assert_array_equal(tasks, ["a", "b", "a"])
    series = pd.Series([1, 2, 1])
    labels = check_task_labels(series, 3)
    labels[:] = 9
    assert series.tolist() == [1, 2, 1]
    listed = ["a", "b"]
    encode_tasks(listed, 2)
    assert listed == ["a", "b"]


@pytest.mark.parametrize("n_samples", [2, 4])
def test_wrong_length_names_the_argument(n_samples):
    with pytest.raises(ValueError, match="groups has 3 labels"):
        check_task_labels(["a", "b", "a"], n_samples, name="groups")


@pytest.mark.parametrize("shape", [(3, 1), (1, 3), (3, 2)])
def test_2d_labels_rejected(shape):
    with pytest.raises(ValueError, match="groups must be 1-D"):
        check_task_labels(np.zeros(shape), 3, name="groups")


def test_column_of_labels_hints_at_ravel():
    with pytest.raises(ValueError, match="ravel"):
        check_task_labels(np.array([["a"], ["b"]]), 2)


@pytest.mark.parametrize(
    "tasks",
    [
        None,
        np.nan,
        ["a", None, "b"],
        ["a", np.nan, "b"],
        np.array([1.0, np.nan, 2.0]),
        np.array([1.0, np.inf, 2.0]),
        pd.Series(["a", None, "b"]),
        pd.Series([1, None, 2], dtype="Int64"),
        pd.Series(["a", None, "b"], dtype="string"),  # pd.NA
    ],
    ids=[
        "None",
        "nan",
        "list-None",
        "list-nan",
        "float-nan",
        "float-inf",
        "series-None",
        "Int64-NA",
        "string-NA",
    ],
)
def test_missing_labels_rejected(tasks):
    with pytest.raises(ValueError, match="groups"):
        check_task_labels(tasks, 3, name="groups")
    with pytest.raises(ValueError, match="groups"):
        encode_tasks(tasks, 3, name="groups")


@pytest.mark.parametrize(
    "tasks",
    [[{"a": 1}, {}, {}], [{1}, {2}, {1}]],
    ids=["dicts", "sets"],
)
def test_unhashable_labels_rejected(tasks):
    with pytest.raises((TypeError, ValueError), match="groups"):
        check_task_labels(tasks, 3, name="groups")


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_labels_rejected(fmt):
    tasks = sp.random(3, 1, density=1.0, format=fmt, random_state=0)
    with pytest.raises((TypeError, ValueError), match="groups.*sparse"):
        check_task_labels(tasks, 3, name="groups")


# -------------------------------------------------------------- encode_tasks
@pytest.mark.parametrize(
    "tasks, expected",
    [
        (["pear", "apple", "pear", "fig"], ["apple", "fig", "pear"]),
        ([10, -1, 10, 3], [-1, 3, 10]),
        (np.array([2.5, 0.5, 2.5, 0.5]), [0.5, 2.5]),
        (pd.Series(["b", "a", "b", "b"], index=[3, 2, 1, 0]), ["a", "b"]),
    ],
)
def test_encode_tasks_sorted_labels_and_codes(tasks, expected):
    original = list(tasks)
    task_labels, codes = encode_tasks(tasks, 4)
    assert task_labels.tolist() == expected
    assert codes.shape == (4,) and np.issubdtype(codes.dtype, np.integer)
    assert task_labels[codes].tolist() == original


@pytest.mark.parametrize(
    "tasks",
    [np.array([1, "a", 1], dtype=object), [1, "a", 1], ["1", 1, 1]],
    ids=["object-array", "list", "str-and-int"],
)
def test_encode_tasks_mixed_unsortable_types(tasks):
    # 1 and "1" are different tasks: they must be neither sorted together nor
    # silently turned into the same string
    with pytest.raises(TypeError, match="tasks mixes label types"):
        encode_tasks(tasks, 3)


def test_encode_tasks_no_rows():
    with pytest.raises(ValueError, match="groups"):
        encode_tasks([], 0, name="groups")


# ----------------------------------------------------------------- TaskIndex
def test_task_index_known_and_unseen():
    index = TaskIndex(np.array(["a", "b", "c"]))
    assert index.n_tasks == 3
    assert_array_equal(index.transform(["c", "a", "c"], 3), [2, 0, 2])
    assert_array_equal(index.transform("b", 2), [1, 1])
    codes = index.transform(["c", "zz", "a", "0"], 4, allow_unseen=True)
    assert_array_equal(codes, [2, -1, 0, -1])
    with pytest.raises(ValueError, match=r"new_tasks contains .*'zz'.*'0'"):
        index.transform(["c", "zz", "a", "0"], 4, name="new_tasks")


@pytest.mark.parametrize(
    "fitted, query, expected",
    [
        (np.array([1, 5]), [5, 2, 1], [1, -1, 0]),
        (np.array([0.5, 2.0]), np.array([2.0, 0.5, 1.0]), [1, 0, -1]),
        (np.array(["1", "2"]), [1, 2, 1], [-1, -1, -1]),  # ints are not strings
        (np.array([1, 2]), ["1", "b", "2"], [-1, -1, -1]),
    ],
)
def test_task_index_types(fitted, query, expected):
    codes = TaskIndex(fitted).transform(query, len(query), allow_unseen=True)
    assert_array_equal(codes, expected)


def test_task_index_validates_labels():
    index = TaskIndex(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="tasks has 1 labels"):
        index.transform(["a"], 2)
    with pytest.raises(ValueError, match="missing"):
        index.transform(["a", None], 2, allow_unseen=True)


# -------------------------------------------------------- check_task_weights
LABELS = np.array(["a", "b", "c"])


def test_task_weights_none_dict_and_array():
    assert_array_equal(check_task_weights(None, LABELS), [1.0, 1.0, 1.0])
    assert_array_equal(check_task_weights({"c": 3.0, "a": 0.0}, LABELS), [0, 1, 3])
    given = np.array([0.5, 2.0, 1.0])
    weights = check_task_weights(given, LABELS)
    assert_array_equal(weights, given)
    weights[0] = 7.0
    assert given[0] == 0.5  # the caller's array is not modified
    int_labels = np.array([1, 2])
    assert_array_equal(check_task_weights({np.int64(2): 4.0}, int_labels), [1, 4])


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"a": 1.0, "zz": 2.0}, r"task_weights names .*'zz'"),
        ({1: 2.0}, "task_weights names"),
        ([1.0, 2.0], "length n_tasks=3"),
        (np.ones((3, 1)), "length n_tasks=3"),
        ([1.0, -1.0, 1.0], "non-negative"),
        ([1.0, np.nan, 1.0], "finite"),
        ({"b": np.nan}, "finite"),
        ([0.0, 0.0, 0.0], "all zero"),
        ({"a": 0.0, "b": 0.0, "c": 0.0}, "all zero"),
    ],
)
def test_task_weights_invalid(weights, match):
    with pytest.raises(ValueError, match=match):
        check_task_weights(weights, LABELS)


# ------------------------------------------------------------- task columns
def _frame():
    return pd.DataFrame(
        {"x1": [1.0, 2.0, 3.0], "task": ["a", "b", "a"], "x2": [4.0, 5.0, 6.0]},
        index=[7, 8, 9],
    )


def test_task_column_values_frame_array_sparse():
    df = _frame()
    before = df.copy()
    tasks = task_column_values(df, "task")
    assert tasks.tolist() == ["a", "b", "a"]
    tasks[0] = "z"
    pd.testing.assert_frame_equal(df, before)  # a copy of the column
    assert task_column_values(df, 1).tolist() == ["a", "b", "a"]  # by position
    A = np.array([[1.0, 0.0, 2.0], [3.0, 1.0, 4.0]])
    assert task_column_values(A, 1).tolist() == [0.0, 1.0]
    assert task_column_values(A, -1).tolist() == [2.0, 4.0]
    assert task_column_values(sp.csr_matrix(A), 1).tolist() == [0.0, 1.0]
    assert task_column_values(sp.coo_matrix(A), 0).tolist() == [1.0, 3.0]
    # a DataFrame column named 0 is found by name, not by position
    named = pd.DataFrame({1: [5.0, 6.0], 0: ["p", "q"]})
    assert task_column_values(named, 0).tolist() == ["p", "q"]


@pytest.mark.parametrize(
    "X, column, match",
    [
        (_frame(), "nope", "task_column='nope' is not a column"),
        (np.zeros((2, 3)), "task", "integer index"),
        (np.zeros((2, 3)), 3, "out of range"),
        (np.zeros((2, 3)), -4, "out of range"),
        (np.zeros((2, 3)), True, "integer index"),
        (pd.DataFrame({"x": [1.0, 2.0], "t": [1.0, np.nan]}), "t", "task column 't'"),
        (np.zeros(3), 0, "2-D"),
    ],
)
def test_task_column_values_errors(X, column, match):
    with pytest.raises(ValueError, match=match):
        task_column_values(X, column)


def test_split_task_column():
    df = _frame()
    X, tasks = split_task_column(df, "task")
    assert list(X.columns) == ["x1", "x2"] and list(X.index) == [7, 8, 9]
    assert tasks.tolist() == ["a", "b", "a"]
    assert list(df.columns) == ["x1", "task", "x2"]  # the input is left alone
    X, _ = split_task_column(df, "task", feature_columns=["x2"])
    assert list(X.columns) == ["x2"]
    X, _ = split_task_column(df, "task", feature_columns="x2")
    assert isinstance(X, pd.Series) and X.tolist() == [4.0, 5.0, 6.0]
    A = np.array([[1.0, 0.0, 2.0], [3.0, 1.0, 4.0]])
    X, tasks = split_task_column(A, 1)
    assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])
    assert tasks.tolist() == [0.0, 1.0]
    X, tasks = split_task_column(sp.csr_matrix(A), -1)
    assert sp.issparse(X)
    assert_array_equal(X.toarray(), [[1.0, 0.0], [3.0, 1.0]])
    assert tasks.tolist() == [2.0, 4.0]


def test_split_task_column_text_is_one_dimensional():
    df = pd.DataFrame({"text": ["hi there", "yo", "hey"], "task": ["a", "b", "a"]})
    X, tasks = split_task_column(df, "task")
    assert isinstance(X, pd.Series) and X.tolist() == ["hi there", "yo", "hey"]
    A = np.array([["a", "hi there"], ["b", "yo"]], dtype=object)
    X, tasks = split_task_column(A, 0)
    assert X.shape == (2,) and X.tolist() == ["hi there", "yo"]
    assert tasks.tolist() == ["a", "b"]
    # one numeric column stays 2-D
    X, _ = split_task_column(np.array([[0.0, 1.0], [1.0, 2.0]]), 0)
    assert X.shape == (2, 1)


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.zeros((3, 1)), {"task_column": 0}, "minimum of 2"),
        (_frame(), {"task_column": "task", "feature_columns": []}, "at least one"),
        (_frame(), {"task_column": "task", "feature_columns": ["x9"]}, "x9"),
        (np.zeros((2, 3)), {"task_column": 5}, "out of range"),
    ],
)
def test_split_task_column_errors(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_task_column(X, **kwargs)


def test_tuple_is_one_label_per_row_like_a_list():
    """Issue [6/9] kind 3: a tuple of labels used to be read as one label,
    pooling every row into one task; it is a sequence, as a list."""
    labels, codes = encode_tasks(("b", "a", "b"), 3)
    ref_labels, ref_codes = encode_tasks(["b", "a", "b"], 3)
    assert_array_equal(labels, ref_labels)
    assert_array_equal(codes, ref_codes)
    with pytest.raises(ValueError, match="tasks has 2 labels but X has 3 rows"):
        check_task_labels(("region", 1), 3)
    # one tuple-labelled task on every row: a list of that label
    labels, codes = encode_tasks([("region", 1)] * 3, 3)
    assert labels.tolist() == [("region", 1)] and codes.tolist() == [0, 0, 0]


def test_list_of_tuples_is_one_label_per_row():
    tasks = [("school", 3), ("school", 1), ("school", 3)]
    labels, codes = encode_tasks(tasks, 3)
    assert labels.tolist() == [("school", 1), ("school", 3)]
    assert codes.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="tasks has 3 labels but X has 4 rows"):
        check_task_labels(tasks, 4)


@pytest.mark.parametrize("weights", [{"a": "heavy"}, ["x", "y"]])
def test_task_weights_not_numbers_are_named(weights):
    with pytest.raises(ValueError, match="task_weights must"):
        check_task_weights(weights, np.array(["a", "b"]))
