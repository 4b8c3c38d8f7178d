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
"""

import argparse
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skmtl
import skmtl.penalties
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
from skmtl.penalties import GraphLaplacian, MeanRegularized

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_structure_peers import INSTALL, mutar_lines, run_mutar  # noqa: E402

try:
    import cvxpy as cp
except ImportError:  # pragma: no cover - cvxpy is in the "test" extra
    cp = None

RESULTS = Path(__file__).resolve().parent / "results"
NEWSGROUPS_SETTINGS = ("comp_vs_rec", "rec_vs_sci", "sci_vs_comp")

# Structural couplings, found by name in skmtl.penalties (getattr): a coupling
# that this checkout does not have is named in the report and left out.
STRUCTURAL = (
    "TraceNorm",
    "TaskRelationship",
    "Clustered",
    "Dirty",
    "RobustLowRank",
    "RobustFeatureLearning",
)
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

TARGET_GAP = 1e-6
LADDER = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
GOAL = 100.0  # the goal: skmtl at least 100x faster than cvxpy
MAX_FITS = 200  # timing runs of one fit at most (see _best_time)


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


# ================================================================ speed
# the penalties of part 3: (penalty object, how alpha is set from the loss
# gradient G at W = 0 (p, T), the parts of W it has)
def _penalty_specs():
    pen = skmtl.penalties
    specs = {"trace": (pen.TraceNorm(), "spectral", 1)}
    optional = {
        "relationship": ("TaskRelationship", "spectral", 1),
        "clustered": ("Clustered", "spectral", 1),
        "dirty": ("Dirty", "dirty", 2),
        # the L1,2 form: the objective of mutar's DirtyModel (the peer)
        "dirty_l2": ("Dirty", "dirty_l2", 2),
        "rmtl": ("RobustLowRank", "rmtl", 2),
        "rmtfl": ("RobustFeatureLearning", "rmtfl", 2),
    }
    for short, (cls_name, rule, n_parts) in optional.items():
        cls = getattr(pen, cls_name, None)
        if cls is not None:  # a checkout without it: left out
            penalty = cls(block_norm="l2") if rule == "dirty_l2" else cls()
            specs[short] = (penalty, rule, n_parts)
    return specs


def _alpha_max(rule, G, penalty):
    """The smallest alpha with W = 0 optimal (for the smooth couplings, the
    trace norm's: their W is never exactly 0, any alpha is a valid problem)."""
    rows, cols = np.abs(G).sum(axis=1), np.linalg.norm(G, axis=0)
    if rule == "dirty":
        return max(np.abs(G).max() / penalty.sparse, rows.max() / penalty.block)
    if rule == "dirty_l2":
        row_l2 = np.linalg.norm(G, axis=1).max()
        return max(np.abs(G).max() / penalty.sparse, row_l2 / penalty.block)
    if rule == "rmtl":
        spectral = np.linalg.norm(G, 2)
        return max(spectral / penalty.low_rank, cols.max() / penalty.outlier)
    if rule == "rmtfl":
        row_l2 = np.linalg.norm(G, axis=1).max()
        return max(row_l2 / penalty.block, cols.max() / penalty.outlier)
    return np.linalg.norm(G, 2)


class PenaltyProblem:
    """``sum_t mean_{i in t} loss_i + penalty(W)`` with per-task intercepts.

    ``p`` Gaussian features, ``T`` tasks of ``n_t`` rows, the tasks' weights
    of rank 3 (``W = A B``, ``A`` (p, 3), ``B`` (3, T)); squared loss with
    noise of half the signal's sd, or binary logistic labels drawn from the
    planted model. ``alpha = alpha_max / 10`` where ``alpha_max`` is the
    smallest alpha with ``W = 0`` optimal (for the trace norm the spectral
    norm of the loss gradient at ``W = 0`` and the best intercepts; for the
    task relationship and clustered couplings, whose ``W`` is never 0, the
    trace norm's). ``penalty`` is a key of :func:`_penalty_specs`; the
    penalty is written here from its definition, for numpy and for cvxpy.
    """

    def __init__(self, kind, T, n_t, p, seed, penalty="trace"):
        rng = np.random.default_rng(seed)
        self.kind, self.T, self.n_t, self.p = kind, T, n_t, p
        self.penalty_name = penalty
        self.penalty, rule, self.n_parts = _penalty_specs()[penalty]
        self.tasks = np.repeat(np.arange(T), n_t)
        self.X = rng.standard_normal((T * n_t, p))
        W = rng.standard_normal((p, 3)) @ rng.standard_normal((3, T)) / np.sqrt(p)
        s = (
            np.einsum("ip,pi->i", self.X, W[:, self.tasks])
            + rng.normal(size=T)[self.tasks]
        )
        if kind == "squared":
            self.y = s + 0.5 * s.std() * rng.standard_normal(len(s))
            resid = self.y - self._task_mean(self.y)
        else:
            self.y = (rng.random(len(s)) < expit(2 * s)).astype(float)
            resid = self.y - self._task_mean(self.y)
        self.c = 1.0 / n_t  # every row's weight: the per-task mean
        G = np.column_stack(
            [self.X[self.tasks == t].T @ resid[self.tasks == t] for t in range(T)]
        )
        self.alpha = _alpha_max(rule, self.c * G, self.penalty) / 10
        self.name = f"{penalty} {kind} T={T} n_t={n_t} p={p}"

    def _task_mean(self, v):
        return np.array([v[self.tasks == t].mean() for t in range(self.T)])[self.tasks]

    def penalty_value(self, parts):
        """The penalty at the parts (W,) or (P, Q), from its definition."""
        pen, a = self.penalty, self.alpha
        W = parts[0]
        nuc = np.linalg.svd(W, compute_uv=False).sum()
        if self.penalty_name == "trace":
            return a * nuc
        if self.penalty_name == "relationship":
            return 0.5 * a * (pen.ridge * np.sum(W * W) + pen.coupling * nuc**2)
        if self.penalty_name == "clustered":
            # min over M in closed form (Zhou, Chen & Ye 2011, Thm 3.1): M
            # shares W^T W's eigenvectors, eigenvalues on a capped simplex
            from skmtl.penalties._clustered import capped_simplex_weights

            eta = pen.ridge / pen.coupling
            s = np.linalg.svd(W, compute_uv=False)
            s = np.concatenate([s, np.zeros(self.T - s.size)])
            m = capped_simplex_weights(s, eta, pen.n_clusters)
            frac = float(np.sum(s**2 / (eta + m)))
            return 0.5 * a * pen.coupling * eta * (1 + eta) * frac
        P, Q = parts
        row_l2 = np.linalg.norm(P, axis=1).sum()
        col_l2 = np.linalg.norm(Q, axis=0).sum()
        if self.penalty_name == "dirty":
            return a * (pen.block * np.abs(P).max(axis=1).sum()
                        + pen.sparse * np.abs(Q).sum())  # fmt: skip
        if self.penalty_name == "dirty_l2":
            return a * (pen.block * np.linalg.norm(P, axis=1).sum()
                        + pen.sparse * np.abs(Q).sum())  # fmt: skip
        if self.penalty_name == "rmtl":
            P_nuc = np.linalg.svd(P, compute_uv=False).sum()
            return a * (pen.low_rank * P_nuc + pen.outlier * col_l2)
        return a * (pen.block * row_l2 + pen.outlier * col_l2)  # rmtfl

    def objective(self, parts, b):
        """parts: (W,) or (P, Q), each (p, T); b (T,): the objective."""
        W = sum(parts)
        s = np.einsum("ip,pi->i", self.X, W[:, self.tasks]) + b[self.tasks]
        if self.kind == "squared":
            losses = 0.5 * (self.y - s) ** 2
        else:
            losses = np.logaddexp(0.0, -np.where(self.y > 0, 1.0, -1.0) * s)
        return float(self.c * losses.sum() + self.penalty_value(parts))

    def fit_skmtl(self, tol):
        Est = MultiTaskRegressor if self.kind == "squared" else MultiTaskClassifier
        model = Est(alpha=self.alpha, penalty=self.penalty, tol=tol, max_iter=100_000)
        model.fit(self.X, self.y, tasks=self.tasks)
        if self.n_parts == 1:
            parts = (model.coef_.T,)
        else:
            names = [n for n in model._penalty_attributes if n.startswith("coef_")]
            parts = tuple(getattr(model, n).T for n in names)
        return parts, np.ravel(model.intercept_), model.n_iter_

    def _cvxpy_penalty(self, parts):
        pen, a = self.penalty, self.alpha
        if self.penalty_name == "trace":
            return a * cp.normNuc(parts[0]), []
        if self.penalty_name == "relationship":
            W = parts[0]
            ridge = pen.ridge * cp.sum_squares(W)
            return 0.5 * a * (ridge + pen.coupling * cp.square(cp.normNuc(W))), []
        if self.penalty_name == "clustered":
            eta = pen.ridge / pen.coupling
            M = cp.Variable((self.T, self.T), symmetric=True)
            constraints = [M >> 0, np.eye(self.T) - M >> 0,
                           cp.trace(M) == pen.n_clusters]  # fmt: skip
            frac = cp.matrix_frac(parts[0].T, eta * np.eye(self.T) + M)
            return 0.5 * a * pen.coupling * eta * (1 + eta) * frac, constraints
        P, Q = parts
        col_l2 = cp.sum(cp.norm(Q, 2, axis=0))
        if self.penalty_name == "dirty":
            return a * (pen.block * cp.sum(cp.max(cp.abs(P), axis=1))
                        + pen.sparse * cp.sum(cp.abs(Q))), []  # fmt: skip
        if self.penalty_name == "dirty_l2":
            return a * (pen.block * cp.sum(cp.norm(P, 2, axis=1))
                        + pen.sparse * cp.sum(cp.abs(Q))), []  # fmt: skip
        if self.penalty_name == "rmtl":
            return a * (pen.low_rank * cp.normNuc(P) + pen.outlier * col_l2), []
        row_l2 = cp.sum(cp.norm(P, 2, axis=1))
        return a * (pen.block * row_l2 + pen.outlier * col_l2), []

    def fit_cvxpy(self, solver):
        onehot = (self.tasks[:, None] == np.arange(self.T)[None]).astype(float)
        parts = [cp.Variable((self.p, self.T)) for _ in range(self.n_parts)]
        b = cp.Variable(self.T)
        W = parts[0] if self.n_parts == 1 else parts[0] + parts[1]
        s = cp.sum(cp.multiply(self.X @ W, onehot), axis=1) + onehot @ b
        if self.kind == "squared":
            losses = 0.5 * cp.square(self.y - s)
        else:
            losses = cp.logistic(-cp.multiply(np.where(self.y > 0, 1.0, -1.0), s))
        penalty, constraints = self._cvxpy_penalty(parts)
        problem = cp.Problem(
            cp.Minimize(self.c * cp.sum(losses) + penalty), constraints
        )
        problem.solve(solver=solver)
        if problem.status not in ("optimal", "optimal_inaccurate"):
            raise RuntimeError(f"{solver}: status {problem.status}")
        stats = problem.solver_stats
        return tuple(v.value for v in parts), b.value, stats.solve_time, problem.status


def _best_time(fit, repeat, budget_s, min_time_s=0.0):
    """Best of ``repeat`` wall times (fewer when the fits exceed ``budget_s``),
    and of at least ``min_time_s`` seconds of fits (at most ``MAX_FITS``).

    Times are this process' CPU time (``time.process_time``; BLAS is held to
    one thread, cvxpy's Clarabel runs on one): on the 2-core machine shared
    with other work that runs this benchmark, wall times measured the load
    more than the fits (at load average 4-5, best of 3: skmtl's time of one
    problem varied 2x between two rows of one run; the minimum over many
    short fits finds quiet moments that a fit of a second never does, which
    favoured the short side). The minimum over many runs, as ``timeit``
    takes it. Returns the best time, the number of fits and the output of
    the best fit.
    """
    best, n_fits, out = np.inf, 0, None
    spent = 0.0
    while (n_fits < repeat and (not n_fits or spent < budget_s)) or (
        spent < min_time_s and n_fits < MAX_FITS
    ):
        start = time.process_time()
        result = fit()
        elapsed = time.process_time() - start
        spent, n_fits = spent + elapsed, n_fits + 1
        if elapsed < best:
            best, out = elapsed, result
    return best, n_fits, out


def _timing_rule(cfg):
    """How a time is measured, in words (the report's protocol lines)."""
    rule = "CPU time of the process (one thread); "
    rule += f"best of {cfg['repeat']} fits (fewer when they take more than "
    rule += f"{cfg['budget_s']:g} s)"
    if cfg.get("min_time_s", 0) > 0:
        rule += (
            f" and of at least {cfg['min_time_s']:g} s of fits (at most "
            f"{MAX_FITS}: the minimum over many runs, as timeit takes it)"
        )
    return rule


def run_speed_problem(problem, cfg, log):
    row = {"problem": problem.name, "kind": problem.kind, "T": problem.T,
           "n_t": problem.n_t, "p": problem.p,
           "penalty": problem.penalty_name}  # fmt: skip
    # cvxpy: Clarabel, SCS when Clarabel does not solve it
    cvx, errors = None, []
    for solver in ("CLARABEL", "SCS"):
        try:
            t, k, (W, b, solve_s, status) = _best_time(
                lambda s=solver: problem.fit_cvxpy(s),
                cfg["repeat"], cfg["budget_s"], cfg["min_time_s"],
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a failed solver is a result
            errors.append(f"{solver}: {type(exc).__name__}: {exc}")
            continue
        cvx = {"solver": solver, "t": t, "k": k, "solve_s": solve_s,
               "status": status, "obj": problem.objective(W, b)}  # fmt: skip
        break
    row["cvxpy_errors"] = errors
    # skmtl: a tight fit for the reference, then the tolerance ladder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W, b, _ = problem.fit_skmtl(1e-10)
        objs = [problem.objective(W, b)] + ([cvx["obj"]] if cvx else [])
        ref = min(objs)
        chosen = None
        for tol in LADDER:
            W, b, iters = problem.fit_skmtl(tol)
            gap = (problem.objective(W, b) - ref) / abs(ref)
            if gap <= TARGET_GAP:
                chosen = (tol, gap, iters)
                break
        if chosen is None:
            chosen = (tol, gap, iters)
            row["note"] = f"skmtl did not reach gap {TARGET_GAP:g}"
        tol = chosen[0]
        t_sk, k_sk, _ = _best_time(
            lambda: problem.fit_skmtl(tol),
            cfg["repeat"], cfg["budget_s"], cfg["min_time_s"],
        )  # fmt: skip
    row.update(skmtl_s=t_sk, skmtl_k=k_sk, skmtl_tol=tol, skmtl_gap=chosen[1],
               skmtl_iter=chosen[2])  # fmt: skip
    if problem.penalty_name == "dirty_l2" and problem.kind == "squared":
        # mutar's DirtyModel solves this objective (bench_structure_peers)
        timer = partial(_best_time, min_time_s=cfg["min_time_s"])
        row.update(run_mutar(problem, ref, LADDER, TARGET_GAP, timer, cfg))
    if cvx:
        row.update(
            solver=cvx["solver"].capitalize() if cvx["solver"] == "CLARABEL" else "SCS",
            cvxpy_s=cvx["t"], cvxpy_k=cvx["k"], cvxpy_solve_s=cvx["solve_s"],
            cvxpy_gap=(cvx["obj"] - ref) / abs(ref), cvxpy_status=cvx["status"],
            ratio=cvx["t"] / t_sk, ratio_solve=cvx["solve_s"] / t_sk,
        )  # fmt: skip
        if abs(row["cvxpy_gap"]) > TARGET_GAP:
            row["note"] = (
                row.get("note", "") + f" cvxpy gap {row['cvxpy_gap']:.1e}"
            ).strip()
    log(
        f"  {problem.name}: skmtl {t_sk:.4f} s (tol {tol:g}, gap {chosen[1]:.1e})"
        + (
            f", cvxpy/{row['solver']} {row['cvxpy_s']:.3f} s "
            f"(solve {row['cvxpy_solve_s']:.3f} s), ratio {row['ratio']:.0f}"
            if cvx
            else f", cvxpy failed: {errors}"
        )
    )
    return row


def run_speed(cfg, log, seed=0, penalty="trace", kinds=("squared", "logistic")):
    """Part 2: ``penalty`` over the T and n_t series of ``cfg``."""
    rows = []
    if cp is None:
        return rows
    sizes = [("T", T, n) for T, n in cfg["speed_T"]]
    sizes += [("n", T, n) for T, n in cfg["speed_n"]]
    for kind in kinds:
        done = {}
        for series, T, n_t in sizes:
            if (T, n_t) in done:  # shared by both series: measured once
                rows.append(dict(done[(T, n_t)], series=series))
                continue
            problem = PenaltyProblem(
                kind, T, n_t, cfg["speed_p"], seed + T + n_t, penalty=penalty
            )
            row = run_speed_problem(problem, cfg, log)
            row["series"] = series
            done[(T, n_t)] = row
            rows.append(row)
    return rows


def run_penalties(cfg, log, seed=0):
    """Part 3: every structural penalty against cvxpy, both losses, one size."""
    rows = []
    if cp is None:
        return rows
    for name in _penalty_specs():
        for kind in ("squared", "logistic"):
            for T, n_t in cfg["penalty_sizes"]:
                problem = PenaltyProblem(
                    kind, T, n_t, cfg["speed_p"], seed + T + n_t, penalty=name
                )
                rows.append(run_speed_problem(problem, cfg, log))
    return rows


def run_penalty_growth(cfg, log, seed=0):
    """Part 3, cost growth: the series of part 2 for the two-part penalties
    (squared loss; their cvxpy problems need no semidefinite cone, but RMTL's)."""
    rows = []
    for name in cfg["growth_penalties"]:
        if name in _penalty_specs():
            rows += run_speed(cfg, log, seed, penalty=name, kinds=("squared",))
    return rows


# ================================================================ report
def _machine():
    return machine(cvxpy=getattr(cp, "__version__", "-"))


def mutar_status():
    """Why mutar's DirtyModel is (not) measured."""
    try:
        import mutar  # noqa: F401
    except ImportError:
        return (
            "mutar (DirtyModel) could not be installed: its only release on PyPI, "
            "0.0.1, is a source archive whose setup.py imports Cython before "
            "declaring it as a build requirement, so `pip install mutar` / `pip "
            "download mutar` stop with `ModuleNotFoundError: No module named "
            "'Cython'` while getting the build requirements. It is not a "
            "same-objective peer of the trace norm; its DirtyModel (the L1 + "
            "L1/L2 'dirty' model of Jalali et al. 2010, on one X shared by the "
            "tasks) would be a peer of `Dirty(block_norm='l2')` in part 3."
        )
    return (
        f"mutar 0.0.1 is installed ({INSTALL}) and measured in part 3 on the "
        "`Dirty(block_norm='l2')` squared problem, the objective of its "
        "DirtyModel; it is not a peer of the trace norm."
    )


def _fmt_params(chosen):
    """Most frequent choice of each parameter over the splits / draws."""
    parts = []
    for key in chosen[0]:
        values, counts = np.unique([c[key] for c in chosen], return_counts=True)
        parts.append(f"{key.replace('penalty__', '')}={values[np.argmax(counts)]:.3g}")
    return ", ".join(parts)


def accuracy_tables(results, names):
    lines = []
    for problem, res in results.items():
        meta = res["_meta"]
        regression = meta["kind"] == "regression"
        n_runs = len(res[names[0]]["score"])
        what = (
            f"{n_runs} random 75/25 splits per task; mean over tasks of the "
            "per-task explained variance (1 - MSE / Var(y) on the task's test rows) "
            "and explained variance over all test rows"
            if regression
            else f"{n_runs} draws of labelled rows per task; mean over tasks of the "
            "per-task test accuracy and accuracy over all test rows"
        )
        metric = "explained var." if regression else "accuracy"
        lines += [
            f"### {problem}: {meta['rows']} rows, {meta['tasks']} tasks",
            "",
            f"{what} (mean +- sd over the {'splits' if regression else 'draws'}). "
            f"Selection + refit time of all models over all "
            f"{'splits' if regression else 'draws'}: {meta['seconds']:.0f} s.",
            "",
            f"| model | mean per-task {metric} | overall {metric} | chosen "
            "(most frequent) | rank (trace) | CV + refit s | conv. warnings |",
            "|---|---|---|---|---|---|---|",
        ]
        best = max(names, key=lambda n: np.mean(res[n]["score"]))
        for name in names:
            e = res[name]
            score = f"{np.mean(e['score']):.3f} +- {np.std(e['score']):.3f}"
            if name == best:
                score = f"**{score}**"
            rank = (
                f"{np.median(e['rank']):.0f} (of {meta['tasks']})"
                if "rank" in e
                else "-"
            )
            lines.append(
                f"| {name} | {score} | {np.mean(e['overall']):.3f} +- "
                f"{np.std(e['overall']):.3f} | {_fmt_params(e['chosen'])} | {rank} "
                f"| {np.mean(e['time']):.2f} | {e['warn']} |"
            )
        lines.append("")
    return lines


def _x(ratio):
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def speed_table(rows):
    lines = [
        "| loss | series | T | n_t | p | skmtl s | skmtl tol | skmtl gap | "
        "cvxpy solver | cvxpy s (solve s) | cvxpy gap | cvxpy / skmtl (solve only) "
        "| >= 100x | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "ratio" in r:
            cvx = (
                f"{r['solver']} | {r['cvxpy_s']:.3f} ({r['cvxpy_solve_s']:.3f}) | "
                f"{r['cvxpy_gap']:.1e} | **{_x(r['ratio'])}** "
                f"({_x(r['ratio_solve'])}) | {'yes' if r['ratio'] >= GOAL else 'no'}"
            )
        else:
            cvx = "failed | - | - | - | -"
        note = r.get("note", "") + "; ".join(r["cvxpy_errors"])
        series = r.get("series", "-")
        loss = (
            r["kind"]
            if r.get("penalty", "trace") == "trace"
            else (f"{r['penalty']} {r['kind']}")
        )
        lines.append(
            f"| {loss} | {series} | {r['T']} | {r['n_t']} | {r['p']} | "
            f"{r['skmtl_s']:.4f} | {r['skmtl_tol']:.0e} | {r['skmtl_gap']:.1e} | "
            f"{cvx} | {note or '-'} |"
        )
    return lines


def penalties_table(rows):
    """Part 3: one row per (penalty, loss), the columns of :func:`speed_table`."""
    lines = speed_table(rows)
    head = lines[0].replace("| loss | series |", "| penalty | loss |")
    out = [head, lines[1]]
    for r, line in zip(rows, lines[2:]):
        cells = line.split(" | ")
        cells[0], cells[1] = f"| {r['penalty']}", r["kind"]
        out.append(" | ".join(cells))
    return out


PENALTY_TEXT = {
    "trace": "`TraceNorm()`: `alpha ||W||_*` (MALSAR `Least_Trace`)",
    "relationship": "`TaskRelationship()`: `alpha / 2 (||W||_F^2 + ||W||_*^2)`, "
    "the MTRL objective with Omega minimised out (Zhang & Yeung 2010)",
    "clustered": "`Clustered()` (2 clusters, ridge = coupling = 1): `alpha "
    "min_M tr(W (I + M)^-1 W^T)`, `0 <= M <= I`, `tr M = 2` (MALSAR "
    "`Least_CMTL`); cvxpy: `cp.matrix_frac` with M a variable (an SDP)",
    "dirty": "`Dirty()`: `alpha min_{P+Q=W} (||P||_{1,inf} + 0.5 ||Q||_1)` "
    "(MALSAR `Least_Dirty`)",
    "dirty_l2": "`Dirty(block_norm='l2')`: `alpha min_{P+Q=W} (sum_j ||P_j||_2 "
    "+ 0.5 ||Q||_1)`, the objective of mutar's `DirtyModel` (Jalali et al. 2010)",
    "rmtl": "`RobustLowRank()`: `alpha min_{L+S=W} (||L||_* + 0.5 sum_t "
    "||S_t||_2)` (MALSAR `Least_RMTL`)",
    "rmtfl": "`RobustFeatureLearning()`: `alpha min_{P+Q=W} (sum_j ||P_j||_2 + "
    "sum_t ||Q_t||_2)` (MALSAR `Least_rMTFL`)",
}


def penalties_section(rows, info, growth=()):
    """Part 3 of the report (also spliced alone into an existing report)."""
    cfg = info["cfg"]
    sizes = ", ".join(f"T = {T}, n_t = {n}" for T, n in cfg["penalty_sizes"])
    lines = [
        "## 3. Speed: every structural penalty against cvxpy, equal objective",
        "",
        f"Command: `{info['command']}`"
        + ("  (quick smoke sizes: not a measurement)" if info["quick"] else ""),
        "",
        f"- Date: {info['date']}; wall time of this part: {info['elapsed']:.0f} s",
        f"- Machine: {info['before']['cpu']}; BLAS: {info['before']['blas']}; "
        f"BLAS / OpenMP limited to {info['threads']} thread(s) (threadpoolctl)",
        f"- Load average (1, 5, 15 min) before / after: "
        f"{info['before']['load']} / {info['after']['load']}",
        f"- {info['before']['versions']} (git {info['before']['commit']})",
        "",
        "The protocol of part 2 (the same data generator `PenaltyProblem`, "
        f"p = {cfg['speed_p']}, {sizes}; per-task mean losses, unpenalised "
        "intercepts; the skmtl tolerance ladder to a relative gap of "
        f"{TARGET_GAP:g}; cvxpy with Clarabel, SCS when Clarabel fails; the "
        "whole `problem.solve` timed, the solve alone in parentheses "
        "(Clarabel's own wall-clock time: under load it can exceed the CPU "
        "time of the whole call); "
        f"{_timing_rule(cfg)}), for each penalty at its defaults, `alpha = "
        "alpha_max / 10` (the smallest alpha with W = 0 optimal; for the task "
        "relationship and clustered couplings, whose W is never 0, the trace "
        "norm's). Both sides' objectives are evaluated by the script from the "
        "definitions below (for the two-part penalties at the parts each "
        "solver returns; for the clustered coupling the minimum over M in "
        "closed form, Zhou, Chen & Ye 2011, Theorem 3.1). cvxpy's cost "
        "follows its cones: the trace norm, task relationship, clustered and "
        "RMTL problems need semidefinite cones, the dirty and rMTFL problems "
        "only linear and second-order cones, which Clarabel solves far faster:",
        "",
    ]
    present = list(dict.fromkeys(r["penalty"] for r in rows))
    lines += [f"- {name}: {PENALTY_TEXT[name]}" for name in present]
    lines.append("")
    if not rows:
        return lines + ["cvxpy is not installed: no speed comparison."]
    lines += penalties_table(rows) + [""]
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    if ratios:
        lines.append(
            f"- cvxpy / skmtl over the {len(ratios)} rows: min {_x(min(ratios))}, "
            f"median {_x(np.median(ratios))}; goal >= {GOAL:g}x met on "
            f"{sum(x >= GOAL for x in ratios)} of {len(ratios)} rows."
        )
    lines += mutar_lines(rows, _x)
    failed = [r for r in rows + list(growth) if "ratio" not in r]
    if failed:
        lines.append(f"- cvxpy failed on {len(failed)} problem(s), see notes.")
    if growth:
        names = list(dict.fromkeys(r["penalty"] for r in growth))
        lines += [
            "",
            "### Cost growth of the two-part penalties (squared loss)",
            "",
            "The series of part 2 (T in "
            + ", ".join(str(T) for T, _ in cfg["speed_T"])
            + f" at n_t = {cfg['speed_T'][0][1]}; n_t in "
            + ", ".join(str(n) for _, n in cfg["speed_n"])
            + f" at T = {cfg['speed_n'][0][0]}), the same protocol:",
            "",
        ]
        lines += speed_table(growth) + [""]
        for name in names:
            sel = [r for r in growth if r["penalty"] == name]
            lines += growth_lines(sel, label=f"{name}, ")
        ratios = [r["ratio"] for r in growth if "ratio" in r]
        if ratios:
            lines.append(
                f"- cvxpy / skmtl over these {len(ratios)} rows: min "
                f"{_x(min(ratios))}, median {_x(np.median(ratios))}, max "
                f"{_x(max(ratios))}."
            )
    return lines


def splice_section(path, lines):
    """Replace (or append) part 3 of an existing report, keeping parts 1-2."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    cut = text.find("\n## 3. ")
    if cut >= 0:
        text = text[: cut + 1]
    text = text.rstrip("\n") + ("\n\n" if text else "") + "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def growth_lines(rows, label=""):
    """Cost growth: log-log slope of the time against T, and against n_t."""
    out = []
    for kind in ("squared", "logistic"):
        for series, key in (("T", "T"), ("n", "n_t")):
            sel = [r for r in rows if r["kind"] == kind and r["series"] == series]
            sel = [r for r in sel if "ratio" in r]
            if len(sel) < 2:
                continue
            x = np.log([r[key] for r in sel])
            slopes = [
                np.polyfit(x, np.log([r[f] for r in sel]), 1)[0]
                for f in ("skmtl_s", "cvxpy_s")
            ]
            out.append(
                f"- {label}{kind}, time against {key} ({sel[0][key]} to "
                f"{sel[-1][key]}): "
                f"skmtl ~ {key}^{slopes[0]:.2f}, cvxpy ~ {key}^{slopes[1]:.2f} "
                "(log-log slope)."
            )
    return out


def plot(results, names, speed, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = (1 if results else 0) + (2 if speed else 0)
    if not panels:
        return False
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    axes = list(axes[0])
    if results:
        ax = axes.pop(0)
        problems = list(results)
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            vals = [np.mean(results[p][name]["score"]) for p in problems]
            errs = [np.std(results[p][name]["score"]) for p in problems]
            ax.bar(np.arange(len(problems)) + i * width, vals, width, yerr=errs,
                   label=name, capsize=2)  # fmt: skip
        ax.set_xticks(
            np.arange(len(problems)) + 0.4 - width / 2,
            [p.replace("20NG ", "20NG\n") for p in problems],
            fontsize=8,
        )
        ax.set_ylabel("mean per-task explained var. (School) / accuracy (20NG)")
        ax.set_title("CV-tuned models, held-out rows")
        ax.legend(fontsize=7)
    for ax, series, key in zip(axes, ("T", "n"), ("T", "n_t")):
        for kind, color in (("squared", "tab:blue"), ("logistic", "tab:red")):
            sel = [
                r for r in speed if r["series"] == series and r["kind"] == kind
            ]  # fmt: skip
            x = [r[key] for r in sel]
            ax.plot(x, [r["skmtl_s"] for r in sel], "o-", color=color,
                    label=f"skmtl {kind}")  # fmt: skip
            cx = [r[key] for r in sel if "ratio" in r]
            ax.plot(cx, [r["cvxpy_s"] for r in sel if "ratio" in r], "s--",
                    color=color, label=f"cvxpy {kind}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of tasks T" if series == "T" else "rows per task n_t")
        ax.set_ylabel("seconds (best of k)")
        ax.set_title(f"trace norm, equal objective: time vs {key}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _report(results, skipped, names, missing, speed, info, has_plot, out_name):
    cfg = info["cfg"]
    lines = [
        "# Structural couplings: accuracy (CV-tuned) and speed against cvxpy",
        "",
        f"Command: `{info['command']}`"
        + ("  (quick smoke sizes: not a measurement)" if info["quick"] else ""),
        "",
        f"- Date: {info['date']}; wall time of the run: {info['elapsed']:.0f} s",
        f"- Machine: {info['before']['cpu']}; BLAS: {info['before']['blas']}; "
        f"BLAS / OpenMP limited to {info['threads']} thread(s) (threadpoolctl)",
        f"- Load average (1, 5, 15 min) before / after the run: "
        f"{info['before']['load']} / {info['after']['load']}",
        f"- {info['before']['versions']} (git {info['before']['commit']})",
        "- Structural couplings found in `skmtl.penalties`: "
        + (", ".join(n for n in STRUCTURAL if n not in missing) or "none")
        + (
            f"; not in this checkout (left out): {', '.join(missing)}"
            if missing
            else ""
        ),
        "",
        "## 1. Accuracy with cross-validated strengths",
        "",
        "Every model is a `MultiTaskRegressorCV` / `MultiTaskClassifierCV` with "
        f"{cfg['cv_folds']} task-stratified folds (shuffled, seeded by the split) "
        f"inside the training rows; alpha on {len(cfg['reg_alphas'])} log-spaced "
        f"values from {cfg['reg_alphas'][0]:g} to {cfg['reg_alphas'][-1]:g} "
        f"(regression) and {len(cfg['clf_alphas'])} from {cfg['clf_alphas'][0]:g} "
        f"to {cfg['clf_alphas'][-1]:g} (classification); penalty grids: mean "
        "`shared` in [0.01, 0.1, 1], graph (all pairs) `coupling` in [0.3, 1, 3], "
        "trace `l1_ratio` in [1.0, 0.5] (nuclear norm, and half nuclear norm + "
        "half ridge), task relationship `coupling` in [0.1, 1, 10] (ridge 1). "
        "`pooled` is one model with one intercept for all rows "
        "(the CV estimator without `tasks`). Features: School standardised on "
        "the training rows (as `skmtl.demo`); 20 Newsgroups (headers, footers "
        "and quotes removed) `TfidfVectorizer(sublinear_tf=True, "
        "stop_words='english')` fitted on the labelled documents of the draw, "
        f"{cfg['news_per_task']} per task (balanced, `train_test_split_tasks`), "
        "draws seeded "
        + ", ".join(str(s) for s in cfg["news_draws"])
        + " as `skmtl.demo.compare_newsgroups`; School splits seeded 0 to "
        f"{cfg['school_splits'] - 1}. The best mean of each table is in bold.",
        "",
    ]
    if not info["quick"]:
        lines += [
            "Protocol: School as in the literature (10 random 75/25 splits per "
            "task, Argyriou et al. 2008), nothing reduced. Published School "
            "numbers (MALSAR, Argyriou et al.) are not cited: their splits, "
            "feature encodings and the exact score (over all test rows or per "
            "task) differ enough that a number next to these would not compare "
            "like with like.",
            "",
        ]
    lines += accuracy_tables(results, names)
    for name, why in skipped.items():
        lines.append(f"- {name}: skipped, data not found ({why}).")
    lines += [
        "",
        "## 2. Speed: the trace-norm problem against cvxpy, equal objective",
        "",
        "Objective (the estimators' own, written here from its definition): "
        "`sum_t mean_{i in t} loss_i + alpha ||W||_*`, per-task unpenalised "
        "intercepts, squared loss `0.5 (y - s)^2` or binary logistic "
        "`log(1 + exp(-y s))`; `alpha = alpha_max / 10` (a low-rank "
        "solution). Data: Gaussian X with "
        f"p = {cfg['speed_p']} features, planted rank-3 task weights "
        "(`PenaltyProblem`). skmtl: `MultiTaskRegressor` / `MultiTaskClassifier` "
        'with `penalty="trace"` (FISTA with singular value thresholding), '
        "going down the tolerance ladder "
        f"{', '.join(f'{t:g}' for t in LADDER)}; the first (loosest) tolerance "
        f"whose objective is within a relative gap of {TARGET_GAP:g} of the "
        "reference is timed. cvxpy: the same objective (`cp.normNuc`, "
        "`cp.square` / `cp.logistic`), Clarabel at its default tolerances (SCS "
        "when Clarabel fails); its time is the whole `problem.solve` (the "
        "canonicalisation a user pays included), the interior-point solve "
        "alone in parentheses (Clarabel's own wall-clock time). Reference: "
        "the lowest objective of the cvxpy "
        "solution and an skmtl fit at tol=1e-10. Gaps are `(objective - "
        "reference) / |reference|` computed by the script. Times: "
        f"{_timing_rule(cfg)}. The issue's goal: cvxpy / skmtl >= "
        f"{GOAL:g}.",
        "",
    ]
    if speed:
        lines += speed_table(speed) + [""] + growth_lines(speed)
        ratios = [r["ratio"] for r in speed if "ratio" in r]
        solve = [r["ratio_solve"] for r in speed if "ratio" in r]
        if ratios:
            lines += [
                f"- cvxpy / skmtl over the {len(ratios)} rows: min "
                f"{_x(min(ratios))}, median {_x(np.median(ratios))} "
                f"(interior-point solve alone: min {_x(min(solve))}, median "
                f"{_x(np.median(solve))}); goal >= {GOAL:g}x met on "
                f"{sum(x >= GOAL for x in ratios)} of {len(ratios)} rows "
                f"({sum(x >= GOAL for x in solve)} against the solve alone).",
            ]
        failed = [r for r in speed if "ratio" not in r]
        if failed:
            lines.append(f"- cvxpy failed on {len(failed)} problem(s), see notes.")
    else:
        lines.append("cvxpy is not installed: no speed comparison.")
    lines += ["", f"- Peer: {mutar_status()}"]
    if has_plot:
        lines += ["", f"![structure]({out_name}.png)"]
    else:
        lines += ["", "Plot skipped: matplotlib is not installed."]
    return "\n".join(lines) + "\n"


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
