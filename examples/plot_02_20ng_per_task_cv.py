"""
Cross-validated accuracy of each task with ``per_task_scorers``
===============================================================

One cross-validated number hides the task that a coupling serves badly.
:func:`skmtl.metrics.per_task_scorers` builds a ``scoring`` dict with one
scorer per task (each scores its own task's test rows), so that
``cross_validate`` reports every task's accuracy fold by fold, next to their
macro average.

The tasks: the four newsgroup pairs of the 20 Newsgroups ``comp_vs_rec``
setting (each a ``comp.*`` group against a ``rec.*`` group), with 60 labelled
posts per task, TF-IDF and the model in one ``Pipeline``.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline

from skmtl import MultiTaskClassifier
from skmtl.datasets import fetch_20newsgroups_multitask, train_test_split_tasks
from skmtl.metrics import per_task_scorers
from skmtl.model_selection import TaskStratifiedKFold
from skmtl.penalties import MeanRegularized

bunch = fetch_20newsgroups_multitask(
    "comp_vs_rec", remove=("headers", "footers", "quotes"), download_if_missing=False
)
docs, _, y, _, tasks, _ = train_test_split_tasks(bunch, n_per_class=30, random_state=0)
print(f"{len(y)} labelled posts; tasks: {', '.join(np.unique(tasks))}")

# %%
# One scorer per task, plus the macro average (usable as ``refit`` in a
# search). Routing hands each fold's ``tasks`` to the pipeline's last step
# and to the scorers.
scoring = per_task_scorers("accuracy", tasks, task_average="macro")
print(list(scoring))
cv = TaskStratifiedKFold(5, shuffle=True, random_state=0)
models = {
    "independent": MultiTaskClassifier(alpha=0.01),
    "mean-regularized": MultiTaskClassifier(
        alpha=0.01, penalty=MeanRegularized(shared=1.0)
    ),
}
results = {}
with sklearn.config_context(enable_metadata_routing=True):
    for name, model in models.items():
        pipe = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2), model)
        results[name] = cross_validate(
            pipe, docs, y, cv=cv, params={"tasks": tasks}, scoring=scoring
        )
for name, res in results.items():
    per_task = [np.nanmean(res[f"test_accuracy_{t}"]) for t in np.unique(tasks)]
    print(
        f"{name:17s} macro {np.mean(res['test_accuracy_macro']):.3f}  per task",
        np.round(per_task, 3),
    )

# %%
# Per-task accuracy over the five folds
# -------------------------------------
# Bars: the mean over the folds; dots: the folds.
# A task with a NaN fold (no test row of that task) would be averaged with
# ``np.nanmean``; the task-stratified folds hold every task in every fold.
task_ids = list(np.unique(tasks))
fig, ax = plt.subplots(figsize=(9, 4))
width = 0.38
jitter = np.random.default_rng(0).uniform(-0.06, 0.06, size=cv.get_n_splits())
for k, (name, res) in enumerate(results.items()):
    color = ["tab:blue", "tab:orange"][k]
    pos = np.arange(len(task_ids)) + (k - 0.5) * width
    folds = np.array([res[f"test_accuracy_{t}"] for t in task_ids])
    ax.bar(pos, folds.mean(axis=1), width * 0.9, color=color, alpha=0.5, label=name)
    for p, fold_scores in zip(pos, folds):
        ax.plot(p + jitter, fold_scores, "o", color=color, markersize=4)
ax.set_xticks(
    range(len(task_ids)), [t.replace("_vs_", "\nvs ") for t in task_ids], fontsize=8
)
ax.set_ylabel("test accuracy (5 folds)")
ax.set_title("20 Newsgroups comp_vs_rec, 60 labelled posts per task")
ax.set_ylim(0.4, 1.02)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
