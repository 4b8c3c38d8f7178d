"""Multi-task networks (``skmtl.neural``): accuracy on 20 Newsgroups, speed, memory.

Usage::

    python benchmarks/bench_neural.py               # full run, about 15 min, 2 cores
    python benchmarks/bench_neural.py --quick       # tiny synthetic sizes (smoke)
    python benchmarks/bench_neural.py --speed-only  # part 2 only (and part 3)
    python benchmarks/bench_neural.py --speed-only --device cuda   # GPU vs CPU

From Python, ``main(quick=False, out_dir=None, ...)`` returns
``{"accuracy": {...}, "speed": [...], "memory": [...], "profile": str}``.

1. **Accuracy**: ``MultiTaskNetClassifier`` (one hidden layer of 100 relu
   units shared by the tasks, one linear head per task) with every task
   weighting, next to skmtl's linear models (independent, pooled, mean and
   graph couplings, strengths chosen by ``MultiTaskClassifierCV``) and
   scikit-learn's ``MLPClassifier`` with the same architecture and defaults,
   one per task and one pooled over the tasks: the three 20 Newsgroups pair
   settings at 20 and 200 labelled documents per task (the rest of each task
   is the test set), and 20 one-vs-rest tasks (bydate train / test split,
   balanced). Per-task test accuracy, and the negative-transfer column of
   ``skmtl.metrics.per_task_report`` against the independent model of the
   same family.
2. **Speed**: time per epoch of the network against ``MLPClassifier``, same
   architecture, optimiser (Adam), batch size and CSR TF-IDF input, threads
   pinned (``torch.set_num_threads`` and threadpoolctl); a profile of the
   network's epoch. ``--device cuda`` adds the network on the GPU.
3. **Memory**: peak resident memory of a fit in a fresh subprocess, against
   the size of the CSR input and of its dense copy.
"""

import argparse
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from skmtl.datasets import (
    fetch_20newsgroups_multitask,
    make_multitask_classification,
    train_test_split_tasks,
)
from skmtl.metrics import per_task_report
from skmtl.model_selection import MultiTaskClassifierCV, TaskStratifiedKFold
from skmtl.penalties import GraphLaplacian, MeanRegularized

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    import torch

    from skmtl.neural import MultiTaskNetClassifier
except ImportError:  # pragma: no cover - torch is the "torch" extra
    torch = None

from _neural_report import _machine, _report  # noqa: E402
from _neural_settings import (  # noqa: E402, F401 (the script's names, as before)
    BASELINE,
    BATCH,
    GPU_GOAL,
    HIDDEN,
    MIN_DF,
    REMOVE,
    RESULTS,
    SETTINGS,
    SPEED_GOAL,
    WEIGHTINGS,
    mlp,
)
from _neural_speed import (  # noqa: E402, F401 (the script's names, as before)
    _memory_child,
    op_breakdown,
    profile_net,
    run_memory,
    run_speed,
    speed_contenders,
    speed_problems,
)

FULL = {
    "settings": SETTINGS,
    "per_task": (20, 200),
    # 3 draws at 20 per task; 2 at 200 per task, where a draw costs about 50 s
    # and the spread between draws is smaller
    "draws": {20: (100, 101, 102), 200: (100, 101)},
    "max_epochs": 100,
    "cv_folds": 3,
    "alphas": list(np.logspace(1, -5, 13)),
    "ovr": True,
    "ovr_draws": (0,),
    "ovr_train_negatives": 600,  # bydate train: 377-600 positives per group
    "ovr_test_negatives": 400,  # bydate test: 251-399 positives per group
    "ovr_max_epochs": 10,
    "ovr_max_features": 10000,
    # PCGrad, MGDA and CAGrad differentiate the 20 task losses one by one on
    # every batch: about 20 s per epoch here (measured: 200-210 s for 10
    # epochs each), left out of the one-vs-rest problem to keep the run short
    "ovr_weightings": ("fixed", "uncertainty", "dwa", "gradnorm"),
    "speed_epochs": 3,
    "speed_repeat": 2,
    "profile_epochs": 2,
    "memory": True,
}
QUICK = {
    "settings": ("synthetic",),
    "per_task": (20,),
    "draws": {20: (0, 1)},
    "max_epochs": 5,
    "cv_folds": 2,
    "alphas": [1.0, 0.01],
    "ovr": False,
    "ovr_draws": (),
    "ovr_train_negatives": None,
    "ovr_test_negatives": None,
    "ovr_max_epochs": 2,
    "ovr_max_features": None,
    "ovr_weightings": (),
    "speed_epochs": 1,
    "speed_repeat": 1,
    "profile_epochs": 1,
    "memory": True,
}


# ================================================================= models
class PerTaskMLP:
    """One ``MLPClassifier`` per task: the independent network baseline."""

    def __init__(self, **params):
        self.params = params

    def fit(self, X, y, tasks):
        self.models_ = {}
        for t in np.unique(tasks):
            rows = tasks == t
            self.models_[t] = MLPClassifier(**self.params).fit(X[rows], y[rows])
        return self

    def predict(self, X, tasks):
        out = np.empty(X.shape[0], dtype=np.int64)
        for t, model in self.models_.items():
            rows = tasks == t
            if rows.any():
                out[rows] = model.predict(X[rows])
        return out


class Pooled:
    """One model for all rows, blind to the task (its ``predict`` takes none, so
    that ``per_task_report`` calls it without ``tasks``)."""

    def __init__(self, model):
        self.model = model

    def fit(self, X, y):
        self.model.fit(X, y)
        return self

    def predict(self, X):
        return self.model.predict(X)


def net(weighting, max_epochs, seed, device="cpu"):
    return MultiTaskNetClassifier(
        HIDDEN, task_weighting=weighting, max_epochs=max_epochs, random_state=seed,
        device=device,
    )  # fmt: skip


def model_specs(cfg, max_epochs, weightings):
    """[(name, family, factory(seed), uses tasks)]; family names the baseline."""
    folds = cfg["cv_folds"]

    def linear(penalty, grid):
        def make(seed):
            cv = TaskStratifiedKFold(folds, shuffle=True, random_state=seed)
            return MultiTaskClassifierCV(
                cfg["alphas"], penalty=penalty, penalty_grid=grid, cv=cv,
                max_iter=5000,
            )  # fmt: skip

        return make

    specs = [
        ("linear independent", "linear", linear("independent", None), True),
        ("linear pooled", "linear", lambda s: Pooled(linear("independent", None)(s)),
         False),
        ("linear mean", "linear", linear(MeanRegularized(), {"shared": [0.01, 0.1,
                                                              1.0]}), True),
        ("linear graph", "linear", linear(GraphLaplacian(), {"coupling": [0.3, 1.0,
                                                              3.0]}), True),
        ("MLP per task", "net", lambda s: PerTaskMLP(
            hidden_layer_sizes=HIDDEN, max_iter=max_epochs, random_state=s), True),
        ("MLP pooled", "net", lambda s: mlp(max_epochs, s), False),
    ]  # fmt: skip
    if torch is not None:
        specs += [
            (f"net {w}", "net", lambda s, w=w: net(w, max_epochs, s), True)
            for w in weightings
        ]
    return specs


# ================================================================= accuracy
def _fit_predict(make, seed, uses_tasks, X_tr, y_tr, t_tr, X_te):
    model = make(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        if isinstance(model, PerTaskMLP):
            model.fit(X_tr, y_tr, t_tr)
        elif uses_tasks:
            model.fit(X_tr, y_tr, tasks=t_tr)
        else:
            model.fit(X_tr, y_tr)
        seconds = time.perf_counter() - start
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, seconds, n_warn


def evaluate(specs, draws, log):
    """``draws``: iterable of (seed, X_tr, X_te, y_tr, y_te, t_tr, t_te).

    Returns ``{name: {"acc": (n_draws, n_tasks), "neg": (n_draws, n_tasks) bool,
    "time": [...], "warn": int}}`` and the task labels.
    """
    res = {name: {"acc": [], "neg": [], "time": [], "warn": 0} for name, *_ in specs}
    labels = None
    for seed, X_tr, X_te, y_tr, y_te, t_tr, t_te in draws:
        fitted = {}
        for name, _family, make, uses_tasks in specs:
            model, seconds, n_warn = _fit_predict(
                make, seed, uses_tasks, X_tr, y_tr, t_tr, X_te
            )
            fitted[name] = model
            res[name]["time"].append(seconds)
            res[name]["warn"] += n_warn
        for name, family, _make, _uses in specs:
            base = fitted[BASELINE[family]]
            rep = per_task_report(
                fitted[name], X_te, y_te, t_te, metric="accuracy", baseline=base
            )
            labels = np.asarray(rep["task"])
            res[name]["acc"].append(np.asarray(rep["score"], float))
            res[name]["neg"].append(np.asarray(rep["negative_transfer"], bool))
        log(f"    draw {seed}: " + ", ".join(
            f"{n} {np.mean(res[n]['acc'][-1]):.3f}" for n, *_ in specs
        ))  # fmt: skip
    for entry in res.values():
        entry["acc"], entry["neg"] = np.array(entry["acc"]), np.array(entry["neg"])
    return res, labels


def _tfidf(train_docs, test_docs, max_features=None):
    # fitted on the training documents of the draw only (each document once:
    # in one-vs-rest the same document is a row of every task)
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=MIN_DF,
                            max_features=max_features)  # fmt: skip
    tfidf.fit(list(dict.fromkeys(train_docs)))
    return tfidf.transform(list(train_docs)), tfidf.transform(list(test_docs))


def pair_draws(setting, per_task, seeds):
    data = fetch_20newsgroups_multitask(
        setting, remove=REMOVE, download_if_missing=False
    )
    docs = np.asarray(data.data, dtype=object)
    for seed in seeds:
        d_tr, d_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
            docs, data.target, data.tasks, train_size=per_task, random_state=seed
        )
        X_tr, X_te = _tfidf(d_tr, d_te)
        yield seed, X_tr, X_te, y_tr, y_te, t_tr, t_te


def synthetic_draws(per_task, seeds):
    X, y, tasks = make_multitask_classification(
        n_tasks=3, n_samples=60, n_features=40, sparse=True, density=0.2,
        random_state=0,
    )[:3]  # fmt: skip
    X = sp.csr_matrix(abs(X))
    for seed in seeds:
        yield (seed, *train_test_split_tasks(
            X, y, tasks, train_size=per_task, random_state=seed))  # fmt: skip


def ovr_draws(cfg, seeds):
    """20 one-vs-rest tasks: bydate train rows to train, bydate test rows to test.

    Balanced sampling: every task keeps all its positives and at most
    ``ovr_*_negatives`` negatives drawn uniformly from the 19 other groups
    (``max_negatives_per_task``), in training and in test.
    """
    for seed in seeds:
        parts = [
            fetch_20newsgroups_multitask(
                "all",
                one_vs_rest=True,
                subset=subset,
                remove=REMOVE,
                max_negatives_per_task=cfg[f"ovr_{subset}_negatives"],
                random_state=seed,
                download_if_missing=False,
            )
            for subset in ("train", "test")
        ]
        X_tr, X_te = _tfidf(parts[0].data, parts[1].data, cfg["ovr_max_features"])
        yield (seed, X_tr, X_te, parts[0].target, parts[1].target, parts[0].tasks,
               parts[1].tasks)  # fmt: skip


def run_accuracy(cfg, log):
    results, skipped = {}, {}
    specs = model_specs(cfg, cfg["max_epochs"], WEIGHTINGS)
    for setting in cfg["settings"]:
        for per_task in cfg["per_task"]:
            key = f"{setting}, {per_task} per task"
            log(f"{key}")
            start = time.perf_counter()
            try:
                seeds = cfg["draws"][per_task]
                if setting == "synthetic":
                    draws = synthetic_draws(per_task, seeds)
                else:
                    draws = pair_draws(setting, per_task, seeds)
                res, labels = evaluate(specs, draws, log)
            except (FileNotFoundError, OSError) as exc:
                skipped[key] = str(exc).splitlines()[0]
                log(f"  data not found, skipped ({skipped[key]})")
                continue
            res["_meta"] = {"labels": labels, "seconds": time.perf_counter() - start,
                            "draws": list(seeds),
                            "epochs": cfg["max_epochs"]}  # fmt: skip
            results[key] = res
            log(f"  done in {res['_meta']['seconds']:.0f} s")
    if cfg["ovr"]:
        key = "one-vs-rest, 20 tasks"
        log(key)
        start = time.perf_counter()
        specs = model_specs(cfg, cfg["ovr_max_epochs"], cfg["ovr_weightings"])
        try:
            res, labels = evaluate(specs, ovr_draws(cfg, cfg["ovr_draws"]), log)
            res["_meta"] = {"labels": labels, "seconds": time.perf_counter() - start,
                            "draws": list(cfg["ovr_draws"]),
                            "epochs": cfg["ovr_max_epochs"]}  # fmt: skip
            results[key] = res
        except (FileNotFoundError, OSError) as exc:
            skipped[key] = str(exc).splitlines()[0]
        log(f"  done in {time.perf_counter() - start:.0f} s")
    return results, skipped


# ================================================================= main
def main(quick=False, out_dir=None, command=None, threads=1, accuracy=True,
         speed=True, device="cpu", memory=None):  # fmt: skip
    """Run the benchmark; return ``{"accuracy", "skipped", "speed", "memory",
    "profile"}``.

    Parameters
    ----------
    quick : bool
        Tiny synthetic problems, a few epochs (a smoke run).
    out_dir : path or None
        Where to write ``neural.md``; None: nowhere.
    command : str or None
        The command line recorded in the report.
    threads : int
        BLAS / OpenMP threads (threadpoolctl) and torch threads.
    accuracy, speed : bool
        Run part 1, parts 2-3.
    device : str
        ``"cuda"`` adds the network on the GPU to the speed part.
    memory : bool or None
        Run part 3 (None: as the configuration says).
    """
    cfg = QUICK if quick else FULL
    log = print
    if torch is not None:
        old_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    if device not in (None, "cpu") and (torch is None or not torch.cuda.is_available()):
        raise SystemExit(f"device={device!r} asked for, but torch sees no CUDA device "
                         "(torch.cuda.is_available() is False).")  # fmt: skip
    limits = threadpool_limits(threads)
    before = _machine()
    start = time.perf_counter()
    results, skipped, rows, profile, mem, ops = {}, {}, [], "", None, []
    try:
        if accuracy:
            results, skipped = run_accuracy(cfg, log)
        if speed:
            log("speed")
            problems = speed_problems(quick, log)
            rows = run_speed(cfg, problems, device, log)
            profile = profile_net(cfg, problems[0], "cpu")
            log(profile)
            ops = op_breakdown(problems[0])
            for op in ops:
                log(
                    f"  {op[0]}: {op[1]:.2f} ms"
                    + ("" if op[2] is None else f" -> {op[2]:.2f} ms")
                )
            if cfg["memory"] if memory is None else memory:
                log("memory")
                mem = run_memory(cfg, problems[0], log)
    finally:
        limits.restore_original_limits()
        if torch is not None:
            torch.set_num_threads(old_threads)
    elapsed = time.perf_counter() - start
    out = {"accuracy": results, "skipped": skipped, "speed": rows, "memory": mem,
           "profile": profile, "ops": ops}  # fmt: skip
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        info = {
            "cfg": cfg,
            "command": command or f"bench_neural.main(quick={quick})",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed": elapsed,
            "before": before,
            "after": _machine(),
            "threads": threads,
            "device": "cpu",
            "notes": NOTES,
        }
        info["ops"] = ops
        text = _report(results, skipped, rows, profile, mem, info)
        name = "neural.md" if device in (None, "cpu") else f"neural_{device}.md"
        (out_dir / name).write_text(text)
        log(text)
        log(f"wrote {out_dir / name}")
    return out


NOTES = [
    "No plot: matplotlib is not a dependency of this script (the tables are the "
    "result).",
]


def _cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--out", default=str(RESULTS), help="output folder")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads")
    parser.add_argument("--speed-only", action="store_true", help="parts 2-3 only")
    parser.add_argument("--no-memory", action="store_true", help="skip part 3")
    parser.add_argument("--device", default="cpu", help="also time the net there")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        path, contender, epochs = args.memory_child
        return _memory_child(path, contender, int(epochs))
    command = " ".join(["python benchmarks/bench_neural.py"] + sys.argv[1:])
    main(quick=args.quick, out_dir=args.out, command=command, threads=args.threads,
         accuracy=not args.speed_only, device=args.device,
         memory=False if args.no_memory else None)  # fmt: skip


if __name__ == "__main__":
    _cli()
