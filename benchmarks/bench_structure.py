"""Structural couplings (trace norm, ...): accuracy on real data and speed vs cvxpy.

Usage::

    python benchmarks/bench_structure.py            # full run, about 6-8 min
    python benchmarks/bench_structure.py --quick    # tiny synthetic sizes (smoke)
    python benchmarks/bench_structure.py --out DIR  # write structure.md / .png

From Python, ``main(quick=False, out_dir=None)`` returns
``{"accuracy": {...}, "speed": [...], "peers": {...}}``.

1. **Accuracy** with cross-validated strengths (``MultiTaskRegressorCV`` /
   ``MultiTaskClassifierCV``, ``alpha`` on a log grid, ``penalty_grid`` for the
   mixing parameter where the coupling has one) of every structural coupling
   of ``skmtl.penalties`` (``TraceNorm``; ``TaskRelationship`` too when this
   checkout has it), side by side with independent, pooled (one model, one
   intercept, for all tasks), mean-regularised and all-pairs graph models:
   School (random 75/25 splits per task, explained variance) and the three
   20 Newsgroups multi-task settings (20 labelled documents per task, the rest
   of the task is the test set; accuracy).
2. **Speed**: the trace-norm problem (squared loss and binary logistic)
   against cvxpy (Clarabel, SCS if Clarabel fails) solving the same objective,
   written here from its definition, at equal objective, over 4 numbers of
   tasks and 4 numbers of rows per task.
3. **Speed** of every structural penalty against cvxpy, and the growth series
   of the two-part penalties.

The problems and their timing (parts 2 and 3) are in
``_structure_penalties.py``, the tables, plot and report in
``_structure_report.py``; this script runs part 1 and the command line.
"""

import argparse
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skmtl
import skmtl.penalties
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
from skmtl.penalties import GraphLaplacian, MeanRegularized

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the problems, timings and report live in two modules; their names stay
# importable from here, as before the split
from _structure_penalties import (  # noqa: E402, F401
    GOAL,
    LADDER,
    MAX_FITS,
    STRUCTURAL,
    TARGET_GAP,
    PenaltyProblem,
    cp,
    run_penalties,
    run_penalty_growth,
    run_speed,
    run_speed_problem,
)
from _structure_report import (  # noqa: E402, F401
    _machine,
    _report,
    accuracy_tables,
    growth_lines,
    mutar_status,
    penalties_section,
    penalties_table,
    plot,
    speed_table,
    splice_section,
)

RESULTS = Path(__file__).resolve().parent / "results"
NEWSGROUPS_SETTINGS = ("comp_vs_rec", "rec_vs_sci", "sci_vs_comp")

SHORT = {
    "TraceNorm": "trace",
    "TaskRelationship": "task relationship",
    "Clustered": "clustered",
    "Dirty": "dirty",
    "RobustLowRank": "robust low rank (RMTL)",
    "RobustFeatureLearning": "robust feature learning (rMTFL)",
}
# Grids of the mixing parameters a structural coupling may have (used for
# those of its get_params() keys that are listed here).
MIXING_GRIDS = {
    "l1_ratio": [1.0, 0.5],
    "coupling": [0.1, 1.0, 10.0],
    # the second part's strength relative to the first (dirty, RMTL, rMTFL)
    "sparse": [0.2, 1.0],
    "outlier": [0.2, 1.0],
}

FULL = {
    "school_splits": 10,
    "news_draws": (100, 101, 102),
    "news_per_task": 20,
    "cv_folds": 3,
    "reg_alphas": list(np.logspace(3, -4, 15)),
    "clf_alphas": list(np.logspace(1, -5, 13)),
    # (n_tasks, rows per task): the T series at 100 rows, the n series at T=10
    "speed_T": [(5, 100), (10, 100), (20, 100), (40, 100)],
    "speed_n": [(10, 50), (10, 100), (10, 200), (10, 400)],
    "speed_p": 50,
    "penalty_sizes": [(10, 100)],
    "growth_penalties": ("dirty", "rmtfl", "rmtl"),
    "repeat": 3,
    "budget_s": 10.0,
    "min_time_s": 1.0,
}
QUICK = {
    "school_splits": 2,
    "news_draws": (0, 1),
    "news_per_task": 20,
    "cv_folds": 2,
    "reg_alphas": [1.0, 0.1],
    "clf_alphas": [1.0, 0.1],
    "speed_T": [(3, 20), (4, 20)],
    "speed_n": [(3, 20), (3, 30)],
    "speed_p": 5,
    "penalty_sizes": [(3, 20)],
    "growth_penalties": ("dirty",),
    "repeat": 1,
    "budget_s": 5.0,
    "min_time_s": 0.0,
}


# ================================================================ accuracy
def structural_couplings():
    """[(short name, penalty, penalty_grid)] of the couplings this checkout has,
    and the names of those it lacks."""
    found, missing = [], []
    for name in STRUCTURAL:
        cls = getattr(skmtl.penalties, name, None)
        if cls is None:
            missing.append(name)
            continue
        penalty = cls()
        params = penalty.get_params(deep=False)
        grid = {k: v for k, v in MIXING_GRIDS.items() if k in params} or None
        found.append((SHORT.get(name, name), penalty, grid))
    return found, missing


def model_specs(structural):
    """(name, penalty, penalty_grid, uses_tasks) of every compared model."""
    specs = [
        ("independent", "independent", None, True),
        ("pooled", "independent", None, False),
        ("mean", MeanRegularized(), {"shared": [0.01, 0.1, 1.0]}, True),
        ("graph", GraphLaplacian(), {"coupling": [0.3, 1.0, 3.0]}, True),
    ]
    return specs + [(name, pen, grid, True) for name, pen, grid in structural]


def _fit_cv(EstCV, alphas, penalty, grid, folds, seed, X, y, tasks):
    """Fit a CV estimator; return (model, seconds, convergence warnings)."""
    cv = TaskStratifiedKFold(folds, shuffle=True, random_state=seed)
    model = EstCV(alphas, penalty=penalty, penalty_grid=grid, cv=cv, max_iter=5000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y, tasks=tasks)
        seconds = time.perf_counter() - start
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, seconds, n_warn


def _explained_variance(y_true, y_pred):
    # the School literature's score: 1 - MSE / Var(y)
    var = np.var(y_true)
    return 1.0 - np.mean((y_true - y_pred) ** 2) / var if var > 0 else np.nan


def _record(res, name, model, seconds, n_warn):
    entry = res.setdefault(
        name, {"score": [], "overall": [], "time": [], "chosen": [], "warn": 0}
    )
    entry["time"].append(seconds)
    entry["warn"] += n_warn
    entry["chosen"].append(dict(model.best_params_))
    rank = getattr(model.best_estimator_, "rank_", None)
    if rank is not None:
        entry.setdefault("rank", []).append(int(np.max(rank)))
    return entry


def regression_accuracy(X, y, tasks, specs, cfg, log):
    """Random 75/25 splits per task; explained variance per task and overall."""
    labels = np.unique(tasks)
    res = {}
    for split in range(cfg["school_splits"]):
        X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
            X, y, tasks, train_size=0.75, stratify=False, random_state=split
        )
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        for name, penalty, grid, uses_tasks in specs:
            model, seconds, n_warn = _fit_cv(
                MultiTaskRegressorCV, cfg["reg_alphas"], penalty, grid,
                cfg["cv_folds"], split, X_tr, y_tr, t_tr if uses_tasks else None,
            )  # fmt: skip
            pred = model.predict(X_te, tasks=t_te if uses_tasks else None)
            entry = _record(res, name, model, seconds, n_warn)
            per_task = [
                _explained_variance(y_te[t_te == t], pred[t_te == t]) for t in labels
            ]
            entry["score"].append(float(np.nanmean(per_task)))
            entry["overall"].append(float(_explained_variance(y_te, pred)))
        log(f"  split {split}: " + ", ".join(
            f"{n} {res[n]['score'][-1]:.3f}" for n, *_ in specs
        ))  # fmt: skip
    return res


def classification_accuracy(docs, y, tasks, specs, cfg, log, vectorize=True):
    """``news_per_task`` labelled rows per task, the rest is the test set."""
    labels = np.unique(tasks)
    res = {}
    for seed in cfg["news_draws"]:
        X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
            docs, y, tasks, train_size=cfg["news_per_task"], random_state=seed
        )
        if vectorize:
            # TF-IDF fitted on the labelled documents only, as the demo's
            # Pipeline does; the same features for every model
            tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
            X_tr = tfidf.fit_transform(list(X_tr))
            X_te = tfidf.transform(list(X_te))
        for name, penalty, grid, uses_tasks in specs:
            model, seconds, n_warn = _fit_cv(
                MultiTaskClassifierCV, cfg["clf_alphas"], penalty, grid,
                cfg["cv_folds"], seed, X_tr, y_tr, t_tr if uses_tasks else None,
            )  # fmt: skip
            pred = model.predict(X_te, tasks=t_te if uses_tasks else None)
            entry = _record(res, name, model, seconds, n_warn)
            per_task = [np.mean(pred[t_te == t] == y_te[t_te == t]) for t in labels]
            entry["score"].append(float(np.mean(per_task)))
            entry["overall"].append(float(np.mean(pred == y_te)))
    return res


def accuracy_problems(quick, log):
    """{name: (kind, loader)}: School and the three 20NG settings, or synthetic."""
    if quick:
        X, y, t = make_multitask_regression(
            n_tasks=4, n_samples=40, n_features=6, noise=1.0, random_state=0
        )[:3]
        Xc, yc, tc = make_multitask_classification(
            n_tasks=3, n_samples=60, n_features=8, random_state=0
        )[:3]
        return {
            "synthetic regression": ("regression", lambda: (X, y, t)),
            "synthetic classification": ("classification", lambda: (Xc, yc, tc)),
        }
    out = {"School": ("regression", lambda: _school())}
    for setting in NEWSGROUPS_SETTINGS:
        out[f"20NG {setting}"] = ("text", lambda s=setting: _newsgroups(s))
    return out


def _school():
    data = load_school()
    return data.X, data.y, data.tasks


def _newsgroups(setting):
    data = fetch_20newsgroups_multitask(
        setting, remove=("headers", "footers", "quotes"), download_if_missing=False
    )
    return np.asarray(data.data, dtype=object), data.target, data.tasks


def run_accuracy(quick, cfg, specs, log, problems=None):
    results, skipped = {}, {}
    for name, (kind, loader) in accuracy_problems(quick, log).items():
        if problems and not any(name.startswith(p) for p in problems):
            continue
        try:
            X, y, tasks = loader()
        except (FileNotFoundError, OSError) as exc:
            skipped[name] = str(exc).splitlines()[0]
            log(f"{name}: data not found, skipped ({skipped[name]})")
            continue
        log(f"{name}: {len(y)} rows, {len(np.unique(tasks))} tasks")
        start = time.perf_counter()
        if kind == "regression":
            res = regression_accuracy(X, y, tasks, specs, cfg, log)
        else:
            res = classification_accuracy(
                X, y, tasks, specs, cfg, log, vectorize=kind == "text"
            )
        res["_meta"] = {
            "kind": kind,
            "rows": len(y),
            "tasks": len(np.unique(tasks)),
            "seconds": time.perf_counter() - start,
        }
        results[name] = res
        log(f"  done in {res['_meta']['seconds']:.0f} s")
    return results, skipped


def main(
    quick=False, out_dir=None, command=None, threads=1, speed=True, penalties=True,
    only_penalties=False, models=None, problems=None,
):  # fmt: skip
    """Run the benchmark; return ``{"accuracy", "skipped", "speed", "penalties",
    "names", "missing"}``.

    Parameters
    ----------
    quick : bool
        Tiny synthetic problems and a single timing per fit (a smoke run).
    out_dir : path or None
        Where to write ``structure.md`` and ``structure.png``; None: nowhere.
    command : str or None
        The command line recorded in the report.
    threads : int or None
        BLAS / OpenMP threads (threadpoolctl); None leaves them as they are.
    speed : bool
        Run part 2 (needs cvxpy).
    penalties : bool
        Run part 3 (needs cvxpy).
    only_penalties : bool
        Run part 3 alone and splice it into ``out_dir/structure.md``, keeping
        parts 1 and 2 of the report there (each part names its command).
    models, problems : list of str or None
        Part 1 for these models (``model_specs`` names, e.g. ``dirty``) and
        problems (names starting with one of these, e.g. ``20NG``) only: a
        narrower rerun whose rows are copied into the full tables by hand.
    """
    cfg = QUICK if quick else FULL
    log = print
    before = _machine()
    start = time.perf_counter()
    if only_penalties:
        limits = threadpool_limits(threads) if threads is not None else None
        try:
            before["blas"] = _machine()["blas"]
            rows = run_penalties(cfg, log)
            growth = run_penalty_growth(cfg, log)
        finally:
            if limits is not None:
                limits.restore_original_limits()
        info = {
            "cfg": cfg, "quick": quick,
            "command": command or f"bench_structure.main(quick={quick}, "
            "only_penalties=True)",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed": time.perf_counter() - start, "before": before,
            "after": _machine(),
            "threads": threads if threads is not None else "default",
        }  # fmt: skip
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            text = splice_section(
                Path(out_dir) / "structure.md", penalties_section(rows, info, growth)
            )
            log(text)
        return {"penalties": rows, "penalty_growth": growth}
    structural, missing = structural_couplings()
    specs = model_specs(structural)
    if models:
        specs = [s for s in specs if s[0] in models]
    names = [s[0] for s in specs]
    limits = threadpool_limits(threads) if threads is not None else None
    try:
        before["blas"] = _machine()["blas"]
        results, skipped = run_accuracy(quick, cfg, specs, log, problems)
        rows = run_speed(cfg, log) if speed else []
        penalty_rows = run_penalties(cfg, log) if penalties else []
        growth = run_penalty_growth(cfg, log) if penalties else []
    finally:
        if limits is not None:
            limits.restore_original_limits()
    elapsed = time.perf_counter() - start
    out = {"accuracy": results, "skipped": skipped, "speed": rows, "names": names,
           "missing": missing, "penalties": penalty_rows,
           "penalty_growth": growth}  # fmt: skip
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        has_plot = plot(results, names, rows, out_dir / "structure.png")
        info = {
            "cfg": cfg,
            "quick": quick,
            "command": command or f"bench_structure.main(quick={quick})",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed": elapsed,
            "before": before,
            "after": _machine(),
            "threads": threads if threads is not None else "default",
        }
        text = _report(results, skipped, names, missing, rows, info, has_plot,
                       "structure")  # fmt: skip
        if penalty_rows:
            section = penalties_section(penalty_rows, info, growth)
            text += "\n" + "\n".join(section) + "\n"
        (out_dir / "structure.md").write_text(text)
        log(text)
        log(f"wrote {out_dir / 'structure.md'}" + (" and structure.png" if has_plot
                                                     else ""))  # fmt: skip
    return out


def _cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--out", default=str(RESULTS), help="output folder")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--no-speed", action="store_true", help="skip part 2")
    parser.add_argument("--no-penalties", action="store_true", help="skip part 3")
    parser.add_argument(
        "--only-penalties", action="store_true",
        help="run part 3 alone and splice it into OUT/structure.md",
    )  # fmt: skip
    parser.add_argument(
        "--models", nargs="+", default=None,
        help="part 1 for these models only (e.g. dirty 'robust low rank (RMTL)')",
    )  # fmt: skip
    parser.add_argument(
        "--problems", nargs="+", default=None,
        help="part 1 for the problems whose names start with these (e.g. 20NG)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    command = " ".join(["python benchmarks/bench_structure.py"] + sys.argv[1:])
    if os.environ.get("PYTHONPATH"):  # which skmtl ran (a checkout's own)
        command = f"PYTHONPATH={os.environ['PYTHONPATH']} {command}"
    main(quick=args.quick, out_dir=args.out, command=command,
         threads=args.threads, speed=not args.no_speed,
         penalties=not args.no_penalties,
         only_penalties=args.only_penalties, models=args.models,
         problems=args.problems)  # fmt: skip


if __name__ == "__main__":
    _cli()
