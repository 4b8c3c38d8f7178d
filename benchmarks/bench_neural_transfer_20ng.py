"""Neural transfer and distillation on the 20 Newsgroups transfer splits.

Usage::

    python benchmarks/bench_neural_transfer_20ng.py              # full run
    python benchmarks/bench_neural_transfer_20ng.py --draws 2    # fewer draws
    python benchmarks/bench_neural_transfer_20ng.py --jobs 2     # 2 splits at once
    python benchmarks/bench_neural_transfer_20ng.py --quick      # synthetic (smoke)

Part 1 (transfer) follows ``bench_transfer.py``'s protocol exactly, through
its own functions (imported, not copied): the same documents
(``_load_split``), the same TF-IDF fitted on the source documents only
(``_features``), the same labelled-target draws (``train_test_split_target``
with seeds 0, 1, ...), the same folds (``_folds``: 3-fold ``StratifiedKFold``
on the labelled target rows, or ``SourceTargetSplit`` for methods that see
the source rows) and the same linear rows (``run_draw`` for target-only,
source-only and ``JointTransferClassifier``). The network rows:

- ``net target-only``: ``MultiTaskNetClassifier`` on the labelled target rows;
- ``net source-only``: one ``MultiTaskNetClassifier`` fitted once per split on
  the source rows (fixed ``alpha``), scored on the target test rows; it is the
  starting point of the fine-tuned networks;
- ``net fine-tune (full)`` / ``(frozen encoder)``: ``FineTunedNetClassifier``
  from the source network, every weight trained / only the new head;
- ``net L2-SP``: full fine-tune with ``source_alpha`` (pull to the source
  weights);
- ``net JointTransfer``: ``JointTransferNetClassifier`` on the source rows
  and the labelled target rows (``source_weight`` = lambda).

Every network: one hidden layer of ``UNITS`` ReLU units, Adam, learning rate
1e-3, a fixed budget of ``EPOCHS`` epochs (``n_iter_no_change=max_epochs``:
no stop on the training loss; the ``ConvergenceWarning`` this raises is
ignored), ``random_state`` = the draw's seed. Grids are tiny (``GRIDS``).

Part 2 (distillation), on ``DISTILL_SPLIT`` at ``DISTILL_FRACTION`` labelled
target (the same draws): a big teacher, ``MultiTaskNetClassifier((1024,))``
fitted on the source rows and the labelled target rows pooled, and small
students trained on the labelled target rows only: a ``(32,)`` network and the
linear softmax, alone and through ``DistilledClassifier(teacher)``, without
and with the unlabelled target rows (``unlabelled=mask``; these are the test rows,
i.e. transductive distillation, their labels never used). The report gives
how much of the teacher - student gap the distillation closes.

Threads: torch and BLAS / OpenMP run one thread per process (``--jobs``
processes, one split each at a time).
"""

import argparse
import multiprocessing
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_transfer as bt  # noqa: E402  (the sibling benchmark's protocol)

import skmtl  # noqa: E402
from skmtl import MultiTaskClassifier  # noqa: E402
from skmtl.datasets import (  # noqa: E402
    load_20newsgroups_splits,
    train_test_split_target,
)
from skmtl.model_selection import SourceTargetSplit  # noqa: E402
from skmtl.neural import (  # noqa: E402
    FineTunedNetClassifier,
    JointTransferNetClassifier,
    MultiTaskNetClassifier,
)
from skmtl.transfer import DistilledClassifier  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FRACTIONS = (0.01, 0.05)
DRAWS = 3
UNITS = 64
EPOCHS = 30
NET = {"learning_rate": 1e-3, "max_epochs": EPOCHS, "n_iter_no_change": EPOCHS}
SOURCE_ALPHA = 1e-4  # the source network's alpha (fixed)
LINEAR = ("target-only", "source-only", "JointTransfer")
NEURAL = (
    "net target-only",
    "net source-only",
    "net fine-tune (full)",
    "net fine-tune (frozen encoder)",
    "net L2-SP",
    "net JointTransfer",
)
GRIDS = {
    "net target-only": {"alpha": [1e-4, 1e-2]},
    "net fine-tune (full)": {"alpha": [1e-4, 1e-2]},
    "net fine-tune (frozen encoder)": {"alpha": [1e-4, 1e-2]},
    "net L2-SP": {"source_alpha": [1e-3, 1e-1]},
    "net JointTransfer": {"source_weight": [0.5, 0.8]},
}
DEFAULTS = {m: {k: v[0] for k, v in g.items()} for m, g in GRIDS.items()}
DISTILL_SPLIT = "comp_vs_sci"
DISTILL_FRACTION = 0.01
TEACHER_UNITS = (1024,)
STUDENT_UNITS = (32,)
DISTILL = {"mix": 0.5, "temperature": 2.0}
DISTILL_ROWS = (
    "teacher (1024,) net, source + labelled target",
    "student (32,) net alone",
    "student (32,) net distilled",
    "student (32,) net distilled + unlabelled",
    "linear student alone",
    "linear student distilled",
    "linear student distilled + unlabelled",
)


def _net(cls, seed, units=(UNITS,), **params):
    return cls(hidden_layer_sizes=units, random_state=seed, **NET, **params)


def _pin():
    torch.set_num_threads(1)
    return threadpool_limits(1)


# ---------------------------------------------------------------- part 1


def neural_draw(X, y, tasks, labelled, seed, source_net):
    """Accuracy and seconds of every network method on one draw."""
    X_tr, X_te, y_tr, y_te, t_tr, _ = train_test_split_target(
        X, y, tasks, labelled=labelled, random_state=seed
    )
    is_tgt = t_tr == "target"
    X_lab, y_lab = X_tr[is_tgt], y_tr[is_tgt]
    k = bt._folds(y_lab, seed)
    cv_t = cv_j = None
    if k:
        cv_t = list(
            StratifiedKFold(k, shuffle=True, random_state=seed).split(X_lab, y_lab)
        )
        cv_j = list(
            SourceTargetSplit(k, target="target", random_state=seed).split(
                X_tr, y_tr, tasks=t_tr
            )
        )
    frozen = FrozenEstimator(source_net)
    out = {}

    def search(name, est, Xf, yf, cv, **fit):
        return bt._grid_search(est, GRIDS[name], Xf, yf, cv, DEFAULTS[name], **fit)

    fits = {
        "net target-only": lambda: search(
            "net target-only", _net(MultiTaskNetClassifier, seed), X_lab, y_lab, cv_t
        ),
        "net source-only": lambda: (source_net, {"alpha": SOURCE_ALPHA}),
        "net fine-tune (full)": lambda: search(
            "net fine-tune (full)",
            _net(FineTunedNetClassifier, seed, source=frozen),
            X_lab,
            y_lab,
            cv_t,
        ),  # fmt: skip
        "net fine-tune (frozen encoder)": lambda: search(
            "net fine-tune (frozen encoder)",
            _net(FineTunedNetClassifier, seed, source=frozen, freeze="encoder"),
            X_lab,
            y_lab,
            cv_t,
        ),  # fmt: skip
        "net L2-SP": lambda: search(
            "net L2-SP",
            _net(FineTunedNetClassifier, seed, source=frozen),
            X_lab,
            y_lab,
            cv_t,
        ),  # fmt: skip
    }

    def joint():
        with sklearn.config_context(enable_metadata_routing=True):
            return search(
                "net JointTransfer", _net(JointTransferNetClassifier, seed),
                X_tr, y_tr, cv_j, tasks=t_tr,
            )  # fmt: skip

    fits["net JointTransfer"] = joint
    for name in NEURAL:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est, params = fits[name]()
            elapsed = time.perf_counter() - start
            acc = accuracy_score(y_te, est.predict(X_te))
            out[name] = {"acc": acc, "time": elapsed, "params": params}
        except Exception as exc:  # one method failing must not end the run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"    {name} failed: {out[name]['error']}", flush=True)
    return out


def run_split(args):
    """Every draw of one split: {(split, fraction): [per-draw dicts]}."""
    split, quick, fractions, draws = args
    with _pin():
        t0 = time.perf_counter()
        docs, y, tasks = bt._load_split(split, quick)
        X = bt._features(docs, tasks)
        src = tasks != "target"
        sources = {}
        for alpha in bt.ALPHAS_SOURCE:  # the linear source-only models
            t1 = time.perf_counter()
            model = MultiTaskClassifier(alpha).fit(X[src], y[src])
            sources[alpha] = (model, time.perf_counter() - t1)
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            source_net = _net(MultiTaskNetClassifier, 0, alpha=SOURCE_ALPHA)
            source_net.fit(X[src], y[src])
        net_time = time.perf_counter() - t1
        print(
            f"{split}: {X.shape[0]} docs ({src.sum()} source), {X.shape[1]} "
            f"features, source net {net_time:.1f} s, prepared in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        results = {}
        for frac in fractions:
            t1 = time.perf_counter()
            cell = []
            for seed in range(draws):
                row = bt.run_draw(X, y, tasks, frac, seed, sources, LINEAR, None)
                row.update(neural_draw(X, y, tasks, frac, seed, source_net))
                if "time" in row.get("net source-only", {}):
                    row["net source-only"]["time"] = net_time
                cell.append(row)
            results[(split, frac)] = cell
            print(f"  {split} {frac:.0%}: {time.perf_counter() - t1:.1f} s", flush=True)
        return results


# ---------------------------------------------------------------- part 2


def distill_draw(X, y, tasks, labelled, seed):
    X_tr, X_te, y_tr, y_te, t_tr, _ = train_test_split_target(
        X, y, tasks, labelled=labelled, random_state=seed
    )
    is_tgt = t_tr == "target"
    X_lab, y_lab = X_tr[is_tgt], y_tr[is_tgt]
    X_all = sp.vstack([X_lab, X_te]).tocsr()
    # the test rows' labels are never read: y_lab's first class is a filler
    y_all = np.concatenate([y_lab, np.full(X_te.shape[0], y_lab[0])])
    unl_all = np.arange(len(y_all)) >= len(y_lab)
    out = {}
    teacher = None

    def student_net():
        return _net(MultiTaskNetClassifier, seed, units=STUDENT_UNITS)

    def fit_teacher():
        nonlocal teacher
        teacher = _net(MultiTaskNetClassifier, seed, units=TEACHER_UNITS)
        return teacher.fit(X_tr, y_tr)  # pooled: source + labelled target

    def distilled(student, unlabelled):
        est = DistilledClassifier(FrozenEstimator(teacher), student=student, **DISTILL)
        if unlabelled:
            return est.fit(X_all, y_all, unlabelled=unl_all)
        return est.fit(X_lab, y_lab)

    fits = dict(
        zip(
            DISTILL_ROWS,
            [
                fit_teacher,
                lambda: student_net().fit(X_lab, y_lab),
                lambda: distilled(student_net(), False),
                lambda: distilled(student_net(), True),
                lambda: MultiTaskClassifier(1e-4).fit(X_lab, y_lab),
                lambda: distilled(None, False),
                lambda: distilled(None, True),
            ],
        )
    )
    for name, fit in fits.items():
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est = fit()
            elapsed = time.perf_counter() - start
            out[name] = {
                "acc": accuracy_score(y_te, est.predict(X_te)),
                "time": elapsed,
            }
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"    {name} failed: {out[name]['error']}", flush=True)
    return out


def run_distill(args):
    split, quick, frac, draws = args
    with _pin():
        docs, y, tasks = bt._load_split(split, quick)
        X = bt._features(docs, tasks)
        t0 = time.perf_counter()
        rows = [distill_draw(X, y, tasks, frac, seed) for seed in range(draws)]
        print(f"distillation {split} {frac:.0%}: {time.perf_counter() - t0:.1f} s")
        return {("distill", split, frac): rows}


# ---------------------------------------------------------------- report


def _fmt(cell, best=False):
    if cell is None:
        return "-"
    text = f"{100 * cell['mean']:.1f} +- {100 * cell['sd']:.1f}"
    text = f"**{text}**" if best else text
    return f"{text} ({cell['time']:.2f} s)"


def report(results, distill, splits, fractions, info, out_dir, done):
    cpu, ncpu, load = bt._machine()
    methods = LINEAR + NEURAL
    lines = [
        "# Neural transfer and distillation on the 20 Newsgroups splits",
        "",
        f"Command: `{info['command']}`",
        "",
        f"- Machine: {cpu}, {ncpu} CPUs (shared), Python "
        f"{platform.python_version()}, torch {torch.__version__}, numpy "
        f"{np.__version__}, scikit-learn {sklearn.__version__}, skmtl "
        f"{skmtl.__version__}; load average at start {info['load_start']}, at the "
        f"end {load}; wall time {time.perf_counter() - info['start']:.0f} s "
        f"({info['jobs']} process(es), one split each at a time).",
        "- Threads: torch 1 thread and BLAS / OpenMP 1 thread (threadpoolctl) per "
        "process.",
        f"- Data and protocol: those of `bench_transfer.py` "
        "(`benchmarks/results/transfer.md`), through its functions: "
        f"{info['data']}; TF-IDF fitted on the source documents only; "
        f"{info['draws']} draws per (split, fraction), seeds 0, 1, ... (the "
        "first draws of transfer.md); selection on the labelled target rows only "
        "(3-fold StratifiedKFold, or SourceTargetSplit for the methods that see "
        "the source rows). Accuracy (%) on the unlabelled target rows, mean +- "
        "sd over the draws; in brackets the mean seconds of selection + fit.",
        f"- Linear rows: `bench_transfer.run_draw` (target-only: MultiTaskClassifier"
        f"CV over alpha {bt.GRIDS['target-only']['alpha']}; source-only: best "
        f"source model on the labelled target rows over alpha {bt.ALPHAS_SOURCE};"
        f" JointTransfer: {bt.GRIDS['JointTransfer']}).",
        f"- Networks: one hidden layer of {UNITS} ReLU units, Adam, learning_rate="
        f"{NET['learning_rate']:g}, batch_size='auto', a fixed budget of {EPOCHS} "
        "epochs (n_iter_no_change=max_epochs; the ConvergenceWarning this raises "
        "is ignored), random_state = the draw's seed. Source network: "
        f"alpha={SOURCE_ALPHA:g}, fitted once per split on the source rows "
        "(random_state=0; its time is that fit). Grids: "
        + "; ".join(
            f"{m}: " + ", ".join(f"{k}={v}" for k, v in g.items())
            for m, g in GRIDS.items()
        )
        + " (other parameters at their defaults, alpha=1e-4).",
        "",
    ]
    if not done:
        lines += ["**Partial results: the run is still going or was stopped.**", ""]
    summary = {}
    for split in splits:
        keys = [(split, f) for f in fractions if (split, f) in results]
        if not keys:
            continue
        lines += [f"## {split}", ""]
        head = ["method"] + [
            f"{f:.0%} (n={np.mean([d['n_labelled'] for d in results[(split, f)]]):.0f})"
            for split_, f in keys
        ]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        cells = {key: {m: bt._cell(results[key], m) for m in methods} for key in keys}
        for key in keys:
            summary[key] = cells[key]
        bests = {
            key: max(
                (m for m in methods if cells[key][m]),
                key=lambda m, key=key: cells[key][m]["mean"],
            )  # fmt: skip
            for key in keys
        }
        for m in methods:
            row = [m] + [_fmt(cells[key][m], bests[key] == m) for key in keys]
            lines.append("| " + " | ".join(row) + " |")
        errors = sorted(
            {f"{m}: {d[m]['error']}" for key in keys for d in results[key]
             for m in methods if m in d and "error" in d[m]}
        )  # fmt: skip
        lines += [""] + [f"Error: {e}" for e in errors] + ([""] if errors else [])
    if summary:
        lines += _summary_table(summary, fractions, methods)
    if distill:
        lines += _distill_table(distill)
    text = "\n".join(lines) + "\n"
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "neural_transfer_20ng.md").write_text(text)
    return summary, text


def _summary_table(summary, fractions, methods):
    lines = [
        "## Mean over the splits",
        "",
        "Mean accuracy (%) over the splits run (each split: the mean over its "
        "draws); in brackets the splits where the method beats the linear "
        "target-only mean.",
        "",
        "| method | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
        "|---|" + "---|" * len(fractions),
    ]
    for m in methods:
        row = [m]
        for f in fractions:
            keys = [k for k in summary if k[1] == f and summary[k][m]]
            if not keys:
                row.append("-")
                continue
            mean = np.mean([summary[k][m]["mean"] for k in keys])
            beats = sum(
                summary[k][m]["mean"] > summary[k]["target-only"]["mean"]
                for k in keys
                if summary[k]["target-only"]
            )
            row.append(f"{100 * mean:.1f} ({beats}/{len(keys)})")
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def _distill_table(distill):
    lines = []
    for (_, split, frac), draws in distill.items():
        n = len(draws)
        lines += [
            f"## Distillation: {split}, {frac:.0%} labelled target ({n} draws)",
            "",
            f"Teacher: MultiTaskNetClassifier({TEACHER_UNITS}) on the source rows "
            "and the labelled target rows pooled (one task). Students, trained on "
            f"the labelled target rows: MultiTaskNetClassifier({STUDENT_UNITS}) "
            "(alpha=1e-4) and the linear MultiTaskClassifier(alpha=1e-4); "
            f"distilled: DistilledClassifier(FrozenEstimator(teacher), student, "
            f"mix={DISTILL['mix']}, temperature={DISTILL['temperature']}) (the "
            "linear one: its built-in softmax student, alpha=0.01); + unlabelled: "
            "the target test rows added as unlabelled rows (transductive: their "
            "labels "
            "are never used). Same epochs and optimizer as above; no selection. "
            "Gap closed: (distilled - alone) / (teacher - alone), from the means, "
            "only where the teacher is at least 0.5 points better than alone.",
            "",
            "| model | accuracy (%) | gap closed | fit time (s) |",
            "|---|---|---|---|",
        ]
        cells = {m: bt._cell(draws, m) for m in DISTILL_ROWS}
        teacher = cells[DISTILL_ROWS[0]]
        for m in DISTILL_ROWS:
            c = cells[m]
            if c is None:
                lines.append(f"| {m} | failed | - | - |")
                continue
            alone = cells[DISTILL_ROWS[1] if "net" in m else DISTILL_ROWS[4]]
            gap = "-"
            if "distilled" in m and teacher and alone:
                denom = teacher["mean"] - alone["mean"]
                if denom > 0.005:  # a gap of at least half a point to close
                    gap = f"{100 * (c['mean'] - alone['mean']) / denom:.0f}%"
                else:
                    gap = "none (teacher not better)"
            lines.append(
                f"| {m} | {100 * c['mean']:.1f} +- {100 * c['sd']:.1f} | {gap} | "
                f"{c['time']:.2f} |"
            )
        errors = sorted(
            {f"{m}: {d[m]['error']}" for d in draws for m in DISTILL_ROWS
             if "error" in d.get(m, {})}
        )  # fmt: skip
        lines += [""] + [f"Error: {e}" for e in errors] + ([""] if errors else [])
    return lines


# ---------------------------------------------------------------- main


def main(quick=False, out_dir=None, draws=None, splits=None, jobs=1, distill=True):
    """Run both parts; return (transfer results, distillation results)."""
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    start = time.perf_counter()
    if quick:
        splits = list(splits or ["synthetic"])
        fractions, draws = (0.1,), draws or 1
        data = "synthetic two-domain text, 150 source + 150 target documents"
        distill_split = "synthetic"
    else:
        splits = list(splits or load_20newsgroups_splits()["transfer"]["tasks"])
        fractions, draws = FRACTIONS, draws or DRAWS
        data = (
            "20 Newsgroups bydate (all), headers/footers/quotes removed, the "
            "six splits of Dai et al. (2007)"
        )
        distill_split = DISTILL_SPLIT
    argv = " ".join(sys.argv[1:]) if __name__ == "__main__" else ""
    info = {
        "command": f"python benchmarks/bench_neural_transfer_20ng.py {argv}".strip()
        if __name__ == "__main__"
        else f"bench_neural_transfer_20ng.main(quick={quick}, draws={draws})",
        "start": start,
        "load_start": bt._machine()[2],
        "data": data,
        "draws": draws,
        "jobs": jobs,
    }
    tasks = [(s, quick, fractions, draws) for s in splits]
    d_frac = fractions[0] if quick else DISTILL_FRACTION
    d_task = (distill_split, quick, d_frac, draws)
    results, distilled = {}, {}

    def collect(part):
        for key, rows in part.items():
            (distilled if key[0] == "distill" else results)[key] = rows
        report(results, distilled, splits, fractions, info, out_dir, done=False)

    if jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(jobs) as pool:
            # the distillation first: its big teacher is the longest single task
            pending = [pool.apply_async(run_distill, (d_task,))] if distill else []
            pending += [pool.apply_async(run_split, (t,)) for t in tasks]
            for p in pending:
                collect(p.get())
    else:
        for t in tasks:
            collect(run_split(t))
        if distill:
            collect(run_distill(d_task))
    _, text = report(results, distilled, splits, fractions, info, out_dir, done=True)
    print(text)
    return results, distilled


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--splits", nargs="*", default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--no-distill", dest="distill", action="store_false")
    args = parser.parse_args()
    main(args.quick, args.out, args.draws, args.splits, args.jobs, args.distill)
