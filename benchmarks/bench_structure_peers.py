"""mutar's DirtyModel as a same-objective peer of ``Dirty(block_norm="l2")``.

mutar (Janati et al.'s multi-task regression package) solves

    (1 / (2 n)) sum_t ||y_t - X_t (P_t + Q_t)||^2 + a ||P||_{1,2} + b ||Q||_1

with one intercept per task, for tasks of ``n`` rows each: the squared-loss
objective of skmtl's ``Dirty(block=1, sparse=b / a, block_norm="l2")`` at
``alpha = a`` (per-task mean losses, unpenalised intercepts). Used by part 3
of ``bench_structure.py`` on the ``dirty_l2`` squared problem.

Installing it: its only release (0.0.1) is a source archive whose setup.py
imports Cython before declaring it, so ``pip install mutar`` stops with
``ModuleNotFoundError: No module named 'Cython'``; ``pip install cython`` then
``pip install --no-build-isolation mutar`` builds it (mutar 0.0.1, Cython
3.3.1, numba 0.68.1, Python 3.11).
"""

import time
import warnings

import numpy as np

try:
    from mutar import DirtyModel
except ImportError:  # pragma: no cover - an optional peer
    DirtyModel = None

INSTALL = (
    "`pip install cython` then `pip install --no-build-isolation mutar` (its "
    "0.0.1 source archive imports Cython in setup.py without declaring it)"
)


def fit_mutar(problem, tol):
    """mutar's DirtyModel on ``problem`` (squared loss, equal rows per task).

    Returns ``((P, Q), b, n_iter)`` in the layout of ``problem.objective``.
    """
    T, n_t, pen, a = problem.T, problem.n_t, problem.penalty, problem.alpha
    # PenaltyProblem's rows are grouped by task, n_t each
    X = problem.X.reshape(T, n_t, problem.p)
    y = problem.y.reshape(T, n_t)
    model = DirtyModel(
        alpha=a * pen.block, beta=a * pen.sparse, tol=tol, max_iter=100_000
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    parts = (model.coef_shared_, model.coef_specific_)
    return parts, np.asarray(model.intercept_, dtype=float), model.n_iter_


def run_mutar(problem, ref, ladder, target_gap, best_time, cfg):
    """mutar down ``ladder`` to a relative gap of ``target_gap`` from ``ref``:
    a dict of row entries (``mutar_s``, ``mutar_tol``, ``mutar_gap``, ...),
    or ``{"mutar_note": why}``."""
    if DirtyModel is None:
        return {"mutar_note": "mutar not installed"}
    parts, b, _ = fit_mutar(problem, 1e-12)
    ref = min(ref, problem.objective(parts, b))
    chosen = None
    for tol in ladder:
        parts, b, n_iter = fit_mutar(problem, tol)
        gap = (problem.objective(parts, b) - ref) / abs(ref)
        if gap <= target_gap:
            chosen = (tol, gap, n_iter)
            break
    if chosen is None:
        return {"mutar_note": f"mutar did not reach gap {target_gap:g}"}
    start = time.perf_counter()
    t, k, _ = best_time(
        lambda: fit_mutar(problem, chosen[0]), cfg["repeat"], cfg["budget_s"]
    )
    return {"mutar_s": t, "mutar_k": k, "mutar_tol": chosen[0],
            "mutar_gap": chosen[1], "mutar_iter": chosen[2], "mutar_ref": ref,
            "mutar_wall": time.perf_counter() - start}  # fmt: skip


def mutar_lines(rows, fmt_ratio):
    """Report lines of the rows that have a mutar measurement."""
    lines = []
    for r in rows:
        if "mutar_s" in r:
            lines.append(
                f"- mutar `DirtyModel` (installed with {INSTALL}) on the "
                f"{r['penalty']} {r['kind']} problem (T = {r['T']}, n_t = "
                f"{r['n_t']}): {r['mutar_s']:.4f} s at tol {r['mutar_tol']:g} "
                f"(gap {r['mutar_gap']:.1e}, {r['mutar_iter']} iterations); "
                f"mutar / skmtl = {fmt_ratio(r['mutar_s'] / r['skmtl_s'])}."
            )
        elif "mutar_note" in r:
            lines.append(f"- mutar on the {r['penalty']} {r['kind']} problem: "
                         f"{r['mutar_note']}.")  # fmt: skip
    return lines
