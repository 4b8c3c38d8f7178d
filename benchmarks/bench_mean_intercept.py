"""Is the per-task intercept why Daume's augmentation beats the mean coupling?

Usage::

    python benchmarks/bench_mean_intercept.py                 # 10 draws, ~1 min
    python benchmarks/bench_mean_intercept.py --seeds 200 201 # fewer draws
    python benchmarks/bench_mean_intercept.py --out DIR       # write mean_intercept.md

The three 20 Newsgroups pair settings, 20 labelled documents per task (the
rest of the task is the test set), ``TfidfVectorizer(sublinear_tf=True,
stop_words="english")`` fitted on the labelled documents of the draw, as
``skmtl.demo.compare_newsgroups``; draws seeded 200.. (seeds 0-5 picked the
strengths of ``skmtl.demo.newsgroups_models``, 100-102 are the demo's).

Every model has the same strengths, those of ``newsgroups_models`` (alpha=1,
``MeanRegularized(shared=1, specific=1)``, ``GraphLaplacian(coupling=0.3)``).
With the per-task mean loss of skmtl and ``n`` rows per task, ridge of
strength ``alpha`` on Daume's augmented features is scikit-learn's
``LogisticRegression(C=1 / (n * alpha))``, so the models below differ only in
how the intercept is handled:

- (a) ``mean``: skmtl, one unpenalised intercept per task;
- (b) ``aug + LR, one b``: ``FeatureAugmenter`` + ``LogisticRegression``: one
  unpenalised intercept shared by all tasks;
- (c) ``mean, b as a feature``: (a) with ``fit_intercept=False`` and a column of
  ones appended to X: the intercepts are coupled by the same penalty as the
  weights (shared part penalised by ``alpha * shared``, task offsets by
  ``alpha * specific``);
- (d) ``aug + LR, b per task``: (b) with ``fit_intercept=False`` and one
  indicator column per task scaled by 1000 (penalty on the task intercepts
  ``1e-6`` times the weights'): numerically (a), an independent check.

The graph coupling is run as (a) and (c) too. ``aug + LR, C=1`` is the
augmentation with scikit-learn's default ``C`` (not the matched strength), for
reference.
"""

import argparse
import platform
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

import skmtl
from skmtl import MultiTaskClassifier
from skmtl.datasets import fetch_20newsgroups_multitask, train_test_split_tasks
from skmtl.demo import NEWSGROUPS_SETTINGS
from skmtl.penalties import GraphLaplacian, MeanRegularized
from skmtl.transfer import FeatureAugmenter

N_PER_TASK = 20
ALPHA = 1.0
SEEDS = tuple(range(200, 210))
TASK_INTERCEPT_SCALE = 1000.0


def _with_ones(X):
    return sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")


def _task_columns(tasks, labels, scale):
    codes = np.searchsorted(labels, tasks)
    n = len(tasks)
    return sp.csr_matrix(
        (np.full(n, scale), (np.arange(n), codes)), shape=(n, len(labels))
    )


def models():
    """name -> fit_predict(X_tr, y_tr, t_tr, X_te, t_te)."""
    C = 1.0 / (N_PER_TASK * ALPHA)
    tol = 1e-8

    def skmtl_model(penalty, ones):
        def fit_predict(X_tr, y_tr, t_tr, X_te, t_te):
            est = MultiTaskClassifier(
                alpha=ALPHA, penalty=penalty, fit_intercept=not ones, tol=tol,
                max_iter=10000,
            )  # fmt: skip
            if ones:
                X_tr, X_te = _with_ones(X_tr), _with_ones(X_te)
            return est.fit(X_tr, y_tr, tasks=t_tr).predict(X_te, tasks=t_te)

        return fit_predict

    def aug_lr(C, per_task):
        def fit_predict(X_tr, y_tr, t_tr, X_te, t_te):
            aug = FeatureAugmenter().fit(X_tr, tasks=t_tr)
            A_tr = aug.transform(X_tr, tasks=t_tr)
            A_te = aug.transform(X_te, tasks=t_te)
            if per_task:
                labels = aug.tasks_
                A_tr = sp.hstack(
                    [A_tr, _task_columns(t_tr, labels, TASK_INTERCEPT_SCALE)], "csr"
                )
                A_te = sp.hstack(
                    [A_te, _task_columns(t_te, labels, TASK_INTERCEPT_SCALE)], "csr"
                )
            lr = LogisticRegression(
                C=C, fit_intercept=not per_task, tol=tol, max_iter=10000
            )
            return lr.fit(A_tr, y_tr).predict(A_te)

        return fit_predict

    mean = MeanRegularized(shared=1.0, specific=1.0)
    graph = GraphLaplacian(coupling=0.3)
    return {
        "(a) mean": skmtl_model(mean, False),
        "(b) aug + LR, one b": aug_lr(C, False),
        "(c) mean, b as a feature": skmtl_model(mean, True),
        "(d) aug + LR, b per task": aug_lr(C, True),
        "graph": skmtl_model(graph, False),
        "graph, b as a feature": skmtl_model(graph, True),
        "aug + LR, C=1": aug_lr(1.0, False),
    }


def run(seeds=SEEDS, archive_path=None):
    """``acc[setting][model]``: (n_seeds,) mean per-task test accuracies."""
    acc = {}
    for setting in NEWSGROUPS_SETTINGS:
        data = fetch_20newsgroups_multitask(
            setting,
            remove=("headers", "footers", "quotes"),
            archive_path=archive_path,
            download_if_missing=False,
        )
        docs = np.asarray(data.data, dtype=object)
        res = acc[setting] = {}
        for k, seed in enumerate(seeds):
            d_tr, d_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
                docs, data.target, data.tasks, train_size=N_PER_TASK,
                random_state=seed,
            )  # fmt: skip
            vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
            X_tr, X_te = vec.fit_transform(list(d_tr)), vec.transform(list(d_te))
            labels = np.unique(t_tr)
            for name, fit_predict in models().items():
                with warnings.catch_warnings():
                    warnings.simplefilter("error", ConvergenceWarning)
                    pred = fit_predict(X_tr, y_tr, t_tr, X_te, t_te)
                per_task = [np.mean(pred[t_te == t] == y_te[t_te == t]) for t in labels]
                res.setdefault(name, np.zeros(len(seeds)))[k] = np.mean(per_task)
    return acc


def report(acc, seeds, wall):
    names = list(models())
    ref = "(a) mean"
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True,
            text=True, cwd=Path(__file__).parent,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = "?"
    lines = [
        "# Mean coupling: per-task intercepts vs Daume's one intercept (20NG pairs)",
        "",
        "Command: `python benchmarks/bench_mean_intercept.py --out benchmarks/results`",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"wall time {wall:.0f} s",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, skmtl {skmtl.__version__} (git {commit})",
        f"- 20 labelled documents per task, draws seeded {seeds[0]}..{seeds[-1]} "
        f"({len(seeds)} draws); TF-IDF fitted on the labelled documents of the draw.",
        f"- Same strengths for every model: alpha={ALPHA}, MeanRegularized(shared=1, "
        f"specific=1), GraphLaplacian(coupling=0.3); LogisticRegression "
        f"C = 1 / (20 * alpha) = {1 / (N_PER_TASK * ALPHA)} (the same objective "
        "up to the intercepts); tol 1e-8. See the module docstring for (a)-(d).",
        "",
        "Mean per-task test accuracy (%), mean +- sd over the draws; `diff vs (a)` is "
        "the paired difference (model - (a)) in points, mean +- sd over the draws, "
        "and the number of draws where the model is better / worse.",
        "",
    ]
    for setting, res in acc.items():
        lines += [
            f"## {setting}",
            "",
            "| model | accuracy | diff vs (a) | better / worse |",
            "|---|---|---|---|",
        ]
        for name in names:
            a = 100 * res[name]
            d = 100 * (res[name] - res[ref])
            lines.append(
                f"| {name} | {a.mean():.2f} +- {a.std(ddof=1):.2f} | "
                f"{d.mean():+.2f} +- {d.std(ddof=1):.2f} | "
                f"{np.sum(d > 1e-9)} / {np.sum(d < -1e-9)} |"
            )
        lines.append("")
    lines += ["## All three settings (mean of the settings, per draw)", ""]
    lines += ["| model | accuracy | diff vs (a) | better / worse |"]
    lines += ["|---|---|---|---|"]
    for name in names:
        a = 100 * np.mean([res[name] for res in acc.values()], axis=0)
        d = a - 100 * np.mean([res[ref] for res in acc.values()], axis=0)
        lines.append(
            f"| {name} | {a.mean():.2f} +- {a.std(ddof=1):.2f} | "
            f"{d.mean():+.2f} +- {d.std(ddof=1):.2f} | "
            f"{np.sum(d > 1e-9)} / {np.sum(d < -1e-9)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--archive", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    acc = run(tuple(args.seeds), args.archive)
    text = report(acc, tuple(args.seeds), time.perf_counter() - start)
    print(text)
    if args.out:
        path = Path(args.out) / "mean_intercept.md"
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)
    return acc


if __name__ == "__main__":
    main()
