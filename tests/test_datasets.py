"""Tests of skmtl.datasets: 20 Newsgroups, school, generators, split helpers.

Tests that need the raw files find them at ``../shared/data`` relative to the
repository root and skip with the reason when they are absent. Nothing is
ever downloaded: every fetch passes ``download_if_missing=False`` and a
``tmp_path`` cache.
"""

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import skmtl.datasets as D
from skmtl.datasets import _base, _newsgroups, _newsgroups_archive
from skmtl.datasets._splits import _allocate

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
ARCHIVE = SHARED / "20news-bydate.tar.gz"
SCHOOL = SHARED / "school.mat"
SPEC = json.loads(
    (REPO / "skmtl" / "datasets" / "_data" / "newsgroups_splits.json").read_text()
)

needs_archive = pytest.mark.skipif(
    not ARCHIVE.is_file(),
    reason=f"20 Newsgroups archive not found at {ARCHIVE} (tests never download)",
)
needs_school = pytest.mark.skipif(
    not SCHOOL.is_file(), reason=f"school.mat not found at {SCHOOL}"
)


# --- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="session")
def news_home(tmp_path_factory):
    """A cache folder holding the corpus parsed once for the whole session."""
    if not ARCHIVE.is_file():
        pytest.skip(f"20 Newsgroups archive not found at {ARCHIVE}")
    home = tmp_path_factory.mktemp("skmtl_news_cache")
    _newsgroups_archive.load_corpus(data_home=home, archive_path=ARCHIVE)
    return home


@pytest.fixture(scope="session")
def tar_counts():
    """Posts per (split folder, newsgroup), counted by listing the tar alone."""
    if not ARCHIVE.is_file():
        pytest.skip(f"20 Newsgroups archive not found at {ARCHIVE}")
    counts = Counter()
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for member in tar:
            if member.isfile():
                folder, group, _ = member.name.split("/")
                counts[folder, group] += 1
    return counts


def _fetch(kind, home, *args, **kwargs):
    fetcher = {
        "transfer": D.fetch_20newsgroups_transfer,
        "multitask": D.fetch_20newsgroups_multitask,
    }[kind]
    return fetcher(*args, data_home=home, download_if_missing=False, **kwargs)


def _count(tar_counts, groups, subset="all"):
    folders = {
        "train": ["20news-bydate-train"],
        "test": ["20news-bydate-test"],
        "all": ["20news-bydate-train", "20news-bydate-test"],
    }[subset]
    return sum(tar_counts[f, g] for f in folders for g in groups)


# --- package -----------------------------------------------------------------


def test_public_names_import():
    assert all(isinstance(name, str) for name in D.__all__)
    for name in D.__all__:
        assert callable(getattr(D, name)), name


def test_import_pulls_no_heavy_dependency():
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); import skmtl.datasets; "
        "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_packaged_splits_match_shared_spec():
    spec = SHARED.parent / "specs" / "newsgroups_splits.json"
    if not spec.is_file():
        pytest.skip(f"{spec} not found")
    assert D.load_20newsgroups_splits() == json.loads(spec.read_text())
    # a copy: mutating it changes nothing
    D.load_20newsgroups_splits()["transfer"].clear()
    assert len(D.load_20newsgroups_splits()["transfer"]["tasks"]) == 6


# --- corpus ------------------------------------------------------------------


@needs_archive
def test_corpus_counts_match_tar_listing(news_home, tar_counts):
    corpus = _newsgroups_archive.load_corpus(data_home=news_home)
    names = np.asarray(corpus["group_names"])
    for split, folder in _newsgroups_archive.SPLIT_FOLDERS.items():
        got = Counter(names[corpus[split]["group"]].tolist())
        expected = {g: n for (f, g), n in tar_counts.items() if f == folder}
        assert got == expected
    assert len(corpus["train"]["data"]) == 11314
    assert len(corpus["test"]["data"]) == 7532
    assert len(names) == 20


@needs_archive
def test_corpus_order_and_text_match_direct_tar_reads(news_home):
    corpus = _newsgroups_archive.load_corpus(data_home=news_home)
    rng = np.random.RandomState(0)
    picks = {}
    for split in ("train", "test"):
        files = corpus[split]["filenames"]
        # sklearn's load_files order: sorted by newsgroup then file name.
        keys = [tuple(f.split("/")[1:]) for f in files]
        assert keys == sorted(keys)
        for i in rng.choice(len(files), 5, replace=False):
            picks[files[i]] = corpus[split]["data"][i]
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for name, text in picks.items():
            raw = tar.extractfile(name).read()
            assert text == raw.decode("latin-1")
            assert text.startswith("From:")


@needs_archive
def test_second_load_reads_only_the_cache(news_home, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the archive was read again")

    monkeypatch.setattr(_newsgroups_archive, "_parse_archive", boom)
    monkeypatch.setattr(_newsgroups_archive, "_sha256", boom)
    bunch = _fetch("transfer", news_home, "comp_vs_sci", archive_path=ARCHIVE)
    assert len(bunch.data) > 0


@needs_archive
def test_extracted_folder_gives_the_same_corpus(news_home, tmp_path):
    root = tmp_path / "extracted"
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        tar.extractall(root, filter="data")
    corpus = _newsgroups_archive.load_corpus(
        data_home=tmp_path / "cache", archive_path=root, download_if_missing=False
    )
    reference = _newsgroups_archive.load_corpus(data_home=news_home)
    for split in ("train", "test"):
        assert corpus[split]["data"] == reference[split]["data"]
        np.testing.assert_array_equal(
            corpus[split]["filenames"], reference[split]["filenames"]
        )
    assert (tmp_path / "cache" / _newsgroups_archive.CACHE_NAME).is_file()


@needs_archive
def test_sklearn_fallback_is_converted(news_home, tmp_path, monkeypatch):
    # Stand in for sklearn's downloader with the same corpus, in sklearn's
    # format (filenames are paths under data_home/20news_home).
    import sklearn.datasets
    from sklearn.utils import Bunch

    reference = _newsgroups_archive.load_corpus(data_home=news_home)
    calls = []

    def fake_fetch(*, data_home, subset, shuffle, download_if_missing):
        calls.append((subset, shuffle, download_if_missing))
        part = reference[subset]
        return Bunch(
            data=list(part["data"]),
            target=part["group"].astype(int),
            target_names=list(reference["group_names"]),
            filenames=np.array(
                [f"{data_home}/20news_home/{f}" for f in part["filenames"]]
            ),
        )

    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups", fake_fetch)
    monkeypatch.setattr(_newsgroups_archive, "_candidate_dirs", lambda d: [tmp_path])
    corpus = _newsgroups_archive.load_corpus(data_home=tmp_path / "home")
    assert calls == [("train", False, True), ("test", False, True)]
    for split in ("train", "test"):
        assert corpus[split]["data"] == reference[split]["data"]
        np.testing.assert_array_equal(
            corpus[split]["filenames"], reference[split]["filenames"]
        )


@needs_archive
def test_verbose_reports_progress(news_home, capsys):
    _fetch("transfer", news_home, verbose=True)
    assert "loaded cached corpus" in capsys.readouterr().err


@needs_archive
def test_wrong_checksum_raises_and_caches_nothing(tmp_path):
    bad = tmp_path / "20news-bydate.tar.gz"
    with open(ARCHIVE, "rb") as src, open(bad, "wb") as dst:
        dst.write(src.read(ARCHIVE.stat().st_size // 2))
    home = tmp_path / "home"
    with pytest.raises(OSError, match="sha256"):
        _fetch("transfer", home, archive_path=bad)
    assert not home.exists() or not any(home.iterdir())


@needs_archive
def test_corrupt_archive_raises_clear_error_and_caches_nothing(tmp_path, monkeypatch):
    # A truncated copy whose digest is trusted: the parser itself must fail.
    bad = tmp_path / "20news-bydate.tar.gz"
    bad.write_bytes(ARCHIVE.read_bytes()[:3_000_000])
    monkeypatch.setattr(_newsgroups_archive, "_KNOWN_SHA256", (_base._sha256(bad),))
    home = tmp_path / "home"
    with pytest.raises(OSError, match="corrupt or truncated"):
        _newsgroups_archive.load_corpus(data_home=home, archive_path=bad)
    assert not home.exists() or not any(home.iterdir())


def test_archive_of_another_corpus_is_refused(tmp_path):
    path = tmp_path / "20news-bydate.tar.gz"
    _write_tar(path, [("20news-bydate-train/alt.atheism/1", b"hello")])
    with pytest.raises(OSError, match="expected 2239c5"):
        _newsgroups_archive.load_corpus(
            data_home=tmp_path / "home", archive_path=path, download_if_missing=False
        )
    assert not (tmp_path / "home").exists()


def _write_tar(path, members):
    """Write a tar.gz of (name, bytes) files or (name, TarInfo-setup) entries."""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            if isinstance(payload, bytes):
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                payload(info)
                tar.addfile(info)


def _symlink(info):
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"


def _hardlink(info):
    info.type = tarfile.LNKTYPE
    info.linkname = "20news-bydate-train/alt.atheism/1"


@pytest.mark.parametrize(
    "name, payload",
    [
        ("20news-bydate-train/../../evil", b"x"),
        ("20news-bydate-train/alt.atheism/../../../evil", b"x"),
        ("/etc/evil", b"x"),
        ("elsewhere/alt.atheism/1", b"x"),
        ("20news-bydate-train/alt.atheism/2", _symlink),
        ("20news-bydate-train/alt.atheism/3", _hardlink),
        ("20news-bydate-train/alt.atheism/sub/4", b"x"),
    ],
)
def test_unsafe_archive_members_are_refused(tmp_path, name, payload):
    path = tmp_path / "crafted.tar.gz"
    _write_tar(path, [("20news-bydate-train/alt.atheism/1", b"ok"), (name, payload)])
    cwd = os.getcwd()
    with pytest.raises(OSError, match="Refusing"):
        _newsgroups_archive._parse_archive(path)
    # The reader never writes: nothing appeared around the archive.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.tar.gz"]
    assert os.getcwd() == cwd


def test_interrupted_cache_write_leaves_no_file(tmp_path, monkeypatch):
    cache = tmp_path / "cache.pkl"
    _base._atomic_pickle({"ok": 1}, cache)

    def interrupted_dump(obj, f, protocol=None):
        f.write(b"partial pickle bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(_base.pickle, "dump", interrupted_dump)
    for path in (cache, tmp_path / "fresh.pkl"):
        with pytest.raises(KeyboardInterrupt):
            _base._atomic_pickle({"new": 2}, path)
    monkeypatch.undo()
    # The previous cache is intact, no partial cache or temporary file exists.
    assert [p.name for p in tmp_path.iterdir()] == ["cache.pkl"]
    assert _base._load_pickle(cache) == {"ok": 1}


@needs_archive
def test_unreadable_cache_is_rebuilt(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / _newsgroups_archive.CACHE_NAME).write_bytes(b"not a pickle")
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        corpus = _newsgroups_archive.load_corpus(data_home=home, archive_path=ARCHIVE)
    assert len(corpus["train"]["data"]) == 11314
    with open(home / _newsgroups_archive.CACHE_NAME, "rb") as f:
        assert pickle.load(f)["format"] == _newsgroups_archive.CACHE_FORMAT


def test_missing_corpus_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(
        _newsgroups_archive, "_candidate_dirs", lambda data_home: [tmp_path]
    )
    with pytest.raises(FileNotFoundError, match="archive_path") as info:
        _fetch("transfer", tmp_path / "home")
    assert str(tmp_path) in str(info.value)
    assert "downloading is disabled" in str(info.value)


def test_bad_archive_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="archive_path="):
        _fetch("transfer", tmp_path, archive_path=tmp_path / "nope.tar.gz")


def test_search_path_includes_env_and_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("SKMTL_DATA", str(tmp_path / "raw"))
    monkeypatch.chdir(tmp_path)
    dirs = _base._candidate_dirs(tmp_path / "home")
    assert dirs[0] == (tmp_path / "home").resolve()
    assert (tmp_path / "raw").resolve() in dirs
    assert (tmp_path / ".." / "shared" / "data").resolve() in dirs
    assert SHARED.resolve() in dirs
    monkeypatch.setenv("SKMTL_DATA_HOME", str(tmp_path / "h2"))
    assert D.get_data_home() == tmp_path / "h2"


# --- transfer splits ---------------------------------------------------------


@needs_archive
@pytest.mark.parametrize("split", sorted(SPEC["transfer"]["tasks"]))
def test_transfer_split_follows_json(news_home, tar_counts, split):
    bunch = _fetch("transfer", news_home, split)
    spec = SPEC["transfer"]["tasks"][split]
    tasks, y, groups = bunch.tasks, bunch.target, bunch.groups
    for domain in ("source", "target"):
        for label, side in ((1, "positive"), (0, "negative")):
            mask = (tasks == domain) & (y == label)
            assert set(groups[mask]) == set(spec[domain][side])
            assert mask.sum() == _count(tar_counts, spec[domain][side])
    n_source = len(bunch.source_data)
    assert list(tasks[:n_source]) == ["source"] * n_source
    assert set(tasks[n_source:]) == {"target"}
    assert bunch.data == bunch.source_data + bunch.target_data
    np.testing.assert_array_equal(
        y, np.concatenate([bunch.source_target, bunch.target_target])
    )
    first, second = split.split("_vs_")
    assert list(bunch.target_names) == [second, first]
    assert split in bunch.DESCR and bunch.split_name == split
    assert bunch.target.dtype.kind == "i"


@needs_archive
def test_transfer_subset_shuffle_and_return_X_y(news_home, tar_counts):
    train = _fetch("transfer", news_home, "rec_vs_talk", subset="train")
    groups = sum(SPEC["transfer"]["tasks"]["rec_vs_talk"]["source"].values(), [])
    assert len(train.source_data) == _count(tar_counts, groups, "train")
    a = _fetch("transfer", news_home, "rec_vs_talk", random_state=0)
    b = _fetch("transfer", news_home, "rec_vs_talk", random_state=0)
    c = _fetch("transfer", news_home, "rec_vs_talk", random_state=1)
    assert a.data == b.data and a.data != c.data
    assert sorted(a.filenames) == sorted(c.filenames)
    ordered = _fetch("transfer", news_home, "rec_vs_talk", shuffle=False)
    # corpus order: train then test, each sorted by newsgroup then file name
    keys = [(f.split("/")[0] != "20news-bydate-train", f) for f in ordered.filenames]
    n_source = len(ordered.source_data)
    assert keys[:n_source] == sorted(keys[:n_source])
    assert keys[n_source:] == sorted(keys[n_source:])
    X, y, tasks = _fetch(
        "transfer", news_home, "rec_vs_talk", random_state=0, return_X_y=True
    )
    assert X == a.data
    np.testing.assert_array_equal(y, a.target)
    np.testing.assert_array_equal(tasks, a.tasks)


@needs_archive
def test_custom_transfer_split(news_home):
    split = {
        "source": {"positive": ["sci.space"], "negative": "rec.autos"},
        "target": {"positive": ["sci.med"], "negative": ["rec.motorcycles"]},
    }
    bunch = _fetch("transfer", news_home, split, subset="test")
    assert bunch.split_name == "custom"
    assert set(bunch.groups[bunch.target == 1]) == {"sci.space", "sci.med"}
    bad = {**split, "target": {"positive": ["sci.space"], "negative": ["misc.forsale"]}}
    with pytest.raises(ValueError, match="both the source and the target"):
        _fetch("transfer", news_home, bad)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "comp_vs_nothing"}, "split must be one of"),
        ({"split": 3}, "split must be a str or a dict"),
        ({"subset": "validation"}, "subset must be"),
        ({"remove": ("headers", "signatures")}, "remove must be a subset"),
        (
            {"split": {"source": {"positive": ["sci.spaces"], "negative": ["x"]}}},
            "unknown newsgroup",
        ),
    ],
)
def test_transfer_argument_errors(tmp_path, kwargs, match):
    # Arguments are checked before any data is looked for.
    with pytest.raises((ValueError, TypeError), match=match):
        _fetch("transfer", tmp_path, **kwargs)


# --- text cleaning -----------------------------------------------------------


@needs_archive
def test_remove_matches_sklearn(news_home):
    tn = pytest.importorskip("sklearn.datasets._twenty_newsgroups")
    raw = _fetch("transfer", news_home, "sci_vs_talk", subset="test")
    for remove in [
        ("headers",),
        ("footers",),
        ("quotes",),
        _newsgroups._REMOVE_OPTIONS,
    ]:
        got = _fetch("transfer", news_home, "sci_vs_talk", subset="test", remove=remove)
        expected = raw.data
        # the order of sklearn.datasets.fetch_20newsgroups
        if "headers" in remove:
            expected = [tn.strip_newsgroup_header(t) for t in expected]
        if "footers" in remove:
            expected = [tn.strip_newsgroup_footer(t) for t in expected]
        if "quotes" in remove:
            expected = [tn.strip_newsgroup_quoting(t) for t in expected]
        assert got.data == expected
    headerless = _fetch("transfer", news_home, "sci_vs_talk", remove="headers")
    # A few posts carry a second header block, which sklearn keeps too.
    assert sum(t.startswith("From:") for t in headerless.data) < 0.005 * len(
        headerless.data
    )
    assert sum("Newsgroups:" in t for t in headerless.data) < 0.05 * len(
        headerless.data
    )


def test_cleaning_functions_on_a_known_post():
    post = (
        "From: a@b.c\nSubject: hi\n\nIn article <1@x>, a@b.c writes:\n"
        "> quoted line\nMy answer.\n\n--\nSignature\n"
    )
    assert _newsgroups._strip_header(post).startswith("In article")
    assert "Signature" not in _newsgroups._strip_footer(post)
    cleaned = _newsgroups._clean([post], _newsgroups._REMOVE_OPTIONS)[0]
    assert cleaned == "My answer.\n"


# --- multi-task --------------------------------------------------------------


@needs_archive
@pytest.mark.parametrize("setting", sorted(SPEC["multitask"]["tasks"]))
def test_multitask_setting_follows_json(news_home, tar_counts, setting):
    bunch = _fetch("multitask", news_home, setting)
    pairs = SPEC["multitask"]["tasks"][setting]
    assert list(bunch.task_names) == [f"{p}_vs_{n}" for p, n in pairs]
    for (pos, neg), name in zip(pairs, bunch.task_names, strict=True):
        rows = bunch.tasks == name
        assert set(bunch.groups[rows & (bunch.target == 1)]) == {pos}
        assert set(bunch.groups[rows & (bunch.target == 0)]) == {neg}
        assert rows.sum() == _count(tar_counts, [pos, neg])
    first, second = setting.split("_vs_")
    assert list(bunch.target_names) == [second, first]
    assert all(g.startswith(first) for g in bunch.groups[bunch.target == 1])
    assert len(bunch.data) == len(bunch.target) == len(bunch.filenames)


@needs_archive
def test_multitask_one_vs_rest(news_home, tar_counts):
    groups = ["alt.atheism", "sci.space", "rec.autos"]
    bunch = _fetch("multitask", news_home, groups, one_vs_rest=True, subset="test")
    assert list(bunch.task_names) == groups
    n_docs = _count(tar_counts, groups, "test")
    # every document appears once per task
    assert len(bunch.data) == 3 * n_docs
    assert set(Counter(bunch.filenames).values()) == {3}
    for g in groups:
        rows = bunch.tasks == g
        np.testing.assert_array_equal(bunch.target[rows], bunch.groups[rows] == g)
    capped = _fetch(
        "multitask",
        news_home,
        groups,
        one_vs_rest=True,
        subset="test",
        max_negatives_per_task=50,
        random_state=0,
    )
    for g in groups:
        rows = capped.tasks == g
        assert (capped.target[rows] == 0).sum() == 50
        assert (capped.target[rows] == 1).sum() == _count(tar_counts, [g], "test")
    with pytest.raises(ValueError, match="one_vs_rest=True"):
        _fetch("multitask", news_home, "comp_vs_rec", one_vs_rest=True)


@needs_archive
def test_multitask_custom_tasks(news_home, tar_counts):
    as_list = _fetch(
        "multitask",
        news_home,
        [(["sci.space", "sci.med"], "rec.autos"), ("comp.graphics", "misc.forsale")],
        shuffle=False,
    )
    assert list(as_list.task_names) == [
        "sci.space+sci.med_vs_rec.autos",
        "comp.graphics_vs_misc.forsale",
    ]
    rows = as_list.tasks == as_list.task_names[0]
    assert set(as_list.groups[rows & (as_list.target == 1)]) == {"sci.space", "sci.med"}
    as_dict = _fetch(
        "multitask",
        news_home,
        {"space": ("sci.space", "rec.autos")},
        return_X_y=True,
        shuffle=False,
    )
    X, y, tasks = as_dict
    assert set(tasks) == {"space"}
    assert y.sum() == _count(tar_counts, ["sci.space"])


@pytest.mark.parametrize(
    "setting, match",
    [
        ("nothing", "setting must be one of"),
        ([("sci.space", "sci.space")], "on both sides"),
        ([("sci.space",)], r"\(positive, negative\) pair"),
        ({"a": ("sci.space", "not.a.group")}, "unknown newsgroup"),
        ([], "defines no task"),
    ],
)
def test_multitask_argument_errors(tmp_path, setting, match):
    with pytest.raises(ValueError, match=match):
        _fetch("multitask", tmp_path, setting)
    with pytest.raises(ValueError, match="max_negatives_per_task"):
        _fetch("multitask", tmp_path, max_negatives_per_task=0)


# --- protocol splits ---------------------------------------------------------


def test_allocate_is_proportional_with_one_per_class():
    np.testing.assert_array_equal(_allocate(np.array([50, 50]), 10), [5, 5])
    np.testing.assert_array_equal(_allocate(np.array([98, 2]), 10), [9, 1])
    np.testing.assert_array_equal(_allocate(np.array([1, 1, 98]), 3), [1, 1, 1])
    rng = np.random.RandomState(0)
    for _ in range(200):
        counts = rng.randint(1, 30, size=rng.randint(1, 6))
        n = rng.randint(len(counts), counts.sum() + 1)
        alloc = _allocate(counts, n)
        assert alloc.sum() == n and (alloc >= 1).all() and (alloc <= counts).all()


def _toy_transfer():
    rng = np.random.RandomState(0)
    y = np.r_[rng.randint(2, size=30), np.repeat([0, 1], [80, 20])]
    tasks = np.array(["source"] * 30 + ["target"] * 100)
    X = np.arange(y.size * 2, dtype=float).reshape(-1, 2)
    return X, y, tasks


@pytest.mark.parametrize("labelled, n_lab", [(0.05, 5), (10, 10), (0.001, 2)])
def test_train_test_split_target(labelled, n_lab):
    X, y, tasks = _toy_transfer()
    X_tr, X_te, y_tr, y_te, t_tr, t_te = D.train_test_split_target(
        X, y, tasks, labelled=labelled, random_state=0
    )
    assert (t_tr == "source").sum() == 30 and (t_tr == "target").sum() == n_lab
    assert len(y_te) == 100 - n_lab and set(t_te) == {"target"}
    assert set(y_tr[t_tr == "target"]) == {0, 1}  # one per class at least
    # rows are partitioned, order kept
    rows = np.r_[X_tr[:, 0], X_te[:, 0]] / 2
    assert sorted(rows) == list(range(130))
    assert list(X_te[:, 0]) == sorted(X_te[:, 0])
    again = D.train_test_split_target(X, y, tasks, labelled=labelled, random_state=0)
    np.testing.assert_array_equal(again[0], X_tr)


def test_train_test_split_target_inputs_and_errors():
    X, y, tasks = _toy_transfer()
    docs = [f"doc {i}" for i in range(len(y))]
    bunch = {"data": docs, "target": y, "tasks": tasks}
    d_tr, d_te, *_ = D.train_test_split_target(bunch, labelled=4, random_state=1)
    assert isinstance(d_tr, list) and len(d_tr) == 34 and len(d_te) == 96
    s_tr, *_ = D.train_test_split_target(sp.csr_matrix(X), y, tasks, labelled=4)
    assert sp.issparse(s_tr) and s_tr.shape == (34, 2)
    with pytest.raises(ValueError, match="target_task='tgt'"):
        D.train_test_split_target(X, y, tasks, target_task="tgt")
    with pytest.raises(ValueError, match="fewer than the 2 classes"):
        D.train_test_split_target(X, y, tasks, labelled=1)
    with pytest.raises(ValueError, match="at least one row must be left"):
        D.train_test_split_target(X, y, tasks, labelled=100)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        D.train_test_split_target(X, y, tasks, labelled=1.5)
    with pytest.raises(ValueError, match="needs y and tasks"):
        D.train_test_split_target(X, y)
    unstrat = D.train_test_split_target(X, y, tasks, labelled=1, stratify=False)
    assert (unstrat[4] == "target").sum() == 1


def test_train_test_split_tasks():
    X, y, tasks = D.make_multitask_classification(
        n_tasks=4, n_samples=[40, 50, 60, 70], n_features=3, random_state=0
    )
    X_tr, X_te, y_tr, y_te, t_tr, t_te = D.train_test_split_tasks(
        X, y, tasks, train_size=6, random_state=0
    )
    np.testing.assert_array_equal(np.bincount(t_tr), [6, 6, 6, 6])
    np.testing.assert_array_equal(np.bincount(t_te), [34, 44, 54, 64])
    for t in range(4):
        assert set(y_tr[t_tr == t]) == {0, 1}
    frac = D.train_test_split_tasks(X, y, tasks, train_size=0.5, random_state=0)
    np.testing.assert_array_equal(np.bincount(frac[4]), [20, 25, 30, 35])
    with pytest.raises(ValueError, match="task 0"):
        D.train_test_split_tasks(X, y, tasks, train_size=40)


@needs_school
def test_train_test_split_tasks_regression_on_school():
    bunch = D.load_school(SCHOOL)
    X_tr, X_te, y_tr, y_te, t_tr, t_te = D.train_test_split_tasks(
        bunch, train_size=0.75, stratify=False, random_state=0
    )
    expected = np.round(0.75 * bunch.task_sizes).astype(int)
    np.testing.assert_array_equal(np.bincount(t_tr, minlength=139), expected)
    assert X_tr.shape[0] + X_te.shape[0] == 15362


# --- school ------------------------------------------------------------------


@needs_school
def test_load_school():
    bunch = D.load_school(SCHOOL)
    assert bunch.X.shape == (15362, 28) and bunch.X.dtype == np.float64
    assert bunch.y.shape == (15362,) and bunch.y.dtype == np.float64
    assert bunch.data is bunch.X and bunch.target is bunch.y
    np.testing.assert_array_equal(np.unique(bunch.tasks), np.arange(139))
    np.testing.assert_array_equal(np.bincount(bunch.tasks), bunch.task_sizes)
    assert bunch.task_sizes.sum() == 15362 and len(bunch.feature_names) == 28
    cols = sorted(c for v in bunch.feature_groups.values() for c in v)
    assert cols == list(range(28))
    np.testing.assert_array_equal(bunch.X[:, bunch.feature_groups["bias"][0]], 1)
    year = bunch.X[:, bunch.feature_groups["year"]]
    np.testing.assert_array_equal(year.sum(axis=1), 1)
    X, y, tasks = D.load_school(SHARED, return_X_y=True)
    np.testing.assert_array_equal(X, bunch.X)
    assert "139" in bunch.DESCR


def test_load_school_not_found_and_foreign_file(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "skmtl.datasets._school._candidate_dirs", lambda: [tmp_path / "nowhere"]
    )
    with pytest.raises(FileNotFoundError, match="SKMTL_DATA") as info:
        D.load_school()
    assert "nowhere" in str(info.value)
    with pytest.raises(FileNotFoundError, match="path="):
        D.load_school(tmp_path / "missing.mat")
    from scipy.io import savemat

    cells_X = np.empty((1, 2), dtype=object)
    cells_y = np.empty((1, 2), dtype=object)
    cells_X[0, 0], cells_X[0, 1] = np.ones((3, 28)), np.zeros((2, 28))
    cells_y[0, 0], cells_y[0, 1] = np.arange(3.0)[:, None], np.arange(2.0)[:, None]
    savemat(tmp_path / "school.mat", {"X": cells_X, "Y": cells_y})
    with pytest.warns(UserWarning, match="sha256"):
        bunch = D.load_school(tmp_path)
    np.testing.assert_array_equal(bunch.tasks, [0, 0, 0, 1, 1])
    savemat(tmp_path / "bad.mat", {"X": cells_X, "Y": cells_y[:, :1]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match="X cells"):
            D.load_school(tmp_path / "bad.mat")


# --- generators --------------------------------------------------------------

GENERATORS = [D.make_multitask_regression, D.make_multitask_classification]


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("sparse", [False, True])
def test_generator_shapes_and_determinism(make, sparse):
    kw = dict(n_tasks=3, n_samples=[5, 10, 15], n_features=7, sparse=sparse)
    X, y, tasks, W = make(**kw, coef=True, random_state=0)
    assert X.shape == (30, 7) and y.shape == (30,) and W.shape == (3, 7)
    assert sp.issparse(X) == sparse and (not sparse or X.format == "csr")
    np.testing.assert_array_equal(np.bincount(tasks), [5, 10, 15])
    np.testing.assert_array_equal(tasks, np.sort(tasks))
    X2, y2, _, W2 = make(**kw, coef=True, random_state=0)
    X3, y3, _ = make(**kw, random_state=1)
    dense = X.toarray() if sparse else X
    np.testing.assert_array_equal(dense, X2.toarray() if sparse else X2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(W, W2)
    assert not np.array_equal(dense, X3.toarray() if sparse else X3)
    _, _, named = make(**kw, task_names=["a", "b", "c"], random_state=0)
    assert list(np.unique(named, return_counts=True)[1]) == [5, 10, 15]


@pytest.mark.parametrize("make", GENERATORS)
def test_generator_structure(make):
    _, _, _, W = make(
        n_tasks=4,
        n_features=30,
        n_informative=5,
        relatedness=1.0,
        coef=True,
        random_state=0,
    )
    support = np.flatnonzero(W[0])
    assert support.size == 5
    np.testing.assert_allclose(W, np.tile(W[0], (4, 1)))
    _, _, _, W = make(
        n_tasks=6,
        n_features=30,
        n_informative=5,
        relatedness=0.3,
        coef=True,
        random_state=0,
    )
    # one support shared by all tasks, different values
    assert all(np.array_equal(np.flatnonzero(w), np.flatnonzero(W[0])) for w in W)
    assert not np.allclose(W[0], W[1])
    _, _, _, W = make(
        n_tasks=6,
        n_features=10,
        relatedness=1.0,
        n_clusters=2,
        coef=True,
        random_state=0,
    )
    np.testing.assert_allclose(W[:3], np.tile(W[0], (3, 1)))
    np.testing.assert_allclose(W[3:], np.tile(W[3], (3, 1)))
    assert not np.allclose(W[0], W[3])


@pytest.mark.parametrize("relatedness", [0.0, 0.5, 0.9])
def test_relatedness_is_the_coefficient_correlation(relatedness):
    _, _, _, W = D.make_multitask_regression(
        n_tasks=2,
        n_samples=1,
        n_features=20000,
        relatedness=relatedness,
        coef=True,
        random_state=0,
    )
    assert abs(np.corrcoef(W)[0, 1] - relatedness) < 0.03
    assert abs(W.std() - 1) < 0.03


@pytest.mark.parametrize("sparse", [False, True])
def test_regression_least_squares_recovers_coef(sparse):
    X, y, tasks, W = D.make_multitask_regression(
        n_tasks=3,
        n_samples=2000,
        n_features=8,
        n_informative=4,
        noise=0.1,
        bias=[0.0, 1.0, -2.0],
        sparse=sparse,
        density=0.5,
        coef=True,
        random_state=0,
    )
    X = X.toarray() if sparse else X
    for t in range(3):
        Xt = np.c_[X[tasks == t], np.ones((tasks == t).sum())]
        sol = np.linalg.lstsq(Xt, y[tasks == t], rcond=None)[0]
        np.testing.assert_allclose(sol[:-1], W[t], atol=0.02)
        np.testing.assert_allclose(sol[-1], [0.0, 1.0, -2.0][t], atol=0.02)
    X, y, tasks, W = D.make_multitask_regression(
        n_samples=50, n_features=4, noise=0.0, coef=True, random_state=0
    )
    np.testing.assert_allclose(y, np.einsum("ij,ij->i", X, W[tasks]))


def test_classification_logit_scale_is_class_sep():
    for sparse, density in [(False, 0.1), (True, 0.3)]:
        X, _, tasks, W = D.make_multitask_classification(
            n_tasks=2,
            n_samples=4000,
            n_features=400,
            class_sep=3.0,
            sparse=sparse,
            density=density,
            coef=True,
            random_state=0,
        )
        X = X.toarray() if sparse else X
        z = np.einsum("ij,ij->i", X, W[tasks])
        assert abs(z.std() - 3.0) < 0.3


def test_classification_label_models():
    kw = dict(n_tasks=3, n_samples=3000, n_features=5, coef=True, random_state=0)
    X, y, tasks, W = D.make_multitask_classification(
        **kw, label_model="threshold", bias=[0.0, 1.0, -1.0]
    )
    z = np.einsum("ij,ij->i", X, W[tasks]) + np.array([0.0, 1.0, -1.0])[tasks]
    np.testing.assert_array_equal(y, z > 0)
    assert y.dtype == np.int64 and set(y.tolist()) == {0, 1}
    _, y_flip, _, _ = D.make_multitask_classification(
        **kw, label_model="threshold", bias=[0.0, 1.0, -1.0], flip_y=1.0
    )
    np.testing.assert_array_equal(y_flip, 1 - y)
    X, y, tasks, W = D.make_multitask_classification(**kw, class_sep=1.0)
    p = 1 / (1 + np.exp(-np.einsum("ij,ij->i", X, W[tasks])))
    # calibration of the Bernoulli draw: mean label per probability decile
    bins = np.digitize(p, np.quantile(p, np.linspace(0, 1, 11)[1:-1]))
    for b in range(10):
        assert abs(y[bins == b].mean() - p[bins == b].mean()) < 0.08


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"relatedness": 1.5}, "relatedness"),
        ({"n_informative": 30}, "n_informative=30 exceeds"),
        ({"n_samples": [10, 10]}, "one value per task"),
        ({"n_clusters": 9}, "n_clusters=9 exceeds"),
        ({"task_names": ["a", "a", "b", "c", "d"]}, "distinct names"),
        ({"bias": [1.0, 2.0]}, "bias must be a scalar"),
        ({"n_tasks": 0}, "n_tasks"),
    ],
)
def test_generator_errors(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(n_features=20, **kwargs)


def test_train_test_split_tasks_n_per_class():
    # exactly k rows of every class in every task, whatever the class sizes
    rng = np.random.default_rng(0)
    tasks = np.repeat(["a", "b", "c"], 40)
    y = (rng.random(120) < np.repeat([0.2, 0.5, 0.8], 40)).astype(int)
    X = rng.normal(size=(120, 2))
    X_tr, X_te, y_tr, y_te, t_tr, t_te = D.train_test_split_tasks(
        X, y, tasks, n_per_class=3, random_state=0
    )
    for t in "abc":
        for c in (0, 1):
            assert np.sum((t_tr == t) & (y_tr == c)) == 3
    assert len(y_tr) + len(y_te) == 120 and X_tr.shape[0] == 18
    again = D.train_test_split_tasks(X, y, tasks, n_per_class=3, random_state=0)
    np.testing.assert_array_equal(again[0], X_tr)
    with pytest.raises(ValueError, match="one of them"):
        D.train_test_split_tasks(X, y, tasks, train_size=5, n_per_class=3)
    with pytest.raises(ValueError, match="only"):
        D.train_test_split_tasks(X, y, tasks, n_per_class=30)
    with pytest.raises(ValueError, match="positive integer"):
        D.train_test_split_tasks(X, y, tasks, n_per_class=0.5)
