"""Data, peers (ADAPT, skada) and selection helpers of ``bench_transfer.py``.

The protocol (draws, methods, settings, goal) is in ``bench_transfer.py``;
this module holds what does not depend on it: the 20 Newsgroups splits and
their TF-IDF features, a tiny synthetic corpus for the smoke run, the ADAPT
and skada peers on the reduced input, and the CV helpers that select on the
labelled target rows only.
"""

import contextlib
import io
import os
import time
import zlib

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV

from skmtl.datasets import fetch_20newsgroups_transfer

N_FOLDS = 3
# Peers on the TF-IDF matrix (ADAPT), then the feature- and instance-based
# peers on the reduced input (TruncatedSVD): see ``_peer_methods``.
TFIDF_PEERS = ("ADAPT RegularTransferLC", "ADAPT TrAdaBoost")
# Reduced input of the feature- and instance-based peers: TruncatedSVD of the
# TF-IDF of every document (unsupervised, so it may see the unlabelled
# target), then StandardScaler; base LogisticRegression(C=PEER_C). Chosen on
# the tuning run (see the results file).
SVD_COMPONENTS = 100
PEER_C = 1.0
IW_ALPHA = 1e-3  # ImportanceWeighted's MultiTaskClassifier, fixed
# skada's sklearn-API methods run (name, whether its base gets sample_weight).
# Left out, measured on the 1-draw tuning run (comp_vs_sci, rec_vs_talk, 1%):
# GaussianReweight (fails: infinite sample weights), NearestNeighborReweight
# (5-7 s per fit, 70-73%), KMMReweight and DensityReweight (52 s per fit),
# EntropicOTMapping (over 5 min on one draw, unfinished), and ADAPT's KMM (42 s)
# and KLIEP (9 s).
SKADA_METHODS = (
    ("CORAL", False),
    ("SubspaceAlignment", False),
    ("DiscriminatorReweight", True),
    ("KLIEPReweight", True),
)


def is_peer(method):
    return method.startswith(("ADAPT ", "skada "))


# ---------------------------------------------------------------- data


def _synthetic_corpus(seed=0, n_per_domain=150):
    """Tiny two-domain text problem for the smoke run (same code path as 20NG).

    Each class has words shared by both domains and words of its own in each
    domain, so the source helps the target without solving it.
    """
    rng = np.random.default_rng(seed)
    docs, y, tasks = [], [], []
    for domain in ("source", "target"):
        for i in range(n_per_domain):
            label = i % 2
            shared = [f"c{label}s{k}" for k in rng.integers(0, 10, 2)]
            own = [f"c{label}{domain[0]}{k}" for k in rng.integers(0, 10, 2)]
            noise = [f"w{k}" for k in rng.integers(0, 60, 16)]
            words = shared + own + noise
            rng.shuffle(words)
            docs.append(" ".join(words))
            y.append(label)
            tasks.append(domain)
    order = rng.permutation(len(docs))
    return (
        np.asarray(docs, dtype=object)[order],
        np.asarray(y)[order],
        np.asarray(tasks)[order],
    )


def _load_split(split, quick):
    if quick:
        return _synthetic_corpus(seed=zlib.crc32(split.encode()) % 1000)
    data = fetch_20newsgroups_transfer(
        split, remove=("headers", "footers", "quotes"), download_if_missing=False
    )
    return (
        np.asarray(data.data, dtype=object),
        np.asarray(data.target),
        np.asarray(data.tasks),
    )


def _features(docs, tasks):
    """TF-IDF fitted on the source documents only, applied to all."""
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
    vec.fit(list(docs[tasks != "target"]))
    return vec.transform(list(docs)).tocsr()


# ---------------------------------------------------------------- ADAPT


def _import_adapt():
    """(RegularTransferLC, TrAdaBoost, version) or the reason it is missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        from importlib.metadata import version

        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            from adapt.instance_based import TrAdaBoost
            from adapt.parameter_based import RegularTransferLC
        import tensorflow as tf

        took = time.perf_counter() - start
        info = f"adapt {version('adapt')}, tensorflow {tf.__version__}"
        return RegularTransferLC, TrAdaBoost, f"{info} (import {took:.0f} s)"
    except Exception as exc:  # any import failure: report it, run without
        return None, None, f"not importable: {type(exc).__name__}: {exc}"


def _import_skada():
    """The skada module and its version, or None and the reason.

    Importing skada calls ``sklearn.set_config(enable_metadata_routing=True)``
    (a global side effect); the configuration is restored at once and skada's
    estimators run inside ``config_context(enable_metadata_routing=True)``.
    """
    config = sklearn.get_config()
    try:
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            import skada
        took = time.perf_counter() - start
        return skada, f"skada {skada.__version__} (import {took:.0f} s)"
    except Exception as exc:  # any import failure: report it, run without
        return None, f"not importable: {type(exc).__name__}: {exc}"
    finally:
        sklearn.set_config(**config)


def _peer_base():
    return LogisticRegression(C=PEER_C, max_iter=1000)


def _peer_methods(adapt_ok, skada):
    """{name: fit(Zs, ys, Zl, yl, Zu, seed) -> fitted model} on the reduced input.

    ``Zs, ys``: source rows; ``Zl, yl``: labelled target rows; ``Zu``: the
    unlabelled target rows (the test rows, whose labels are not given).
    Methods that take only unlabelled target rows get every target row as
    the target sample and the source and labelled target rows pooled as the
    labelled sample; ADAPT's FA and BalancedWeighting take the labelled
    target rows as such.
    """
    out = {}
    if adapt_ok:
        from adapt import feature_based as fb
        from adapt import instance_based as ib

        def unsupervised(cls):
            def fit(Zs, ys, Zl, yl, Zu, seed):
                with contextlib.redirect_stdout(io.StringIO()):
                    return cls(
                        _peer_base(), Xt=np.vstack([Zl, Zu]), verbose=0,
                        random_state=seed,
                    ).fit(np.vstack([Zs, Zl]), np.concatenate([ys, yl]))  # fmt: skip

            return fit

        def supervised(cls):
            def fit(Zs, ys, Zl, yl, Zu, seed):
                with contextlib.redirect_stdout(io.StringIO()):
                    return cls(
                        _peer_base(), Xt=Zl, yt=yl, verbose=0, random_state=seed
                    ).fit(Zs, ys)

            return fit

        out.update({
            "ADAPT CORAL": unsupervised(fb.CORAL),
            "ADAPT SA": unsupervised(fb.SA),
            "ADAPT FA": supervised(fb.FA),
            "ADAPT IWC": unsupervised(ib.IWC),
            "ADAPT NearestNeighborsWeighting": unsupervised(
                ib.NearestNeighborsWeighting
            ),
            "ADAPT ULSIF": unsupervised(ib.ULSIF),
            "ADAPT BalancedWeighting": supervised(ib.BalancedWeighting),
        })  # fmt: skip
    if skada is not None:

        def skada_method(name, weighted):
            def fit(Zs, ys, Zl, yl, Zu, seed):
                # skada's convention: domain 1 (labelled: source and labelled
                # target), domain -2 the target rows to adapt to (y = -1)
                Zall = np.vstack([Zs, Zl, Zu])
                yall = np.concatenate([ys, yl, np.full(len(Zu), -1)])
                sd = np.concatenate([np.ones(len(ys) + len(yl), dtype=int),
                                     np.full(len(Zu), -2)])  # fmt: skip
                with sklearn.config_context(enable_metadata_routing=True):
                    base = _peer_base()
                    if weighted:
                        base.set_fit_request(sample_weight=True)
                    model = getattr(skada, name)(base)
                    model.fit(Zall, yall, sample_domain=sd)
                return _RoutingOn(model)

            return fit

        for name, weighted in SKADA_METHODS:
            out["skada " + name] = skada_method(name, weighted)
    return out


class _RoutingOn:
    """A fitted skada pipeline whose predict runs with metadata routing on."""

    def __init__(self, model):
        self.model = model

    def predict(self, Z):
        with sklearn.config_context(enable_metadata_routing=True):
            return self.model.predict(Z)


def _as_sklearn_lr(source, n_features):
    """The skmtl source model's weights in a LogisticRegression (for ADAPT)."""
    lr = LogisticRegression()
    lr.coef_ = np.asarray(source.coef_, dtype=float).reshape(1, -1)
    lr.intercept_ = np.asarray(source.intercept_, dtype=float).reshape(1)
    lr.classes_ = np.asarray(source.classes_)
    lr.n_features_in_ = n_features
    return lr


# ---------------------------------------------------------------- selection


def _folds(y_lab, seed):
    """Number of CV folds the labelled target rows allow (0: use DEFAULTS)."""
    _, counts = np.unique(y_lab, return_counts=True)
    k = min(N_FOLDS, int(counts.min())) if len(counts) > 1 else 0
    return k if k >= 2 else 0


def _grid_search(estimator, grid, X, y, cv, default, **fit_params):
    """GridSearchCV's refitted best estimator and parameters (DEFAULTS without cv)."""
    if cv is None:
        est = clone(estimator).set_params(**default)
        return est.fit(X, y, **fit_params), default
    gs = GridSearchCV(estimator, grid, cv=cv, error_score="raise")
    gs.fit(X, y, **fit_params)
    return gs.best_estimator_, gs.best_params_


def _manual_search(fit, grid_name, grid, X, y, cv, default):
    """Select one parameter of an estimator that clone() would unfit (ADAPT)."""
    if cv is None:
        value = default[grid_name]
        return fit(value, X, y), {grid_name: value}
    scores = []
    for value in grid[grid_name]:
        fold_scores = [
            accuracy_score(y[te], fit(value, X[tr], y[tr]).predict(X[te]))
            for tr, te in cv
        ]
        scores.append(np.mean(fold_scores))
    value = grid[grid_name][int(np.argmax(scores))]
    return fit(value, X, y), {grid_name: value}
