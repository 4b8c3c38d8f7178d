"""The report of ``bench_structure.py``: tables, the plot, the markdown.

Accuracy tables (part 1), the speed tables of parts 2 and 3 with their
growth lines, the splice of part 3 into an existing report, and the whole
report. Split from ``bench_structure.py`` (moved as they were).
"""

from pathlib import Path

import numpy as np
from _common import machine
from _structure_penalties import (
    GOAL,
    LADDER,
    STRUCTURAL,
    TARGET_GAP,
    _timing_rule,
    cp,
)
from bench_structure_peers import INSTALL, mutar_lines


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
