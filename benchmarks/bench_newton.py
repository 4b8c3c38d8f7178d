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
import platform
import subprocess
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skmtl import MultiTaskClassifier
from skmtl._design import TaskDesign, count_data_passes
from skmtl._loss import SmoothLoss
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


PRE, PLAIN = "newton-cg, preconditioned", "newton-cg, no preconditioner"

FULL = {
    "sweep_T": (25, 50, 100, 200, 400),
    "sweep_p": 2000,
    "ng_negatives": 300,
    "many_T": 2000,
    "many_p": 2000,
    "repeat": 3,
}
QUICK = {
    "sweep_T": (4, 8, 16, 32),
    "sweep_p": 100,
    "ng_negatives": None,  # no 20 Newsgroups in the smoke run
    "many_T": 40,
    "many_p": 100,
    "repeat": 1,
}


def _row(measure, problem, coupling, solver, r, **extra):
    return {
        "measure": measure,
        "problem": problem,
        "coupling": coupling,
        "solver": solver,
        "passes": r["passes"],
        "seconds": r["seconds"],
        "newton": r["n_iter"],
        "cg_mean": r["cg_mean"],
        "cg_max": r["cg_max"],
        "kkt_ok": bool(r["kkt"] <= r["tol_abs"]),
        "objective": r["objective"],
        **extra,
    }


def _sweep(cfg, log):
    """CG steps, passes and seconds as T doubles: mean and chain-graph coupling."""
    rows = []
    for T in cfg["sweep_T"]:
        X, y, tasks = synthetic(T, p=cfg["sweep_p"])
        loss = build_loss(X, y, tasks)
        for coupling in ("mean", "graph chain"):
            bound = penalties(T)[coupling].bind(np.arange(T), ALPHA)
            names = [PRE, PLAIN] + (["lbfgs"] if T == 200 else [])
            for name in names:
                # best of `repeat` wall times (a busy machine); same passes
                reps = 1 if name == "lbfgs" else cfg["repeat"]
                runs = [run(loss, bound, SOLVERS[name]()) for _ in range(reps)]
                r = min(runs, key=lambda r: r["seconds"])
                rows.append(_row("sweep", f"synthetic T={T}", coupling, name, r, T=T))
                log(
                    f"T={T:4d} {coupling:11s} {name:29s} passes={r['passes']:4d} "
                    f"newton={r['n_iter']:2d} cg={r['cg']} {r['seconds']:.2f}s"
                )
    return rows


def _newsgroups(cfg, log):
    if cfg["ng_negatives"] is None:
        return []
    data = newsgroups_one_vs_rest(cfg["ng_negatives"])
    if data is None:
        return []
    X, y, tasks = data
    loss = build_loss(X, y, tasks)
    T = loss.design.n_tasks
    problem = f"20NG one-vs-rest, {T} tasks, {X.shape[0]} rows, {X.shape[1]} features"
    rows = []
    for coupling in ("mean", "graph all pairs"):
        bound = penalties(T)[coupling].bind(np.arange(T), ALPHA)
        for name in (PRE, PLAIN, "lbfgs"):
            r = run(loss, bound, SOLVERS[name]())
            rows.append(_row("20ng", problem, coupling, name, r, T=T))
            log(f"20NG {coupling:15s} {name:29s} passes={r['passes']:4d} "
                f"cg={r['cg']} {r['seconds']:.2f}s")  # fmt: skip
    return rows


def _many_tasks(cfg, log):
    """The estimators' fit (``solver="auto"``) at many small tasks."""
    T, p = cfg["many_T"], cfg["many_p"]
    X, y, tasks = synthetic(T, p=p, n_min=10, n_max=30)
    problem = f"synthetic T={T} p={p} n={X.shape[0]}, small tasks"
    rows = []
    for coupling, penalty in (
        ("independent", "independent"),
        ("mean", MeanRegularized()),
        ("graph chain", GraphLaplacian(adjacency=chain(T), ridge=0.1)),
    ):
        model = MultiTaskClassifier(alpha=ALPHA, penalty=penalty, tol=TOL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # one-class tasks
            with count_data_passes() as passes:
                start = time.perf_counter()
                model.fit(X, y, tasks=tasks)
                seconds = time.perf_counter() - start
        rows.append(
            {
                "measure": "many tasks",
                "problem": problem,
                "coupling": coupling,
                "solver": "estimator, solver='auto'",
                "passes": passes.total,
                "seconds": seconds,
                "newton": model.n_iter_,
                "kkt_ok": bool(model.kkt_violation_ <= model.kkt_tol_)
                if hasattr(model, "kkt_tol_")
                else None,
                "T": T,
            }
        )
        log(f"T={T} {coupling:11s} estimator passes={passes.total} {seconds:.2f}s")
    return rows


def newton_rows(quick=False, log=print):
    """Every measurement of this benchmark, as a list of dicts (one BLAS thread).

    Keys: ``measure`` ("sweep", "20ng", "many tasks"), ``problem``,
    ``coupling``, ``solver``, ``passes`` (products with X and X^T),
    ``seconds``, ``newton`` (Newton steps), ``cg_mean`` / ``cg_max`` (CG steps
    per Newton step), ``kkt_ok`` (final gradient below the tolerance),
    ``objective`` and ``T``.
    """
    cfg = QUICK if quick else FULL
    with threadpool_limits(limits=1, user_api="blas"):
        return _sweep(cfg, log) + _newsgroups(cfg, log) + _many_tasks(cfg, log)


def summary(rows):
    """The issue's measures from the rows: passes, growth exponents, ratios."""
    out = []
    sweep = [r for r in rows if r["measure"] == "sweep"]
    Ts = sorted({r["T"] for r in sweep})
    for coupling in ("mean", "graph chain"):
        for name in (PRE, PLAIN):
            sel = {
                r["T"]: r
                for r in sweep
                if r["coupling"] == coupling and r["solver"] == name
            }
            if len(sel) < 2:
                continue
            last4 = Ts[-4:]
            out.append(
                {
                    "coupling": coupling,
                    "solver": name,
                    "cg per newton step (mean, by T)": " / ".join(
                        f"{sel[T]['cg_mean']:.1f}" for T in Ts
                    ),
                    "passes (by T)": " / ".join(str(sel[T]["passes"]) for T in Ts),
                    "time exponent": slope(last4, [sel[T]["seconds"] for T in last4]),
                    "passes exponent": slope(last4, [sel[T]["passes"] for T in last4]),
                }
            )
    return out


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def table(rows, keys):
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def _git():
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True, text=True, cwd=Path(__file__).parent, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sweep = [r for r in rows if r["measure"] == "sweep" and r["solver"] != "lbfgs"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for coupling, ax in zip(("mean", "graph chain"), axes):
        for name in (PRE, PLAIN):
            sel = sorted(
                (r["T"], r["cg_mean"]) for r in sweep
                if r["coupling"] == coupling and r["solver"] == name
            )  # fmt: skip
            ax.plot(*zip(*sel), marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of tasks T")
        ax.set_ylabel("CG steps per Newton step (mean)")
        ax.set_title(f"{coupling} coupling, logistic, tol={TOL:g}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(quick=False, out_dir=None, command=None):
    """Run, print and (with ``out_dir``) write ``newton.md`` (+ ``newton.png``)."""
    started = time.perf_counter()
    load = " ".join(f"{v:.2f}" for v in _loadavg())
    rows = newton_rows(quick=quick)
    elapsed = time.perf_counter() - started
    keys = ["problem", "coupling", "solver", "passes", "seconds", "newton",
            "cg_mean", "cg_max", "kkt_ok"]  # fmt: skip
    sections = [
        "# Newton-CG on coupled problems: preconditioner, data passes, growth in T",
        "",
        f"Command: `{command or f'bench_newton.main(quick={quick})'}`",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; wall time "
        f"{elapsed:.0f} s; one BLAS thread; load average before: {load}",
        f"- Python {platform.python_version()}, skmtl git {_git()}",
        f"- Binary logistic loss, per-task mean, alpha={ALPHA:g}, tol={TOL:g} "
        "(absolute tolerance: tol times the KKT violation of the zero model); "
        "`passes` counts products with X and X^T (`count_data_passes`); "
        "`seconds` is the best of 3 runs in the sweep, of 1 elsewhere; "
        "`cg_mean` / `cg_max` CG steps per Newton step, `kkt_ok` the final "
        "gradient's max-norm below the tolerance.",
        "",
        "## Summary",
        "",
        table(
            summary(rows),
            [
                "coupling",
                "solver",
                "cg per newton step (mean, by T)",
                "passes (by T)",
                "time exponent",
                "passes exponent",
            ],
        ),  # fmt: skip
        "",
        "## CG steps, passes and time as T doubles (synthetic, p = "
        f"{(QUICK if quick else FULL)['sweep_p']})",
        "",
        table([r for r in rows if r["measure"] == "sweep"], keys),
        "",
        "## 20 Newsgroups one-vs-rest (subset)",
        "",
        table([r for r in rows if r["measure"] == "20ng"], keys),
        "",
        "## Many small tasks: the estimator's fit (solver='auto')",
        "",
        table(
            [r for r in rows if r["measure"] == "many tasks"],
            ["problem", "coupling", "solver", "passes", "seconds", "newton", "kkt_ok"],
        ),
        "",
    ]
    many = {r["coupling"]: r for r in rows if r["measure"] == "many tasks"}
    if "independent" in many:
        base = many["independent"]["seconds"]
        sections.append(
            "Time / independent: "
            + ", ".join(
                f"{c} {r['seconds'] / base:.2f}x"
                for c, r in many.items()
                if c != "independent"
            )
        )
    report = "\n".join(sections) + "\n"
    print(report)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if plot(rows, out_dir / "newton.png"):
            report += "\n![CG steps per Newton step](newton.png)\n"
        (out_dir / "newton.md").write_text(report)
    return rows


def _loadavg():
    try:
        return __import__("os").getloadavg()
    except OSError:
        return (float("nan"),) * 3


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cmd = "python benchmarks/bench_newton.py" + " --quick" * args.quick
    if args.out:
        cmd += f" --out {args.out}"
    main(quick=args.quick, out_dir=args.out, command=cmd)
