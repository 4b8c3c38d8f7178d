"""The "school" multi-task regression benchmark (ILEA exam scores)."""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._base import _candidate_dirs, _check_bool, _not_found_message, _sha256

SCHOOL_NAME = "school.mat"
# The file distributed in the data/ folder of the MALSAR toolbox.
SCHOOL_SHA256 = "57fb3238fdd03a9aa17276e2ce18d9bbb5d128c3261e794fe6233b58b6909068"

# The .mat stores no column names. The groups below are read off the data
# (one-hot blocks whose rows sum to one; columns constant within a school and
# year) and follow the variable order of Goldstein's ILEA file: year, school
# %FSM, school %VR1, gender, VR band, ethnic group, school gender, school
# denomination, then a constant column. Levels are numbered, not named, since
# the file does not record their coding.
FEATURE_GROUPS = {
    "year": [0, 1, 2],
    "fsm": [3],
    "vr1": [4],
    "gender": [5, 6],
    "vr_band": [7, 8, 9],
    "ethnic": list(range(10, 21)),
    "school_gender": [21, 22, 23],
    "school_denomination": [24, 25, 26],
    "bias": [27],
}
FEATURE_NAMES = [
    name if len(cols) == 1 else f"{name}_{i}"
    for name, cols in FEATURE_GROUPS.items()
    for i in range(len(cols))
]

DESCR = """\
School data set (Inner London Education Authority)
===================================================

Multi-task regression: predict the exam score of students, one task per
school (Goldstein 1991; Evgeniou & Pontil 2004; Argyriou, Evgeniou &
Pontil 2008). The file is the one distributed with the MALSAR toolbox.

    =================   ==============================
    Tasks (schools)     139
    Samples total       15,362 (22 to 251 per school)
    Features            28
    Target              exam score, integer 1 to 70
    =================   ==============================

Features (``feature_groups`` gives the columns of each variable):

- year (3 one-hot columns): year of the exam, 1985 to 1987;
- fsm: percentage of the school's students eligible for free meals;
- vr1: percentage of the school's students in verbal-reasoning band 1;
- gender (2 one-hot columns): the student's gender;
- vr_band (3 one-hot columns): the student's verbal-reasoning band (all
  zero for 15 students with no band recorded);
- ethnic (11 one-hot columns): the student's ethnic group;
- school_gender (3): mixed, boys' or girls' school;
- school_denomination (3): maintained, Church of England or Roman Catholic;
- bias: a constant column of ones.

The level order inside each one-hot group is not recorded in the file.

Usual protocol: for each task a random 75/25 (or 60/40) train/test split
(``train_test_split_tasks(bunch, train_size=0.75, stratify=False)``);
report the explained variance 1 - MSE / Var(y) over all test samples,
averaged over 10 random splits.

References
----------
H. Goldstein. Multilevel modelling of survey data. The Statistician, 1991.
T. Evgeniou and M. Pontil. Regularized multi-task learning. KDD 2004.
A. Argyriou, T. Evgeniou and M. Pontil. Convex multi-task feature
learning. Machine Learning 73(3), 2008.
"""


def _find_school(path):
    if path is not None:
        path = Path(os.fspath(path)).expanduser()
        if path.is_dir():
            path = path / SCHOOL_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"path={str(path)!r} does not exist; pass the location of "
                f"{SCHOOL_NAME} or of the folder holding it."
            )
        return path
    searched = _candidate_dirs()
    for folder in searched:
        if (folder / SCHOOL_NAME).is_file():
            return folder / SCHOOL_NAME
    raise FileNotFoundError(
        _not_found_message("school data set", SCHOOL_NAME, searched, "path")
    )


def _cells(mat, key, filename):
    if key not in mat:
        raise ValueError(f"{filename!r} has no variable {key!r}: not school.mat.")
    cells = np.asarray(mat[key])
    if cells.dtype != object or 1 not in cells.shape[:2]:
        raise ValueError(
            f"{key!r} in {filename!r} must be a 1 x n_tasks cell array; got an "
            f"array of shape {cells.shape} and dtype {cells.dtype}."
        )
    return cells.ravel()


def load_school(path=None, *, return_X_y=False):
    """Load the school multi-task regression data set (139 schools).

    Parameters
    ----------
    path : str or path-like, default=None
        ``school.mat`` or a folder holding it. By default it is looked for
        in ``$SKMTL_DATA_HOME`` (or ``~/skmtl_data``), ``$SKMTL_DATA``, then
        ``../shared/data`` relative to the working directory and to the
        repository root. A file whose sha256 differs from the MALSAR copy
        loads with a warning if its structure is valid.

    return_X_y : bool, default=False
        If True, return ``(X, y, tasks)`` instead of a Bunch.

    Returns
    -------
    bunch : :class:`~sklearn.utils.Bunch`
        data, X : ndarray of shape (15362, 28), dtype=float64
            Student and school features, rows grouped by school.
        target, y : ndarray of shape (15362,), dtype=float64
            Exam scores.
        tasks : ndarray of shape (15362,), dtype=int64
            School (task) index of each row, 0 to 138.
        task_sizes : ndarray of shape (139,)
            Number of students per school.
        feature_names : list of str
            Column names (see ``DESCR``).
        feature_groups : dict
            Variable name -> its column indices.
        filename : str
            The file read.
        DESCR : str
            Description of the data set.

    (X, y, tasks) : tuple if ``return_X_y=True``

    Raises
    ------
    FileNotFoundError
        If the file is not found; the message lists the folders searched.

    Examples
    --------
    >>> from skmtl.datasets import load_school
    >>> X, y, tasks = load_school(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, len(set(tasks))  # doctest: +SKIP
    ((15362, 28), 139)
    """
    from scipy.io import loadmat

    return_X_y = _check_bool(return_X_y, "return_X_y")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str or path-like (school.mat or its folder), got {path!r}."
        )
    filename = _find_school(path)
    # The file is 45 kB: hashing and loading it whole costs milliseconds.
    digest = _sha256(filename)
    if digest != SCHOOL_SHA256:
        warnings.warn(
            f"{str(filename)!r} has sha256 {digest}, not that of the MALSAR "
            f"school.mat ({SCHOOL_SHA256}); loading it anyway.",
            UserWarning,
        )
    mat = loadmat(filename, variable_names=["X", "Y"])
    X_cells = _cells(mat, "X", str(filename))
    y_cells = _cells(mat, "Y", str(filename))
    if len(X_cells) != len(y_cells):
        raise ValueError(
            f"{str(filename)!r} has {len(X_cells)} X cells but {len(y_cells)} Y cells."
        )
    Xs = [np.atleast_2d(np.asarray(c, dtype=np.float64)) for c in X_cells]
    ys = [np.asarray(c, dtype=np.float64).ravel() for c in y_cells]
    n_features = {x.shape[1] for x in Xs}
    if len(n_features) != 1 or any(
        x.shape[0] != v.size for x, v in zip(Xs, ys, strict=True)
    ):
        raise ValueError(
            f"Inconsistent cells in {str(filename)!r}: every task needs an X of "
            "shape (n_t, n_features) with the same n_features and a Y of n_t "
            "values."
        )
    task_sizes = np.array([v.size for v in ys])
    X = np.vstack(Xs)
    y = np.concatenate(ys)
    tasks = np.repeat(np.arange(len(ys), dtype=np.int64), task_sizes)
    if return_X_y:
        return X, y, tasks
    known_layout = X.shape[1] == len(FEATURE_NAMES)
    return Bunch(
        data=X,
        target=y,
        X=X,
        y=y,
        tasks=tasks,
        task_sizes=task_sizes,
        feature_names=list(FEATURE_NAMES)
        if known_layout
        else [f"x{j}" for j in range(X.shape[1])],
        feature_groups={k: list(v) for k, v in FEATURE_GROUPS.items()}
        if known_layout
        else {},
        filename=str(filename),
        DESCR=DESCR,
    )
