"""Distillation on 20 Newsgroups (20 classes) with a strong teacher.

Usage::

    python benchmarks/bench_distill_20ng.py              # full run (~4 min)
    python benchmarks/bench_distill_20ng.py --draws 2    # fewer draws
    python benchmarks/bench_distill_20ng.py --quick      # synthetic (smoke)

A classic model-compression setting, where the teacher is genuinely better
than the students:

- data: the 20-class problem of 20 Newsgroups, bydate train / test,
  headers / footers / quotes removed, loaded as ``bench_neural.py`` loads it
  (the positives of the 20 one-vs-rest tasks: every document once, its
  newsgroup as the class); TF-IDF (sublinear tf, English stop words,
  ``min_df=2``) fitted on the training documents;
- teacher: ``MultiTaskNetClassifier(TEACHER_UNITS)`` trained on **all** the
  labelled training documents (fitted once; every draw uses it);
- students, trained with only ``FRACTION`` of the training documents labelled
  (a stratified draw per seed; the other training documents are unlabelled,
  ``unlabelled=mask``): a ``(32,)`` network and the built-in linear softmax student,
  (i) alone on the labelled rows, (ii) ``DistilledClassifier(teacher)`` on the
  labelled rows, (iii) the same with the unlabelled training rows added
  (their labels are never used; the test documents are never seen in
  training). Distillation at every temperature of ``TEMPERATURES`` (both
  reported, none selected), ``mix=MIX``;
- ceilings: each student trained alone on all labelled training documents.

Every network: Adam, learning rate 1e-3, ``batch_size="auto"``
(``min(200, n)``), alpha 1e-4, a fixed budget of epochs
(``n_iter_no_change=max_epochs``: no stop on the training loss; the
``ConvergenceWarning`` this raises is ignored), ``random_state`` = the
draw's seed (0 for the teacher and the ceilings). The linear students
(``MultiTaskClassifier`` alone, ``DistilledClassifier``'s built-in student)
share ``LINEAR_ALPHA``. No parameter is tuned on the test set; none is tuned
at all.

Threads: torch and BLAS / OpenMP run one thread (one process).
"""

import argparse
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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import skmtl  # noqa: E402
from skmtl import MultiTaskClassifier  # noqa: E402
from skmtl.datasets import fetch_20newsgroups_multitask  # noqa: E402
from skmtl.neural import MultiTaskNetClassifier  # noqa: E402
from skmtl.transfer import DistilledClassifier  # noqa: E402

REMOVE = ("headers", "footers", "quotes")  # as bench_neural.py
MIN_DF = 2
FRACTION = 0.05
DRAWS = 3
TEACHER_UNITS = (1024,)
STUDENT_UNITS = (32,)
TEACHER_EPOCHS = 5
STUDENT_EPOCHS = 100
NET = {"learning_rate": 1e-3, "alpha": 1e-4}
LINEAR_ALPHA = 1e-4
TEMPERATURES = (1.0, 4.0)
MIX = 0.5
QUICK = {"teacher_epochs": 20, "student_epochs": 20, "draws": 1}

STUDENTS = ("(32,) net", "linear")


def row_names(temperatures=TEMPERATURES):
    """Rows of one student, in report order."""
    out = []
    for s in STUDENTS:
        out.append(f"{s} alone")
        out += [f"{s} distilled T={t:g}" for t in temperatures]
        out += [f"{s} distilled + unlabelled T={t:g}" for t in temperatures]
    return out


def _pin():
    torch.set_num_threads(1)
    return threadpool_limits(1)


def _net(units, epochs, seed):
    return MultiTaskNetClassifier(
        units, max_epochs=epochs, n_iter_no_change=epochs, random_state=seed, **NET
    )


def load_20class(quick, log=print):
    """(X_train, y_train, X_test, y_test, description, features)."""
    if quick:
        rng = np.random.default_rng(0)
        n, p, k = 600, 300, 4
        centres = rng.normal(size=(k, p)) * (rng.random((k, p)) < 0.1)
        y = rng.integers(0, k, n)
        X = np.abs(centres[y] + 0.5 * rng.normal(size=(n, p)) * (rng.random((n, p))
                                                               < 0.1))  # fmt: skip
        X = sp.csr_matrix(X)
        data = "synthetic CSR, 4 classes"
        return X[:400], y[:400], X[400:], y[400:], data, "features"

    def docs(subset):
        data = fetch_20newsgroups_multitask(
            "all", one_vs_rest=True, subset=subset, remove=REMOVE,
            max_negatives_per_task=1, download_if_missing=False,
        )  # fmt: skip
        pos = data.target == 1  # every document once, its newsgroup as the class
        return list(np.asarray(data.data, dtype=object)[pos]), data.tasks[pos]

    d_tr, y_tr = docs("train")
    d_te, y_te = docs("test")
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=MIN_DF)
    X_tr = tfidf.fit_transform(d_tr)
    X_te = tfidf.transform(d_te)
    features = (
        f"TF-IDF features (sublinear tf, English stop words, min_df={MIN_DF}, "
        "fitted on the training documents)"
    )
    return X_tr, y_tr, X_te, y_te, "20 Newsgroups bydate, 20 classes", features


def _timed(fit, X_te, y_te):
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = fit()
        elapsed = time.perf_counter() - start
        return est, {"acc": accuracy_score(y_te, est.predict(X_te)), "time": elapsed}
    except Exception as exc:
        print(f"    failed: {type(exc).__name__}: {exc}", flush=True)
        return None, {"error": f"{type(exc).__name__}: {exc}"}


def run_draw(X, y, X_te, y_te, teacher, seed, cfg):
    lab, _ = train_test_split(
        np.arange(len(y)), train_size=FRACTION, stratify=y, random_state=seed
    )
    unlabelled_rows = np.ones(len(y), dtype=bool)
    unlabelled_rows[lab] = False
    X_lab, y_lab = X[lab], y[lab]
    frozen = FrozenEstimator(teacher)

    def student(name):
        if name == "linear":
            return None
        return _net(STUDENT_UNITS, cfg["student_epochs"], seed)

    def alone(name):
        if name == "linear":
            return MultiTaskClassifier(LINEAR_ALPHA).fit(X_lab, y_lab)
        return student(name).fit(X_lab, y_lab)

    def distilled(name, t, unlabelled):
        est = DistilledClassifier(
            frozen, student=student(name), temperature=t, mix=MIX, alpha=LINEAR_ALPHA
        )
        if unlabelled:
            return est.fit(X, y, unlabelled=unlabelled_rows)  # y never read there
        return est.fit(X_lab, y_lab)

    out = {"n_labelled": len(lab)}
    for name in STUDENTS:
        fits = [(f"{name} alone", lambda n=name: alone(n))]
        for t in cfg["temperatures"]:
            fits.append((f"{name} distilled T={t:g}",
                         lambda n=name, t=t: distilled(n, t, False)))  # fmt: skip
        for t in cfg["temperatures"]:
            fits.append((f"{name} distilled + unlabelled T={t:g}",
                         lambda n=name, t=t: distilled(n, t, True)))  # fmt: skip
        for row, fit in fits:
            out[row] = _timed(fit, X_te, y_te)[1]
            print(f"  seed {seed} {row}: {out[row]}", flush=True)
    return out


def _stats(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0


def report(res, cfg, info, out_dir):
    draws = res["draws"]
    teacher_acc = res["teacher"]["acc"]
    n_lab = draws[0]["n_labelled"] if draws else 0
    lines = [
        "# Distillation on 20 Newsgroups (20 classes) with a strong teacher",
        "",
        f"Command: `{info['command']}`",
        "",
        f"- Machine: {info['machine']}; load average at start {info['load0']}, at "
        f"the end {info['load1']}; wall time {info['wall']:.0f} s (one process).",
        "- Threads: torch 1 thread and BLAS / OpenMP 1 thread (threadpoolctl).",
        f"- Data: {res['data']}; {res['n_train']} training and {res['n_test']} test "
        f"documents, {res['n_features']} {res['features']}. "
        "Accuracy (%) on the test documents.",
        f"- Teacher: MultiTaskNetClassifier({TEACHER_UNITS}) on all "
        f"{res['n_train']} labelled training documents, {cfg['teacher_epochs']} "
        "epochs, random_state=0; fitted once, used by every draw.",
        f"- Students: MultiTaskNetClassifier({STUDENT_UNITS}), "
        f"{cfg['student_epochs']} epochs whatever the number of rows, "
        "random_state = the draw's seed; the linear softmax (alone: "
        f"MultiTaskClassifier(alpha={LINEAR_ALPHA:g}); distilled: "
        f"DistilledClassifier's built-in student, alpha={LINEAR_ALPHA:g}). "
        f"Networks: Adam, learning_rate={NET['learning_rate']:g}, "
        f"alpha={NET['alpha']:g}, batch min(200, n), a fixed epoch budget "
        "(n_iter_no_change=max_epochs; the ConvergenceWarning is ignored).",
        f"- Labels: {FRACTION:.0%} of the training documents labelled "
        f"(n={n_lab}, stratified draw, seeds 0..{len(draws) - 1}), the others "
        "unlabelled (fit(..., unlabelled=mask)). Alone / distilled: the "
        "labelled rows only; + "
        "unlabelled: all training rows, the teacher's soft targets alone on the "
        "unlabelled ones (the test documents are never seen in training). "
        f"DistilledClassifier(FrozenEstimator(teacher), student, mix={MIX}, "
        f"temperature=T), T in {list(cfg['temperatures'])}: both reported, none "
        "selected. No parameter tuned.",
        "- Gap closed: (distilled - alone) / (teacher - alone), from the means.",
        "",
        f"Mean +- sd over {len(draws)} draws; fit time in seconds (mean).",
        "",
        "| model | accuracy (%) | gap closed | fit time (s) |",
        "|---|---|---|---|",
        f"| teacher {TEACHER_UNITS} net, all labels | {100 * teacher_acc:.1f} | - | "
        f"{res['teacher']['time']:.1f} |",
    ]
    for name in STUDENTS:
        ceil = res["ceilings"][name]
        lines.append(
            f"| {name} alone, all labels (ceiling) | {100 * ceil['acc']:.1f} | - | "
            f"{ceil['time']:.1f} |"
        )
    for name in STUDENTS:
        base = None
        for row in row_names(cfg["temperatures"]):
            if not row.startswith(name):
                continue
            cells = [d[row] for d in draws if "acc" in d.get(row, {})]
            if not cells:
                lines.append(f"| {row} | failed | - | - |")
                continue
            m, s = _stats([c["acc"] for c in cells])
            t = np.mean([c["time"] for c in cells])
            if row.endswith("alone"):
                base, gap = m, "-"
            elif base is not None and teacher_acc > base:
                gap = f"{100 * (m - base) / (teacher_acc - base):.0f}%"
            else:
                gap = "none (teacher not better)"
            lines.append(f"| {row} | {100 * m:.1f} +- {100 * s:.1f} | {gap} | "
                         f"{t:.2f} |")  # fmt: skip
    lines.append("")
    text = "\n".join(lines)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "distill_20ng.md").write_text(text)
    return text


def _load_avg():
    try:
        return " ".join(f"{v:.2f}" for v in __import__("os").getloadavg())
    except OSError:
        return "n/a"


def main(quick=False, out_dir=None, draws=None):
    """Run the benchmark; return the results dict."""
    t0 = time.perf_counter()
    load0 = _load_avg()
    cfg = {
        "teacher_epochs": QUICK["teacher_epochs"] if quick else TEACHER_EPOCHS,
        "student_epochs": QUICK["student_epochs"] if quick else STUDENT_EPOCHS,
        "temperatures": TEMPERATURES,
    }
    n_draws = draws or (QUICK["draws"] if quick else DRAWS)
    with _pin():
        X, y, X_te, y_te, data, features = load_20class(quick)
        print(f"{data}: {X.shape} train, {X_te.shape} test", flush=True)
        res = {"data": data, "features": features, "n_train": X.shape[0],
               "n_test": X_te.shape[0], "n_features": X.shape[1]}  # fmt: skip
        teacher, res["teacher"] = _timed(
            lambda: _net(TEACHER_UNITS, cfg["teacher_epochs"], 0).fit(X, y), X_te, y_te
        )
        print(f"teacher: {res['teacher']}", flush=True)
        res["ceilings"] = {
            "(32,) net": _timed(
                lambda: _net(STUDENT_UNITS, cfg["student_epochs"], 0).fit(X, y),
                X_te,
                y_te,
            )[1],
            "linear": _timed(
                lambda: MultiTaskClassifier(LINEAR_ALPHA).fit(X, y), X_te, y_te
            )[1],
        }
        print(f"ceilings: {res['ceilings']}", flush=True)
        res["draws"] = [
            run_draw(X, y, X_te, y_te, teacher, seed, cfg) for seed in range(n_draws)
        ]
    if quick:
        command = f"bench_distill_20ng.main(quick=True, draws={draws})"
    else:
        command = "python benchmarks/bench_distill_20ng.py" + (
            f" --draws {draws}" if draws else ""
        )
    info = {
        "command": command,
        "machine": (
            f"{platform.processor() or platform.machine()}, "
            f"{__import__('os').cpu_count()} CPUs, Python {platform.python_version()}, "
            f"torch {torch.__version__}, numpy {np.__version__}, scikit-learn "
            f"{sklearn.__version__}, skmtl {skmtl.__version__}"
        ),
        "load0": load0,
        "load1": _load_avg(),
        "wall": time.perf_counter() - t0,
    }
    print(report(res, cfg, info, out_dir))
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="synthetic, seconds")
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    default_out = Path(__file__).resolve().parent / "results"
    out = args.out or (None if args.quick else default_out)
    main(quick=args.quick, out_dir=out, draws=args.draws)
