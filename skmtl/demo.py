"""The main job: multi-task models side by side on real data.

Run ``python -m skmtl.demo`` (or ``make demo``). It compares independent,
pooled and coupled models on

- 20 Newsgroups multi-task text classification (the three newsgroup-pair
  settings, few labelled documents per task, TF-IDF + skmtl in one
  Pipeline) when the bydate archive is found (``--newsgroups PATH``,
  ``$SKMTL_DATA`` or ``../shared/data``);
- the School benchmark (139 schools, exam scores) when ``school.mat`` is found
  (``--school PATH``, ``$SKMTL_DATA``, or ``../shared/data``);
- otherwise a built-in synthetic multi-task problem,

prints per-task tables and overall scores on held-out rows, and saves a plot
when matplotlib is installed. When torch is installed (``pip install
"skmtl[torch]"``), a short neural part follows: a shared-encoder network
(:mod:`skmtl.neural`) against the linear models on one text setting.
"""

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import MultiTaskClassifier, MultiTaskRegressor
from .datasets import (
    fetch_20newsgroups_multitask,
    fetch_20newsgroups_transfer,
    load_school,
    make_multitask_regression,
    train_test_split_target,
    train_test_split_tasks,
)
from .penalties import L21, GraphLaplacian, MeanRegularized

__all__ = [
    "main",
    "run",
    "demo_models",
    "compare_newsgroups",
    "newsgroups_models",
    "text_pipeline",
    "compare_neural",
    "compare_transfer",
]


# Strengths per data set, chosen once by 3-fold cross-validation (per-task
# 67/33 draws) inside a training split of seed 100, alpha over a log grid from
# 0.003 to 10; the demo does not tune them again, to stay fast.
_STRENGTHS = {
    "school": {
        "independent": 0.3,
        "pooled": 0.01,
        "mean": 10.0,
        "graph": 0.03,
        "l21": 10.0,
    },
    "synthetic": {
        "independent": 0.1,
        "pooled": 0.01,
        "mean": 1.0,
        "graph": 0.1,
        "l21": 0.03,
    },
}


def demo_models(dataset="school"):
    """The models compared by the demo, as (name, estimator, uses_tasks).

    "pooled" ignores the tasks: one ridge model and one intercept for all rows.
    """
    a = _STRENGTHS[dataset]
    return [
        ("independent", MultiTaskRegressor(alpha=a["independent"]), True),
        ("pooled", MultiTaskRegressor(alpha=a["pooled"]), False),
        (
            "mean",
            MultiTaskRegressor(alpha=a["mean"], penalty=MeanRegularized(shared=0.01)),
            True,
        ),
        ("graph", MultiTaskRegressor(alpha=a["graph"], penalty=GraphLaplacian()), True),
        ("l21", MultiTaskRegressor(alpha=a["l21"], penalty=L21(), max_iter=3000), True),
    ]


def _explained_variance(y_true, y_pred):
    # the School literature's score: 1 - MSE / Var(y) over the test rows
    var = np.var(y_true)
    return 1.0 - np.mean((y_true - y_pred) ** 2) / var if var > 0 else np.nan


def _load(school_path, synthetic, random_state):
    if not synthetic:
        try:
            data = load_school(school_path)
            return data.X, data.y, data.tasks, f"School ({data.filename})", "school"
        except FileNotFoundError as exc:
            if school_path is not None:
                raise
            note = str(exc).splitlines()[0]
            print(f"School data not found ({note}).")
            print(
                "Using a synthetic problem instead; point the demo at the real file "
                "with --school PATH/school.mat or SKMTL_DATA=FOLDER."
            )
    rng = np.random.default_rng(random_state)
    sizes = rng.integers(15, 120, size=30)
    X, y, tasks = make_multitask_regression(
        n_tasks=30,
        n_samples=sizes,
        n_features=20,
        relatedness=0.8,
        noise=1.0,
        random_state=random_state,
    )
    return X, y, tasks, "synthetic (30 related tasks, 15-120 rows each)", "synthetic"


def run(school_path=None, *, synthetic=False, n_splits=1, random_state=0, out=None):
    """Fit every model on ``n_splits`` random 75/25 per-task splits; return scores."""
    out = sys.stdout if out is None else out
    X, y, tasks, source, dataset = _load(school_path, synthetic, random_state)
    labels = np.unique(tasks)
    print(
        f"Data: {source}: {X.shape[0]} rows, {X.shape[1]} features, "
        f"{len(labels)} tasks.",
        file=out,
    )
    models = demo_models(dataset)
    per_task = {name: np.zeros((n_splits, len(labels))) for name, _, _ in models}
    overall = {name: [] for name, _, _ in models}
    seconds = {name: 0.0 for name, _, _ in models}
    for split in range(n_splits):
        X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
            X,
            y,
            tasks,
            train_size=0.75,
            stratify=False,
            random_state=random_state + split,
        )
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        for name, model, uses_tasks in models:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_tr, y_tr, tasks=t_tr if uses_tasks else None)
            seconds[name] += time.perf_counter() - start
            pred = model.predict(X_te, tasks=t_te if uses_tasks else None)
            overall[name].append(_explained_variance(y_te, pred))
            for k, label in enumerate(labels):
                rows = t_te == label
                per_task[name][split, k] = _explained_variance(y_te[rows], pred[rows])
    names = [name for name, _, _ in models]
    print(
        "\nPer-task explained variance on held-out rows "
        f"(mean over {n_splits} split(s)):",
        file=out,
    )
    header = f"{'task':>8} " + " ".join(f"{n:>13}" for n in names)
    print(header, file=out)
    print("-" * len(header), file=out)
    for k, label in enumerate(labels):
        row = " ".join(f"{per_task[n][:, k].mean():13.3f}" for n in names)
        print(f"{label!s:>8} {row}", file=out)
    print("-" * len(header), file=out)
    wins = {
        n: int(np.sum(per_task[n].mean(0) >= per_task["independent"].mean(0)))
        for n in names
    }
    print(
        f"{'overall':>8} "
        + " ".join(
            f"{np.mean(overall[n]):.3f}+-{np.std(overall[n]):.3f}".rjust(13)
            for n in names
        ),
        file=out,
    )
    print(f"{'>=indep':>8} " + " ".join(f"{wins[n]:>13d}" for n in names), file=out)
    print(
        f"{'seconds':>8} " + " ".join(f"{seconds[n] / n_splits:13.2f}" for n in names),
        file=out,
    )
    print(
        "\noverall: explained variance 1 - MSE/Var(y) over all test rows "
        "(mean+-sd over splits); >=indep: tasks where the model is at least as good "
        "as independent ridge; seconds: fit time per split.",
        file=out,
    )
    return {n: float(np.mean(overall[n])) for n in names}


# Coupled text models: strengths chosen on draws of seeds 0-5 (10 and 20
# documents per task, all three settings); tests and the demo use other seeds.
NEWSGROUPS_SETTINGS = ("comp_vs_rec", "rec_vs_sci", "sci_vs_comp")


def newsgroups_models():
    """(name, estimator, uses_tasks) for the text comparison."""
    return [
        ("independent", MultiTaskClassifier(alpha=1.0), True),
        ("pooled", MultiTaskClassifier(alpha=1.0), False),
        (
            "mean",
            MultiTaskClassifier(alpha=1.0, penalty=MeanRegularized(shared=1.0)),
            True,
        ),
        (
            "graph",
            MultiTaskClassifier(alpha=1.0, penalty=GraphLaplacian(coupling=0.3)),
            True,
        ),
    ]


def text_pipeline(estimator):
    """TF-IDF features in front of a skmtl classifier, in one Pipeline."""
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, stop_words="english"), clone(estimator)
    )


def compare_newsgroups(
    settings=NEWSGROUPS_SETTINGS,
    *,
    n_per_task=20,
    seeds=(100, 101, 102),
    archive_path=None,
    out=None,
):
    """Per-task accuracy of independent, pooled and coupled text models.

    For every setting and seed, ``n_per_task`` labelled documents are drawn in
    each task (balanced over the two classes), the rest of the task is the
    test set. Each model is a ``TfidfVectorizer`` + skmtl Pipeline; ``tasks``
    reaches the classifier through metadata routing.

    Returns
    -------
    results : dict
        ``results[setting][model]`` is an array of shape (n_seeds, n_tasks)
        of per-task test accuracies; ``results[setting]["tasks"]`` names the
        tasks.
    """
    out = sys.stdout if out is None else out
    results = {}
    for setting in settings:
        data = fetch_20newsgroups_multitask(
            setting,
            remove=("headers", "footers", "quotes"),
            archive_path=archive_path,
            download_if_missing=False,
        )
        docs = np.asarray(data.data, dtype=object)
        task_names = np.unique(data.tasks)
        res = {"tasks": task_names}
        for k, seed in enumerate(seeds):
            X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
                docs, data.target, data.tasks, train_size=n_per_task, random_state=seed
            )
            for name, est, uses_tasks in newsgroups_models():
                pipe = text_pipeline(est)
                with config_context(enable_metadata_routing=True):
                    pipe.fit(list(X_tr), y_tr, tasks=t_tr if uses_tasks else None)
                    pred = pipe.predict(list(X_te), tasks=t_te if uses_tasks else None)
                acc = res.setdefault(name, np.zeros((len(seeds), len(task_names))))
                for j, task in enumerate(task_names):
                    rows = t_te == task
                    acc[k, j] = np.mean(pred[rows] == y_te[rows])
        results[setting] = res
        names = [name for name, _, _ in newsgroups_models()]
        print(
            f"\n20 Newsgroups '{setting}': test accuracy per task, {n_per_task} "
            f"labelled documents per task, mean over {len(seeds)} draws",
            file=out,
        )
        print(f"{'task':>48} " + " ".join(f"{n:>11}" for n in names), file=out)
        for j, task in enumerate(task_names):
            row = " ".join(f"{res[n][:, j].mean():11.3f}" for n in names)
            print(f"{task:>48} {row}", file=out)
        row = " ".join(f"{res[n].mean():11.3f}" for n in names)
        print(f"{'mean over tasks':>48} {row}", file=out)
    return results


def compare_neural(
    setting="comp_vs_rec",
    *,
    n_per_task=200,
    seeds=(100, 101),
    archive_path=None,
    out=None,
):
    """Shared-encoder networks against linear models on one text setting.

    ``n_per_task`` labelled documents per task (the rest is the test set);
    TF-IDF fitted on the training documents, then independent logistic
    regression, the mean-regularized coupling, and
    :class:`skmtl.neural.MultiTaskNetClassifier` (one hidden layer of 64 units
    shared by the tasks, one head per task) with fixed and with uncertainty
    weighting. Returns ``{model: mean per-task accuracy}``, or None when torch
    is not installed.
    """
    out = sys.stdout if out is None else out
    try:
        from .neural import MultiTaskNetClassifier
    except ImportError as exc:
        print(f"\nNeural part skipped: {exc}", file=out)
        return None
    data = fetch_20newsgroups_multitask(
        setting,
        remove=("headers", "footers", "quotes"),
        archive_path=archive_path,
        download_if_missing=False,
    )
    docs = np.asarray(data.data, dtype=object)
    net = dict(
        hidden_layer_sizes=(64,), learning_rate=3e-3, batch_size=100, max_epochs=20
    )
    # alpha=0.01 here: at 200 documents per task, alpha=1.0 (the text
    # comparison's choice for 20) shrinks the linear models to a constant
    models = [
        ("independent", MultiTaskClassifier(alpha=0.01)),
        ("mean", MultiTaskClassifier(alpha=0.01, penalty=MeanRegularized(shared=1.0))),
        ("net fixed", MultiTaskNetClassifier(**net)),
        (
            "net uncertainty",
            MultiTaskNetClassifier(task_weighting="uncertainty", **net),
        ),
    ]
    acc = {name: [] for name, _ in models}
    seconds = {name: 0.0 for name, _ in models}
    for seed in seeds:
        X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
            docs, data.target, data.tasks, train_size=n_per_task, random_state=seed
        )
        tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
        F_tr, F_te = tfidf.fit_transform(list(X_tr)), tfidf.transform(list(X_te))
        for name, model in models:
            model = clone(model)
            if "net" in name:
                model.set_params(random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                # fixed epoch budget: the demo stays short
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(F_tr, y_tr, tasks=t_tr)
            seconds[name] += time.perf_counter() - start
            pred = model.predict(F_te, tasks=t_te)
            acc[name].append(
                np.mean(
                    [
                        np.mean(pred[t_te == t] == y_te[t_te == t])
                        for t in np.unique(t_te)
                    ]
                )
            )
    print(
        f"\nNeural vs linear, 20 Newsgroups '{setting}': mean per-task test accuracy, "
        f"{n_per_task} labelled documents per task, {len(seeds)} draws "
        "(net: TF-IDF -> 64 shared ReLU units -> one head per task, 20 epochs)",
        file=out,
    )
    for name, _ in models:
        fit_s = seconds[name] / len(seeds)
        print(f"{name:>18} {np.mean(acc[name]):.3f}   fit {fit_s:.1f} s", file=out)
    return {name: float(np.mean(v)) for name, v in acc.items()}


def compare_transfer(
    split="comp_vs_sci", *, labelled=0.02, seed=100, archive_path=None, out=None
):
    """One transfer line: target-only against the joint source/target loss.

    ``labelled`` of the target domain's documents are labelled, the rest is
    the test set; TF-IDF is fitted on the source documents only. The
    strengths are fixed (chosen once on other draws, see
    ``benchmarks/results/transfer.md`` for the tuned comparison).
    Returns ``{model: target test accuracy}``.
    """
    from .transfer import JointTransferClassifier

    out = sys.stdout if out is None else out
    data = fetch_20newsgroups_transfer(
        split,
        remove=("headers", "footers", "quotes"),
        archive_path=archive_path,
        download_if_missing=False,
    )
    docs = np.asarray(data.data, dtype=object)
    X_tr, X_te, y_tr, y_te, t_tr, _ = train_test_split_target(
        docs, data.target, data.tasks, labelled=labelled, random_state=seed
    )
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
    tfidf.fit(list(X_tr[t_tr == "source"]))
    F_tr, F_te = tfidf.transform(list(X_tr)), tfidf.transform(list(X_te))
    target = t_tr == "target"
    models = {
        "target-only": (MultiTaskClassifier(alpha=1e-4), target),
        "joint (lambda=0.5)": (
            JointTransferClassifier(source_weight=0.5, alpha=1e-4),
            slice(None),
        ),
    }
    scores = {}
    for name, (model, rows) in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if rows is target:
                model.fit(F_tr[rows], y_tr[rows])
            else:
                model.fit(F_tr, y_tr, tasks=t_tr)
        scores[name] = float(np.mean(model.predict(F_te) == y_te))
    print(
        f"\nTransfer, 20 Newsgroups '{split}' ({int(target.sum())} labelled target "
        "documents, all source documents): target test accuracy "
        + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()),
        file=out,
    )
    return scores


def _plot(school_scores, text_results, path, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is not installed: no plot (pip install matplotlib).", file=out
        )
        return
    panels = [p for p in (school_scores, text_results) if p]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6 * len(panels), 4), squeeze=False
    )
    for ax, panel in zip(axes[0], panels):
        if panel is school_scores:
            names = list(panel)
            ax.bar(names, [panel[n] for n in names], color="tab:blue")
            ax.set_ylabel("explained variance (held-out rows)")
            ax.set_title("School: 139 regression tasks")
        else:
            settings = list(panel)
            names = [n for n in panel[settings[0]] if n != "tasks"]
            width = 0.8 / len(names)
            for i, name in enumerate(names):
                vals = [panel[s][name].mean() for s in settings]
                ax.bar(np.arange(len(settings)) + i * width, vals, width, label=name)
            ax.set_xticks(np.arange(len(settings)) + 0.4 - width / 2, settings)
            ax.set_ylim(0.5, 1.0)
            ax.set_ylabel("mean per-task accuracy")
            ax.set_title("20 Newsgroups multi-task, few labels per task")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"\nPlot saved to {path}", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skmtl.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--school", default=None, help="path to school.mat")
    parser.add_argument(
        "--newsgroups", default=None, help="path to 20news-bydate.tar.gz"
    )
    parser.add_argument(
        "--plot", default="skmtl_demo.png", help="where to save the plot"
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="use the built-in synthetic problem even if School is found",
    )
    parser.add_argument("--splits", type=int, default=3, help="number of random splits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-neural", action="store_true", help="skip the neural part (torch)"
    )
    args = parser.parse_args(argv)
    text = None
    if not args.synthetic:
        try:
            text = compare_newsgroups(archive_path=args.newsgroups)
        except (FileNotFoundError, OSError) as exc:
            if args.newsgroups is not None:
                raise
            print(
                f"20 Newsgroups archive not found ({str(exc).splitlines()[0]}); "
                "skipping the text comparison. Point the demo at it with "
                "--newsgroups PATH/20news-bydate.tar.gz or SKMTL_DATA=FOLDER."
            )
    if text is not None:
        compare_transfer(archive_path=args.newsgroups)
    if text is not None and not args.no_neural:
        compare_neural(archive_path=args.newsgroups)
    school = run(
        args.school,
        synthetic=args.synthetic,
        n_splits=args.splits,
        random_state=args.seed,
    )
    _plot(school, text, args.plot, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
