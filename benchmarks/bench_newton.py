"""Newton-CG on coupled problems: CG steps, data passes and growth with the tasks.

Measures, side by side in one process with one BLAS thread, Newton-CG with the
coupling-aware preconditioner (:mod:`skmtl.solvers._precondition`) against
the same solver without it and against L-BFGS, on binary logistic problems
with the mean coupling (``MeanRegularized``) and the graph coupling
(``GraphLaplacian``: a chain of tasks, the sparse-Laplacian path, and all
pairs, the identity-plus-rank-one path):

1. CG steps per Newton step as the number of tasks doubles (T = 25 ... 400);
2. data passes (products with X and X^T, counted by
   :func:`skmtl._design.count_data_passes`) of a fit at ``tol=1e-4``: 200
   synthetic tasks and one-vs-rest tasks on 20 Newsgroups (a subset);
3. the growth exponent of the fit time and of the data passes when T doubles
   (4 sizes, least squares on log-log);
4. the mean coupling at T = 2000 small tasks (p = 2000) against independent
   tasks (the estimator's fit, ``solver="auto"``).

Every run reports its KKT violation (max-norm of the gradient) against the
absolute tolerance, and the objectives of the solvers are compared (relative
difference to the lowest).

Run: ``python benchmarks/bench_newton.py [--quick] [--out benchmarks/results]``.
:func:`newton_rows` returns the rows (dicts) for ``bench_core.py``.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skmtl import MultiTaskClassifier
from skmtl._design import SmoothLoss, TaskDesign, count_data_passes
from skmtl.datafits._losses import Logistic
from skmtl.penalties import GraphLaplacian, MeanRegularized
from skmtl.solvers import LBFGS, NewtonCG, absolute_tolerance

TOL = 1e-4
ALPHA = 1e-2


# ------------------------------------------------------------------ problems
def synthetic(T, p=2000, n_min=20, n_max=60, seed=0, density=0.01):
    """Ragged sparse logistic tasks, planted shared plus task-specific weights.

    ``X`` is CSR with nonnegative exponential entries and L2-normalised rows
    (as TF-IDF); task ``t`` has ``n_t`` rows drawn in ``[n_min, n_max]``, its
    labels follow ``w_0 + v_t`` with the task-specific parts drifting along
    the chain of tasks (``v_t = v_{t-1} + noise``), so that both couplings
    fit the truth.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(n_min, n_max + 1, size=T)
    n = int(sizes.sum())
    X = sp.random(
        n,
        p,
        density=density,
        format="csr",
        random_state=rng,
        data_rvs=lambda k: rng.exponential(size=k),
    )
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
    tasks = np.repeat(np.arange(T), sizes)
    w0 = 5.0 * rng.standard_normal(p)
    v = np.cumsum(rng.standard_normal((T, p)), axis=0) * (5.0 / np.sqrt(T))
    z = np.asarray(X.multiply(w0[None, :] + v[tasks]).sum(axis=1)).ravel()
    y = np.where(rng.random(n) < expit(z - np.median(z)), 1, -1)
    return X, y, tasks


def newsgroups_one_vs_rest(n_negatives=300, subset="train"):
    """20 one-vs-rest tasks on 20 Newsgroups (a subset), TF-IDF, ragged design.

    Task ``g``: the ``subset`` documents of newsgroup ``g`` against
    ``n_negatives`` documents of the others. Returns ``(X, y, tasks)`` with y
    in {-1, +1}, or None when the archive is absent (never downloads).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmtl.datasets import fetch_20newsgroups_multitask

    archive = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    archive = archive / "20news-bydate.tar.gz"
    try:
        data = fetch_20newsgroups_multitask(
            "all",
            one_vs_rest=True,
            max_negatives_per_task=n_negatives,
            subset=subset,
            remove=("headers", "footers", "quotes"),
            archive_path=str(archive) if archive.exists() else None,
            download_if_missing=False,
            random_state=0,
        )
    except (FileNotFoundError, OSError) as exc:
        print(f"20 Newsgroups archive not found, skipping: {exc}")
        return None
    X = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(data.data)
    y = np.where(np.asarray(data.target) == 1, 1, -1)
    return X.tocsr(), y, np.asarray(data.tasks)


def chain(T):
    """Adjacency of the chain of tasks 0 - 1 - ... - (T-1), sparse."""
    return sp.diags([np.ones(T - 1), np.ones(T - 1)], [-1, 1], format="csr")


def penalties(T):
    return {
        "mean": MeanRegularized(shared=1.0, specific=1.0),
        "graph chain": GraphLaplacian(adjacency=chain(T), coupling=1.0, ridge=0.1),
        "graph all pairs": GraphLaplacian(coupling=1.0 / T, ridge=0.1),
    }


def build_loss(X, y, tasks=None):
    """The centred logistic loss of ``MultiTaskClassifier`` (per-task means).

    ``tasks=None`` with a 2-D ``y``: the shared design (column t is task t).
    """
    if tasks is None:
        n, T = y.shape
        design = TaskDesign(X, None, T)
        y_rows = y.T.ravel().astype(np.float64)
        weights = np.full(n * T, 1.0 / n)
    else:
        labels, codes = np.unique(tasks, return_inverse=True)
        T = len(labels)
        design = TaskDesign(X, codes, T)
        counts = np.bincount(codes, minlength=T)
        y_rows = design.sort_rows(y.astype(np.float64))
        weights = 1.0 / counts[design.row_codes]
    design.center(weights)
    datafit = Logistic().initialize(y_rows, weights)
    return SmoothLoss(design, datafit, fit_intercept=True)


SOLVERS = {
    "newton-cg, preconditioned": lambda: NewtonCG(max_iter=200, max_cg=500),
    "newton-cg, no preconditioner": lambda: NewtonCG(
        max_iter=200, max_cg=500, precondition=False
    ),
    "lbfgs": lambda: LBFGS(max_iter=5000),
}


def run(loss, bound, solver):
    """One solve from zero: passes, seconds, Newton and CG steps, KKT, objective."""
    p, T = loss.design.n_features, loss.design.n_tasks
    W0, b0 = np.zeros((p, T)), np.zeros(T)
    tol_abs = absolute_tolerance(loss, W0, b0, TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with count_data_passes() as passes:
            start = time.perf_counter()
            res = solver.solve(loss, bound, W0, b0, tol_abs)
            seconds = time.perf_counter() - start
    inner = res.n_inner or []
    return {
        "passes": passes.total,
        "seconds": seconds,
        "n_iter": res.n_iter,
        "cg": inner,
        "cg_mean": float(np.mean(inner)) if inner else float("nan"),
        "cg_max": max(inner) if inner else 0,
        "kkt": res.kkt_violation,
        "tol_abs": tol_abs,
        "objective": res.objective,
        "converged": res.converged,
    }


def slope(xs, ys):
    """Least-squares exponent of ``ys ~ xs^k`` on log-log axes."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])
