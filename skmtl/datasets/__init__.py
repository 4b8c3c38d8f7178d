"""Data sets for multi-task and transfer learning.

Loaders of real benchmarks, read from local files and cached:

- :func:`fetch_20newsgroups_transfer`: the six cross-domain text
  classification splits of 20 Newsgroups (Dai et al., KDD 2007);
- :func:`fetch_20newsgroups_multitask`: newsgroup-pair, custom and
  one-vs-rest multi-task problems on the same corpus;
- :func:`load_school`: the school exam-score regression benchmark
  (139 tasks).

Protocol helpers :func:`train_test_split_target` and
:func:`train_test_split_tasks`, and generators of synthetic problems with a
known task relatedness, :func:`make_multitask_regression` and
:func:`make_multitask_classification`.
"""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

from ._base import get_data_home
from ._generators import make_multitask_classification, make_multitask_regression
from ._newsgroups import (
    fetch_20newsgroups_multitask,
    fetch_20newsgroups_transfer,
    load_20newsgroups_splits,
)
from ._school import load_school
from ._splits import train_test_split_target, train_test_split_tasks

__all__ = [
    "fetch_20newsgroups_multitask",
    "fetch_20newsgroups_transfer",
    "get_data_home",
    "load_20newsgroups_splits",
    "load_school",
    "make_multitask_classification",
    "make_multitask_regression",
    "train_test_split_target",
    "train_test_split_tasks",
]
