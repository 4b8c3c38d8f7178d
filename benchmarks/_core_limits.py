"""The rows of issue #17 ("solvers at the data-pass limit") for bench_core.py.

Each ``row_*`` function measures one line of the issue's table on this
machine, side by side in one process (except peak memory, measured in a fresh
subprocess per contender), and returns a summary row
``{"measure", "before", "now", "goal", "met", "detail"}`` plus, where there is
more to show, markdown sections. ``bench_core.main`` runs them after its own
solver-vs-peer tables and writes everything to ``results/core.md``.

Data passes are counted by wrapping ``TaskDesign.forward`` / ``backward``
(every product with X or X^T of every solver goes through them); a product
with a part of X (one task, a working set of features) counts as that
fraction of a pass.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

import skmtl._threads as threads_module
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._design import TaskDesign
from skmtl._threads import blas_max_threads
from skmtl.penalties import GraphLaplacian, MeanRegularized

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ helpers
def best_time(fit, repeat=3, budget_s=20.0):
    """Best wall time of ``fit()`` over ``repeat`` runs (fewer past ``budget_s``)."""
    times, out = [], None
    while len(times) < repeat and (not times or sum(times) < budget_s):
        start = time.perf_counter()
        out = fit()
        times.append(time.perf_counter() - start)
    return min(times), out


def interleaved_times(fits, repeat=5, budget_s=20.0):
    """Best time of each of ``fits`` (a dict), run in turn to share the noise."""
    times = {k: [] for k in fits}
    for _ in range(repeat):
        for k, fit in fits.items():
            if times[k] and sum(times[k]) > budget_s:
                continue
            start = time.perf_counter()
            fit()
            times[k].append(time.perf_counter() - start)
    return {k: min(v) for k, v in times.items()}


@contextmanager
def count_passes(shape):
    """Count products with X and X^T, in passes over an X of ``shape``.

    Yields a dict whose ``"passes"`` grows with every ``TaskDesign.forward``
    or ``backward`` call, by the fraction of X that design holds.
    """
    total = float(shape[0]) * float(shape[1])
    counter = {"passes": 0.0, "calls": 0}
    saved = {}
    # a preconditioner's Hessian diagonal (where the design has one) reads
    # the squared X once besides its own backward product
    names = [
        name
        for name in ("forward", "backward", "hessian_diagonal")
        if hasattr(TaskDesign, name)
    ]
    for name in names:
        original = saved[name] = getattr(TaskDesign, name)

        def wrapped(self, *args, _original=original, **kwargs):
            Xs = self.X_sorted
            counter["passes"] += Xs.shape[0] * Xs.shape[1] / total
            counter["calls"] += 1
            return _original(self, *args, **kwargs)

        setattr(TaskDesign, name, wrapped)
    try:
        yield counter
    finally:
        for name, original in saved.items():
            setattr(TaskDesign, name, original)


def fitted_exponent(sizes, seconds):
    """Slope of log(time) against log(size) (least squares over the points)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


@contextmanager
def no_convergence_warnings(record):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        yield
    record.append(sum(issubclass(w.category, ConvergenceWarning) for w in caught))


def ragged_logistic(T, n_min, n_max, p, seed, density=0.01):
    """Binary tasks of ragged sizes on sparse TF-IDF-like rows (bench_core's model)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(n_min, n_max + 1, size=T)
    n = int(sizes.sum())
    X = sp.random(
        n, p, density=density, format="csr", random_state=rng,
        data_rvs=lambda k: rng.exponential(size=k),
    )  # fmt: skip
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
    tasks = np.repeat(np.arange(T), sizes)
    w0 = 5.0 * rng.standard_normal(p)
    V = w0[:, None] + 5.0 * rng.standard_normal((p, T))
    z = np.asarray((X @ V)[np.arange(n), tasks]).ravel()
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    y = np.empty(n, dtype=np.int64)
    for t in range(T):
        zt = z[bounds[t] : bounds[t + 1]] - np.median(z[bounds[t] : bounds[t + 1]])
        yt = (rng.random(sizes[t]) < expit(zt)).astype(np.int64)
        if yt.min() == yt.max():
            yt[0] = 1 - yt[0]
        y[bounds[t] : bounds[t + 1]] = yt
    return X, y, tasks


def chain_graph(T):
    """Adjacency of a chain of tasks (T - 1 edges): a sparse task graph."""
    A = np.zeros((T, T))
    idx = np.arange(T - 1)
    A[idx, idx + 1] = A[idx + 1, idx] = 1.0
    return A


COUPLINGS = {
    "independent": lambda T: "independent",
    "mean": lambda T: MeanRegularized(),
    "graph": lambda T: GraphLaplacian(adjacency=chain_graph(T)),
    "l21": lambda T: "l21",
}


def _row(measure, before, now, goal, met, detail=""):
    return {
        "measure": measure,
        "before": before,
        "now": now,
        "goal": goal,
        "met": "yes" if met is True else ("no" if met is False else str(met)),
        "detail": detail,
    }


# ---------------------------------------------------------------- datasets
def newsgroups_one_vs_rest(quick):
    """20 one-vs-rest tasks on all 20 Newsgroups documents: (X, Y, name).

    ``X`` is the TF-IDF of the 18,846 documents (CSR), ``Y`` (n_docs, 20) the
    0/1 labels, one column per newsgroup. Quick: a synthetic stand-in.
    """
    if quick:
        X, y, tasks = ragged_logistic(1, 300, 300, 400, seed=3, density=0.05)
        rng = np.random.default_rng(0)
        groups = rng.integers(0, 5, size=X.shape[0])
        Y = (groups[:, None] == np.arange(5)).astype(np.int64)
        return X, Y, "synthetic one-vs-rest, 5 tasks x 300 rows (quick)"
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmtl.datasets import fetch_20newsgroups_multitask

    data = fetch_20newsgroups_multitask(
        "all", one_vs_rest=True, shuffle=False, download_if_missing=False
    )
    names = list(data.task_names)
    n = len(data.data) // len(names)
    # shuffle=False: task t's rows are all documents, in corpus order
    docs = data.data[:n]
    Y = np.asarray(data.target).reshape(len(names), n).T.astype(np.int64)
    X = TfidfVectorizer(sublinear_tf=True).fit_transform(docs).astype(np.float64)
    return sp.csr_matrix(X), Y, f"20NG one-vs-rest, {len(names)} tasks x {n} docs"


def l21_alpha_max_logistic(X, Y):
    """Smallest alpha with an all-zero L2,1 logistic solution (with intercepts)."""
    n = X.shape[0]
    P = Y.mean(axis=0)  # the zero model's best intercept gives these
    R = (P - Y) / n  # gradient of the per-task mean loss in the scores
    G = np.asarray(X.T @ R) - np.asarray(X.mean(axis=0)).ravel()[:, None] * R.sum(0)
    return float(np.sqrt((G * G).sum(axis=1)).max())


# -------------------------------------------------------------------- rows
def row_small_fits_threads(quick, log):
    """Small fits: default BLAS threads against one, with and without the policy."""
    from skmtl.transfer import FineTunedRegressor

    rng = np.random.default_rng(0)
    n_tasks = 20 if quick else 200
    Xs, tasks = rng.normal(size=(10 * n_tasks, 10)), np.repeat(np.arange(n_tasks), 10)
    ys = Xs @ rng.normal(size=10) + 0.1 * rng.normal(size=len(tasks))
    Xf, yf = rng.normal(size=(200, 20)), rng.normal(size=200)
    source = MultiTaskRegressor().fit(Xf, yf)
    cases = {
        f"many tiny tasks (mean, {n_tasks} x 10 rows, newton-cg)": lambda: (
            MultiTaskRegressor(penalty="mean", solver="newton-cg").fit(
                Xs, ys, tasks=tasks
            )
        ),
        "fine-tuning (200 rows, 20 features)": lambda: FineTunedRegressor(
            source, max_iter=20
        ).fit(Xf, yf),
        f"tiny logistic tasks (independent, {n_tasks} tasks)": lambda: (
            MultiTaskClassifier().fit(Xs, (ys > 0).astype(int), tasks=tasks)
        ),
    }
    default = os.cpu_count() or 1
    lines, ratios, ratios_off = [], [], []
    repeat = 2 if quick else 11  # fits of milliseconds: many draws
    original = threads_module.n_threads_for
    for name, fit in cases.items():

        def on(fit=fit):
            with threadpool_limits(default, user_api="blas"):
                fit()

        def one(fit=fit):
            with threadpool_limits(1, user_api="blas"):
                fit()

        def off(fit=fit):
            # the policy switched off: BLAS keeps the default threads
            threads_module.n_threads_for = lambda work, max_threads: max_threads
            try:
                with threadpool_limits(default, user_api="blas"):
                    fit()
            finally:
                threads_module.n_threads_for = original

        t = interleaved_times({"on": on, "one": one, "off": off}, repeat, 30.0)
        ratios.append(t["on"] / t["one"])
        ratios_off.append(t["off"] / t["one"])
        lines.append(
            f"| {name} | {t['one']:.3f} | {t['on']:.3f} | **{ratios[-1]:.2f}** | "
            f"{t['off']:.3f} | {ratios_off[-1]:.2f} |"
        )
        log(f"  threads: {name}: {t}")
    with threadpool_limits(default, user_api="blas"):
        got = blas_max_threads()
    section = [
        f"### Small fits: default BLAS threads ({default} allowed, {got} granted) "
        "against one",
        "",
        "| fit | 1 thread s | default s (policy) | default / 1 | default s "
        "(policy off) | off / 1 |",
        "|---|---|---|---|---|---|",
        *lines,
    ]
    worst = max(ratios)
    row = _row(
        "small fits with default BLAS threads (fine-tuning, many tiny tasks)",
        "30-200x slower than with one thread",
        f"{min(ratios):.2f}-{worst:.2f}x of one thread (policy off: "
        f"{min(ratios_off):.2f}-{max(ratios_off):.2f}x)",
        "no slowdown",
        worst <= 1.15,
        "ratio of best-of-k times, default threads / one thread",
    )
    return [row], section


def row_l21_threads(problems, log):
    """L2,1 shared X with the default BLAS threads against one (same fits)."""
    default = os.cpu_count() or 1
    ratios, vs_peer = [], []
    for problem in problems:

        def fit_threads(n, problem=problem):
            with threadpool_limits(n, user_api="blas"):
                problem.fit_skmtl(1e-4)

        def fit_peer(problem=problem):
            with threadpool_limits(default, user_api="blas"):
                problem.fit_sklearn(1e-4)

        t = interleaved_times(
            {
                "one": lambda: fit_threads(1),
                "default": lambda: fit_threads(default),
                "peer": fit_peer,
            },
            repeat=7,  # fits of tenths of a second on a shared machine
            budget_s=30.0,
        )
        ratios.append(t["default"] / t["one"])
        vs_peer.append(t["default"] / t["peer"])
        log(f"  l21 threads {problem.name}: {t}")
    return [
        _row(
            "L2,1 shared X with default BLAS threads",
            "2.6-7.9x slower than sklearn",
            f"{min(ratios):.2f}-{max(ratios):.2f}x of one thread; "
            f"{min(vs_peer):.2f}-{max(vs_peer):.2f}x sklearn (both default threads)",
            "no worse than with one thread",
            max(ratios) <= 1.15,
            f"problems: {', '.join(p.name for p in problems)}; tol=1e-4",
        )
    ]


def row_school_cv(quick, log):
    """L2,1 inside a CV search on School against the mean coupling's search."""
    from sklearn.preprocessing import StandardScaler

    from skmtl.model_selection import MultiTaskRegressorCV, TaskStratifiedKFold

    if quick:
        from skmtl.datasets import make_multitask_regression

        X, y, tasks = make_multitask_regression(
            n_tasks=6, n_samples=40, n_features=8, random_state=0
        )[:3]
        name = "synthetic 6 tasks (quick)"
    else:
        from skmtl.datasets import load_school

        school = load_school()
        X, y, tasks = StandardScaler().fit_transform(school.X), school.y, school.tasks
        name = f"School ({len(np.unique(tasks))} tasks, {X.shape[1]} features)"
    alphas = list(np.logspace(0, -3, 10))
    folds = list(
        TaskStratifiedKFold(5, shuffle=True, random_state=0).split(X, y, tasks=tasks)
    )
    out = {}
    for penalty in ("l21", "mean"):
        warned = []
        with no_convergence_warnings(warned):
            start = time.perf_counter()
            MultiTaskRegressorCV(alphas, penalty=penalty, cv=folds).fit(
                X, y, tasks=tasks
            )
            out[penalty] = (time.perf_counter() - start, warned)
        log(f"  School CV {penalty}: {out[penalty][0]:.2f} s")
    ratio = out["l21"][0] / out["mean"][0]
    n_warn = out["l21"][1][0]
    return [
        _row(
            f"L2,1 on {name} inside a CV search (10 alphas x 5 folds)",
            "~100 s per search, FISTA at its cap in 6 of 10",
            f"{out['l21'][0]:.1f} s = {ratio:.1f}x the mean coupling's "
            f"{out['mean'][0]:.1f} s; {n_warn} ConvergenceWarning",
            "within 3x of the mean coupling's search and converged",
            ratio <= 3 and n_warn == 0,
        )
    ]


def row_newsgroups_l21(ovr, quick, log):
    """L2,1 logistic on the 20 one-vs-rest tasks, shared design (2-D Y)."""
    X, Y, name = ovr
    alpha = l21_alpha_max_logistic(X, Y) / 10
    warned = []
    with no_convergence_warnings(warned), count_passes(X.shape) as passes:
        start = time.perf_counter()
        model = MultiTaskClassifier(alpha=alpha, penalty="l21").fit(X, Y)
        seconds = time.perf_counter() - start
    support = int(np.any(model.coef_ != 0, axis=0).sum())
    log(f"  {name} l21: {seconds:.1f} s, {model.n_iter_} iterations")
    return [
        _row(
            f"L2,1 logistic on {name}, alpha = alpha_max / 10",
            "216 s, 4650 FISTA iterations (X stacked per task)",
            f"{seconds:.1f} s, {model.n_iter_} iterations, "
            f"{passes['passes']:.0f} data passes, {support} features kept, "
            f"{warned[0]} ConvergenceWarning",
            "<= 30 s",
            seconds <= 30 and not quick,
            f"{X.shape[0]} rows x {X.shape[1]} features, 2-D Y (shared design)",
        )
    ]


def _passes_of_fit(X, y, tasks, penalty, tol=1e-4):
    warned = []
    with no_convergence_warnings(warned), count_passes(X.shape) as passes:
        start = time.perf_counter()
        model = MultiTaskClassifier(penalty=penalty, tol=tol)
        if tasks is None:
            model.fit(X, y)
        else:
            model.fit(X, y, tasks=tasks)
        seconds = time.perf_counter() - start
    return passes["passes"], seconds, model.n_iter_, warned[0]


def rows_data_passes(ovr, quick, log):
    """Data passes of a fit at tol=1e-4 for each coupling (20NG OvR / synthetic)."""
    X, Y, ovr_name = ovr
    T_syn = 20 if quick else 200
    n_max, p = (60, 500) if quick else (500, 5000)
    Xs, ys, ts = ragged_logistic(T_syn, 20, n_max, p, seed=1)
    problems = [
        (ovr_name, X, Y, None, Y.shape[1]),
        (f"synthetic {T_syn} ragged tasks", Xs, ys, ts, T_syn),
    ]
    lines, found = [], {}
    for pname, Xp, yp, tp, T in problems:
        for coupling, make in COUPLINGS.items():
            if coupling == "l21" and tp is None and not quick:
                # minutes of FISTA on the full corpus: its passes are in the
                # L2,1 row of the summary (at alpha_max / 10)
                continue
            passes, seconds, n_iter, warn = _passes_of_fit(Xp, yp, tp, make(T))
            found[(pname, coupling)] = passes
            lines.append(
                f"| {pname} | {coupling} | {passes:.0f} | {n_iter} | {seconds:.2f} "
                f"| {warn} |"
            )
            log(f"  passes {pname} {coupling}: {passes:.1f} in {seconds:.2f} s")
    section = [
        "### Data passes of a fit at tol=1e-4 (products with X and X^T)",
        "",
        "| problem | coupling | data passes | solver iterations | s | "
        "ConvergenceWarning |",
        "|---|---|---|---|---|---|",
        *lines,
    ]
    names = [p[0] for p in problems]
    mean = [found[(p, "mean")] for p in names]
    graph = [found[(p, "graph")] for p in names]
    rows = [
        _row(
            "data passes at tol=1e-4, mean coupling (20NG one-vs-rest / synthetic "
            "200 tasks)",
            "255 / 681",
            f"{mean[0]:.0f} / {mean[1]:.0f}",
            "<= 50",
            max(mean) <= 50,
        ),
        _row(
            "the same, graph coupling (chain graph)",
            "55-61",
            f"{graph[0]:.0f} / {graph[1]:.0f}",
            "<= 50",
            max(graph) <= 50,
        ),
    ]
    return rows, section


def rows_growth(quick, log, plot_path=None):
    """Cost growth: 4 sizes doubling T, 4 doubling n, for each coupling."""
    p = 100 if quick else 2000
    base_T, base_n = (2, 10) if quick else (25, 200)
    grid = {
        "T": [(base_T * 2**k, base_n) for k in range(4)],
        "n": [(base_T, base_n * 2**k) for k in range(4)],
    }
    results = {}
    repeat = 1 if quick else 5
    for axis, sizes in grid.items():
        for coupling, make in COUPLINGS.items():
            fits, passes, rounds = [], [], []
            for T, n_t in sizes:
                X, y, tasks = ragged_logistic(T, n_t, n_t, p, seed=7, density=0.02)
                fit_once = partial(_quiet_fit, X, y, tasks, make(T))
                with count_passes(X.shape) as counter:
                    first = _cpu_seconds(fit_once)  # also the warm-up
                passes.append(counter["passes"])
                fits.append((fit_once, first))
            # CPU time of this process (BLAS at one thread), so other sessions'
            # load on the shared machine is not counted, and the sizes are timed
            # interleaved, round by round, so a busy spell hits every size alike;
            # fits of seconds are not repeated (their noise is small)
            for _ in range(repeat):
                rounds.append([
                    first if first >= 5.0 else _cpu_seconds(fit_once)
                    for fit_once, first in fits
                ])  # fmt: skip
            secs = list(np.min(rounds, axis=0))
            x = [s[0] if axis == "T" else s[1] for s in sizes]
            spread = [fitted_exponent(x, r) for r in rounds]
            results[(axis, coupling)] = (
                x, secs, passes, fitted_exponent(x, secs), (min(spread), max(spread)),
                fitted_exponent(x, np.divide(secs, passes)),
            )  # fmt: skip
            log(f"  growth {axis} {coupling}: {np.round(secs, 3)} passes {passes} -> "
                f"{results[(axis, coupling)][3]:.2f} (rounds "
                f"{min(spread):.2f}-{max(spread):.2f})")  # fmt: skip
    lines = []
    for (axis, coupling), (x, secs, passes, k, spread, per_pass) in results.items():
        sizes = ", ".join(f"{v}" for v in x)
        times = ", ".join(f"{s:.3f}" for s in secs)
        pcount = ", ".join(f"{v:.0f}" for v in passes)
        lines.append(f"| {axis} | {coupling} | {sizes} | {times} | {pcount} | "
                     f"**{k:.2f}** | {spread[0]:.2f}-{spread[1]:.2f} | "
                     f"{per_pass:.2f} |")  # fmt: skip
    section = [
        f"### Cost growth (logistic, sparse, p={p}; doubling T at "
        f"{base_n} rows per task, doubling rows per task at T={base_T})",
        "",
        f"CPU seconds of the fitting process (BLAS at one thread), best of {repeat} "
        "rounds that time the 4 sizes in turn; the exponent is fitted to the best "
        "times, and each round's own exponent gives the spread. The per-pass exponent "
        "is fitted to seconds / data passes.",
        "",
        "| doubling | coupling | sizes | CPU seconds | data passes | fitted exponent "
        "| spread over rounds | per-pass exponent |",
        "|---|---|---|---|---|---|---|---|",
        *lines,
    ]
    if plot_path is not None and _plot_growth(results, plot_path):
        section += ["", f"![cost growth]({Path(plot_path).name})"]
    k = {c: results[("T", c)][3] for c in COUPLINGS}
    sm, sg = results[("T", "mean")][4], results[("T", "graph")][4]
    pm = ", ".join(f"{v:.0f}" for v in results[("T", "mean")][2])
    rows = [
        _row(
            "cost growth when T doubles (4 sizes), mean / graph coupling",
            "exponent 1.52 / 1.36 (independent 1.02)",
            f"{k['mean']:.2f} / {k['graph']:.2f} (CPU time, best of rounds; one "
            f"round's: {sm[0]:.2f}-{sm[1]:.2f} / {sg[0]:.2f}-{sg[1]:.2f}; data passes "
            f"{pm}; independent {k['independent']:.2f}, l21 {k['l21']:.2f})",
            "<= 1.1",
            max(k["mean"], k["graph"]) <= 1.1,
        )
    ]
    return rows, section


def _cpu_seconds(fit):
    """CPU seconds of this process spent in ``fit()``."""
    start = time.process_time()
    fit()
    return time.process_time() - start


def _quiet_fit(X, y, tasks, penalty):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MultiTaskClassifier(penalty=penalty).fit(X, y, tasks=tasks)


def _plot_growth(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis in zip(axes, ("T", "n")):
        for coupling in COUPLINGS:
            x, secs, _, k = results[(axis, coupling)][:4]
            ax.loglog(x, secs, "o-", base=2, label=f"{coupling} (exponent {k:.2f})")
        x0, s0 = results[(axis, "independent")][0], results[(axis, "independent")][1]
        ax.loglog(x0, [s0[0] * v / x0[0] for v in x0], "k--", base=2, lw=1,
                  label="linear")  # fmt: skip
        ax.set_xlabel("tasks T" if axis == "T" else "rows per task")
        ax.set_ylabel("fit CPU seconds (best of rounds)")
        ax.set_title(f"doubling {'T' if axis == 'T' else 'n'}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def row_large_T(quick, log):
    """Mean coupling on many small tasks: against independent and the sklearn loop."""
    T_big, T_mid, p = (40, 20, 300) if quick else (2000, 800, 2000)
    out = []
    X, y, tasks = ragged_logistic(T_big, 10, 30, p, seed=11, density=0.02)
    t = {}
    for coupling in ("mean", "independent"):
        start = time.perf_counter()
        _quiet_fit(X, y, tasks, coupling if coupling != "mean" else MeanRegularized())
        t[coupling] = time.perf_counter() - start
    log(f"  large T={T_big}: {t}")
    X2, y2, tasks2 = ragged_logistic(T_mid, 10, 30, p, seed=12, density=0.02)
    start = time.perf_counter()
    _quiet_fit(X2, y2, tasks2, MeanRegularized())
    t_mean_mid = time.perf_counter() - start
    start = time.perf_counter()
    for task in range(T_mid):
        rows = tasks2 == task
        LogisticRegression(C=1.0 / (0.01 * rows.sum())).fit(X2[rows], y2[rows])
    t_loop = time.perf_counter() - start
    log(f"  large T={T_mid}: mean {t_mean_mid:.2f} s, sklearn loop {t_loop:.2f} s")
    ratio = t["mean"] / t["independent"]
    out.append(
        _row(
            f"mean coupling at T = {T_big} small tasks (p = {p}) / T = {T_mid}",
            "113 s (28x independent) / 23.5x the sklearn loop",
            f"{t['mean']:.1f} s ({ratio:.1f}x independent) / "
            f"{t_mean_mid / t_loop:.1f}x the sklearn loop",
            "<= 3x independent",
            ratio <= 3,
            "10-30 rows per task, sparse density 0.02, alpha=0.01",
        )
    )
    return out


def rows_shared_rows_memory(ovr, quick, log):
    """Peak RSS of 20 one-vs-rest tasks: stacked X, shared design, sklearn loop."""
    X, Y, name = ovr
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ovr.npz"
        sp.save_npz(path, X, compressed=False)
        np.save(Path(tmp) / "Y.npy", Y)
        res = {}
        # quick: the two layouts only (each child pays Python's start-up)
        variants = ("shared", "stacked") if quick else ("shared", "stacked", "sklearn")
        for variant in variants:
            # the child imports this checkout's skmtl, as the parent does
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(HERE.parent)] + [v for v in [env.get("PYTHONPATH")] if v]
            )
            run = subprocess.run(
                [sys.executable, str(Path(__file__)), "--rss", variant, tmp],
                capture_output=True, text=True, timeout=1500, env=env,
            )  # fmt: skip
            if run.returncode:
                raise RuntimeError(f"{variant}: {run.stderr[-2000:]}")
            res[variant] = json.loads(run.stdout.strip().splitlines()[-1])
            log(f"  RSS {variant}: {res[variant]}")
    gb = {k: v["peak_mb"] / 1024 for k, v in res.items()}
    extra = {k: (v["peak_mb"] - v["loaded_mb"]) / 1024 for k, v in res.items()}
    x_gb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**30
    section = [
        f"### Tasks that share their rows: {name} (independent logistic), each "
        "contender in a fresh process",
        "",
        "| contender | peak RSS GB | above the loaded data GB | fit s (with the "
        "stacking) |",
        "|---|---|---|---|",
        *[
            f"| {k} | {gb[k]:.2f} | {extra[k]:.2f} | {res[k]['seconds']:.1f} |"
            for k in res
        ],
        "",
        f"X (CSR) holds {x_gb:.2f} GB. `stacked`: the ragged layout with X "
        "repeated once per task (what the issue measured); `shared`: 2-D Y; "
        "`sklearn`: a loop of LogisticRegression over the columns.",
    ]
    loop = (
        f"{gb['sklearn']:.2f} GB for the sklearn loop (fit "
        f"{res['sklearn']['seconds']:.0f} s)"
        if "sklearn" in gb
        else "no sklearn loop (quick)"
    )
    row = _row(
        f"tasks that share their rows ({name})",
        "X stacked once per task: peak RSS 3.37 GB vs 1.01 GB for the sklearn loop",
        f"2-D Y: peak RSS {gb['shared']:.2f} GB (fit {res['shared']['seconds']:.0f} "
        f"s) vs {loop}; {gb['stacked']:.2f} GB stacked",
        "no copy of X per task",
        # no copy of X: what the shared fit adds to the loaded data is a small
        # part of what the stacked layout adds (the rest are (p, T) arrays)
        extra["shared"] <= 0.1 * extra["stacked"],
        f"X (CSR) {x_gb:.3f} GB; above the loaded data: shared "
        f"{extra['shared']:.2f} GB, stacked {extra['stacked']:.2f} GB",
    )
    return [row], section


def _peak_rss_mb():
    """Peak resident memory of this process so far, MB.

    Linux's ``VmHWM`` belongs to the address space, which ``exec`` replaces;
    ``ru_maxrss`` would carry over the peak of the (large) parent process
    that forked this child, so it is only the fallback.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_child(variant, folder):
    """Fit one contender in this fresh process; print peak and baseline RSS (MB)."""
    folder = Path(folder)
    X = sp.load_npz(folder / "ovr.npz").tocsr()
    Y = np.load(folder / "Y.npy")
    n = X.shape[0]
    loaded = _peak_rss_mb()
    start = time.perf_counter()
    if variant == "stacked":
        # the layout a user needed before 2-D y: X repeated once per task
        Xs = sp.vstack([X] * Y.shape[1], format="csr")
        ys, tasks = Y.T.ravel(), np.repeat(np.arange(Y.shape[1]), n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if variant == "shared":
            MultiTaskClassifier(alpha=1e-3).fit(X, Y)
        elif variant == "stacked":
            MultiTaskClassifier(alpha=1e-3).fit(Xs, ys, tasks=tasks)
        else:
            for t in range(Y.shape[1]):
                LogisticRegression(C=1.0 / (1e-3 * n)).fit(X, Y[:, t])
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    print(json.dumps({"peak_mb": peak, "loaded_mb": loaded, "seconds": seconds}))


def row_cv_vs_gridsearch(quick, log):
    """MultiTaskClassifierCV against GridSearchCV on 20NG, 600 documents per task."""
    import sklearn
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import GridSearchCV

    from skmtl.model_selection import MultiTaskClassifierCV, TaskStratifiedKFold

    if quick:
        X, y, tasks = ragged_logistic(3, 40, 40, 200, seed=5, density=0.05)
        name = "synthetic 3 tasks (quick)"
    else:
        from skmtl.datasets import fetch_20newsgroups_multitask, train_test_split_tasks

        data = fetch_20newsgroups_multitask("comp_vs_rec", download_if_missing=False)
        docs = np.asarray(data.data, dtype=object)
        docs, _, y, _, tasks, _ = train_test_split_tasks(
            docs, data.target, data.tasks, train_size=600, random_state=0
        )
        X = TfidfVectorizer(sublinear_tf=True).fit_transform(list(docs))
        name = "20NG comp_vs_rec, 4 tasks x 600 docs"
    alphas = list(np.logspace(-1, -4, 5))
    grid = {"specific": [0.3, 3.0]}
    folds = list(
        TaskStratifiedKFold(3, shuffle=True, random_state=0).split(X, y, tasks=tasks)
    )
    param_grid = {"alpha": alphas, "penalty__specific": grid["specific"]}

    def cv():
        return MultiTaskClassifierCV(
            alphas, penalty=MeanRegularized(), penalty_grid=grid, cv=folds
        ).fit(X, y, tasks=tasks)

    def gs():
        with sklearn.config_context(enable_metadata_routing=True):
            return GridSearchCV(
                MultiTaskClassifier(penalty=MeanRegularized()), param_grid, cv=folds
            ).fit(X, y, tasks=tasks)

    from skmtl._design import count_data_passes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # the same choice and refit, and the data passes of each (the
        # products with X and X^T: the machine-independent part of the cost)
        searches, passes = {}, {}
        for key, search in (("cv", cv), ("gs", gs)):
            with count_data_passes() as counter:
                searches[key] = search()
            passes[key] = counter.total
        t = interleaved_times({"cv": cv, "gs": gs}, repeat=1 if quick else 3,
                              budget_s=120.0)  # fmt: skip
    ours, theirs = searches["cv"], searches["gs"]
    same = ours.best_params_ == {
        k: float(v) if k == "alpha" else v for k, v in theirs.best_params_.items()
    }
    scores = float(
        np.max(np.abs(ours.cv_results_["mean_test_score"]
                      - theirs.cv_results_["mean_test_score"]))
    )  # fmt: skip
    coef = ours.best_estimator_.coef_ - theirs.best_estimator_.coef_
    coef_rel = float(
        np.max(np.abs(coef)) / np.max(np.abs(theirs.best_estimator_.coef_))
    )
    log(f"  CV vs GridSearchCV: {t}, passes {passes}, same choice {same}")
    ratio = t["cv"] / t["gs"]
    return [
        _row(
            f"CV estimator vs GridSearchCV on {name} (10 candidates x 3 folds, "
            "Newton-CG)",
            "0.63-0.69x",
            f"{ratio:.2f}x ({t['cv']:.1f} s vs {t['gs']:.1f} s)",
            "<= 0.33x",
            ratio <= 0.33,
            f"data passes {passes['cv']} vs {passes['gs']}; same choice: {same} "
            f"({ours.best_params_}); mean test scores equal to {scores:.1g}; refit "
            f"coef_ equal to {coef_rel:.1g} relative (both solved to tol=1e-4)",
        )
    ]


SUMMARY_COLUMNS = [
    ("measure", "measure"),
    ("before", "issue #17 (before)"),
    ("now", "this run"),
    ("goal", "goal"),
    ("met", "met"),
    ("detail", "detail"),
]


def summary_table(rows):
    lines = [
        "| " + " | ".join(title for _, title in SUMMARY_COLUMNS) + " |",
        "|" + "|".join("---" for _ in SUMMARY_COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(k, "")) for k, _ in SUMMARY_COLUMNS)
                     + " |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--rss":
    _rss_child(sys.argv[2], sys.argv[3])
