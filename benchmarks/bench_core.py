"""Core solvers of skmtl against the estimators a user would pick instead.

Same objective, same machine, one run; the result is a ratio of times.

1. ``penalty="l21"`` on a shared X (2-D Y) against scikit-learn's
   ``MultiTaskLasso`` and, when it is installed, skglm's ``MultiTaskLasso``,
   at two sizes.
2. ``penalty="independent"`` logistic regression on many ragged sparse tasks
   in one ``MultiTaskClassifier.fit`` against a Python loop of scikit-learn
   ``LogisticRegression(C=1 / (alpha * n_t))`` fits, at two sizes.

Every solution is scored by the same functions written here (objective and
KKT violation of the skmtl convention, which is also that of the peers up to a
constant factor), never by a solver's own report. Two settings per problem:

- ``default tol``: each estimator at ``tol=1e-4`` (its default; the meaning
  differs between packages, hence the objective gap next to the time);
- ``gap <= 1e-6``: the time to reach a relative objective gap of at most
  ``TARGET_GAP`` to a reference optimum, found by running each estimator down a
  ladder of tolerances (1e-2, 1e-3, ...) and timing the first (loosest) one
  that gets there.

3. The rows of issue #17 (``_core_limits.py``): the thread policy on small
   fits and on L2,1, L2,1 inside a CV search on School and on the 20
   one-vs-rest 20 Newsgroups tasks, data passes of a fit per coupling, cost
   growth in T and n (fitted exponents and a plot), many small tasks, the
   peak memory of tasks that share their rows, and the CV estimator against
   GridSearchCV; one summary table with the issue's numbers and goals beside
   this run's.

BLAS runs on one thread (``threadpool_limits(1)``) except in the rows that
measure threads.

Usage::

    python benchmarks/bench_core.py [--quick] [--no-limits] [--out benchmarks/results]
"""

import argparse
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.signal import lfilter
from scipy.special import expit, log_expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, MultiTaskLasso
from threadpoolctl import threadpool_limits

from skmtl import MultiTaskClassifier, MultiTaskRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _core_limits as limits  # noqa: E402 - the issue #17 rows, beside this file
from _common import machine  # noqa: E402

TARGET_GAP = 1e-6
DEFAULT_TOL = 1e-4
LADDER = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
MAX_ITER = 100_000

#: the ``--only`` name of the L2,1 rows of the solver-vs-peer table
L21_PEERS = "L21 peers"
#: the steps of the issue #17 rows (:func:`_issue_rows`), in their order
ISSUE_STEPS = [
    "L21 threads",
    "School CV",
    "20NG L21",
    "data passes",
    "growth",
    "small fits threads",
    "large T",
    "shared rows",
    "CV vs GridSearchCV",
]

# (n_samples, n_features, n_tasks) for L2,1, each at every alpha / alpha_max of
# "l21_ratios"; (n_tasks, n_features, min, max rows) for the ragged logistic tasks.
FULL = {
    "l21": [(500, 5000, 20), (2000, 2000, 50)],
    "l21_ratios": [0.1, 0.01],
    "logistic": [(20, 5000, 20, 500), (50, 5000, 20, 500), (200, 5000, 20, 500)],
    "repeat": 3,
    "budget_s": 20.0,
}
QUICK = {
    "l21": [(60, 80, 3), (80, 120, 2)],
    "l21_ratios": [0.1],
    "logistic": [(6, 300, 20, 60), (3, 300, 20, 60)],
    "repeat": 1,
    "budget_s": 5.0,
}

COLUMNS = [
    ("problem", "problem"),
    ("setting", "setting"),
    ("peer", "peer"),
    ("skmtl_tol", "skmtl tol"),
    ("peer_tol", "peer tol"),
    ("skmtl_s", "skmtl s"),
    ("peer_s", "peer s"),
    ("ratio", "skmtl / peer"),
    ("skmtl_gap", "skmtl gap"),
    ("peer_gap", "peer gap"),
    ("skmtl_kkt", "skmtl KKT"),
    ("peer_kkt", "peer KKT"),
    ("skmtl_iter", "skmtl iters"),
    ("peer_iter", "peer iters"),
    ("note", "note"),
]


# --------------------------------------------------------------------- timing
class Contender:
    """One estimator on one problem: fits cached by tolerance, timings kept.

    ``fit(tol)`` returns ``(W, b, iters)`` with ``W`` of shape
    (n_tasks, n_features); its wall time is what is measured.
    """

    def __init__(self, name, fit):
        self.name = name
        self._fit = fit
        self.runs = {}  # tol -> dict(times, W, b, iters, warnings)

    def measure(self, tol, repeat=1, budget_s=np.inf):
        """Fit at ``tol`` until ``repeat`` timings or ``budget_s`` seconds are spent."""
        run = self.runs.setdefault(tol, {"times": []})
        while len(run["times"]) < repeat and (
            not run["times"] or sum(run["times"]) < budget_s
        ):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                start = time.perf_counter()
                W, b, iters = self._fit(tol)
                run["times"].append(time.perf_counter() - start)
            run.update(W=np.asarray(W, float), b=np.asarray(b, float), iters=iters)
            run["warnings"] = sum(
                issubclass(w.category, ConvergenceWarning) for w in caught
            )
        return run


def find_target_tol(contender, problem, ref):
    """Loosest tolerance of ``LADDER`` whose fit is within ``TARGET_GAP`` of ``ref``.

    Returns ``(tol, reached)``; one fit per tolerance tried (timed, kept).
    """
    for tol in LADDER:
        run = contender.measure(tol)
        if rel_gap(problem.objective(run["W"], run["b"]), ref) <= TARGET_GAP:
            return tol, True
    return tol, False


def repeat_interleaved(configs, repeat, budget_s):
    """Bring every ``(contender, tol)`` to ``repeat`` timings, round by round.

    Interleaving the contenders spreads the noise of a shared machine over all
    of them instead of on whichever ran during a busy spell.
    """
    for _ in range(repeat):
        for contender, tol in configs:
            run = contender.measure(tol)
            if len(run["times"]) < repeat and sum(run["times"]) < budget_s:
                contender.measure(tol, repeat=len(run["times"]) + 1)


def rel_gap(obj, ref):
    return (obj - ref) / abs(ref)


# ------------------------------------------------------------------ problems
class L21Problem:
    """Shared-X regression with a planted shared support (MultiTaskLasso's model).

    Features are Gaussian with AR(1) correlation 0.5 between neighbours (the
    usual simulated design of Lasso benchmarks: correlated enough that
    coordinate descent does not get an orthogonal problem for free); the
    support has ``max(10, p // 50)`` features shared by all tasks and the
    noise gives a signal-to-noise ratio of 3. ``alpha = ratio * alpha_max``.
    """

    def __init__(self, n, p, T, seed, ratio=0.1):
        rng = np.random.default_rng(seed)
        rho = 0.5
        Z = rng.standard_normal((n, p))
        Z[:, 0] /= np.sqrt(1 - rho**2)  # stationary start of the AR(1) filter
        self.X = lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], Z, axis=1)
        W = np.zeros((T, p))
        support = rng.choice(p, size=max(10, p // 50), replace=False)
        W[:, support] = rng.standard_normal((T, support.size))
        signal = self.X @ W.T
        noise = rng.standard_normal((n, T)) * signal.std() / 3.0
        self.Y = signal + noise + rng.standard_normal(T)
        Xc = self.X - self.X.mean(axis=0)
        Yc = self.Y - self.Y.mean(axis=0)
        alpha_max = np.sqrt(np.sum((Xc.T @ Yc) ** 2, axis=1)).max() / n
        self.alpha = ratio * alpha_max
        self.name = f"l21 n={n} p={p} T={T}" + (
            "" if ratio == 0.1 else f" alpha={ratio:g} max"
        )

    def _residual(self, W, b):
        return self.Y - self.X @ W.T - b

    def objective(self, W, b):
        """``0.5 / n * ||Y - X W^T - b||_F^2 + alpha * sum_j ||W[:, j]||_2``."""
        R = self._residual(W, b)
        n = self.X.shape[0]
        return 0.5 / n * float(np.sum(R * R)) + self.alpha * float(
            np.sqrt(np.sum(W * W, axis=0)).sum()
        )

    def kkt(self, W, b):
        """Max over features of the distance of -gradient to alpha * d||W_j||."""
        R = self._residual(W, b)
        G = -(self.X.T @ R) / self.X.shape[0]  # (p, T)
        norms = np.sqrt(np.sum(W * W, axis=0))
        viol = np.maximum(np.sqrt(np.sum(G * G, axis=1)) - self.alpha, 0.0)
        on = norms > 0
        sub = G[on] + self.alpha * W[:, on].T / norms[on, None]
        viol[on] = np.sqrt(np.sum(sub * sub, axis=1))
        return max(float(viol.max()), float(np.abs(R.mean(axis=0)).max()))

    # contenders: each fit uses the estimator's public API only
    def fit_skmtl(self, tol):
        # solver="auto": what a user gets (the dispatch picks the L2,1 solver)
        model = MultiTaskRegressor(
            alpha=self.alpha, penalty="l21", tol=tol, max_iter=MAX_ITER
        ).fit(self.X, self.Y)
        return model.coef_, model.intercept_, str(model.n_iter_)

    def fit_sklearn(self, tol):
        model = MultiTaskLasso(alpha=self.alpha, tol=tol, max_iter=MAX_ITER)
        model.fit(self.X, self.Y)
        return model.coef_, model.intercept_, str(model.n_iter_)

    def fit_skglm(self, tol):
        from skglm import MultiTaskLasso as SkglmMultiTaskLasso

        model = SkglmMultiTaskLasso(alpha=self.alpha, tol=tol).fit(self.X, self.Y)
        return model.coef_, model.intercept_, str(model.n_iter_)

    def reference_tols(self):
        # (contender, tol) pairs run once to find the optimum
        return {"skmtl": 1e-10, "sklearn": 1e-11, "skglm": 1e-12}


class RaggedLogisticProblem:
    """Many binary tasks of ragged sizes on sparse TF-IDF-like features.

    ``X`` is CSR with density 0.01, nonnegative exponential values, rows
    L2-normalised (as TF-IDF); task ``t`` has ``n_t`` rows drawn uniformly in
    ``[n_min, n_max]``, rows of all tasks shuffled together. Labels follow a
    logistic model ``w_0 + v_t`` (shared plus task-specific planted weights),
    centred per task so that both classes occur. ``alpha = 1e-3``, i.e.
    ``C = 1000 / n_t`` for the per-task scikit-learn fits.
    """

    def __init__(self, T, p, n_min, n_max, seed, alpha=1e-3):
        rng = np.random.default_rng(seed)
        sizes = rng.integers(n_min, n_max + 1, size=T)
        n = int(sizes.sum())
        X = sp.random(
            n,
            p,
            density=0.01,
            format="csr",
            random_state=rng,
            data_rvs=lambda k: rng.exponential(size=k),
        )
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
        tasks = np.repeat(np.arange(T), sizes)
        w0 = 5.0 * rng.standard_normal(p)
        y = np.empty(n, dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        for t in range(T):
            rows = slice(bounds[t], bounds[t + 1])
            z = X[rows] @ (w0 + 5.0 * rng.standard_normal(p))
            z -= np.median(z)
            y_t = (rng.random(sizes[t]) < expit(z)).astype(np.int64)
            if y_t.min() == y_t.max():
                y_t[0] = 1 - y_t[0]  # every task needs both classes
            y[rows] = y_t
        perm = rng.permutation(n)
        self.X, self.y, self.tasks = X[perm], y[perm], tasks[perm]
        self.alpha = alpha
        self.labels = np.arange(T)
        # task-grouped copy, only for scoring solutions (not given to solvers)
        order = np.argsort(self.tasks, kind="stable")
        self._Xs = self.X[order]
        self._s = 2.0 * self.y[order] - 1.0
        self._bounds = bounds
        self.name = f"logistic T={T} p={p} n={n} (sparse)"

    def _margins(self, W, b):
        for t in range(len(self.labels)):
            lo, hi = self._bounds[t], self._bounds[t + 1]
            Xt = self._Xs[lo:hi]
            yield t, Xt, self._s[lo:hi], Xt @ W[t] + b[t]

    def objective(self, W, b):
        """``sum_t mean_{i in t} log(1 + exp(-y_i z_i)) + alpha / 2 ||w_t||^2``."""
        total = 0.0
        for t, _, s, z in self._margins(W, b):
            total += -float(np.mean(log_expit(s * z))) + 0.5 * self.alpha * float(
                W[t] @ W[t]
            )
        return total

    def kkt(self, W, b):
        """Max-norm of the gradient of :meth:`objective` (weights and intercepts)."""
        worst = 0.0
        for t, Xt, s, z in self._margins(W, b):
            r = -s * expit(-s * z) / len(s)
            g = Xt.T @ r + self.alpha * W[t]
            worst = max(worst, float(np.abs(g).max()), abs(float(r.sum())))
        return worst

    def fit_skmtl(self, tol):
        model = MultiTaskClassifier(
            alpha=self.alpha, penalty="independent", tol=tol, max_iter=MAX_ITER
        ).fit(self.X, self.y, tasks=self.tasks)
        return model.coef_, model.intercept_, str(model.n_iter_)

    def fit_sklearn(self, tol):
        # What a user would write: slice each task's rows inside the loop.
        W = np.zeros((len(self.labels), self.X.shape[1]))
        b = np.zeros(len(self.labels))
        iters = []
        for t in self.labels:
            rows = self.tasks == t
            clf = LogisticRegression(
                C=1.0 / (self.alpha * rows.sum()), tol=tol, max_iter=MAX_ITER
            ).fit(self.X[rows], self.y[rows])
            W[t], b[t] = clf.coef_[0], clf.intercept_[0]
            iters.append(int(clf.n_iter_[0]))
        return W, b, f"{sum(iters)} (max {max(iters)})"

    def reference_tols(self):
        # skmtl's own fits join the reference afterwards (see _rows_for)
        return {"sklearn": 1e-10}


# -------------------------------------------------------------------- driver
def _skglm_status():
    """None if skglm's MultiTaskLasso can be used, else the reason it cannot."""
    try:
        import skglm
        from skglm import MultiTaskLasso  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure is a reason
        return f"not installed ({type(exc).__name__}: {exc})"
    return None if skglm else "not importable"


def _warm_up_skglm():
    """Run skglm once on tiny data: numba compiles on the first call."""
    from skglm import MultiTaskLasso as SkglmMultiTaskLasso

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((20, 5)), rng.standard_normal((20, 2))
    start = time.perf_counter()
    SkglmMultiTaskLasso(alpha=0.1).fit(X, Y)
    return time.perf_counter() - start


def _rows_for(problem, contenders, peers, cfg, log):
    """Reference optimum, then the two settings for each (skmtl, peer) pair."""
    repeat, budget = cfg["repeat"], cfg["budget_s"]
    ref_tols = problem.reference_tols()
    ref_runs = [
        c.measure(ref_tols[c.name]) for c in contenders.values() if c.name in ref_tols
    ]
    ref = min(problem.objective(r["W"], r["b"]) for r in ref_runs)
    log(f"{problem.name}: reference objective {ref:.12g}")

    chosen = {}
    for name, c in contenders.items():
        c.measure(DEFAULT_TOL)
        chosen[name] = find_target_tol(c, problem, ref)
    configs = {(c, DEFAULT_TOL) for c in contenders.values()}
    configs |= {(contenders[name], tol) for name, (tol, _) in chosen.items()}
    repeat_interleaved(sorted(configs, key=lambda x: (x[1], x[0].name)), repeat, budget)
    results = {}
    for name, c in contenders.items():
        tol, reached = chosen[name]
        results[name] = {
            "default": (DEFAULT_TOL, c.runs[DEFAULT_TOL], True),
            "target": (tol, c.runs[tol], reached),
        }
        log(
            f"  {name}: default {min(c.runs[DEFAULT_TOL]['times']):.3f}s, "
            f"to gap {TARGET_GAP:g}: tol {tol:g} {min(c.runs[tol]['times']):.3f}s"
        )
    # every solution seen may improve on the reference (skmtl's are not in it)
    best = min(
        problem.objective(r["W"], r["b"])
        for c in contenders.values()
        for r in c.runs.values()
    )
    note_ref = ""
    if rel_gap(ref, best) > TARGET_GAP:
        note_ref = f"reference lowered by {rel_gap(ref, best):.1e} after the runs; "
    ref = min(ref, best)

    def describe(tol, run, reached):
        return {
            "tol": tol,
            "s": min(run["times"]),
            "runs": len(run["times"]),
            "gap": rel_gap(problem.objective(run["W"], run["b"]), ref),
            "kkt": problem.kkt(run["W"], run["b"]),
            "iter": run["iters"],
            "warn": run["warnings"],
            "reached": reached,
        }

    rows = []
    for peer in peers:
        for setting, key in [
            ("default tol", "default"),
            (f"gap <= {TARGET_GAP:g}", "target"),
        ]:
            row = {"problem": problem.name, "setting": setting, "peer": peer}
            mine = describe(*results["skmtl"][key])
            theirs = describe(*results[peer][key])
            notes = [note_ref] if note_ref else []
            for who, d in [("skmtl", mine), (peer, theirs)]:
                if not d["reached"]:
                    notes.append(f"{who} did not reach the target gap")
                if d["warn"]:
                    notes.append(f"{who}: {d['warn']} ConvergenceWarning")
            notes.append(f"best of {mine['runs']} / {theirs['runs']} runs")
            row.update(
                skmtl_tol=mine["tol"],
                peer_tol=theirs["tol"],
                skmtl_s=mine["s"],
                peer_s=theirs["s"],
                ratio=mine["s"] / theirs["s"],
                skmtl_gap=mine["gap"],
                peer_gap=theirs["gap"],
                skmtl_kkt=mine["kkt"],
                peer_kkt=theirs["kkt"],
                skmtl_iter=mine["iter"],
                peer_iter=theirs["iter"],
                note="; ".join(n.rstrip("; ") for n in notes),
            )
            rows.append(row)
    return rows


def _machine():
    try:
        import skglm

        skglm_version = skglm.__version__
    except Exception:  # noqa: BLE001
        skglm_version = "-"
    return machine(skglm=skglm_version)


def _fmt(key, value):
    if value is None:
        return "-"
    if key in ("skmtl_tol", "peer_tol", "skmtl_kkt", "peer_kkt"):
        return f"{value:.0e}"
    if key in ("skmtl_gap", "peer_gap"):
        return f"{value:.1e}"
    if key in ("skmtl_s", "peer_s"):
        return f"{value:.3f}"
    if key == "ratio":
        return f"**{value:.2f}**"
    return str(value)


def markdown_table(rows):
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        cells = [_fmt(key, row.get(key)) for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_ratios(rows, path):
    """Bar chart of the time ratios; returns False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    measured = [r for r in rows if r.get("ratio") is not None]
    labels = [f"{r['problem']}\n{r['setting']} vs {r['peer']}" for r in measured]
    ratios = [r["ratio"] for r in measured]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(measured) + 1.2))
    colors = ["tab:red" if x > 1 else "tab:green" for x in ratios]
    ax.barh(range(len(ratios)), ratios, color=colors)
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    lo, hi = min(ratios + [1.0]) / 1.5, max(ratios + [1.0]) * 1.5
    ax.set_xlim(lo, hi)
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)
    for i, x in enumerate(ratios):
        ax.text(x, i, f" {x:.2f}", va="center", fontsize=7)
    ax.set_yticks(range(len(ratios)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time skmtl / time peer (log scale; > 1: skmtl slower)")
    ax.set_title("skmtl core solvers vs peers, same objective")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(
    quick=False,
    out_dir=None,
    peers=("sklearn", "skglm"),
    command=None,
    seed=0,
    issue_rows=True,
    only=None,
):
    """Run the benchmark; return ``{"peers": rows, "summary": rows}``.

    Parameters
    ----------
    quick : bool
        Tiny sizes and a single timing per fit (a smoke run, not a measurement).
    out_dir : path or None
        Where to write ``core.md``, ``core.png`` and ``core_growth.png``; None
        writes nothing.
    peers : tuple of str
        Peers to run; ``"skglm"`` is skipped (with the reason in the table)
        when it cannot be imported.
    command : str or None
        The command line recorded in ``core.md``.
    issue_rows : bool
        Also run the rows of issue #17 (``_core_limits.py``).
    only : collection of str or None
        Run only these steps of the issue rows (their names in
        :func:`_issue_rows`, e.g. ``"growth"``, or ``"L21 peers"``: the L2,1
        rows of the solver-vs-peer table and their summary lines, without
        the logistic ones); None runs everything.
    """
    names = [L21_PEERS, *ISSUE_STEPS]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:  # before anything runs
        raise ValueError(f"--only names no step {unknown}; the steps: {names}")
    cfg = QUICK if quick else FULL
    log = print
    machine_before = _machine()
    start = time.perf_counter()
    rows, notes, summary, sections = [], [], [], []
    command = command or f"bench_core.main(quick={quick})"
    if out_dir is not None:
        # the growth step saves its plot there before the first write()
        Path(out_dir).mkdir(parents=True, exist_ok=True)

    def write(summary, sections, partial=False):
        """Write core.md (also after each issue step: a run cut short keeps them)."""
        if out_dir is None:
            return
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        has_plot = plot_ratios(rows, folder / "core.png")
        extra = [] if has_plot else ["Plot skipped: matplotlib is not installed."]
        if partial:
            extra.append("PARTIAL: the run had not finished when this was written.")
        text = _report(
            markdown_table(rows), notes + extra, machine_before, _machine(),
            time.perf_counter() - start, quick, command, has_plot, summary,
            sections,
        )  # fmt: skip
        (folder / "core.md").write_text(text)
        if not partial:
            log(f"\nwrote {folder / 'core.md'}" + (" and core.png" if has_plot else ""))

    with threadpool_limits(1, user_api="blas"):
        if only is None or L21_PEERS in only:
            l21_main = _peer_rows(
                cfg, peers, seed, rows, notes, log, logistic=only is None
            )
        else:
            l21_main = [
                L21Problem(n, p, T, seed=seed + i, ratio=cfg["l21_ratios"][0])
                for i, (n, p, T) in enumerate(cfg["l21"])
            ]
        if issue_rows:
            summary, sections = _issue_rows(
                cfg, quick, rows, l21_main, out_dir, log, only,
                checkpoint=lambda s, x: write(s, x, partial=True),
            )  # fmt: skip
    log("")
    log(markdown_table(rows))
    if summary:
        log("")
        log(limits.summary_table(summary))
    write(summary, sections)
    return {"peers": rows, "summary": summary}


def _peer_rows(cfg, peers, seed, rows, notes, log, logistic=True):
    """The solver-vs-peer rows; returns the L2,1 problems at the first ratio.

    ``logistic=False`` runs the L2,1 rows only.
    """
    skglm_reason = _skglm_status() if "skglm" in peers else "not requested (peers=...)"
    if skglm_reason is None:
        compile_s = _warm_up_skglm()
        notes.append(
            f"skglm: numba compilation on a warm-up fit ({compile_s:.1f} s) is not "
            "counted in its times."
        )
    else:
        notes.append(f"skglm: {skglm_reason}.")

    l21_main = []
    for ratio in cfg["l21_ratios"]:
        for i, (n, p, T) in enumerate(cfg["l21"]):
            problem = L21Problem(n, p, T, seed=seed + i, ratio=ratio)
            if ratio == cfg["l21_ratios"][0]:
                l21_main.append(problem)
            contenders = {
                "skmtl": Contender("skmtl", problem.fit_skmtl),
                "sklearn MultiTaskLasso": Contender("sklearn", problem.fit_sklearn),
            }
            l21_peers = ["sklearn MultiTaskLasso"]
            if skglm_reason is None:
                contenders["skglm MultiTaskLasso"] = Contender(
                    "skglm", problem.fit_skglm
                )
                l21_peers.append("skglm MultiTaskLasso")
            rows += _rows_for(problem, contenders, l21_peers, cfg, log)
            if skglm_reason is not None:
                rows.append(
                    {
                        "problem": problem.name,
                        "setting": "-",
                        "peer": "skglm MultiTaskLasso",
                        "note": skglm_reason,
                    }
                )

    for i, (T, p, n_min, n_max) in enumerate(cfg["logistic"] if logistic else []):
        problem = RaggedLogisticProblem(T, p, n_min, n_max, seed=seed + 10 + i)
        contenders = {
            "skmtl": Contender("skmtl", problem.fit_skmtl),
            "sklearn LogisticRegression loop": Contender(
                "sklearn", problem.fit_sklearn
            ),
        }
        rows += _rows_for(
            problem,
            contenders,
            ["sklearn LogisticRegression loop"],
            cfg,
            log,
        )
    return l21_main


def _ratio_range(rows, prefix, peer, suffix=None):
    """``"a-b"``: the range of skmtl / peer over the rows of matching problems."""
    ratios = [
        r["ratio"]
        for r in rows
        if r["problem"].startswith(prefix)
        and r["peer"] == peer
        and "ratio" in r
        and (suffix is None or r["problem"].endswith(suffix) == bool(suffix))
    ]
    if not ratios:
        return None, "-"
    return max(ratios), f"{min(ratios):.2f}-{max(ratios):.2f}x"


def _issue_rows(
    cfg, quick, rows, l21_main, out_dir, log, only=None, checkpoint=None
):  # fmt: skip
    """The summary rows and detail sections of issue #17, in the issue's order.

    ``checkpoint(summary, sections)`` is called after each step.
    """
    summary, sections = [], []
    if only is not None and L21_PEERS not in only:
        rows = []  # no solver-vs-peer rows: the first rows are not measured
    worst, text = _ratio_range(rows, "logistic", "sklearn LogisticRegression loop")
    sizes = " / ".join(str(T) for T, *_ in cfg["logistic"])
    if only is None:
        summary.append(
            limits._row(
                f"independent logistic, {sizes} ragged sparse tasks, vs a loop of "
                "sklearn LogisticRegression",
                "0.24-0.46x",
                text,
                "keep",
                worst is not None and worst <= 0.5,
                "both settings (default tol, same gap); table below",
            )
        )
    l21_ratios = cfg["l21_ratios"] if only is None or L21_PEERS in only else []
    for ratio in l21_ratios:
        parts, worst_all = [], 0.0
        for n, p, T in cfg["l21"]:
            name = f"l21 n={n} p={p} T={T}"
            suffix = "" if ratio == 0.1 else f" alpha={ratio:g} max"
            matching = [
                r
                for r in rows
                if r["problem"] == name + suffix
                and r["peer"] == "sklearn MultiTaskLasso"
                and "ratio" in r
            ]
            values = [r["ratio"] for r in matching]
            if values:
                worst_all = max(worst_all, max(values))
                parts.append(f"{min(values):.2f}-{max(values):.2f}x")
        sizes = " / ".join(f"n={n},d={p},T={T}" for n, p, T in cfg["l21"])
        summary.append(
            limits._row(
                f"L2,1 shared X, alpha = {ratio:g} alpha_max, vs sklearn "
                f"MultiTaskLasso ({sizes})",
                "0.5-1.3x / 0.35-0.45x" if ratio == 0.1 else "0.87-2.1x / 0.5-2.3x",
                " / ".join(parts),
                "<= 0.6x both",
                bool(parts) and worst_all <= 0.6,
                "both settings (default tol, same gap); table below",
            )
        )

    ovr = None
    steps = [
        ("L21 threads", lambda: (limits.row_l21_threads(l21_main, log), [])),
        ("School CV", lambda: (limits.row_school_cv(quick, log), [])),
        ("20NG L21", lambda: (limits.row_newsgroups_l21(ovr, quick, log), [])),
        ("data passes", lambda: limits.rows_data_passes(ovr, quick, log)),
        (
            "growth",
            lambda: limits.rows_growth(
                quick,
                log,
                None if out_dir is None else Path(out_dir) / "core_growth.png",
            ),
        ),
        ("small fits threads", lambda: limits.row_small_fits_threads(quick, log)),
        ("large T", lambda: (limits.row_large_T(quick, log), [])),
        ("shared rows", lambda: limits.rows_shared_rows_memory(ovr, quick, log)),
        ("CV vs GridSearchCV", lambda: (limits.row_cv_vs_gridsearch(quick, log), [])),
    ]
    assert [name for name, _ in steps] == ISSUE_STEPS
    for name, step in steps:
        if only is not None and name not in only:
            continue
        log(f"issue #17: {name}")
        start = time.perf_counter()
        try:
            if ovr is None and name in ("20NG L21", "data passes", "shared rows"):
                ovr = limits.newsgroups_one_vs_rest(quick)
            got, section = step()
        except Exception as exc:  # noqa: BLE001 - one failed row must not end the run
            import traceback

            traceback.print_exc()
            got = [limits._row(name, "-", f"failed: {type(exc).__name__}: {exc}",
                               "-", False)]  # fmt: skip
            section = []
        log(f"  ({time.perf_counter() - start:.0f} s)")
        summary += got
        if section:
            sections += ["", *section]
        if checkpoint is not None:
            checkpoint(summary, sections)
    return summary, sections


def _report(
    table, notes, before, after, elapsed, quick, command, has_plot, summary=(),
    sections=(),
):  # fmt: skip
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Core benchmark: skmtl vs scikit-learn / skglm, same objective",
        "",
        f"Command: `{command}`"
        + ("  (quick smoke sizes: not a measurement)" if quick else ""),
        "",
        f"- Date: {when}; wall time of the run: {elapsed:.0f} s",
        f"- Machine: {before['cpu']}; BLAS: {before['blas']}; the run holds BLAS "
        "at 1 thread except in the rows that measure threads",
        f"- Load average (1, 5, 15 min) before / after the run: {before['load']} "
        f"/ {after['load']}",
        f"- {before['versions']} (git {before['commit']})",
        "",
    ]
    if summary:
        parts += [
            "## Issue #17: the solvers at the data-pass limit, goals beside the "
            "numbers",
            "",
            limits.summary_table(summary),
            *sections,
            "",
            "## Solvers against their peers, same objective",
            "",
        ]
    parts += [
        "`skmtl / peer` is the ratio of best-of-k wall times (> 1: skmtl slower). "
        "`gap` is `(objective - reference) / |reference|` with every objective "
        "computed by the benchmark's own function; the reference is the lowest "
        "objective reached by any run (including tight-tolerance runs). `KKT` is "
        "the benchmark's own optimality measure (max-norm of the gradient, or of "
        "its distance to the L2,1 subdifferential). `default tol`: every "
        f"estimator at tol={DEFAULT_TOL:g}, whatever it means for it. "
        f"`gap <= {TARGET_GAP:g}`: each estimator goes down the tolerance ladder "
        f"{', '.join(f'{t:g}' for t in LADDER)} and the first tolerance whose fit "
        "reaches the gap is timed. Iterations: FISTA / L-BFGS iterations (skmtl), "
        "coordinate-descent epochs (sklearn MultiTaskLasso), working-set outer "
        "iterations (skglm), total L-BFGS iterations over the per-task fits and "
        "their maximum (LogisticRegression loop).",
        "",
        table,
        "",
    ]
    parts += [f"- {n}" for n in notes]
    if has_plot:
        parts += ["", "![ratios](core.png)"]
    return "\n".join(parts) + "\n"


def _cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent / "results"),
        help="output folder for core.md and core.png",
    )
    parser.add_argument(
        "--no-limits", action="store_true", help="skip the rows of issue #17"
    )
    parser.add_argument(
        "--peers",
        default="sklearn,skglm",
        help="comma-separated peers of the solver tables (default: sklearn,skglm)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="timings per fit (default: 3)"
    )
    parser.add_argument(
        "--l21-ratios",
        default=None,
        help="comma-separated alpha / alpha_max of the L2,1 rows (default: 0.1,0.01)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated issue #17 steps to run alone (e.g. 'growth,large T'; "
        f"'{L21_PEERS}': the L2,1 rows of the peers table)",
    )
    args = parser.parse_args(argv)
    command = " ".join(["python benchmarks/bench_core.py"] + sys.argv[1:])
    if args.repeat is not None:
        FULL["repeat"] = QUICK["repeat"] = args.repeat
    if args.l21_ratios is not None:
        FULL["l21_ratios"] = [float(v) for v in args.l21_ratios.split(",")]
    main(
        quick=args.quick,
        out_dir=args.out,
        peers=tuple(args.peers.split(",")),
        command=command,
        issue_rows=not args.no_limits,
        only=None if args.only is None else set(args.only.split(",")),
    )


if __name__ == "__main__":
    _cli()
