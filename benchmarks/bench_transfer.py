"""Transfer on the six classic 20 Newsgroups splits: skmtl, ADAPT and skada.

Usage::

    python benchmarks/bench_transfer.py               # full run, about 20 minutes
    python benchmarks/bench_transfer.py --draws 5     # 5 draws per cell
    python benchmarks/bench_transfer.py --quick       # tiny synthetic text (smoke)
    python benchmarks/bench_transfer.py --no-adapt --no-skada  # skmtl only
    python benchmarks/bench_transfer.py --all-methods # with LEFT_OUT too
    python benchmarks/bench_transfer.py --splits comp_vs_sci --fractions 0.01 \
        --methods JointTransfer EntropyRegularized    # a tuning run
    python benchmarks/bench_transfer.py --unstratified --fractions 0.01 \
        --out /tmp/unstratified   # labelled target rows drawn at random

Protocol (Dai et al., 2007): for each split every source document is
labelled, a fraction (1%, 2%, 5%) of the target documents is labelled
(stratified draw, ``train_test_split_target``; ``--unstratified``: a plain
random draw), and the rest of the target is
the test set; ``draws`` random draws per fraction. Every method is scored by
its accuracy on the unlabelled target rows. The methods that learn from the
unlabelled target get the test rows' features (never their labels) marked by
``unlabelled=True`` (transductive, as the published results on these splits).

Features: one ``TfidfVectorizer(sublinear_tf=True, stop_words="english",
min_df=2)`` per split, fitted on the source documents only (all available, no
target label used), applied to every document once. Every skmtl method sees
the same matrix; ADAPT's feature- and instance-based methods and skada's see
its TruncatedSVD (``SVD_COMPONENTS``) standardised, with a
``LogisticRegression`` base (they need dense input of moderate width).

Hyper-parameters are chosen by cross-validation on the labelled target rows
only: a ``StratifiedKFold`` of the labelled target rows for the methods that
are fitted on target rows only, ``SourceTargetSplit`` (every source row in
every training fold, only labelled target rows split and scored) for the
methods fitted on source and target rows. 3 folds, fewer when a class has
fewer than 3 labelled target rows, and the fixed ``DEFAULTS`` (no search)
when it has one. The unlabelled-target methods and the peers on reduced
input use fixed settings (``UNLABELLED_PARAMS``, ``PEER_C``), chosen on a
tuning run recorded in ``benchmarks/results/transfer_tuning.md``. The goal
of issue #16 is judged on one method fixed before the run,
``FIXED_METHOD``. The reported time of a method is its selection plus its
final fit (not prediction). The source-only models are fitted once per split
(the source rows do not change between draws) for each alpha of the grid; a
draw picks the one with the best accuracy on its labelled target rows, and
that model is the prior / teacher / starting point of the model-based
methods, whose times do not include it.

Results go to ``benchmarks/results/transfer.md`` and ``transfer.png``; the
fractions run in order over all splits and the markdown is rewritten after
every (split, fraction) cell, so an interrupted run leaves a table.
"""

import argparse
import contextlib
import io
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skmtl.transfer as skt
from skmtl import MultiTaskClassifier
from skmtl.datasets import load_20newsgroups_splits, train_test_split_target
from skmtl.model_selection import MultiTaskClassifierCV, SourceTargetSplit
from skmtl.penalties import MeanRegularized

# the data, peers, selection helpers and report live beside this file
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _transfer_report  # noqa: E402
from _transfer_methods import (  # noqa: E402, F401 (settings the report states)
    IW_ALPHA,
    N_FOLDS,
    PEER_C,
    SKADA_METHODS,
    SVD_COMPONENTS,
    TFIDF_PEERS,
    _as_sklearn_lr,
    _features,
    _folds,
    _grid_search,
    _import_adapt,
    _import_skada,
    _load_split,
    _manual_search,
    _peer_base,
    _peer_methods,
    is_peer,
)
from _transfer_report import _cell, _machine  # noqa: E402, F401 (re-exported)

RESULTS = Path(__file__).resolve().parent / "results"
FRACTIONS = (0.01, 0.02, 0.05)
# 10 draws per fraction (the protocol of issue #16); a draw of every method
# and the 13 peers takes 15-50 s on this shared 2-core machine
DRAWS = {0.01: 10, 0.02: 10, 0.05: 10}
TRADABOOST_ROUNDS = 20
TRADABOOST_ALPHA = 1e-3  # base MultiTaskClassifier, fixed (not tuned: cost)

# Grids (small, to keep the cost down) and the fallbacks used without CV.
ALPHAS_TARGET = [1e-3, 1e-4, 1e-5]
ALPHAS_SOURCE = [1e-2, 1e-3, 1e-4]
GRIDS = {
    "target-only": {"alpha": ALPHAS_TARGET},
    "pooled": {"alpha": ALPHAS_SOURCE},
    "RegularizedTransfer": {"alpha": [1e-2, 1e-3, 1e-4, 1e-5]},
    "FineTuned": {"alpha": [1e-2, 1e-3, 1e-4]},
    "JointTransfer": {"source_weight": [0.2, 0.5, 0.8, 0.95], "alpha": [1e-3, 1e-4]},
    "JointTransfer (mean)": {"source_weight": [0.2, 0.5, 0.8], "alpha": [1e-3, 1e-4]},
    "FeatureAugmenter + LR": {"C": [1.0, 10.0, 100.0]},
    "MeanRegularized MTL": {"alpha": [1e-3, 1e-4], "specific": [0.1, 0.3, 1.0, 3.0]},
    "Distilled": {"mix": [0.25, 0.5, 0.75], "alpha": [1e-3, 1e-4]},
    "ADAPT RegularTransferLC": {"lambda_": [0.1, 1.0, 10.0]},
}
DEFAULTS = {
    "target-only": {"alpha": 1e-4},
    "pooled": {"alpha": 1e-3},
    "RegularizedTransfer": {"alpha": 1e-3},
    "FineTuned": {"alpha": 1e-3},
    "JointTransfer": {"source_weight": 0.5, "alpha": 1e-3},
    "JointTransfer (mean)": {"source_weight": 0.5, "alpha": 1e-3},
    "FeatureAugmenter + LR": {"C": 10.0},
    "MeanRegularized MTL": {"alpha": 1e-3, "specific": 1.0},
    "Distilled": {"mix": 0.5, "alpha": 1e-3},
    "ADAPT RegularTransferLC": {"lambda_": 1.0},
}

# Methods that also learn from the unlabelled target rows (marked by the
# ``unlabelled`` fit argument), with fixed settings (not tuned: each fit sees
# every row, and 1% of the target gives CV folds of 16-25 rows).
# EntropyRegularized's were chosen on draws 0-2 of two splits at 1%
# (comp_vs_sci, rec_vs_talk), recorded in benchmarks/results/transfer_tuning.md;
# the self-training and EM methods run at their estimators' defaults, with
# JointTransferClassifier at the bench's JointTransfer defaults as their base
# (SelfTraining, EM (JointTransfer)) or a naive Bayes transferred from the
# source without EM (SelfTraining (NaiveBayes): NB_BASE).
JOINT_BASE = {"source_weight": 0.5, "alpha": 1e-3}
NB_BASE = {"max_iter": 0}  # NaiveBayesTransferClassifier's other defaults
UNLABELLED_PARAMS = {
    "EntropyRegularized": {
        "entropy_weight": 3.0, "class_balance": 2.0, **JOINT_BASE
    },
    "SelfTraining": {"k_best": 0.2, "balance": True, "max_iter": 10},
    "SelfTraining (NaiveBayes)": {"k_best": 0.2, "balance": True, "max_iter": 10},
    # the class proportions shrunk toward the source's (Dirichlet pseudo-counts;
    # 40 = about the labelled target rows at 1%), fixed on development seeds
    # 100-109 with random (--unstratified) draws: transfer_tuning.md
    "SelfTraining (NaiveBayes, shrunk prior)": {
        "k_best": 0.2, "balance": True, "max_iter": 10, "prior_strength": 40.0
    },
    "EM (JointTransfer)": {"max_iter": 10},
    "NaiveBayesTransfer": {},  # its defaults (alpha=1, 20 EM rounds)
}  # fmt: skip
# The goal of issue #16, judged on ONE skmtl method fixed before the run: it
# must beat every ADAPT and skada method on every split at 1% labelled, with
# a mean error over the six splits of at most GOAL_ERROR. Fixed on
# 2026-11-30 before the run of benchmarks/results/transfer.md, on development
# draws disjoint from the run's (seeds 100-102 at 1%, the same documents:
# the split's test rows overlap), recorded in transfer_tuning.md:
# SelfTrainingTransferClassifier(NaiveBayesTransferClassifier(max_iter=0))
# at its defaults, mean error 0.064 there (NaiveBayesTransfer 0.069,
# EntropyRegularized 0.088). The previous run's fixed method was
# EntropyRegularized (mean error 0.089 at 1%).
FIXED_METHOD = "SelfTraining (NaiveBayes)"
GOAL_ERROR = 0.07
GOAL_FRACTION = 0.01

BASELINES = ("target-only", "source-only", "pooled")
TRANSFER = (
    "RegularizedTransfer",
    "FineTuned",
    "JointTransfer",
    "JointTransfer (mean)",
    "FeatureAugmenter + LR",
    "MeanRegularized MTL",
    "TrAdaBoost",
    "TrAdaBoost (dynamic)",
    "Distilled",
    "EntropyRegularized",
    "SelfTraining",
    "SelfTraining (NaiveBayes)",
    "SelfTraining (NaiveBayes, shrunk prior)",
    "EM (JointTransfer)",
    "NaiveBayesTransfer",
    "ImportanceWeighted",
    "CORAL + LR",
)
# Left out of the default run (``--all-methods`` runs them): on this shared
# machine they cost 12-27 s per draw each (1-draw tuning run) and their
# numbers at 1%, 2% and 5% are in the previous table (git history of
# benchmarks/results/transfer.md); none was the best skmtl method at 1% there.
LEFT_OUT = (
    "JointTransfer (mean)",
    "FeatureAugmenter + LR",
    "MeanRegularized MTL",
    "TrAdaBoost",
    "TrAdaBoost (dynamic)",
)
# skmtl estimators added recently: used when this checkout has them
OPTIONAL = {
    "TrAdaBoost": "TrAdaBoostClassifier",
    "Distilled": "DistilledClassifier",
    "EntropyRegularized": "EntropyRegularizedClassifier",
    "SelfTraining": "SelfTrainingTransferClassifier",
    "SelfTraining (NaiveBayes)": "SelfTrainingTransferClassifier",
    "SelfTraining (NaiveBayes, shrunk prior)": "SelfTrainingTransferClassifier",
    "EM (JointTransfer)": "EMTransferClassifier",
    "NaiveBayesTransfer": "NaiveBayesTransferClassifier",
    "ImportanceWeighted": "ImportanceWeightedClassifier",
    "CORAL + LR": "CORAL",
}
# ---------------------------------------------------------------- one draw


def run_draw(
    X, y, tasks, labelled, seed, sources, methods, adapt, reduced=None, peers=None,
    stratify=True,
):  # fmt: skip
    """Accuracy, time and chosen parameters of every method on one draw.

    ``stratify``: the labelled target rows are a stratified draw (the
    protocol) or a plain random one (their class proportions then vary).

    ``sources``: {alpha: (fitted source-only model, fit seconds)};
    ``reduced``: the reduced input of every document (rows of ``X``) for
    ``peers``, {name: fit function} (see ``_peer_methods``).
    """
    X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_target(
        X, y, tasks, labelled=labelled, random_state=seed, stratify=stratify
    )
    is_tgt = t_tr == "target"
    X_lab, y_lab = X_tr[is_tgt], y_tr[is_tgt]
    k = _folds(y_lab, seed)
    cv_t = cv_j = None
    if k:
        cv_t = list(
            StratifiedKFold(k, shuffle=True, random_state=seed).split(X_lab, y_lab)
        )
        cv_j = list(
            SourceTargetSplit(k, target="target", random_state=seed).split(
                X_tr, y_tr, tasks=t_tr
            )
        )
    out = {"n_labelled": int(is_tgt.sum()), "folds": k}
    state = {}

    def record(name, fit_and_predict):
        if name not in methods:
            return
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                predict, params = fit_and_predict()
            elapsed = time.perf_counter() - start
            acc = accuracy_score(y_te, predict(X_te))
            out[name] = {"acc": acc, "time": elapsed, "params": params}
        except Exception as exc:  # one method failing must not end the run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"    {name} failed: {out[name]['error']}", flush=True)

    def target_only():
        if not k:
            alpha = DEFAULTS["target-only"]["alpha"]
            model = MultiTaskClassifier(alpha).fit(X_lab, y_lab)
            return model.predict, {"alpha": alpha}
        cv_est = MultiTaskClassifierCV(GRIDS["target-only"]["alpha"], cv=cv_t)
        cv_est.fit(X_lab, y_lab)
        return cv_est.predict, {"alpha": cv_est.alpha_}

    def source_only():
        # the source fits are shared by all draws; pick on the labelled target
        start = time.perf_counter()
        scores = [m.score(X_lab, y_lab) for m, _ in sources.values()]
        alpha = list(sources)[int(np.argmax(scores))]
        model = sources[alpha][0]
        state["source"] = model
        # report the (shared) source fits, not the time of this draw
        state["source_time"] = sum(t for _, t in sources.values()) + (
            time.perf_counter() - start
        )
        return model.predict, {"alpha": alpha}

    def pooled():
        if not k:
            alpha = DEFAULTS["pooled"]["alpha"]
            model = MultiTaskClassifier(alpha).fit(X_tr, y_tr)
        else:
            model = MultiTaskClassifierCV(GRIDS["pooled"]["alpha"], cv=cv_j)
            alpha = model.fit(X_tr, y_tr).alpha_
        return model.predict, {"alpha": alpha}

    record("target-only", target_only)
    record("source-only", source_only)
    if "source-only" in out and "time" in out["source-only"]:
        out["source-only"]["time"] = state["source_time"]
    record("pooled", pooled)
    source = state.get("source")
    if source is None:  # source-only not run or failed: a mid-grid source model
        source = sources[ALPHAS_SOURCE[1]][0]
    frozen = FrozenEstimator(source)
    base_alpha = TRADABOOST_ALPHA

    def regularized():
        est, params = _grid_search(
            skt.RegularizedTransferClassifier(source=frozen),
            GRIDS["RegularizedTransfer"], X_lab, y_lab, cv_t,
            DEFAULTS["RegularizedTransfer"],
        )  # fmt: skip
        return est.predict, params

    def fine_tuned():
        est, params = _grid_search(
            skt.FineTunedClassifier(
                source=frozen, early_stopping=True, max_iter=100, random_state=seed
            ),
            GRIDS["FineTuned"], X_lab, y_lab, cv_t, DEFAULTS["FineTuned"],
        )  # fmt: skip
        return est.predict, params

    def joint(name, penalty):
        def fit():
            with sklearn.config_context(enable_metadata_routing=True):
                est, params = _grid_search(
                    skt.JointTransferClassifier(penalty=penalty),
                    GRIDS[name], X_tr, y_tr, cv_j, DEFAULTS[name], tasks=t_tr,
                )  # fmt: skip
            return est.predict, params  # predicts for the target domain

        return fit

    def augmented():
        # FeatureAugmenter.fit only records the task labels: augmenting the
        # training and test rows once is what a Pipeline would do in each fold
        aug = skt.FeatureAugmenter().fit(X_tr, tasks=t_tr)
        Xa_tr = aug.transform(X_tr, tasks=t_tr)
        lr = LogisticRegression(solver="liblinear", dual=True, max_iter=1000)
        est, params = _grid_search(
            lr, GRIDS["FeatureAugmenter + LR"], Xa_tr, y_tr, cv_j,
            DEFAULTS["FeatureAugmenter + LR"],
        )  # fmt: skip
        return (lambda Z: est.predict(aug.transform(Z, tasks="target"))), params

    def mean_regularized():
        if not k:
            params = dict(DEFAULTS["MeanRegularized MTL"])
            model = MultiTaskClassifier(
                params["alpha"], penalty=MeanRegularized(specific=params["specific"])
            ).fit(X_tr, y_tr, tasks=t_tr)
        else:
            grid = GRIDS["MeanRegularized MTL"]
            model = MultiTaskClassifierCV(
                grid["alpha"], penalty=MeanRegularized(),
                penalty_grid={"specific": grid["specific"]}, cv=cv_j,
            ).fit(X_tr, y_tr, tasks=t_tr)  # fmt: skip
            params = {"alpha": model.alpha_}
            params["specific"] = model.best_params_["penalty__specific"]
        return (lambda Z: model.predict(Z, tasks="target")), params

    def tradaboost(dynamic=False):
        est = skt.TrAdaBoostClassifier(
            MultiTaskClassifier(base_alpha), n_estimators=TRADABOOST_ROUNDS,
            random_state=seed, dynamic=dynamic,
        ).fit(X_tr, y_tr, tasks=t_tr)  # fmt: skip
        return est.predict, {"alpha": base_alpha}

    def distilled():
        est, params = _grid_search(
            skt.DistilledClassifier(teacher=frozen),
            GRIDS["Distilled"], X_lab, y_lab, cv_t, DEFAULTS["Distilled"],
        )  # fmt: skip
        return est.predict, params

    record("RegularizedTransfer", regularized)
    record("FineTuned", fine_tuned)
    record("JointTransfer", joint("JointTransfer", None))
    record("JointTransfer (mean)", joint("JointTransfer (mean)", "mean"))
    record("FeatureAugmenter + LR", augmented)
    record("MeanRegularized MTL", mean_regularized)
    record("TrAdaBoost", tradaboost)
    record("TrAdaBoost (dynamic)", lambda: tradaboost(dynamic=True))
    record("Distilled", distilled)

    # ---- methods that learn from the unlabelled target rows: the test rows
    # join the training rows, marked unlabelled, with a placeholder label
    # (the true labels are never passed)
    X_all = sp.vstack([X_tr, X_te]).tocsr()
    unl = np.concatenate([np.zeros(len(y_tr), bool), np.ones(len(y_te), bool)])
    y_all = np.concatenate([y_tr, np.full(len(y_te), y_lab[0])])
    t_all = np.concatenate([t_tr, t_te])

    def unlabelled_method(name):
        def fit():
            params = dict(UNLABELLED_PARAMS[name])
            est = getattr(skt, OPTIONAL[name])
            if name == "EntropyRegularized":
                model = est(**params)
            elif name == "NaiveBayesTransfer":
                model = est(**params)
            elif name.startswith("SelfTraining (NaiveBayes"):
                model = est(skt.NaiveBayesTransferClassifier(**NB_BASE), **params)
                params = {**params, **{f"base {k}": v for k, v in NB_BASE.items()}}
            else:  # a JointTransfer base with the fixed settings
                base = skt.JointTransferClassifier(**JOINT_BASE)
                model = est(base, **params)
                params = {**params, **{f"base {k}": v for k, v in JOINT_BASE.items()}}
            model.fit(X_all, y_all, tasks=t_all, unlabelled=unl)
            return model.predict, params

        return fit

    for name in UNLABELLED_PARAMS:
        record(name, unlabelled_method(name))

    def importance_weighted():
        # the domain classifier sees every target row (labelled or not)
        model = skt.ImportanceWeightedClassifier(
            MultiTaskClassifier(IW_ALPHA), domain_classifier=LogisticRegression()
        ).fit(X_all, y_all, tasks=t_all, unlabelled=unl)
        return model.predict, {"alpha": IW_ALPHA}

    record("ImportanceWeighted", importance_weighted)

    if adapt is not None:
        RegularTransferLC, TrAdaBoost = adapt
        source_lr = _as_sklearn_lr(source, X.shape[1])
        X_lab_dense = X_lab.toarray()  # ADAPT's RegularTransferLC needs dense X

        def adapt_rtlc():
            def fit(lam, Xf, yf):
                with contextlib.redirect_stdout(io.StringIO()):  # it prints
                    return RegularTransferLC(
                        source_lr, lambda_=lam, verbose=0, random_state=seed
                    ).fit(Xf, yf)

            name = "ADAPT RegularTransferLC"
            model, params = _manual_search(
                fit, "lambda_", GRIDS[name], X_lab_dense, y_lab, cv_t, DEFAULTS[name]
            )
            return model.predict, params

        def adapt_tradaboost():
            with contextlib.redirect_stdout(io.StringIO()):
                model = TrAdaBoost(
                    MultiTaskClassifier(base_alpha), Xt=X_lab, yt=y_lab,
                    n_estimators=TRADABOOST_ROUNDS, verbose=0, random_state=seed,
                ).fit(X_tr[~is_tgt], y_tr[~is_tgt])  # fmt: skip
            return model.predict, {"alpha": base_alpha}

        record("ADAPT RegularTransferLC", adapt_rtlc)
        record("ADAPT TrAdaBoost", adapt_tradaboost)

    if reduced is not None:
        Z_tr, Z_te, yz_tr, _, tz_tr, _ = train_test_split_target(
            reduced, y, tasks, labelled=labelled, random_state=seed,
            stratify=stratify,
        )  # fmt: skip
        # the same draw as on X (the draw depends on y, tasks and the seed only)
        assert np.array_equal(yz_tr, y_tr) and np.array_equal(tz_tr, t_tr)
        z_src, z_lab = Z_tr[~is_tgt], Z_tr[is_tgt]

        def peer(fit):
            def run():
                model = fit(z_src, y_tr[~is_tgt], z_lab, y_lab, Z_te, seed)
                # scored on the reduced test rows (the rows of X_te)
                return (lambda _X: model.predict(Z_te)), {"C": PEER_C}

            return run

        def coral():
            # skmtl's CORAL on the peers' reduced input: the analogue of ADAPT's
            # and skada's CORAL (source + labelled target pooled as labelled)
            Z_all = np.vstack([z_src, z_lab, Z_te])
            dom = np.array(["source"] * len(z_src) + ["target"] * (len(Z_tr) -
                           len(z_src) + len(Z_te)))  # fmt: skip
            lab = np.arange(len(Z_tr))
            Z_new = skt.CORAL().fit_transform(Z_all, tasks=dom)
            y_pool = np.concatenate([y_tr[~is_tgt], y_lab])
            model = _peer_base().fit(Z_new[lab], y_pool)
            return (lambda _X: model.predict(Z_te)), {"C": PEER_C}

        record("CORAL + LR", coral)
        for name, fit in (peers or {}).items():
            record(name, peer(fit))
    return out


# ---------------------------------------------------------------- report


def _settings():
    """This module's settings (its upper-case names), read at call time."""
    return SimpleNamespace(**{k: v for k, v in globals().items() if k.isupper()})


def summarize(results, methods):
    """Per (split, fraction): cells, the best transfer method and baseline."""
    return _transfer_report.summarize(results, methods, _settings())


def report(results, splits, fractions, methods, info, out_dir, done):
    """Write ``transfer.md``; return (summary, text, wins, cells)."""
    return _transfer_report.report(
        results, splits, fractions, methods, info, out_dir, done, _settings()
    )


def goal_lines(summary, splits):
    """The issue's goal for ``FIXED_METHOD`` at ``GOAL_FRACTION`` (markdown)."""
    return _transfer_report.goal_lines(summary, splits, _settings())


def plot(summary, splits, fractions, methods, path):
    return _transfer_report.plot(summary, splits, fractions, methods, path, _settings())


# ---------------------------------------------------------------- main


def main(
    quick=False,
    out_dir=None,
    draws=None,
    splits=None,
    adapt=None,
    threads=1,
    skada=None,
    fractions=None,
    methods=None,
    all_methods=False,
    stratify=True,
):
    """Run the benchmark; return {(split, fraction): [per-draw dicts]}.

    draws: an int, or {fraction: int}; None is ``DRAWS`` (2 when quick).
    adapt, skada: run the ADAPT / skada peers (None: yes unless quick, whose
    smoke run would spend most of its time importing TensorFlow).
    threads: BLAS / OpenMP threads (threadpoolctl); None leaves them as they are.
    fractions: labelled target fractions (None: ``FRACTIONS``).
    methods: run only these methods (None: all), e.g. for a tuning run.
    all_methods: also run ``LEFT_OUT`` (always run in the quick mode).
    stratify: stratified draws of the labelled target rows (the protocol);
    False draws them at random (a robustness check of the class proportions).
    """
    limit = (
        threadpool_limits(threads) if threads is not None else contextlib.nullcontext()
    )
    with limit:
        return _main(
            quick, out_dir, draws, splits, adapt, threads, skada, fractions, methods,
            all_methods, stratify,
        )  # fmt: skip


def _main(
    quick, out_dir, draws, splits, adapt, threads, skada, fractions, only, all_methods,
    stratify,
):  # fmt: skip
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    start = time.perf_counter()
    if quick:
        splits = list(splits or ["synthetic"])
        fractions, draws = fractions or (0.1, 0.2), draws or 2
        data = "synthetic two-domain text, 150 source + 150 target documents"
    else:
        splits = list(splits or load_20newsgroups_splits()["transfer"]["tasks"])
        fractions, draws = fractions or FRACTIONS, draws or DRAWS
        data = (
            "20 Newsgroups bydate (all), headers/footers/quotes removed, the "
            "six splits of Dai et al. (2007)"
        )
    if not isinstance(draws, dict):
        draws = dict.fromkeys(fractions, draws)
    adapt = (not quick) if adapt is None else adapt
    skada = (not quick) if skada is None else skada
    methods = list(BASELINES) + [
        m for m in TRANSFER if m not in OPTIONAL or hasattr(skt, OPTIONAL[m])
    ]
    missing = [m for m in OPTIONAL if m not in methods]
    adapt_classes, adapt_info = None, "not run (--no-adapt / quick run)"
    if adapt:
        rtlc, trada, adapt_info = _import_adapt()
        if rtlc is not None:
            adapt_classes = (rtlc, trada)
            methods += list(TFIDF_PEERS)
            adapt_info += (
                "; RegularTransferLC is ADAPT's least-squares (labels -1/+1) "
                "transfer, densifies the labelled target rows, and gets the "
                "skmtl source model's weights as its source LogisticRegression"
            )
    skada_module, skada_info = None, "not run (--no-skada / quick run)"
    if skada:
        skada_module, skada_info = _import_skada()
    peers = _peer_methods(adapt_classes is not None, skada_module)
    left_out = [] if (quick or all_methods) else [m for m in LEFT_OUT if m in methods]
    methods = [m for m in methods if m not in left_out]
    if only is not None:
        methods = [m for m in methods if m in only]
        peers = {m: f for m, f in peers.items() if m in only}
    methods += list(peers)
    argv = " ".join(sys.argv[1:]) if __name__ == "__main__" else ""
    info = {
        "command": f"python benchmarks/bench_transfer.py {argv}".strip()
        if __name__ == "__main__"
        else f"bench_transfer.main(quick={quick}, draws={draws}, adapt={adapt})",
        "start": start,
        "load_start": _machine()[2],
        "adapt": adapt_info,
        "skada": skada_info,
        "peers": [m for m in methods if is_peer(m)],
        "data": data,
        "draws": ", ".join(f"{f:.0%}: {draws[f]}" for f in fractions)
        + (
            ""
            if stratify
            else "; labelled target rows drawn at random, NOT "
            "stratified (their class proportions vary between draws)"
        ),
        "threads": threads if threads is not None else "default",
        "missing": missing,
        "left_out": left_out,
    }
    print(
        f"methods: {', '.join(methods)}\nADAPT: {adapt_info}\nskada: {skada_info}",
        flush=True,
    )
    # every split prepared first, then the fractions in order, smallest first,
    # each over all splits: an interrupted run has the goal's cells (1%)
    prepared = {}
    for split in splits:
        t0 = time.perf_counter()
        docs, y, tasks = _load_split(split, quick)
        X = _features(docs, tasks)
        src = tasks != "target"
        sources = {}
        for alpha in ALPHAS_SOURCE:
            t1 = time.perf_counter()
            model = MultiTaskClassifier(alpha).fit(X[src], y[src])
            sources[alpha] = (model, time.perf_counter() - t1)
        reduced = None
        if peers or "CORAL + LR" in methods:
            # unsupervised, every document (no label); fixed seed
            svd = TruncatedSVD(min(SVD_COMPONENTS, X.shape[1] - 1), random_state=0)
            reduced = StandardScaler().fit_transform(svd.fit_transform(X))
        prepared[split] = (X, y, tasks, sources, reduced)
        print(
            f"{split}: {X.shape[0]} docs ({src.sum()} source), {X.shape[1]} "
            f"features, prepared in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    results = {}
    for frac in fractions:
        for split in splits:
            X, y, tasks, sources, reduced = prepared[split]
            t1 = time.perf_counter()
            results[(split, frac)] = [
                run_draw(
                    X,
                    y,
                    tasks,
                    frac,
                    seed,
                    sources,
                    methods,
                    adapt_classes,
                    reduced,
                    peers,
                    stratify,
                )  # fmt: skip
                for seed in range(draws[frac])
            ]
            s = summarize({(split, frac): results[(split, frac)]}, methods)
            s = s[(split, frac)]
            msg = f"{split} {frac:.0%}: {time.perf_counter() - t1:.1f} s"
            for label, m in (("transfer", s["best_transfer"]),
                             ("baseline", s["best_baseline"])):  # fmt: skip
                if m is not None:
                    msg += f"; best {label} {m} {100 * s['cells'][m]['mean']:.1f}"
            print(msg, flush=True)
            report(results, splits, fractions, methods, info, out_dir, done=False)
    summary = summarize(results, methods)
    note = plot(summary, splits, fractions, methods, out_dir / "transfer.png")
    info["plot"] = None if note else "transfer.png"
    info["plot_note"] = note
    summary, text, wins, cells = report(
        results, splits, fractions, methods, info, out_dir, done=True
    )
    print(text)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--splits", nargs="*", default=None)
    parser.add_argument("--no-adapt", dest="adapt", action="store_false", default=None)
    parser.add_argument("--no-skada", dest="skada", action="store_false", default=None)
    parser.add_argument("--fractions", nargs="*", type=float, default=None)
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--all-methods", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--unstratified", action="store_true")
    args = parser.parse_args()
    main(
        quick=args.quick,
        out_dir=args.out,
        draws=args.draws,
        splits=args.splits,
        adapt=args.adapt,
        threads=args.threads,
        skada=args.skada,
        fractions=tuple(args.fractions) if args.fractions else None,
        methods=args.methods,
        all_methods=args.all_methods,
        stratify=not args.unstratified,
    )
    sys.exit(0)
