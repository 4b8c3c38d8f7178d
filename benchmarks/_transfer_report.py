"""Summary, markdown report and plot of ``bench_transfer.py``.

Every function takes ``cfg``: the benchmark's settings (an object with its
upper-case constants as attributes: ``BASELINES``, ``TRANSFER``,
``FIXED_METHOD``, ``GOAL_ERROR``, ``GOAL_FRACTION``, the grids and the fixed
settings the report states), so this module holds no protocol of its own.
"""

import os
import platform
import time

import numpy as np
import sklearn
from _common import cpu_name, load_average
from _transfer_methods import is_peer

import skmtl


def _cell(results, name):
    ok = [r[name] for r in results if name in r and "acc" in r[name]]
    if not ok:
        return None
    acc = np.array([r["acc"] for r in ok])
    return {
        "mean": acc.mean(),
        "sd": acc.std(ddof=1) if len(acc) > 1 else 0.0,
        "time": np.mean([r["time"] for r in ok]),
        "n": len(ok),
        "acc": acc,
    }


def summarize(results, methods, cfg):
    """Per (split, fraction): cells, the best transfer method and baseline."""
    summary = {}
    for key, draws in results.items():
        cells = {m: _cell(draws, m) for m in methods}
        cells = {m: c for m, c in cells.items() if c is not None}
        best_t = max(
            (m for m in cfg.TRANSFER if m in cells), key=lambda m: cells[m]["mean"],
            default=None,
        )  # fmt: skip
        best_b = max(
            (m for m in cfg.BASELINES if m in cells), key=lambda m: cells[m]["mean"],
            default=None,
        )  # fmt: skip
        row = {"cells": cells, "best_transfer": best_t, "best_baseline": best_b}
        if best_t and best_b:
            a, b = cells[best_t]["acc"], cells[best_b]["acc"]
            row["gain"] = cells[best_t]["mean"] - cells[best_b]["mean"]
            row["wins"] = row["gain"] > 0
            if len(a) == len(b):
                row["draws_won"] = int(np.sum(a > b))
        row["n_labelled"] = np.mean([d["n_labelled"] for d in draws])
        row["folds"] = sorted({d["folds"] for d in draws})
        row["errors"] = sorted(
            {f"{m}: {d[m]['error']}" for d in draws for m in methods
             if m in d and "error" in d[m]}
        )  # fmt: skip
        summary[key] = row
    return summary


def _machine():
    """(CPU model name, number of CPUs, load averages) for the report."""
    return cpu_name(), os.cpu_count(), load_average()


def report(results, splits, fractions, methods, info, out_dir, done, cfg):
    summary = summarize(results, methods, cfg)
    cpu, ncpu, load = _machine()
    low = fractions[:2]
    lines = [
        "# Transfer on the 20 Newsgroups splits: skmtl, baselines, ADAPT and skada",
        "",
        f"Command: `{info['command']}`",
        "",
        f"- Machine: {cpu}, {ncpu} CPUs (shared), Python {platform.python_version()}"
        f", numpy {np.__version__}, scikit-learn {sklearn.__version__}, skmtl "
        f"{skmtl.__version__}; load average at start {info['load_start']}, now "
        f"{load}; wall time so far {time.perf_counter() - info['start']:.0f} s.",
        f"- ADAPT: {info['adapt']}.",
        f"- skada: {info['skada']}.",
        "- Peers on reduced input (ADAPT's feature- and instance-based methods, "
        f"skada's): TruncatedSVD({cfg.SVD_COMPONENTS}, random_state=0) of the TF-IDF "
        "of every document (unsupervised), then StandardScaler, fitted once per "
        f"split; base LogisticRegression(C={cfg.PEER_C:g}, max_iter=1000); fixed "
        "settings (the packages' defaults), not tuned. Methods that take only "
        "an unlabelled target sample get every target row as that sample and "
        "the source and labelled target rows pooled as the labelled sample "
        "(skada: domain 1 and -2); ADAPT FA and BalancedWeighting take the "
        "labelled target rows as such.",
        "- Methods that learn from the unlabelled target ("
        + ", ".join(m for m in cfg.UNLABELLED_PARAMS if m in methods)
        + "): the test rows "
        "join the training rows marked by `unlabelled=True`, with a "
        "placeholder label (never the true one); fixed settings, not tuned: "
        + "; ".join(f"{m}: {p}" for m, p in cfg.UNLABELLED_PARAMS.items()
                    if m in methods)
        + "; the bases of SelfTraining and EM (JointTransfer) are "
        "JointTransferClassifier"
        f"({', '.join(f'{k}={v}' for k, v in cfg.JOINT_BASE.items())}), that "
        "of the SelfTraining (NaiveBayes...) methods NaiveBayesTransferClassifier"
        f"({', '.join(f'{k}={v}' for k, v in cfg.NB_BASE.items())}).",
        "- skmtl methods not in this checkout (skipped): "
        + (", ".join(info["missing"]) or "none")
        + ".",
        "- Left out of this run for time (12-27 s per draw each on this shared "
        "machine; their numbers are in the previous table, git history of this "
        "file): " + (", ".join(info.get("left_out", [])) or "none") + ".",
        f"- Data: {info['data']}. Draws per (split, fraction): {info['draws']} "
        "(seeds 0, 1, ...; the same draws for every method). Accuracy (%) on the "
        "unlabelled target rows, mean +- sd over the draws; in brackets the mean "
        "seconds of selection + final fit.",
        "- Features: one TfidfVectorizer(sublinear_tf=True, stop_words='english', "
        "min_df=2) per split, fitted on the source documents only (no target "
        "label), applied once to all documents.",
        "- Selection on the labelled target rows only: StratifiedKFold on them for "
        "target-only, RegularizedTransfer, FineTuned, Distilled and ADAPT "
        "RegularTransferLC; SourceTargetSplit (all source rows in every training "
        "fold, only labelled target rows split and scored) for pooled, "
        "JointTransfer, FeatureAugmenter + LR and MeanRegularized MTL. "
        f"{cfg.N_FOLDS} folds (fewer if a class has fewer labelled rows; none, with "
        "fixed defaults, if it has one). Source-only: the source-only model, "
        "fitted once per split for each alpha of the grid, whose accuracy on the "
        "labelled target rows is best (its time is the sum of those fits); this "
        "model is the prior / starting point / teacher of RegularizedTransfer, "
        "FineTuned, Distilled and ADAPT RegularTransferLC (whose times exclude "
        f"it). TrAdaBoost (skmtl and ADAPT): {cfg.TRADABOOST_ROUNDS} rounds of "
        f"MultiTaskClassifier(alpha={cfg.TRADABOOST_ALPHA:g}), fixed, not tuned (each "
        "candidate would cost 20 fits on all the rows).",
        f"- BLAS / OpenMP limited to {info['threads']} thread(s) (threadpoolctl): "
        "on this shared 2-core machine two OpenBLAS threads made the many tiny "
        "solves of FineTuned 10-30x slower, at random, when other jobs ran.",
        "- Grids: " + "; ".join(
            f"{m}: " + ", ".join(f"{k}={v}" for k, v in g.items())
            for m, g in cfg.GRIDS.items() if m in methods
        ) + "; source-only and pooled alpha in " + f"{cfg.ALPHAS_SOURCE}.",
        "- **Best transfer** is the skmtl transfer method (not a baseline, not "
        "ADAPT) with the highest mean accuracy in the cell, picked after the "
        "fact; *best baseline* likewise among target-only, source-only, pooled.",
        "",
    ]  # fmt: skip
    if not done:
        lines += ["**Partial results: the run is still going or was stopped.**", ""]
    wins_low, cells_low = 0, 0
    per_method = dict.fromkeys(cfg.TRANSFER + tuple(info["peers"]), 0)
    for split in splits:
        keys = [(split, f) for f in fractions if (split, f) in summary]
        if not keys:
            continue
        lines += [f"## {split}", ""]
        head = ["method"] + [
            f"{f:.0%} (n={summary[k]['n_labelled']:.0f})"
            for k, f in zip(keys, fractions)
        ]
        lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for m in methods:
            row = [m + (" (baseline)" if m in cfg.BASELINES else "")]
            for key in keys:
                s = summary[key]
                c = s["cells"].get(m)
                if c is None:
                    row.append("failed" if any(e.startswith(m + ":") for e in
                                               s["errors"]) else "-")  # fmt: skip
                    continue
                text = (
                    f"{100 * c['mean']:.1f} +- {100 * c['sd']:.1f} ({c['time']:.2f} s)"
                )
                if m == s["best_transfer"]:
                    text = f"**{text}**"
                elif m == s["best_baseline"]:
                    text = f"*{text}*"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        verdict = ["best transfer - best baseline"]
        for key in keys:
            s = summary[key]
            if "gain" not in s:
                verdict.append("-")
                continue
            won = f", {s['draws_won']}/{s['cells'][s['best_transfer']]['n']} draws"
            verdict.append(
                f"{100 * s['gain']:+.1f} ({s['best_transfer']} vs "
                f"{s['best_baseline']}{won if 'draws_won' in s else ''}): "
                f"{'**wins**' if s['wins'] else 'loses'}"
            )
            if key[1] in low:
                cells_low += 1
                wins_low += bool(s["wins"])
                best_base = s["cells"][s["best_baseline"]]["mean"]
                for m in per_method:
                    c = s["cells"].get(m)
                    per_method[m] += c is not None and c["mean"] > best_base
        lines.append("| " + " | ".join(verdict) + " |")
        folds = sorted({f for k in keys for f in summary[k]["folds"]})
        lines += ["", f"CV folds used: {folds} (0 = fixed defaults)."]
        errors = sorted({e for k in keys for e in summary[k]["errors"]})
        if errors:
            lines += ["", "Failures: " + "; ".join(errors)]
        lines.append("")
    low_txt = " and ".join(f"{f:.0%}" for f in low)
    lines += [
        "## Summary",
        "",
        f"The best skmtl transfer method beats the best baseline in **{wins_low} of "
        f"{cells_low}** (split, {low_txt} labelled) cells.",
        "",
        f"Per method, the number of those {cells_low} cells where its mean accuracy "
        "is above the best baseline's (a fixed method, no pick after the fact): "
        + ", ".join(f"{m} {n}" for m, n in per_method.items() if m in methods)
        + ".",
        "",
    ]
    lines += goal_lines(summary, splits, cfg)
    if info.get("plot"):
        lines += [f"![target accuracy vs labelled fraction]({info['plot']})", ""]
    elif info.get("plot_note"):
        lines += [info["plot_note"], ""]
    text = "\n".join(lines)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "transfer.md").write_text(text)
    return summary, text, wins_low, cells_low


def goal_lines(summary, splits, cfg):
    """The issue's goal for ``FIXED_METHOD`` at ``GOAL_FRACTION`` (markdown)."""
    keys = [(s, cfg.GOAL_FRACTION) for s in splits if (s, cfg.GOAL_FRACTION) in summary]
    if not keys:
        return []
    lines = [
        f"## Goal: {cfg.FIXED_METHOD} (fixed before the run) at "
        f"{cfg.GOAL_FRACTION:.0%}",
        "",
        f"It must beat every ADAPT and skada method on every split (mean "
        f"accuracy over the draws), with a mean error over the splits <= "
        f"{cfg.GOAL_ERROR}.",
        "",
        f"| split | {cfg.FIXED_METHOD} error | best peer | its error | beats every "
        "peer | best skmtl method (after the fact) |",
        "|---|---|---|---|---|---|",
    ]
    errors, beats = [], []
    for key in keys:
        cells = summary[key]["cells"]
        fixed = cells.get(cfg.FIXED_METHOD)
        peers = {m: c for m, c in cells.items() if is_peer(m)}
        best_peer = max(peers, key=lambda m: peers[m]["mean"], default=None)
        skmtl_cells = {m: c for m, c in cells.items() if not is_peer(m)}
        best_skmtl = max(skmtl_cells, key=lambda m: skmtl_cells[m]["mean"])
        if fixed is None:
            lines.append(f"| {key[0]} | failed | | | | |")
            beats.append(False)
            continue
        errors.append(1 - fixed["mean"])
        won = best_peer is None or fixed["mean"] > peers[best_peer]["mean"]
        beats.append(won)
        peer_txt = (
            ("-", "-")
            if best_peer is None
            else (best_peer, f"{1 - peers[best_peer]['mean']:.3f}")
        )
        lines.append(
            f"| {key[0]} | {1 - fixed['mean']:.3f} | {peer_txt[0]} | {peer_txt[1]} "
            f"| {'yes' if won else '**no**'} | {best_skmtl} "
            f"({1 - skmtl_cells[best_skmtl]['mean']:.3f}) |"
        )
    if errors:
        mean_err = float(np.mean(errors))
        met = all(beats) and mean_err <= cfg.GOAL_ERROR and len(keys) == 6
        lines += [
            "",
            f"Mean error of {cfg.FIXED_METHOD} over the {len(errors)} splits: "
            f"**{mean_err:.3f}**; beats every peer on {sum(beats)} of "
            f"{len(keys)} splits. Goal **{'met' if met else 'not met'}**"
            + ("" if len(keys) == 6 else " (not all six splits ran)")
            + ".",
            "",
        ]
    return lines


def plot(summary, splits, fractions, methods, path, cfg):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot."
    done = [s for s in splits if any((s, f) in summary for f in fractions)]
    ncols = min(3, len(done))
    nrows = -(-len(done) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 4 * nrows), squeeze=False, sharey=False
    )
    cmap = plt.get_cmap("tab20")
    for ax, split in zip(axes.flat, done):
        for i, m in enumerate(methods):
            pts = [
                (f, summary[(split, f)]["cells"][m])
                for f in fractions
                if (split, f) in summary and m in summary[(split, f)]["cells"]
            ]
            if not pts:
                continue
            style = "--" if m in cfg.BASELINES else (":" if is_peer(m) else "-")
            ax.errorbar(
                [100 * f for f, _ in pts],
                [100 * c["mean"] for _, c in pts],
                yerr=[100 * c["sd"] for _, c in pts],
                label=m, linestyle=style, marker="o", markersize=3,
                color=cmap(i % 20), capsize=2, linewidth=1.2,
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks([100 * f for f in fractions])
        ax.set_xticklabels([f"{f:.0%}" for f in fractions])
        ax.set_title(split)
        ax.set_xlabel("labelled target")
        ax.set_ylabel("target accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(done) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8)
    fig.tight_layout(rect=(0, 0.1 if nrows > 1 else 0.18, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
