"""Default ``alpha`` against a tuned one, on the data skmtl is for (issue [6/9] kind 6).

For each data set, each coupling and each draw: the test score of the model at
its default ``alpha`` (0.01), at ``alpha = 1 / n_task`` (the strength of
scikit-learn's defaults ``LogisticRegression(C=1)`` / ``Ridge(alpha=1)`` for a
task of ``n_task`` rows, ``n_task`` the mean task size), tuned by the
cross-validated estimator (``MultiTaskClassifierCV`` / ``MultiTaskRegressorCV``,
default grid of 11 alphas from 10 to 1e-4, 3 folds on the training rows), and
the oracle (best alpha of that grid on the test rows: an upper bound, not a
method).

- School: 139 schools, exam score regression (R^2 on the test rows), 70% of
  each school's rows for training, features standardized on the training rows.
- 20 Newsgroups, multi-task setting ``comp_vs_rec`` (4 tasks, one newsgroup vs
  one): 10 and 100 labelled documents per class per task, the rest for
  testing (accuracy), TF-IDF fitted on the training documents.
- 20 Newsgroups transfer split ``comp_vs_sci``: 5% of the target labelled,
  target-only and ``JointTransferClassifier`` (TF-IDF fitted on the source).

Usage::

    python benchmarks/bench_defaults.py            # 3 draws, about 5 minutes
    python benchmarks/bench_defaults.py --quick    # tiny smoke run
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn import config_context
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import (
    fetch_20newsgroups_multitask,
    fetch_20newsgroups_transfer,
    load_school,
    train_test_split_target,
    train_test_split_tasks,
)
from skmtl.model_selection import MultiTaskClassifierCV, MultiTaskRegressorCV
from skmtl.model_selection._cv import DEFAULT_ALPHAS
from skmtl.penalties import MeanRegularized
from skmtl.transfer import JointTransferClassifier

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _penalties():
    return {"independent": "independent", "mean": MeanRegularized()}


def _rows(name, setting, scores):
    """Mean +- sd over the draws of every method's score."""
    out = []
    for method, values in scores.items():
        v = np.asarray(values)
        out.append((name, setting, method, v.mean(), v.std()))
    return out


def _evaluate(make, make_cv, X_tr, y_tr, t_tr, X_te, y_te, t_te, score, alphas):
    """Scores of default, 1/n_task, CV-tuned and oracle alpha for one draw."""
    res = {}
    n_task = len(y_tr) / len(np.unique(t_tr))
    res["default (alpha=0.01)"] = score(make(0.01).fit(X_tr, y_tr, tasks=t_tr))
    res["alpha = 1/n_task"] = score(make(1.0 / n_task).fit(X_tr, y_tr, tasks=t_tr))
    cv = make_cv(alphas).fit(X_tr, y_tr, tasks=t_tr)
    res["tuned (CV estimator)"] = score(cv)
    res["_cv_alpha"] = cv.alpha_
    res["oracle (best alpha on test)"] = max(
        score(make(a).fit(X_tr, y_tr, tasks=t_tr)) for a in alphas
    )
    return res


def run_school(draws, alphas, quick):
    data = load_school(return_X_y=False)
    X, y, tasks = data.data, data.target, data.tasks
    if quick:
        keep = np.isin(tasks, np.unique(tasks)[:8])
        X, y, tasks = X[keep], y[keep], tasks[keep]
    rows, cv_alphas = [], {}
    for pname, pen in _penalties().items():
        scores = {}
        for seed in range(draws):
            X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
                X, y, tasks, train_size=0.7, random_state=seed
            )
            scaler = StandardScaler().fit(X_tr)
            X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)

            def score(m, X_te=X_te, y_te=y_te, t_te=t_te):
                return r2_score(y_te, m.predict(X_te, tasks=t_te))

            def make(a, pen=pen):
                return MultiTaskRegressor(alpha=a, penalty=pen)

            def make_cv(alphas, pen=pen):
                return MultiTaskRegressorCV(alphas=alphas, penalty=pen, cv=3)

            res = _evaluate(make, make_cv, X_tr, y_tr, t_tr, X_te, y_te, t_te,
                            score, alphas)  # fmt: skip
            cv_alphas.setdefault(("School", pname), []).append(res.pop("_cv_alpha"))
            for k, v in res.items():
                scores.setdefault(k, []).append(v)
        rows += _rows("School (R^2)", pname, scores)
    return rows, cv_alphas


def run_newsgroups(draws, alphas, quick, n_per_class_list):
    data = fetch_20newsgroups_multitask(
        "comp_vs_rec",
        remove=("headers", "footers", "quotes"),
        archive_path=SHARED / "20news-bydate.tar.gz",
        download_if_missing=False,
    )
    docs = np.asarray(data.data, dtype=object)
    y, tasks = np.asarray(data.target), np.asarray(data.tasks)
    rows, cv_alphas = [], {}
    for k in n_per_class_list:
        for pname, pen in _penalties().items():
            scores = {}
            for seed in range(draws):
                d_tr, d_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
                    docs, y, tasks, n_per_class=k, random_state=seed
                )
                if quick:
                    d_te, y_te, t_te = d_te[:400], y_te[:400], t_te[:400]
                tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
                X_tr = tfidf.fit_transform(d_tr)
                X_te = tfidf.transform(d_te)

                def score(m, X_te=X_te, y_te=y_te, t_te=t_te):
                    return float(np.mean(m.predict(X_te, tasks=t_te) == y_te))

                def make(a, pen=pen):
                    return MultiTaskClassifier(alpha=a, penalty=pen)

                def make_cv(alphas, pen=pen):
                    return MultiTaskClassifierCV(alphas=alphas, penalty=pen, cv=3)

                res = _evaluate(make, make_cv, X_tr, y_tr, t_tr, X_te, y_te, t_te,
                                score, alphas)  # fmt: skip
                key = (f"20NG comp_vs_rec, {k}/class/task", pname)
                cv_alphas.setdefault(key, []).append(res.pop("_cv_alpha"))
                for name, v in res.items():
                    scores.setdefault(name, []).append(v)
            rows += _rows(f"20NG comp_vs_rec, {k}/class/task (accuracy)", pname,
                          scores)  # fmt: skip
    return rows, cv_alphas


def run_transfer(draws, alphas, quick, fraction=0.05):
    """Transfer split comp_vs_sci: target-only and JointTransfer at 5% labelled.

    No CV estimator wraps JointTransfer, so its rows are default, 1/n_task and
    the oracle; TF-IDF is fitted on the source documents only (no target
    label), as in bench_transfer.py.
    """
    bunch = fetch_20newsgroups_transfer(
        "comp_vs_sci",
        remove=("headers", "footers", "quotes"),
        archive_path=SHARED / "20news-bydate.tar.gz",
        download_if_missing=False,
    )
    rows, cv_alphas = [], {}
    target_scores, joint_scores = {}, {}
    for seed in range(draws):
        d_tr, d_te, y_tr, y_te, t_tr, _ = train_test_split_target(
            bunch, labelled=fraction, random_state=seed
        )
        if quick:
            d_te, y_te = d_te[:300], y_te[:300]
        is_target = t_tr == "target"
        tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
        tfidf.fit(np.asarray(d_tr, dtype=object)[~is_target])
        X_tr, X_te = tfidf.transform(d_tr), tfidf.transform(d_te)

        def score(m, X_te=X_te, y_te=y_te):
            return float(np.mean(m.predict(X_te) == y_te))

        Xt, yt = X_tr[is_target], y_tr[is_target]
        n_target = int(is_target.sum())

        def make(a):
            return MultiTaskClassifier(alpha=a)

        def make_cv(alphas):
            return MultiTaskClassifierCV(alphas=alphas, cv=3)

        res = _evaluate(make, make_cv, Xt, yt, np.zeros(n_target, int), X_te, y_te,
                        None, score, alphas)  # fmt: skip
        cv_alphas.setdefault(("20NG comp_vs_sci", "target-only"), []).append(
            res.pop("_cv_alpha")
        )
        for k, v in res.items():
            target_scores.setdefault(k, []).append(v)

        def joint(a, X_tr=X_tr, y_tr=y_tr, t_tr=t_tr):
            return JointTransferClassifier(alpha=a).fit(X_tr, y_tr, tasks=t_tr)

        joint_scores.setdefault("default (alpha=0.01)", []).append(score(joint(0.01)))
        joint_scores.setdefault("alpha = 1/n_task", []).append(
            score(joint(1.0 / (len(y_tr) / 2)))
        )
        joint_scores.setdefault("oracle (best alpha on test)", []).append(
            max(score(joint(a)) for a in alphas)
        )
    name = f"20NG comp_vs_sci, {fraction:.0%} labelled target (accuracy)"
    rows += _rows(name, "target-only", target_scores)
    rows += _rows(name, "JointTransfer (source_weight=0.5)", joint_scores)
    return rows, cv_alphas


def main(quick=False, out_dir=None, draws=3):
    start = time.perf_counter()
    alphas = DEFAULT_ALPHAS if not quick else np.array([1.0, 0.01, 1e-4])
    draws = 1 if quick else draws
    with threadpool_limits(1):
        rows, cv_alphas = run_school(draws, alphas, quick)
        with config_context(enable_metadata_routing=False):
            more, more_alphas = run_newsgroups(
                draws, alphas, quick, [10] if quick else [10, 100]
            )
            rows += more
            cv_alphas.update(more_alphas)
            more, more_alphas = run_transfer(draws, alphas, quick)
    rows += more
    cv_alphas.update(more_alphas)
    lines = [
        "# Default alpha against tuned, on School and 20 Newsgroups",
        "",
        f"Command: `python benchmarks/bench_defaults.py{' --quick' if quick else ''}`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; BLAS at 1 "
        f"thread; {draws} draw(s) per cell (seeds 0, 1, ...); wall time "
        f"{time.perf_counter() - start:.0f} s.",
        "- Score on the test rows, mean +- sd over the draws. *tuned* is the "
        "cross-validated estimator (3 folds on the training rows, grid "
        f"{', '.join(f'{a:g}' for a in alphas)}); *oracle* is the best alpha of "
        "that grid on the test rows (an upper bound, not a method); "
        "*1/n_task* is the strength of scikit-learn's own defaults "
        "(LogisticRegression(C=1), Ridge(alpha=1)) for a task of the mean size.",
        "",
        "| data | coupling | method | score |",
        "|---|---|---|---|",
    ]
    for data, setting, method, mean, sd in rows:
        lines.append(f"| {data} | {setting} | {method} | {mean:.3f} +- {sd:.3f} |")
    lines += ["", "Alphas chosen by the CV estimator, per draw:", ""]
    for (data, setting), values in cv_alphas.items():
        lines.append(f"- {data}, {setting}: {', '.join(f'{a:g}' for a in values)}")
    text = "\n".join(lines) + "\n"
    print(text)
    out_dir = RESULTS if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "defaults.md").write_text(text)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args()
    sys.exit(main(quick=args.quick, draws=args.draws) and 0)
