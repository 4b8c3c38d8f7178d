"""Read the 20 Newsgroups "bydate" corpus once, safely, and cache it.

The corpus is read from a local ``20news-bydate.tar.gz`` (checksum verified,
members read straight from the tar stream: nothing is extracted to disk, so
no member can be written outside a target folder), from an already extracted
folder, or, as a last resort, through :func:`sklearn.datasets.fetch_20newsgroups`
(which downloads). The parsed corpus is pickled atomically into the cache
folder; later calls read only the cache.
"""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import re
import sys
import tarfile
import warnings
import zlib
from pathlib import Path

import numpy as np

from ._base import (
    _atomic_pickle,
    _candidate_dirs,
    _load_pickle,
    _not_found_message,
    _sha256,
    get_data_home,
)

ARCHIVE_NAME = "20news-bydate.tar.gz"
# sha256 of the public bydate archive as distributed in shared/data. It is not
# the digest sklearn pins for its figshare copy (8f1b25...): the two files are
# different gzip streams of the same 18,846 posts, so both are accepted.
ARCHIVE_SHA256 = "2239c5ca23f5a0507614ee72baf95aa4f33fe2835ec883d3e4d061cf7e1299dd"
SKLEARN_ARCHIVE_SHA256 = (
    "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610"
)
_KNOWN_SHA256 = (ARCHIVE_SHA256, SKLEARN_ARCHIVE_SHA256)

# Bump when the layout of the cached object changes: old caches are rebuilt.
CACHE_FORMAT = 1
CACHE_NAME = f"20news-bydate.skmtl-v{CACHE_FORMAT}.pkl"

SPLIT_FOLDERS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
N_POSTS = {"train": 11314, "test": 7532}
NEWSGROUPS = (
    "alt.atheism",
    "comp.graphics",
    "comp.os.ms-windows.misc",
    "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware",
    "comp.windows.x",
    "misc.forsale",
    "rec.autos",
    "rec.motorcycles",
    "rec.sport.baseball",
    "rec.sport.hockey",
    "sci.crypt",
    "sci.electronics",
    "sci.med",
    "sci.space",
    "soc.religion.christian",
    "talk.politics.guns",
    "talk.politics.mideast",
    "talk.politics.misc",
    "talk.religion.misc",
)
# The largest post is ~ 160 kB; anything far above is not this corpus and
# must not be decompressed into memory.
_MAX_MEMBER_BYTES = 16 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-]+$")


def _log(verbose, msg):
    if verbose:
        print(f"[skmtl.datasets] {msg}", file=sys.stderr, flush=True)


def _check_member(member):
    """Return (split, group, name) for a post, None for a folder, else raise.

    Only regular files at ``20news-bydate-{train,test}/<group>/<post>`` and
    the folders above them are accepted. Links, devices, absolute paths,
    ``..`` and any other name are refused, so a crafted archive cannot make
    the reader follow or create anything outside the corpus.
    """
    name = member.name
    parts = name.split("/")
    folders = set(SPLIT_FOLDERS.values())
    safe = (
        not name.startswith("/")
        and parts[0] in folders
        and all(_SAFE_NAME.match(p) and p not in (".", "..") for p in parts)
    )
    if not safe:
        raise OSError(f"Refusing unsafe archive member {name!r}.")
    if member.isdir() and len(parts) <= 2:
        return None
    if not member.isreg() or len(parts) != 3:
        kind = "link" if (member.issym() or member.islnk()) else "member"
        raise OSError(
            f"Refusing archive {kind} {name!r}: only regular files at "
            "20news-bydate-{train,test}/<newsgroup>/<post> are read."
        )
    if member.size > _MAX_MEMBER_BYTES:
        raise OSError(f"Refusing archive member {name!r} of {member.size} bytes.")
    split = next(s for s, f in SPLIT_FOLDERS.items() if f == parts[0])
    return split, parts[1], parts[2]


def _empty_parts():
    return {split: [] for split in SPLIT_FOLDERS}


def _parse_archive(path, verbose=False):
    """Parse the posts of a bydate tar.gz into ``{split: [(group, name, text)]}``.

    Members are read from the compressed stream in archive order; nothing
    touches the disk.
    """
    parts = _empty_parts()
    n_read = 0
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                key = _check_member(member)
                if key is None:
                    continue
                split, group, name = key
                f = tar.extractfile(member)
                # latin-1 maps every byte to a character: no decoding errors,
                # and it is what sklearn.datasets.load_files(encoding="latin1")
                # gives.
                parts[split].append((group, name, f.read().decode("latin-1")))
                n_read += 1
                if n_read % 5000 == 0:
                    _log(verbose, f"read {n_read} posts")
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise OSError(
            f"The 20 Newsgroups archive {str(path)!r} is corrupt or truncated "
            f"({type(exc).__name__}: {exc}). Replace it with a fresh copy of "
            f"{ARCHIVE_NAME} (sha256 {ARCHIVE_SHA256})."
        ) from exc
    return parts


def _parse_folder(root, verbose=False):
    """Parse an extracted bydate folder (holding 20news-bydate-train/-test)."""
    root = Path(root)
    parts = _empty_parts()
    for split, folder in SPLIT_FOLDERS.items():
        for group_dir in sorted((root / folder).iterdir()):
            if not group_dir.is_dir() or group_dir.is_symlink():
                raise OSError(f"Unexpected entry {str(group_dir)!r} in the corpus.")
            for post in sorted(group_dir.iterdir()):
                if post.is_symlink() or not post.is_file():
                    raise OSError(f"Refusing non-regular file {str(post)!r}.")
                text = post.read_bytes().decode("latin-1")
                parts[split].append((group_dir.name, post.name, text))
        _log(verbose, f"read {len(parts[split])} posts from {root / folder}")
    return parts


def _assemble(parts, source):
    """Sort posts as sklearn's load_files does and check the corpus is whole."""
    corpus = {"format": CACHE_FORMAT, "source": source, "group_names": NEWSGROUPS}
    index = {g: i for i, g in enumerate(NEWSGROUPS)}
    for split, posts in parts.items():
        # load_files lists folders and files with sorted(os.listdir(...)):
        # plain string order, which keeps our rows aligned with sklearn's.
        posts.sort(key=lambda p: (p[0], p[1]))
        groups = {p[0] for p in posts}
        if groups != set(NEWSGROUPS) or len(posts) != N_POSTS[split]:
            raise OSError(
                f"{source} is not the 20 Newsgroups bydate corpus: its "
                f"{SPLIT_FOLDERS[split]} holds {len(posts)} posts in "
                f"{len(groups)} newsgroups, expected {N_POSTS[split]} in 20."
            )
        corpus[split] = {
            "data": [p[2] for p in posts],
            "group": np.array([index[p[0]] for p in posts], dtype=np.int8),
            "filenames": np.array(
                [f"{SPLIT_FOLDERS[split]}/{p[0]}/{p[1]}" for p in posts]
            ),
        }
    return corpus


def _from_sklearn(data_home, download_if_missing, verbose):
    """Last resort: sklearn's fetcher (downloads when allowed and online)."""
    from sklearn.datasets import fetch_20newsgroups

    _log(verbose, "no local archive; using sklearn.datasets.fetch_20newsgroups")
    parts = _empty_parts()
    for split in SPLIT_FOLDERS:
        bunch = fetch_20newsgroups(
            data_home=str(data_home),
            subset=split,
            shuffle=False,
            download_if_missing=download_if_missing,
        )
        names = np.asarray(bunch.target_names)[bunch.target]
        for group, filename, text in zip(
            names, bunch.filenames, bunch.data, strict=True
        ):
            parts[split].append((str(group), Path(filename).name, text))
    return _assemble(parts, "sklearn.datasets.fetch_20newsgroups")


def _locate_source(data_home, archive_path):
    """Return ('archive' | 'folder', path) or None when nothing local exists."""
    if archive_path is not None:
        path = Path(os.fspath(archive_path)).expanduser()
        if path.is_file():
            return "archive", path
        if path.is_dir():
            if all((path / f).is_dir() for f in SPLIT_FOLDERS.values()):
                return "folder", path
            if (path / ARCHIVE_NAME).is_file():
                return "archive", path / ARCHIVE_NAME
        raise FileNotFoundError(
            f"archive_path={str(archive_path)!r} is neither {ARCHIVE_NAME} nor a "
            "folder holding it or the extracted 20news-bydate-train/ and "
            "20news-bydate-test/ folders."
        )
    for folder in _candidate_dirs(data_home):
        if (folder / ARCHIVE_NAME).is_file():
            return "archive", folder / ARCHIVE_NAME
        if all((folder / f).is_dir() for f in SPLIT_FOLDERS.values()):
            return "folder", folder
    return None


def _read_source(kind, path, verbose):
    if kind == "folder":
        _log(verbose, f"parsing extracted corpus in {path}")
        return _assemble(_parse_folder(path, verbose), f"folder {str(path)!r}")
    _log(verbose, f"verifying sha256 of {path}")
    digest = _sha256(path)
    if digest not in _KNOWN_SHA256:
        raise OSError(
            f"The 20 Newsgroups archive {str(path)!r} has sha256 {digest}, "
            f"expected {ARCHIVE_SHA256}: the file is corrupt, truncated or not "
            "the bydate archive. Nothing was cached; replace the file."
        )
    _log(verbose, f"parsing {path}")
    return _assemble(_parse_archive(path, verbose), f"archive {str(path)!r}")


def load_corpus(
    *, data_home=None, archive_path=None, download_if_missing=True, verbose=False
):
    """Return the parsed corpus, from the cache when there is a valid one.

    The corpus is a dict with ``group_names`` (the 20 newsgroups, sorted) and,
    for "train" and "test", a dict of ``data`` (list of str), ``group``
    (int8 index into ``group_names``) and ``filenames`` (paths inside the
    archive), each in sklearn's ``load_files`` order.
    """
    cache_path = get_data_home(data_home) / CACHE_NAME
    if cache_path.is_file():
        try:
            corpus = _load_pickle(cache_path)
            if corpus.get("format") == CACHE_FORMAT:
                _log(verbose, f"loaded cached corpus {cache_path}")
                return corpus
        except Exception as exc:  # a cache is disposable: rebuild it
            warnings.warn(
                f"Ignoring unreadable cache {str(cache_path)!r} ({exc!r}); "
                "rebuilding it.",
                RuntimeWarning,
            )

    source = _locate_source(data_home, archive_path)
    if source is not None:
        corpus = _read_source(*source, verbose)
    else:
        try:
            corpus = _from_sklearn(
                get_data_home(data_home), download_if_missing, verbose
            )
        except OSError as exc:
            msg = _not_found_message(
                "20 Newsgroups archive",
                ARCHIVE_NAME,
                _candidate_dirs(data_home),
                "archive_path",
            )
            reason = "downloading is disabled" if not download_if_missing else exc
            raise FileNotFoundError(
                f"{msg}\nThe scikit-learn downloader failed too ({reason})."
            ) from exc

    _log(verbose, f"writing cache {cache_path}")
    _atomic_pickle(corpus, cache_path)
    return corpus
