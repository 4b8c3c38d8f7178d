"""Transfer on the six classic 20 Newsgroups splits: skmtl, baselines and ADAPT.

Usage::

    python benchmarks/bench_transfer.py               # full run, about 20-25 min
    python benchmarks/bench_transfer.py --draws 5     # 5 draws per cell
    python benchmarks/bench_transfer.py --quick       # tiny synthetic text (smoke)
    python benchmarks/bench_transfer.py --no-adapt    # skip the ADAPT peers

Protocol (Dai et al., 2007): for each split every source document is
labelled, a fraction (1%, 2%, 5%, 10%) of the target documents is labelled
(stratified draw, ``train_test_split_target``), and the rest of the target is
the test set; ``draws`` random draws per fraction. Every method is scored by
its accuracy on the unlabelled target rows.

Features: one ``TfidfVectorizer(sublinear_tf=True, stop_words="english",
min_df=2)`` per split, fitted on the source documents only (all available, no
target label used), applied to every document once. Every method sees the
same matrix.

Hyper-parameters are chosen by cross-validation on the labelled target rows
only: a ``StratifiedKFold`` of the labelled target rows for the methods that
are fitted on target rows only, ``SourceTargetSplit`` (every source row in
every training fold, only labelled target rows split and scored) for the
methods fitted on source and target rows. 3 folds, fewer when a class has
fewer than 3 labelled target rows, and the fixed ``DEFAULTS`` (no search)
when it has one. The reported time of a method is its selection plus its
final fit (not prediction). The source-only models are fitted once per split
(the source rows do not change between draws) for each alpha of the grid; a
draw picks the one with the best accuracy on its labelled target rows, and
that model is the prior / teacher / starting point of the model-based
methods, whose times do not include it.

Results go to ``benchmarks/results/transfer.md`` and ``transfer.png``; the
markdown is rewritten after every split, so an interrupted run leaves a
table.
"""

import argparse
import contextlib
import io
import os
import platform
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

import skmtl
import skmtl.transfer as skt
from skmtl import MultiTaskClassifier
from skmtl.datasets import (
    fetch_20newsgroups_transfer,
    load_20newsgroups_splits,
    train_test_split_target,
)
from skmtl.model_selection import MultiTaskClassifierCV, SourceTargetSplit
from skmtl.penalties import MeanRegularized

RESULTS = Path(__file__).resolve().parent / "results"
FRACTIONS = (0.01, 0.02, 0.05, 0.10)
# 10 draws per (split, fraction): the protocol of the issue
DRAWS = {0.01: 10, 0.02: 10, 0.05: 10, 0.10: 10}
N_FOLDS = 3
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
)
PEERS = ("ADAPT RegularTransferLC", "ADAPT TrAdaBoost")
# skmtl estimators added recently: used when this checkout has them
OPTIONAL = {"TrAdaBoost": "TrAdaBoostClassifier", "Distilled": "DistilledClassifier"}


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


# ---------------------------------------------------------------- one draw


def run_draw(X, y, tasks, labelled, seed, sources, methods, adapt):
    """Accuracy, time and chosen parameters of every method on one draw.

    ``sources``: {alpha: (fitted source-only model, fit seconds)}.
    """
    X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_target(
        X, y, tasks, labelled=labelled, random_state=seed
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
    return out


# ---------------------------------------------------------------- report


def _cell(results, name):
    ok = [r[name] for r in results if name in r and "acc" in r[name]]
    if not ok:
        return None
    acc = np.array([r["acc"] for r in ok])
    return {
        "mean": acc.mean(),
        "sd": acc.std(ddof=1) if len(acc) > 1 else 0.0,
        "time": np.mean([r["time"] for r in ok]),
        "n": len(ok),
        "acc": acc,
    }


def summarize(results, methods):
    """Per (split, fraction): cells, the best transfer method and baseline."""
    summary = {}
    for key, draws in results.items():
        cells = {m: _cell(draws, m) for m in methods}
        cells = {m: c for m, c in cells.items() if c is not None}
        best_t = max(
            (m for m in TRANSFER if m in cells), key=lambda m: cells[m]["mean"],
            default=None,
        )  # fmt: skip
        best_b = max(
            (m for m in BASELINES if m in cells), key=lambda m: cells[m]["mean"],
            default=None,
        )  # fmt: skip
        row = {"cells": cells, "best_transfer": best_t, "best_baseline": best_b}
        if best_t and best_b:
            a, b = cells[best_t]["acc"], cells[best_b]["acc"]
            row["gain"] = cells[best_t]["mean"] - cells[best_b]["mean"]
            row["wins"] = row["gain"] > 0
            if len(a) == len(b):
                row["draws_won"] = int(np.sum(a > b))
        row["n_labelled"] = np.mean([d["n_labelled"] for d in draws])
        row["folds"] = sorted({d["folds"] for d in draws})
        row["errors"] = sorted(
            {f"{m}: {d[m]['error']}" for d in draws for m in methods
             if m in d and "error" in d[m]}
        )  # fmt: skip
        summary[key] = row
    return summary


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return cpu, os.cpu_count(), " ".join(f"{x:.2f}" for x in load)


def report(results, splits, fractions, methods, info, out_dir, done):
    summary = summarize(results, methods)
    cpu, ncpu, load = _machine()
    low = fractions[:2]
    lines = [
        "# Transfer on the 20 Newsgroups splits: skmtl, baselines and ADAPT",
        "",
        f"Command: `{info['command']}`",
        "",
        f"- Machine: {cpu}, {ncpu} CPUs (shared), Python {platform.python_version()}"
        f", numpy {np.__version__}, scikit-learn {sklearn.__version__}, skmtl "
        f"{skmtl.__version__}; load average at start {info['load_start']}, now "
        f"{load}; wall time so far {time.perf_counter() - info['start']:.0f} s.",
        f"- ADAPT: {info['adapt']}.",
        "- skmtl methods not in this checkout (skipped): "
        + (", ".join(info["missing"]) or "none")
        + ".",
        f"- Data: {info['data']}. Draws per (split, fraction): {info['draws']} "
        "(seeds 0, 1, ...; the same draws for every method). Accuracy (%) on the "
        "unlabelled target rows, mean +- sd over the draws; in brackets the mean "
        "seconds of selection + final fit.",
        "- Features: one TfidfVectorizer(sublinear_tf=True, stop_words='english', "
        "min_df=2) per split, fitted on the source documents only (no target "
        "label), applied once to all documents.",
        "- Selection on the labelled target rows only: StratifiedKFold on them for "
        "target-only, RegularizedTransfer, FineTuned, Distilled and ADAPT "
        "RegularTransferLC; SourceTargetSplit (all source rows in every training "
        "fold, only labelled target rows split and scored) for pooled, "
        "JointTransfer, FeatureAugmenter + LR and MeanRegularized MTL. "
        f"{N_FOLDS} folds (fewer if a class has fewer labelled rows; none, with "
        "fixed defaults, if it has one). Source-only: the source-only model, "
        "fitted once per split for each alpha of the grid, whose accuracy on the "
        "labelled target rows is best (its time is the sum of those fits); this "
        "model is the prior / starting point / teacher of RegularizedTransfer, "
        "FineTuned, Distilled and ADAPT RegularTransferLC (whose times exclude "
        f"it). TrAdaBoost (skmtl and ADAPT): {TRADABOOST_ROUNDS} rounds of "
        f"MultiTaskClassifier(alpha={TRADABOOST_ALPHA:g}), fixed, not tuned (each "
        "candidate would cost 20 fits on all the rows).",
        f"- BLAS / OpenMP limited to {info['threads']} thread(s) (threadpoolctl): "
        "on this shared 2-core machine two OpenBLAS threads made the many tiny "
        "solves of FineTuned 10-30x slower, at random, when other jobs ran.",
        "- Grids: " + "; ".join(
            f"{m}: " + ", ".join(f"{k}={v}" for k, v in g.items())
            for m, g in GRIDS.items() if m in methods
        ) + "; source-only and pooled alpha in " + f"{ALPHAS_SOURCE}.",
        "- **Best transfer** is the skmtl transfer method (not a baseline, not "
        "ADAPT) with the highest mean accuracy in the cell, picked after the "
        "fact; *best baseline* likewise among target-only, source-only, pooled.",
        "",
    ]  # fmt: skip
    if not done:
        lines += ["**Partial results: the run is still going or was stopped.**", ""]
    wins_low, cells_low = 0, 0
    per_method = dict.fromkeys(TRANSFER + PEERS, 0)
    for split in splits:
        keys = [(split, f) for f in fractions if (split, f) in summary]
        if not keys:
            continue
        lines += [f"## {split}", ""]
        head = ["method"] + [
            f"{f:.0%} (n={summary[k]['n_labelled']:.0f})"
            for k, f in zip(keys, fractions)
        ]
        lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for m in methods:
            row = [m + (" (baseline)" if m in BASELINES else "")]
            for key in keys:
                s = summary[key]
                c = s["cells"].get(m)
                if c is None:
                    row.append("failed" if any(e.startswith(m + ":") for e in
                                               s["errors"]) else "-")  # fmt: skip
                    continue
                text = (
                    f"{100 * c['mean']:.1f} +- {100 * c['sd']:.1f} ({c['time']:.2f} s)"
                )
                if m == s["best_transfer"]:
                    text = f"**{text}**"
                elif m == s["best_baseline"]:
                    text = f"*{text}*"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        verdict = ["best transfer - best baseline"]
        for key in keys:
            s = summary[key]
            if "gain" not in s:
                verdict.append("-")
                continue
            won = f", {s['draws_won']}/{s['cells'][s['best_transfer']]['n']} draws"
            verdict.append(
                f"{100 * s['gain']:+.1f} ({s['best_transfer']} vs "
                f"{s['best_baseline']}{won if 'draws_won' in s else ''}): "
                f"{'**wins**' if s['wins'] else 'loses'}"
            )
            if key[1] in low:
                cells_low += 1
                wins_low += bool(s["wins"])
                best_base = s["cells"][s["best_baseline"]]["mean"]
                for m in per_method:
                    c = s["cells"].get(m)
                    per_method[m] += c is not None and c["mean"] > best_base
        lines.append("| " + " | ".join(verdict) + " |")
        folds = sorted({f for k in keys for f in summary[k]["folds"]})
        lines += ["", f"CV folds used: {folds} (0 = fixed defaults)."]
        errors = sorted({e for k in keys for e in summary[k]["errors"]})
        if errors:
            lines += ["", "Failures: " + "; ".join(errors)]
        lines.append("")
    low_txt = " and ".join(f"{f:.0%}" for f in low)
    lines += [
        "## Summary",
        "",
        f"The best skmtl transfer method beats the best baseline in **{wins_low} of "
        f"{cells_low}** (split, {low_txt} labelled) cells.",
        "",
        f"Per method, the number of those {cells_low} cells where its mean accuracy "
        "is above the best baseline's (a fixed method, no pick after the fact): "
        + ", ".join(f"{m} {n}" for m, n in per_method.items() if m in methods)
        + ".",
        "",
    ]
    if info.get("plot"):
        lines += [f"![target accuracy vs labelled fraction]({info['plot']})", ""]
    elif info.get("plot_note"):
        lines += [info["plot_note"], ""]
    text = "\n".join(lines)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "transfer.md").write_text(text)
    return summary, text, wins_low, cells_low


def plot(summary, splits, fractions, methods, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot."
    done = [s for s in splits if any((s, f) in summary for f in fractions)]
    ncols = min(3, len(done))
    nrows = -(-len(done) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 4 * nrows), squeeze=False, sharey=False
    )
    cmap = plt.get_cmap("tab20")
    for ax, split in zip(axes.flat, done):
        for i, m in enumerate(methods):
            pts = [
                (f, summary[(split, f)]["cells"][m])
                for f in fractions
                if (split, f) in summary and m in summary[(split, f)]["cells"]
            ]
            if not pts:
                continue
            style = "--" if m in BASELINES else (":" if m in PEERS else "-")
            ax.errorbar(
                [100 * f for f, _ in pts],
                [100 * c["mean"] for _, c in pts],
                yerr=[100 * c["sd"] for _, c in pts],
                label=m, linestyle=style, marker="o", markersize=3,
                color=cmap(i % 20), capsize=2, linewidth=1.2,
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks([100 * f for f in fractions])
        ax.set_xticklabels([f"{f:.0%}" for f in fractions])
        ax.set_title(split)
        ax.set_xlabel("labelled target")
        ax.set_ylabel("target accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(done) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8)
    fig.tight_layout(rect=(0, 0.1 if nrows > 1 else 0.18, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ---------------------------------------------------------------- main


def main(quick=False, out_dir=None, draws=None, splits=None, adapt=None, threads=1):
    """Run the benchmark; return {(split, fraction): [per-draw dicts]}.

    draws: an int, or {fraction: int}; None is ``DRAWS`` (2 when quick).
    adapt: run the ADAPT peers (None: yes unless quick, whose smoke run would
    spend most of its time importing TensorFlow).
    threads: BLAS / OpenMP threads (threadpoolctl); None leaves them as they are.
    """
    limit = (
        threadpool_limits(threads) if threads is not None else contextlib.nullcontext()
    )
    with limit:
        return _main(quick, out_dir, draws, splits, adapt, threads)


def _main(quick, out_dir, draws, splits, adapt, threads):
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    start = time.perf_counter()
    if quick:
        splits = list(splits or ["synthetic"])
        fractions, draws = (0.1, 0.2), draws or 2
        data = "synthetic two-domain text, 150 source + 150 target documents"
    else:
        splits = list(splits or load_20newsgroups_splits()["transfer"]["tasks"])
        fractions, draws = FRACTIONS, draws or DRAWS
        data = (
            "20 Newsgroups bydate (all), headers/footers/quotes removed, the "
            "six splits of Dai et al. (2007)"
        )
    if not isinstance(draws, dict):
        draws = dict.fromkeys(fractions, draws)
    adapt = (not quick) if adapt is None else adapt
    methods = list(BASELINES) + [
        m for m in TRANSFER if m not in OPTIONAL or hasattr(skt, OPTIONAL[m])
    ]
    missing = [m for m in OPTIONAL if m not in methods]
    adapt_classes, adapt_info = None, "not run (--no-adapt / quick run)"
    if adapt:
        rtlc, trada, adapt_info = _import_adapt()
        if rtlc is not None:
            adapt_classes = (rtlc, trada)
            methods += list(PEERS)
            adapt_info += (
                "; RegularTransferLC is ADAPT's least-squares (labels -1/+1) "
                "transfer, densifies the labelled target rows, and gets the "
                "skmtl source model's weights as its source LogisticRegression"
            )
    argv = " ".join(sys.argv[1:]) if __name__ == "__main__" else ""
    info = {
        "command": f"python benchmarks/bench_transfer.py {argv}".strip()
        if __name__ == "__main__"
        else f"bench_transfer.main(quick={quick}, draws={draws}, adapt={adapt})",
        "start": start,
        "load_start": _machine()[2],
        "adapt": adapt_info,
        "data": data,
        "draws": ", ".join(f"{f:.0%}: {draws[f]}" for f in fractions),
        "threads": threads if threads is not None else "default",
        "missing": missing,
    }
    print(f"methods: {', '.join(methods)}\nADAPT: {adapt_info}", flush=True)
    results = {}
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
        print(
            f"{split}: {X.shape[0]} docs ({src.sum()} source), {X.shape[1]} "
            f"features, prepared in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        for frac in fractions:
            t1 = time.perf_counter()
            results[(split, frac)] = [
                run_draw(X, y, tasks, frac, seed, sources, methods, adapt_classes)
                for seed in range(draws[frac])
            ]
            s = summarize({(split, frac): results[(split, frac)]}, methods)
            s = s[(split, frac)]
            msg = f"  {frac:.0%}: {time.perf_counter() - t1:.1f} s"
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
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    main(
        quick=args.quick,
        out_dir=args.out,
        draws=args.draws,
        splits=args.splits,
        adapt=args.adapt,
        threads=args.threads,
    )
    sys.exit(0)
