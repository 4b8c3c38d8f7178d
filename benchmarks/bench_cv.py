"""MultiTask*CV (warm-started alpha paths) against GridSearchCV, same grid and folds.

Usage::

    python benchmarks/bench_cv.py            # full run (real data when found)
    python benchmarks/bench_cv.py --quick    # tiny synthetic problems (smoke run)

For each problem both tools tune ``alpha`` (and a penalty strength) over the
same grid on the same task-stratified folds, with the same estimator settings;
GridSearchCV gets ``tasks`` through metadata routing. The table reports both
wall times (best of ``repeats``, the two tools alternating), their ratio, and
whether the chosen parameters and best scores agree. Results go to
``benchmarks/results/cv.md``.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

import skmtl
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import (
    fetch_20newsgroups_multitask,
    load_school,
    make_multitask_classification,
    make_multitask_regression,
    train_test_split_tasks,
)
from skmtl.model_selection import (
    MultiTaskClassifierCV,
    MultiTaskRegressorCV,
    TaskStratifiedKFold,
)
from skmtl.penalties import L21, GraphLaplacian, MeanRegularized

RESULTS = Path(__file__).resolve().parent / "results"


def _problems(quick):
    """(name, X, y, tasks, Est, EstCV, penalty, alphas, penalty_grid)."""
    if quick:
        X, y, t = make_multitask_classification(
            n_tasks=3, n_samples=30, n_features=8, random_state=0
        )
        Xr, yr, tr = make_multitask_regression(
            n_tasks=3, n_samples=30, n_features=60, random_state=0
        )
        return [
            ("synthetic logistic, mean", X, y, t, MultiTaskClassifier,
             MultiTaskClassifierCV, MeanRegularized(), [1.0, 0.1],
             {"specific": [0.5, 2.0]}),
            ("synthetic l21", Xr, yr, tr, MultiTaskRegressor, MultiTaskRegressorCV,
             L21(), [1.0, 0.1], None),
        ]  # fmt: skip
    out = []
    try:
        data = fetch_20newsgroups_multitask(
            "comp_vs_rec", remove=("headers", "footers", "quotes"),
            download_if_missing=False,
        )  # fmt: skip
        docs = np.asarray(data.data, dtype=object)
        X_tr, _, y_tr, _, t_tr, _ = train_test_split_tasks(
            docs, data.target, data.tasks, train_size=100, random_state=0
        )
        X = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(
            list(X_tr)
        )
        out.append(
            ("20NG comp_vs_rec, 4 tasks x 100 docs, TF-IDF, logistic + mean",
             X, y_tr, t_tr, MultiTaskClassifier, MultiTaskClassifierCV,
             MeanRegularized(), list(np.logspace(0, -3, 7)),
             {"specific": [0.3, 1.0, 3.0]})
        )  # fmt: skip
    except (FileNotFoundError, OSError) as exc:
        print(f"20 Newsgroups archive not found, skipping that problem: {exc}")
    try:
        school = load_school()
        X = StandardScaler().fit_transform(school.X)
        out.append(
            ("School, 139 tasks, squared loss + graph", X, school.y, school.tasks,
             MultiTaskRegressor, MultiTaskRegressorCV, GraphLaplacian(),
             list(np.logspace(0, -3, 7)), {"coupling": [0.3, 1.0, 3.0]})
        )  # fmt: skip
    except FileNotFoundError as exc:
        print(f"School not found, skipping that problem: {exc}")
    Xr, yr, tr = make_multitask_regression(
        n_tasks=8, n_samples=150, n_features=1000, n_informative=20, noise=1.0,
        random_state=0,
    )  # fmt: skip
    out.append(
        ("synthetic 8 tasks x 150 rows, p=1000, squared loss + l21", Xr, yr, tr,
         MultiTaskRegressor, MultiTaskRegressorCV, L21(),
         list(np.logspace(0, -2.5, 8)), None)
    )  # fmt: skip
    return out


def run_problem(name, X, y, tasks, Est, EstCV, penalty, alphas, grid, repeats):
    folds = list(
        TaskStratifiedKFold(5, shuffle=True, random_state=0).split(X, y, tasks=tasks)
    )
    param_grid = {"alpha": alphas}
    param_grid.update({f"penalty__{k}": v for k, v in (grid or {}).items()})
    t_cv, t_gs = np.inf, np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        cvm = EstCV(alphas, penalty=penalty, penalty_grid=grid, cv=folds)
        cvm.fit(X, y, tasks=tasks)
        t_cv = min(t_cv, time.perf_counter() - start)
        start = time.perf_counter()
        with sklearn.config_context(enable_metadata_routing=True):
            gs = GridSearchCV(Est(penalty=penalty), param_grid, cv=folds)
            gs.fit(X, y, tasks=tasks)
        t_gs = min(t_gs, time.perf_counter() - start)
    chosen_gs = {k: float(v) if k == "alpha" else v for k, v in gs.best_params_.items()}
    return {
        "problem": name,
        "candidates": len(cvm.cv_results_["params"]),
        "folds": len(folds),
        "cv_s": t_cv,
        "gs_s": t_gs,
        "speedup": t_gs / t_cv,
        "same_choice": cvm.best_params_ == chosen_gs,
        "chosen": cvm.best_params_,
        "score_diff": abs(cvm.best_score_ - gs.best_score_),
    }


def main(quick=False, out_dir=None, repeats=None):
    repeats = repeats or (1 if quick else 3)
    rows = [run_problem(*p, repeats) for p in _problems(quick)]
    lines = [
        "# MultiTask*CV vs GridSearchCV: same grid, same folds",
        "",
        f"Command: `python benchmarks/bench_cv.py{' --quick' if quick else ''}`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, numpy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}, skmtl {skmtl.__version__}",
        f"- best of {repeats} run(s), the two tools alternating; 5 task-stratified "
        "folds; GridSearchCV with metadata routing and the same estimator settings.",
        "",
        "| problem | candidates | CV s | GridSearchCV s | speed-up | same choice | "
        "chosen | best-score diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        chosen = ", ".join(f"{k}={v:.3g}" for k, v in r["chosen"].items())
        lines.append(
            f"| {r['problem']} | {r['candidates']} | {r['cv_s']:.2f} | "
            f"{r['gs_s']:.2f} | **{r['speedup']:.2f}x** | {r['same_choice']} | "
            f"{chosen} | {r['score_diff']:.1e} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "cv.md").write_text(text)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
    sys.exit(0)
