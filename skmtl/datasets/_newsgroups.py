"""Transfer and multi-task problems built from the 20 Newsgroups corpus."""

# Authors: The skmtl developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._base import _check_bool
from ._newsgroups_archive import NEWSGROUPS, load_corpus

_REMOVE_OPTIONS = ("headers", "footers", "quotes")


@lru_cache(maxsize=1)
def _splits_json():
    text = (
        resources.files("skmtl.datasets")
        .joinpath("_data", "newsgroups_splits.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def load_20newsgroups_splits():
    """Return the published 20 Newsgroups transfer and multi-task definitions.

    The definitions ship with skmtl (``skmtl/datasets/_data/
    newsgroups_splits.json``); no corpus is read.

    Returns
    -------
    splits : dict
        ``splits["transfer"]["tasks"][name]`` maps ``"source"`` and
        ``"target"`` to ``{"positive": [...], "negative": [...]}`` newsgroup
        lists; ``splits["multitask"]["tasks"][name]`` is a list of
        ``[positive, negative]`` newsgroup pairs, one per task.
        ``splits["label_convention"]`` states which class is ``y=1``.
        The dict is a copy: changing it changes nothing in skmtl.

    Examples
    --------
    >>> from skmtl.datasets import load_20newsgroups_splits
    >>> splits = load_20newsgroups_splits()
    >>> len(splits["transfer"]["tasks"]), splits["transfer"]["tasks"]["comp_vs_sci"][
    ...     "target"]["negative"]
    (6, ['sci.med', 'sci.space'])
    >>> splits["multitask"]["tasks"]["comp_vs_rec"][0]
    ['comp.graphics', 'rec.autos']
    """
    return copy.deepcopy(_splits_json())


# --- text cleaning -----------------------------------------------------------
# The three functions below reproduce sklearn.datasets._twenty_newsgroups's
# strip_newsgroup_{header,footer,quoting} line for line. sklearn keeps them in
# a private module, so they are copied rather than imported; a test checks that
# they agree with sklearn's whenever those are importable.

_QUOTE_RE = re.compile(
    r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)"
)


def _strip_header(text):
    """Remove everything before the first blank line (the news headers)."""
    _before, _blankline, after = text.partition("\n\n")
    return after


def _strip_footer(text):
    """Remove the last block set apart by a blank or all-hyphen line."""
    lines = text.strip().split("\n")
    for line_num in range(len(lines) - 1, -1, -1):
        line = lines[line_num]
        if line.strip().strip("-") == "":
            break
    if line_num > 0:
        return "\n".join(lines[:line_num])
    return text


def _strip_quoting(text):
    """Remove lines that quote another post or introduce a quotation."""
    good_lines = [line for line in text.split("\n") if not _QUOTE_RE.search(line)]
    return "\n".join(good_lines)


def _check_remove(remove):
    if isinstance(remove, str):
        remove = (remove,)
    if remove is None or not np.iterable(remove):
        raise TypeError(
            f"remove must be a tuple of options among {_REMOVE_OPTIONS} (() for "
            f"none), got {remove!r}."
        )
    remove = tuple(remove)
    unknown = [r for r in remove if r not in _REMOVE_OPTIONS]
    if unknown:
        raise ValueError(
            f"remove must be a subset of {_REMOVE_OPTIONS}; got unknown "
            f"option(s) {unknown}."
        )
    return remove


def _clean(docs, remove):
    # Same order as sklearn.datasets.fetch_20newsgroups, which matters: the
    # footer heuristic looks at the text left after the headers are removed.
    if "headers" in remove:
        docs = [_strip_header(t) for t in docs]
    if "footers" in remove:
        docs = [_strip_footer(t) for t in docs]
    if "quotes" in remove:
        docs = [_strip_quoting(t) for t in docs]
    return docs


# --- corpus selection --------------------------------------------------------


def _check_subset(subset):
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all'; got {subset!r}.")
    return ("train", "test") if subset == "all" else (subset,)


def _select_rows(corpus, subset):
    """Stack the requested subsets: (docs, group names, filenames)."""
    docs, groups, files = [], [], []
    names = np.asarray(corpus["group_names"])
    for split in _check_subset(subset):
        docs.extend(corpus[split]["data"])
        groups.append(names[corpus[split]["group"]])
        files.append(corpus[split]["filenames"])
    return docs, np.concatenate(groups), np.concatenate(files)


def _take(docs, idx):
    # An object array indexes a list of str without copying the strings.
    return np.asarray(docs, dtype=object)[idx].tolist()


def _group_list(value, what):
    """Normalise one side of a task to a tuple of known newsgroup names."""
    groups = (value,) if isinstance(value, str) else tuple(value)
    if not groups:
        raise ValueError(f"{what} lists no newsgroup.")
    unknown = [g for g in groups if g not in NEWSGROUPS]
    if unknown:
        raise ValueError(
            f"{what} names unknown newsgroup(s) {unknown}; the 20 newsgroups "
            f"are {list(NEWSGROUPS)}."
        )
    if len(set(groups)) != len(groups):
        raise ValueError(f"{what} lists a newsgroup twice: {list(groups)}.")
    return groups


def _binary_pair(positive, negative, what):
    pos = _group_list(positive, f"{what} positive side")
    neg = _group_list(negative, f"{what} negative side")
    both = sorted(set(pos) & set(neg))
    if both:
        raise ValueError(f"{what} has newsgroup(s) {both} on both sides.")
    return pos, neg


def _loader_kwargs(data_home, archive_path, download_if_missing, verbose):
    return dict(
        data_home=data_home,
        archive_path=archive_path,
        download_if_missing=download_if_missing,
        verbose=verbose,
    )


# --- transfer ----------------------------------------------------------------

_TRANSFER_DESCR = """\
20 Newsgroups cross-domain transfer split {name!r}
{underline}

Binary text classification between two top categories. The source and
the target domains share the label but use different newsgroups, so the
word distributions differ (Dai, Xue, Yang & Yu, KDD 2007; Dai, Yang, Xue
& Yu, ICML 2007).

Label convention: y=1 ({pos}) for the first-named category, y=0 ({neg})
for the second.

{table}
Documents: {n_source} source, {n_target} target (subset={subset!r},
remove={remove!r}).

Usual protocol: every source document is labelled; a small labelled
fraction of the target (1%, 2%, 5% or 10%) joins the training set and the
rest of the target is the test set (see
skmtl.datasets.train_test_split_target); repeat over 10 random draws and
report target accuracy.

Corpus: the "bydate" 20 Newsgroups collection (Ken Lang, 1995), the posts
that sklearn.datasets.fetch_20newsgroups loads, read as latin-1.
"""


def _transfer_definition(split):
    if isinstance(split, str):
        tasks = _splits_json()["transfer"]["tasks"]
        if split not in tasks:
            raise ValueError(
                f"split must be one of {sorted(tasks)} or a dict with 'source' "
                f"and 'target' entries; got {split!r}."
            )
        name, spec = split, tasks[split]
        neg_name, pos_name = name.split("_vs_")[1], name.split("_vs_")[0]
    elif isinstance(split, Mapping):
        name, spec = "custom", split
        pos_name, neg_name = "positive", "negative"
    else:
        raise TypeError(f"split must be a str or a dict; got {type(split).__name__}.")
    definition = {}
    for domain in ("source", "target"):
        if domain not in spec or not isinstance(spec[domain], Mapping):
            raise ValueError(
                f"split[{domain!r}] must be a dict with 'positive' and "
                "'negative' newsgroup lists."
            )
        pos, neg = _binary_pair(
            spec[domain].get("positive", ()),
            spec[domain].get("negative", ()),
            f"split[{domain!r}]",
        )
        definition[domain] = {"positive": list(pos), "negative": list(neg)}
    overlap = set(sum(definition["source"].values(), [])) & set(
        sum(definition["target"].values(), [])
    )
    if overlap:
        raise ValueError(
            f"Newsgroup(s) {sorted(overlap)} appear in both the source and the "
            "target domain."
        )
    return name, definition, pos_name, neg_name


def fetch_20newsgroups_transfer(
    split="comp_vs_sci",
    *,
    subset="all",
    remove=(),
    shuffle=True,
    random_state=42,
    data_home=None,
    archive_path=None,
    download_if_missing=True,
    return_X_y=False,
    verbose=False,
):
    """Load a 20 Newsgroups cross-domain (source -> target) transfer split.

    Each split is a binary problem between two top categories (for example
    ``comp`` against ``sci``) whose source and target domains use different
    newsgroups of those categories (Dai et al., KDD 2007). The six published
    splits are ``"comp_vs_sci"``, ``"rec_vs_talk"``, ``"rec_vs_sci"``,
    ``"sci_vs_talk"``, ``"comp_vs_rec"`` and ``"comp_vs_talk"``; see
    :func:`load_20newsgroups_splits` for their newsgroups.

    The corpus is read from a local ``20news-bydate.tar.gz`` (sha256
    verified, read without extracting) or an extracted folder, looked for in
    ``archive_path``, ``data_home``, ``$SKMTL_DATA``, then ``../shared/data``
    relative to the working directory and to the repository root. Only when
    none exists does it fall back to :func:`sklearn.datasets.fetch_20newsgroups`,
    which downloads. The parsed corpus is cached in ``data_home``; later calls
    read only the cache (about 0.1 s).

    Parameters
    ----------
    split : str or dict, default="comp_vs_sci"
        Name of a published split, or a custom one as
        ``{"source": {"positive": [...], "negative": [...]}, "target": {...}}``
        with newsgroup names.

    subset : {"train", "test", "all"}, default="all"
        Which part of the bydate corpus to draw the documents from. The usual
        transfer protocol uses ``"all"``.

    remove : tuple, default=()
        Any subset of ``("headers", "footers", "quotes")``: text removed from
        each post exactly as :func:`sklearn.datasets.fetch_20newsgroups` does.
        Headers name the newsgroup, so keeping them makes the task trivial.

    shuffle : bool, default=True
        Whether to shuffle the documents of each domain. Otherwise they are in
        corpus order (sorted by newsgroup), as sklearn's ``shuffle=False``.

    random_state : int, RandomState instance or None, default=42
        Seed of the shuffle.

    data_home : str or path-like, default=None
        Cache folder, also searched for the archive. Defaults to
        ``$SKMTL_DATA_HOME`` or ``~/skmtl_data``.

    archive_path : str or path-like, default=None
        The ``20news-bydate.tar.gz`` file, a folder holding it, or a folder
        holding the extracted ``20news-bydate-train/`` and
        ``20news-bydate-test/``. Used only when no cache exists yet.

    download_if_missing : bool, default=True
        Whether the sklearn fallback may download. If False and no local copy
        or cache exists, raise :class:`FileNotFoundError`.

    return_X_y : bool, default=False
        If True, return ``(data, target, tasks)`` instead of a Bunch.

    verbose : bool, default=False
        Print progress of the first (uncached) load to stderr.

    Returns
    -------
    bunch : :class:`~sklearn.utils.Bunch`
        Source rows first, then target rows:

        data : list of str of length n_source + n_target
            The documents.
        X, y : aliases of ``data`` and ``target`` (the same objects), the
            names the skmtl estimators' ``fit(X, y, tasks=...)`` uses.
        target : ndarray of shape (n_samples,), dtype=int
            1 for the first-named category (``target_names[1]``), else 0.
        tasks : ndarray of shape (n_samples,), dtype=object
            ``"source"`` or ``"target"``.
        groups, filenames : ndarray of shape (n_samples,)
            Newsgroup of each document and its path inside the archive.
        source_data, source_target, source_groups
            The source rows.
        target_data, target_target, target_groups
            The target rows.
        target_names : ndarray of shape (2,)
            Class names by label, e.g. ``["sci", "comp"]`` for
            ``"comp_vs_sci"`` (``["negative", "positive"]`` for a custom
            split).
        split_name : str
            The split's name (``"custom"`` for a dict).
        split : dict
            The newsgroups of each domain and label.
        DESCR : str
            Description of the split.

    (data, target, tasks) : tuple if ``return_X_y=True``

    See Also
    --------
    train_test_split_target : Labelled target draw of the usual protocol.
    fetch_20newsgroups_multitask : Multi-task problems on the same corpus.

    References
    ----------
    W. Dai, G.-R. Xue, Q. Yang and Y. Yu. Co-clustering based classification
    for out-of-domain documents. KDD 2007.

    Examples
    --------
    >>> from skmtl.datasets import fetch_20newsgroups_transfer
    >>> bunch = fetch_20newsgroups_transfer(
    ...     "rec_vs_talk", remove=("headers",))  # doctest: +SKIP
    >>> list(bunch.target_names)  # doctest: +SKIP
    ['talk', 'rec']
    """
    name, definition, pos_name, neg_name = _transfer_definition(split)
    remove = _check_remove(remove)
    shuffle = _check_bool(shuffle, "shuffle")
    return_X_y = _check_bool(return_X_y, "return_X_y")
    _check_subset(subset)
    corpus = load_corpus(
        **_loader_kwargs(data_home, archive_path, download_if_missing, verbose)
    )
    docs, groups, files = _select_rows(corpus, subset)
    rng = check_random_state(random_state)

    parts = {}
    for domain in ("source", "target"):
        pos, neg = definition[domain]["positive"], definition[domain]["negative"]
        idx = np.flatnonzero(np.isin(groups, pos + neg))
        if shuffle:
            idx = rng.permutation(idx)
        parts[domain] = Bunch(
            data=_clean(_take(docs, idx), remove),
            target=np.isin(groups[idx], pos).astype(np.int64),
            groups=groups[idx],
            filenames=files[idx],
        )

    src, tgt = parts["source"], parts["target"]
    data = src.data + tgt.data
    target = np.concatenate([src.target, tgt.target])
    tasks = np.array(
        ["source"] * len(src.data) + ["target"] * len(tgt.data), dtype=object
    )
    if return_X_y:
        return data, target, tasks

    rows = []
    for domain in ("source", "target"):
        for label in ("positive", "negative"):
            for g in definition[domain][label]:
                n = int(np.sum(parts[domain].groups == g))
                rows.append(
                    f"  {domain:<7} y={int(label == 'positive')}  {g:<26} {n:>5}"
                )
    descr = _TRANSFER_DESCR.format(
        name=name,
        underline="=" * (44 + len(name)),
        pos=pos_name,
        neg=neg_name,
        table="  domain  label newsgroup                  docs\n"
        + "\n".join(rows)
        + "\n",
        n_source=len(src.data),
        n_target=len(tgt.data),
        subset=subset,
        remove=remove,
    )
    return Bunch(
        data=data,
        target=target,
        tasks=tasks,
        # the stacked form under the names the skmtl estimators use
        X=data,
        y=target,
        groups=np.concatenate([src.groups, tgt.groups]),
        filenames=np.concatenate([src.filenames, tgt.filenames]),
        source_data=src.data,
        source_target=src.target,
        source_groups=src.groups,
        target_data=tgt.data,
        target_target=tgt.target,
        target_groups=tgt.groups,
        target_names=np.array([neg_name, pos_name], dtype=object),
        split_name=name,
        split=definition,
        DESCR=descr,
    )


# --- multi-task --------------------------------------------------------------

_MULTITASK_DESCR = """\
20 Newsgroups multi-task problem {name!r}
{underline}

{n_tasks} binary task(s); each separates its positive newsgroup(s) (y=1)
from its negative newsgroup(s) (y=0).
{origin}

{table}
Rows: {n_rows} (subset={subset!r}, remove={remove!r}).
A document appears once per task that uses it{ovr}.

Usual protocol: per task a small labelled training set (10 to 200
documents, see skmtl.datasets.train_test_split_tasks), the rest for
testing; report per-task and mean accuracy over random draws.

Corpus: the "bydate" 20 Newsgroups collection (Ken Lang, 1995), the posts
that sklearn.datasets.fetch_20newsgroups loads, read as latin-1.
"""


def _pair_name(pos, neg):
    return "+".join(pos) + "_vs_" + "+".join(neg)


def _multitask_definition(setting, one_vs_rest):
    """Return (name, {task: (positive, negative)}, target_names)."""
    if one_vs_rest:
        if isinstance(setting, str) and setting != "all":
            raise ValueError(
                "With one_vs_rest=True, setting must be 'all' or a list of "
                f"newsgroups; got {setting!r}."
            )
        if not np.iterable(setting):
            raise TypeError(
                "With one_vs_rest=True, setting must be 'all' or a list of "
                f"newsgroups; got {setting!r}."
            )
        groups = NEWSGROUPS if setting == "all" else _group_list(setting, "setting")
        if len(groups) < 2:
            raise ValueError("one_vs_rest=True needs at least two newsgroups.")
        tasks = {g: ((g,), tuple(h for h in groups if h != g)) for g in groups}
        return "one_vs_rest", tasks, ("rest", "newsgroup")

    if isinstance(setting, str):
        settings = _splits_json()["multitask"]["tasks"]
        if setting not in settings:
            raise ValueError(
                f"setting must be one of {sorted(settings)}, a list of "
                "(positive, negative) pairs or a dict of them; got "
                f"{setting!r}."
            )
        tasks = {}
        for pos, neg in settings[setting]:
            tasks[f"{pos}_vs_{neg}"] = _binary_pair(pos, neg, f"task {pos}_vs_{neg}")
        pos_name, neg_name = setting.split("_vs_")
        return setting, tasks, (neg_name, pos_name)

    if isinstance(setting, Mapping):
        items = list(setting.items())
    elif not np.iterable(setting):
        raise TypeError(
            "setting must be a setting name, a list of (positive, negative) "
            f"pairs or a dict of them; got {setting!r}."
        )
    else:
        items = []
        for pair in setting:
            if isinstance(pair, str) or len(pair) != 2:
                raise ValueError(
                    "Each task must be a (positive, negative) pair of "
                    f"newsgroups or newsgroup lists; got {pair!r}."
                )
            pos = _group_list(pair[0], "task positive side")
            neg = _group_list(pair[1], "task negative side")
            items.append((_pair_name(pos, neg), pair))
    if not items:
        raise ValueError("setting defines no task.")
    tasks = {}
    for name, pair in items:
        if name in tasks:
            raise ValueError(f"Task {name!r} is defined twice.")
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"Task {name!r} must be a (positive, negative) pair.")
        tasks[str(name)] = _binary_pair(pair[0], pair[1], f"task {name!r}")
    return "custom", tasks, ("negative", "positive")


def fetch_20newsgroups_multitask(
    setting="comp_vs_rec",
    *,
    one_vs_rest=False,
    max_negatives_per_task=None,
    subset="all",
    remove=(),
    shuffle=True,
    random_state=42,
    data_home=None,
    archive_path=None,
    download_if_missing=True,
    return_X_y=False,
    verbose=False,
):
    """Load a multi-task binary classification problem from 20 Newsgroups.

    Three kinds of task sets are available:

    - a published setting (``"comp_vs_rec"``, ``"rec_vs_sci"``,
      ``"sci_vs_comp"``): four tasks, each one newsgroup of the first-named
      category (``y=1``) against one newsgroup of the second (``y=0``), for
      example ``comp.graphics`` vs ``rec.autos``. The tasks share the meaning
      of the label, so coupling them helps when each has few labels;
    - custom tasks: a list of ``(positive, negative)`` pairs or a dict
      ``{name: (positive, negative)}``, where each side is a newsgroup or a
      list of newsgroups; ``y=1`` for the positive side;
    - one-vs-rest (``one_vs_rest=True``): for a list of newsgroups (or
      ``"all"`` for the 20), task ``g`` has ``y=1`` for the documents of
      ``g`` and ``y=0`` for all documents of the other listed newsgroups
      (optionally subsampled with ``max_negatives_per_task``).

    The corpus is found, verified and cached as described in
    :func:`fetch_20newsgroups_transfer`.

    Parameters
    ----------
    setting : str, list or dict, default="comp_vs_rec"
        The tasks, as described above. With ``one_vs_rest=True``: ``"all"`` or
        a list of newsgroup names.

    one_vs_rest : bool, default=False
        Build one task per newsgroup of ``setting`` against the others.

    max_negatives_per_task : int, default=None
        If set, a task with more negative documents keeps this many, drawn
        uniformly without replacement (seeded by ``random_state``). Useful
        for one-vs-rest, where negatives outnumber positives 19 to 1.

    subset : {"train", "test", "all"}, default="all"
        Which part of the bydate corpus to draw the documents from.

    remove : tuple, default=()
        Any subset of ``("headers", "footers", "quotes")``, removed as
        :func:`sklearn.datasets.fetch_20newsgroups` does.

    shuffle : bool, default=True
        Whether to shuffle the rows. Otherwise rows are grouped by task, in
        corpus order within a task.

    random_state : int, RandomState instance or None, default=42
        Seed of the shuffle and of the negative subsampling.

    data_home, archive_path, download_if_missing, verbose
        As in :func:`fetch_20newsgroups_transfer`.

    return_X_y : bool, default=False
        If True, return ``(data, target, tasks)`` instead of a Bunch.

    Returns
    -------
    bunch : :class:`~sklearn.utils.Bunch`
        One row per (task, document):

        data : list of str of length n_rows
            The documents.
        X, y : aliases of ``data`` and ``target`` (the same objects), the
            names the skmtl estimators' ``fit(X, y, tasks=...)`` uses.
        target : ndarray of shape (n_rows,), dtype=int
            1 if the document is on its task's positive side, else 0.
        tasks : ndarray of shape (n_rows,), dtype=object
            Task name of each row, e.g. ``"comp.graphics_vs_rec.autos"``
            (custom pairs are named ``"pos1+pos2_vs_neg1"``; one-vs-rest
            tasks by their newsgroup).
        task_names : ndarray of shape (n_tasks,), dtype=object
            The task names in definition order.
        groups, filenames : ndarray of shape (n_rows,)
            Newsgroup of each row's document and its path inside the archive
            (the same document has the same filename in every task).
        task_definitions : dict
            ``{task: {"positive": [...], "negative": [...]}}``.
        target_names : ndarray of shape (2,)
            Class names by label (e.g. ``["rec", "comp"]`` for
            ``"comp_vs_rec"``).
        setting : str
            The setting's name, ``"custom"`` or ``"one_vs_rest"``.
        DESCR : str
            Description of the tasks.

    (data, target, tasks) : tuple if ``return_X_y=True``

    See Also
    --------
    train_test_split_tasks : Per-task labelled draw of the usual protocol.

    References
    ----------
    L. Duan, D. Xu and I. W. Tsang. Domain adaptation from multiple sources:
    a domain-dependent regularization approach. IEEE TNNLS 23(3), 2012.

    Examples
    --------
    >>> from skmtl.datasets import fetch_20newsgroups_multitask
    >>> bunch = fetch_20newsgroups_multitask(
    ...     "comp_vs_rec", remove=("headers", "footers"))  # doctest: +SKIP
    >>> list(bunch.task_names)  # doctest: +SKIP
    ['comp.graphics_vs_rec.autos', 'comp.os.ms-windows.misc_vs_rec.motorcycles',
     'comp.sys.ibm.pc.hardware_vs_rec.sport.baseball',
     'comp.sys.mac.hardware_vs_rec.sport.hockey']
    """
    one_vs_rest = _check_bool(one_vs_rest, "one_vs_rest")
    name, definition, target_names = _multitask_definition(setting, one_vs_rest)
    remove = _check_remove(remove)
    shuffle = _check_bool(shuffle, "shuffle")
    return_X_y = _check_bool(return_X_y, "return_X_y")
    _check_subset(subset)
    if max_negatives_per_task is not None and (
        isinstance(max_negatives_per_task, bool)
        or not isinstance(max_negatives_per_task, (int, np.integer))
        or max_negatives_per_task < 1
    ):
        raise ValueError(
            "max_negatives_per_task must be None or an int >= 1; got "
            f"{max_negatives_per_task!r}."
        )
    corpus = load_corpus(
        **_loader_kwargs(data_home, archive_path, download_if_missing, verbose)
    )
    docs, groups, files = _select_rows(corpus, subset)
    rng = check_random_state(random_state)

    indices, labels, task_of_row, rows = [], [], [], []
    for task, (pos, neg) in definition.items():
        pos_idx = np.flatnonzero(np.isin(groups, pos))
        neg_idx = np.flatnonzero(np.isin(groups, neg))
        if max_negatives_per_task is not None and neg_idx.size > max_negatives_per_task:
            keep = rng.choice(neg_idx.size, max_negatives_per_task, replace=False)
            neg_idx = np.sort(neg_idx[keep])
        idx = np.concatenate([pos_idx, neg_idx])
        # Corpus order within the task, so that shuffle=False is reproducible
        # and readable.
        order = np.argsort(idx, kind="stable")
        indices.append(idx[order])
        labels.append(np.r_[np.ones(pos_idx.size), np.zeros(neg_idx.size)][order])
        task_of_row.append(np.full(idx.size, task, dtype=object))
        rows.append(f"  {task:<50} {pos_idx.size:>5} {neg_idx.size:>5}")

    idx = np.concatenate(indices)
    target = np.concatenate(labels).astype(np.int64)
    tasks = np.concatenate(task_of_row)
    if shuffle:
        perm = rng.permutation(idx.size)
        idx, target, tasks = idx[perm], target[perm], tasks[perm]
    data = _clean(_take(docs, idx), remove)
    if return_X_y:
        return data, target, tasks

    if name == "one_vs_rest":
        origin = "One task per newsgroup against the other listed newsgroups."
    elif name == "custom":
        origin = "Tasks defined by the caller."
    else:
        origin = (
            "Per-domain newsgroup pairs of Duan, Xu & Tsang (IEEE TNNLS 2012),"
            "\ncompleted with the fourth pair; y=1 for the first-named category."
        )
    descr = _MULTITASK_DESCR.format(
        name=name,
        underline="=" * (42 + len(name)),
        n_tasks=len(definition),
        origin=origin,
        table=f"  {'task':<50} {'y=1':>5} {'y=0':>5}\n" + "\n".join(rows) + "\n",
        n_rows=idx.size,
        subset=subset,
        remove=remove,
        ovr=" (in one-vs-rest, once per listed newsgroup)" if one_vs_rest else "",
    )
    return Bunch(
        data=data,
        target=target,
        tasks=tasks,
        # the stacked form under the names the skmtl estimators use
        X=data,
        y=target,
        task_names=np.array(list(definition), dtype=object),
        groups=groups[idx],
        filenames=files[idx],
        task_definitions={
            t: {"positive": list(p), "negative": list(n)}
            for t, (p, n) in definition.items()
        },
        target_names=np.array(target_names, dtype=object),
        setting=name,
        DESCR=descr,
    )
