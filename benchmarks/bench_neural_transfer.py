"""Digits transfer: a CNN trained on digits 0-4, transferred to digits 5-9.

Usage::

    python benchmarks/bench_neural_transfer.py           # full run, about 4 min
    python benchmarks/bench_neural_transfer.py --quick   # tiny sizes (smoke run)
    python benchmarks/bench_neural_transfer.py --out DIR # write neural_transfer.md

Protocol. scikit-learn's ``load_digits`` (8x8 images, pixels scaled to
[0, 1]) is split by label: the **source** is every image of digits 0-4, the
**target** every image of digits 5-9. One source network
(``MultiTaskNetClassifier(encoder=SmallCNN)``, one task, fixed seed) is
trained on the source images. For each number ``k`` of labelled images per
class (``K``) and each draw (seeds 0, 1, ...), ``k`` target images per class
are drawn at random (the same rows for every method); every method is trained
on these ``5 k`` rows and scored by its accuracy on all the other target
images.

Methods (the same ``SmallCNN`` everywhere, the same optimizer, learning rate
and fixed epoch budget):

- ``scratch``: ``MultiTaskNetClassifier``, random initialisation;
- ``frozen encoder``: ``FineTunedNetClassifier(source, freeze="encoder")``,
  only the new head trains (a linear model of the source features);
- ``full fine-tune``: ``FineTunedNetClassifier(source)``, every weight trains
  from the source's;
- ``gradual``: frozen for the first half of the epochs, then the encoder
  joins at a learning rate ten times smaller (``unfreeze_after``,
  ``encoder_learning_rate``);
- ``L2-SP``: ``FineTunedNetClassifier(source, source_alpha=a)``, ``a``
  chosen in ``L2SP_GRID`` by stratified cross-validation on the labelled
  target rows only (never the test rows);
- ``logistic regression``: scikit-learn's ``LogisticRegression`` on the raw
  pixels of the labelled target rows (default ``C=1``), for reference.

The epoch budgets are fixed (no stopping on the training loss): every network
gets the same number of updates. Reaching ``max_epochs`` is then expected, so
the ``ConvergenceWarning`` it raises is ignored here.

Threads: torch runs on one thread and BLAS / OpenMP are limited to one thread
(threadpoolctl). The machine this was written on is a busy shared 2-core box,
where more threads than free cores made the many tiny steps of these networks
slower and their times erratic; one thread also makes the runs repeatable.

Results go to ``benchmarks/results/neural_transfer.md`` and
``neural_transfer.png`` (accuracy against ``k``; skipped, with a message,
without matplotlib).
"""

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits
from torch import nn

import skmtl
from skmtl.neural import FineTunedNetClassifier, MultiTaskNetClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name, load_average  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
METHODS = (
    "scratch",
    "frozen encoder",
    "full fine-tune",
    "gradual",
    "L2-SP",
    "logistic regression",
)
L2SP_GRID = (0.01, 0.1, 1.0)
N_FOLDS = 3

# Full run: the table is the k = 10 column; 5, 10, 20 make the plot.
FULL = {
    "K": (5, 10, 20),
    "draws": 10,
    "source_epochs": 30,
    "target_epochs": 100,
    "source_rows": None,  # every source image
}
# Smoke run: seconds.
QUICK = {
    "K": (3,),
    "draws": 2,
    "source_epochs": 2,
    "target_epochs": 4,
    "source_rows": 200,
}
# Network settings shared by every network (source and target).
NET = {"learning_rate": 1e-2, "batch_size": 64, "alpha": 1e-4}


class SmallCNN(nn.Module):
    """Two 3x3 convolutions on the 8x8 image: 64 pixels -> 16 x 4 x 4 = 256."""

    def __init__(self, channels=8, channels2=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels2, 3)

    def forward(self, x):
        z = torch.relu(self.conv1(x.view(-1, 1, 8, 8)))
        z = torch.relu(self.conv2(z))
        return z.flatten(1)


# ---------------------------------------------------------------- methods


def _net_kwargs(epochs, seed):
    # n_iter_no_change = epochs: a fixed budget, no stop on the training loss
    return dict(NET, max_epochs=epochs, n_iter_no_change=epochs, random_state=seed)


def make_method(name, source, epochs, seed, source_alpha=None):
    """A fresh, unfitted estimator for one method."""
    kw = _net_kwargs(epochs, seed)
    if name == "scratch":
        return MultiTaskNetClassifier(encoder=SmallCNN, **kw)
    if name == "frozen encoder":
        return FineTunedNetClassifier(source, freeze="encoder", **kw)
    if name == "full fine-tune":
        return FineTunedNetClassifier(source, **kw)
    if name == "gradual":
        return FineTunedNetClassifier(
            source,
            freeze="encoder",
            unfreeze_after=max(1, epochs // 2),
            encoder_learning_rate=NET["learning_rate"] / 10,
            **kw,
        )
    if name == "L2-SP":
        return FineTunedNetClassifier(source, source_alpha=source_alpha, **kw)
    if name == "logistic regression":
        return LogisticRegression(max_iter=5000)
    raise ValueError(name)


def choose_source_alpha(source, X, y, epochs, seed):
    """L2-SP strength: stratified CV on the labelled target rows only."""
    n_folds = min(N_FOLDS, int(np.unique(y, return_counts=True)[1].min()))
    if n_folds < 2:
        return L2SP_GRID[len(L2SP_GRID) // 2], {}
    cv = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    scores = {}
    for a in L2SP_GRID:
        fold = []
        for tr, va in cv.split(X, y):
            est = make_method("L2-SP", source, epochs, seed, source_alpha=a)
            fold.append(est.fit(X[tr], y[tr]).score(X[va], y[va]))
        scores[a] = float(np.mean(fold))
    # ties go to the smallest strength (the grid order)
    return max(L2SP_GRID, key=lambda a: scores[a]), scores


def draw_rows(y_target, k, seed):
    """``k`` rows per class of ``y_target`` (indices), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(y_target == c), k, replace=False)
                for c in TARGET_CLASSES
            ]
        )
    )


def run_draw(source, X, y, k, seed, epochs):
    """Every method on one draw: ``{method: {"acc", "time"[, "alpha"]}}``."""
    train = draw_rows(y, k, seed)
    test = np.setdiff1d(np.arange(len(y)), train)
    out = {}
    for name in METHODS:
        t0 = time.perf_counter()
        extra = {}
        alpha = None
        if name == "L2-SP":
            alpha, cv_scores = choose_source_alpha(
                source, X[train], y[train], epochs, seed
            )
            extra = {"alpha": alpha, "cv": cv_scores}
        est = make_method(name, source, epochs, seed, source_alpha=alpha)
        est.fit(X[train], y[train])
        elapsed = time.perf_counter() - t0
        out[name] = {"acc": est.score(X[test], y[test]), "time": elapsed, **extra}
    out["n_train"], out["n_test"] = len(train), len(test)
    return out


# ----------------------------------------------------------------- report


def _machine():
    """(CPU model name, number of CPUs, load averages) for the report."""
    return cpu_name(), os.cpu_count(), load_average()


def summarize(results):
    """``{k: {method: (mean, sd, mean time)}}`` over the draws."""
    summary = {}
    for k, draws in results.items():
        row = {}
        for m in METHODS:
            acc = np.array([d[m]["acc"] for d in draws])
            t = np.array([d[m]["time"] for d in draws])
            row[m] = (acc.mean(), acc.std(ddof=1) if len(acc) > 1 else 0.0, t.mean())
        summary[k] = row
    return summary


def _paired(draws, method):
    """Accuracy minus scratch's per draw (points) and the number of wins."""
    diff = np.array([100 * (d[method]["acc"] - d["scratch"]["acc"]) for d in draws])
    return diff, int((diff > 0).sum())


def plot(summary, path):
    """Accuracy against k; a note (str) instead when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: plot skipped (pip install matplotlib)"
    ks = sorted(summary)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, m in enumerate(METHODS):
        mean = np.array([summary[k][m][0] for k in ks]) * 100
        sd = np.array([summary[k][m][1] for k in ks]) * 100
        style = "--" if m == "logistic regression" else "-"
        # a small horizontal shift per method keeps the error bars apart
        x = np.array(ks) * 1.02 ** (i - len(METHODS) / 2)
        ax.errorbar(x, mean, yerr=sd, label=m, marker="o", ls=style, capsize=3)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("labelled target images per class")
    ax.set_ylabel("test accuracy on digits 5-9 (%)")
    ax.set_title("CNN from digits 0-4 to digits 5-9 (mean +- sd over draws)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def report(results, info, out_dir):
    summary = summarize(results)
    cpu, ncpu, load = _machine()
    ks = sorted(results)
    headline = 10 if 10 in results else ks[0]
    lines = [
        "# Neural transfer on digits: a CNN from digits 0-4 to digits 5-9",
        "",
        f"Command: `{info['command']}`",
        "",
        f"- Machine: {cpu}, {ncpu} CPUs (shared), Python "
        f"{platform.python_version()}, torch {torch.__version__}, numpy "
        f"{np.__version__}, scikit-learn {sklearn.__version__}, skmtl "
        f"{skmtl.__version__}; load average at start {info['load_start']}, at the "
        f"end {load}; wall time {time.perf_counter() - info['start']:.0f} s.",
        "- Threads: torch 1 thread, BLAS / OpenMP 1 thread (threadpoolctl): a "
        "busy shared 2-core machine, where more threads made the tiny steps "
        "slower and their times erratic.",
        f"- Data: `load_digits` ({info['n_images']} images, pixels / 16). Source: "
        f"{info['n_source']} images of digits 0-4. Target: the "
        f"{info['n_target']} images of digits 5-9; k labelled images per class "
        "are drawn (seeds 0, 1, ...; the same rows for every method) and the "
        "rest of the target is the test set.",
        f"- Source network: `MultiTaskNetClassifier(encoder=SmallCNN, "
        f"max_epochs={info['source_epochs']}, learning_rate="
        f"{NET['learning_rate']}, batch_size={NET['batch_size']}, "
        f"random_state=0)`, one task, trained once ({info['source_time']:.1f} s, "
        f"training accuracy {100 * info['source_acc']:.1f}%). SmallCNN: "
        "Conv2d(1, 8, 3) -> ReLU -> Conv2d(8, 16, 3) -> ReLU -> flatten "
        "(256 features); each head is a linear layer.",
        f"- Target networks: the same SmallCNN, Adam, learning_rate="
        f"{NET['learning_rate']}, batch_size={NET['batch_size']}, "
        f"alpha={NET['alpha']}, a fixed budget of {info['target_epochs']} epochs "
        "(`n_iter_no_change=max_epochs`: no stop on the training loss; the "
        "ConvergenceWarning this raises is ignored), `random_state` = the draw's "
        "seed. gradual: frozen encoder for the first half of the epochs, then "
        f"the encoder at learning rate {NET['learning_rate'] / 10:g}. L2-SP: "
        f"`source_alpha` in {list(L2SP_GRID)} chosen by {N_FOLDS}-fold stratified "
        "CV on the labelled target rows only (its time includes the search). "
        "Logistic regression: `LogisticRegression()` (C=1) on the raw pixels.",
        "- Accuracy (%) on the unlabelled target images, mean +- sd over the "
        "draws; in brackets the mean seconds of selection + fit.",
        "",
        f"## k = {headline} labelled images per class "
        f"({5 * headline} training rows, {len(results[headline])} draws)",
        "",
        "| method | accuracy (%) | minus scratch, paired (points) | draws above "
        "scratch | fit time (s) |",
        "|---|---|---|---|---|",
    ]
    best = max(METHODS, key=lambda m: summary[headline][m][0])
    for m in METHODS:
        mean, sd, t = summary[headline][m]
        cell = f"{100 * mean:.1f} +- {100 * sd:.1f}"
        if m == best:
            cell = f"**{cell}**"
        diff, wins = _paired(results[headline], m)
        paired = (
            "-" if m == "scratch" else f"{diff.mean():+.1f} +- {diff.std(ddof=1):.1f}"
        )
        above = "-" if m == "scratch" else f"{wins} / {len(diff)}"
        lines.append(f"| {m} | {cell} | {paired} | {above} | {t:.2f} |")
    lines += [
        "",
        "Paired: the method's accuracy minus scratch's on the same draw (same "
        "training rows, same seed), mean +- sd over the draws, in points; "
        "draws above scratch counts the draws where the method is strictly "
        "better.",
    ]
    lines += [
        "",
        "## Every k",
        "",
        "| method | " + " | ".join(f"k = {k} (n = {5 * k})" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for m in METHODS:
        cells = []
        for k in ks:
            mean, sd, t = summary[k][m]
            cells.append(f"{100 * mean:.1f} +- {100 * sd:.1f} ({t:.2f} s)")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "L2-SP strengths chosen (per draw):", ""]
    for k in ks:
        chosen = [d["L2-SP"]["alpha"] for d in results[k]]
        lines.append(f"- k = {k}: {', '.join(f'{a:g}' for a in chosen)}")
    lines += ["", "Per-draw accuracy (%), draws in seed order:", ""]
    for k in ks:
        for m in METHODS:
            accs = ", ".join(f"{100 * d[m]['acc']:.1f}" for d in results[k])
            lines.append(f"- k = {k}, {m}: {accs}")
    lines.append("")
    if info.get("plot_note"):
        lines.append(f"Plot: {info['plot_note']}.")
    elif info.get("plot"):
        lines.append(f"![accuracy against k]({info['plot']})")
    lines.append("")
    text = "\n".join(lines)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "neural_transfer.md").write_text(text)
    return summary, text


# ------------------------------------------------------------------- main


def main(quick=False, out_dir=None, command=None):
    """Run the benchmark; return ``{k: [one dict per draw]}``.

    quick: tiny sizes (smoke run, seconds). out_dir: where the markdown and
    the plot go (default ``benchmarks/results``).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            # fixed epoch budgets: reaching max_epochs is the plan, not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            return _main(quick, out_dir, command)
    finally:
        torch.set_num_threads(threads)


def _main(quick, out_dir, command):
    cfg = QUICK if quick else FULL
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    start = time.perf_counter()
    info = {
        "command": command or f"bench_neural_transfer.main(quick={quick})",
        "start": start,
        "load_start": _machine()[2],
        "source_epochs": cfg["source_epochs"],
        "target_epochs": cfg["target_epochs"],
    }
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    src = np.isin(y, SOURCE_CLASSES)
    Xs, ys = X[src], y[src]
    if cfg["source_rows"] is not None:
        keep = np.random.default_rng(0).permutation(len(ys))[: cfg["source_rows"]]
        Xs, ys = Xs[keep], ys[keep]
    Xt, yt = X[~src], y[~src]
    info.update(n_images=len(y), n_source=len(ys), n_target=len(yt))

    t0 = time.perf_counter()
    source = MultiTaskNetClassifier(
        encoder=SmallCNN, **_net_kwargs(cfg["source_epochs"], 0)
    ).fit(Xs, ys)
    info["source_time"] = time.perf_counter() - t0
    info["source_acc"] = source.score(Xs, ys)
    print(
        f"source: {len(ys)} images, {info['source_time']:.1f} s, training "
        f"accuracy {info['source_acc']:.3f}",
        flush=True,
    )

    results = {}
    for k in cfg["K"]:
        t0 = time.perf_counter()
        results[k] = [
            run_draw(source, Xt, yt, k, seed, cfg["target_epochs"])
            for seed in range(cfg["draws"])
        ]
        row = summarize({k: results[k]})[k]
        means = ", ".join(f"{m} {100 * row[m][0]:.1f}" for m in METHODS)
        print(f"k={k}: {time.perf_counter() - t0:.1f} s; {means}", flush=True)
    summary = summarize(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    note = plot(summary, out_dir / "neural_transfer.png")
    if note:
        print(note)
    info["plot"] = None if note else "neural_transfer.png"
    info["plot_note"] = note
    _, text = report(results, info, out_dir)
    print(text)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke)")
    parser.add_argument("--out", default=None, help="output folder")
    args = parser.parse_args()
    argv = " ".join(sys.argv[1:])
    main(
        quick=args.quick,
        out_dir=args.out,
        command=f"python benchmarks/bench_neural_transfer.py {argv}".strip(),
    )
