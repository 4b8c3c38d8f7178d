"""Shared helpers of the dataset loaders: where data lives, checksums, caches."""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

# A folder holding the raw files (archives, .mat); it may be read-only.
DATA_ENV = "SKMTL_DATA"
# Where skmtl writes its caches; like sklearn's SCIKIT_LEARN_DATA.
DATA_HOME_ENV = "SKMTL_DATA_HOME"

# skmtl/datasets/_base.py -> parents[2] is the repository (or site-packages) root.
_REPO_ROOT = Path(__file__).resolve().parents[2]


def get_data_home(data_home=None):
    """Return the folder where skmtl caches parsed datasets.

    The folder is, in order of precedence: ``data_home`` when given, the
    environment variable ``SKMTL_DATA_HOME``, or ``~/skmtl_data``. It is not
    created here; the loaders create it when they first write a cache.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Cache folder. ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path
        The cache folder.

    Examples
    --------
    >>> from skmtl.datasets import get_data_home
    >>> str(get_data_home("/tmp/skmtl_cache"))
    '/tmp/skmtl_cache'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV, "~/skmtl_data")
    return Path(os.fspath(data_home)).expanduser()


def _candidate_dirs(data_home=None):
    """Folders searched for raw data files, most specific first.

    ``data_home`` (or its default), ``$SKMTL_DATA``, then ``../shared/data``
    relative to the working directory and to the repository root: the layout
    of the machines that build skmtl, where the raw files sit next to the
    checkout and cannot be downloaded.
    """
    dirs = [get_data_home(data_home)]
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]).expanduser())
    dirs.append(Path.cwd() / ".." / "shared" / "data")
    dirs.append(_REPO_ROOT / ".." / "shared" / "data")
    unique = []
    for d in dirs:
        d = d.resolve()
        if d not in unique:
            unique.append(d)
    return unique


def _not_found_message(what, filename, searched, argument):
    where = "\n".join(f"  - {d}" for d in searched)
    return (
        f"Could not find the {what} ({filename!r}). Looked in:\n{where}\n"
        f"Pass its location with `{argument}=...`, put it in one of these "
        f"folders, or set the environment variable {DATA_ENV} to the folder "
        "holding it."
    )


def _sha256(path, chunk_size=1 << 20):
    """Hex sha256 digest of a file, read in chunks to bound memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_pickle(obj, path):
    """Pickle ``obj`` to ``path`` so that ``path`` is complete or absent.

    The pickle is written to a temporary file in the same folder (so that
    ``os.replace`` is a rename on one file system, which POSIX and Windows
    make atomic) and renamed only once fully written and flushed. An
    interruption at any point leaves at most the temporary file, which is
    removed when the interruption is an exception.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # BaseException: a KeyboardInterrupt must not leave the temporary file.
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def _load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _check_bool(value, name):
    """Refuse a non-bool flag (a truthy "no" must not pass for True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}.")
    return bool(value)
