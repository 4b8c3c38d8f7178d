"""Dirty / RMTL / rMTFL fits on 20 Newsgroups TF-IDF at small alpha: iterations.

Usage::

    python benchmarks/bench_structure_convergence.py [--setting comp_vs_rec]
        [--draw 100] [--max-iter 5000] [--alphas 1e-3 1e-4 1e-5]

One draw of 20 labelled documents per task (as part 1 of
``benchmarks/results/structure.md``), ``TfidfVectorizer(sublinear_tf=True,
stop_words="english")`` fitted on them, then one ``MultiTaskClassifier`` fit
per penalty, mixing strength (the CV grid's 0.2 and 1) and alpha, at the
default ``tol``: iterations, KKT violation against its tolerance, objective,
seconds, ``ConvergenceWarning`` count and test accuracy. Run it from two
checkouts to compare solvers (the table in structure.md does).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from skmtl import MultiTaskClassifier
from skmtl.datasets import fetch_20newsgroups_multitask, train_test_split_tasks
from skmtl.penalties import Dirty, RobustFeatureLearning, RobustLowRank

PENALTIES = {
    "dirty": lambda mix: Dirty(sparse=mix),
    "rmtl": lambda mix: RobustLowRank(outlier=mix),
    "rmtfl": lambda mix: RobustFeatureLearning(outlier=mix),
}


def load(setting, draw, per_task=20):
    data = fetch_20newsgroups_multitask(
        setting, remove=("headers", "footers", "quotes"), download_if_missing=False
    )
    docs = np.asarray(data.data, dtype=object)
    X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
        docs, data.target, data.tasks, train_size=per_task, random_state=draw
    )
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    X_tr = tfidf.fit_transform(list(X_tr))
    return X_tr, tfidf.transform(list(X_te)), y_tr, y_te, t_tr, t_te


def run(setting="comp_vs_rec", draw=100, max_iter=5000, alphas=(1e-3, 1e-4, 1e-5),
        penalties=("dirty", "rmtl", "rmtfl"), mixes=(1.0, 0.2), log=print):  # fmt: skip
    X_tr, X_te, y_tr, y_te, t_tr, t_te = load(setting, draw)
    log(f"20NG {setting}, draw {draw}: X {X_tr.shape[0]} x {X_tr.shape[1]}")
    rows = []
    for name in penalties:
        for mix in mixes:
            for alpha in alphas:
                model = MultiTaskClassifier(
                    penalty=PENALTIES[name](mix), alpha=alpha, max_iter=max_iter
                )
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(X_tr, y_tr, tasks=t_tr)
                    seconds = time.perf_counter() - start
                row = dict(
                    penalty=name, mix=mix, alpha=alpha, n_iter=int(model.n_iter_),
                    kkt=float(model.kkt_violation_), tol=float(model.kkt_tol_),
                    objective=float(model.objective_), seconds=seconds,
                    warnings=sum(issubclass(w.category, ConvergenceWarning)
                                 for w in caught),
                    accuracy=float(np.mean(model.predict(X_te, tasks=t_te) == y_te)),
                )  # fmt: skip
                rows.append(row)
                log(
                    f"| {name} | {mix:g} | {alpha:g} | {row['n_iter']} | "
                    f"{row['kkt']:.2e} / {row['tol']:.2e} | {row['objective']:.8f} | "
                    f"{seconds:.2f} | {row['warnings']} | {row['accuracy']:.3f} |"
                )
    return rows


def _cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", default="comp_vs_rec")
    parser.add_argument("--draw", type=int, default=100)
    parser.add_argument("--max-iter", type=int, default=5000)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-3, 1e-4, 1e-5])
    parser.add_argument("--penalties", nargs="+", default=list(PENALTIES))
    args = parser.parse_args(argv)
    print("| penalty | mix | alpha | n_iter | KKT / tol | objective | s | warnings "
          "| accuracy |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    run(args.setting, args.draw, args.max_iter, tuple(args.alphas),
        tuple(args.penalties))  # fmt: skip


if __name__ == "__main__":
    _cli()
