"""
Grid-searching the penalty strengths: routing mode and column mode
==================================================================

A mean-regularized model has two strengths: ``alpha``, the overall one, and
the penalty's ``specific``, how hard each task's deviation ``v_t`` from the
shared weights is pulled to zero (large: the tasks share one model; small:
they are independent). ``GridSearchCV`` tunes both, given each row's task
for fitting and for scoring. skmtl hands it over in one of two ways
(see :doc:`/model_selection`):

- **routing mode**: ``sklearn.config_context(enable_metadata_routing=True)``
  and ``search.fit(X, y, tasks=tasks)``;
- **column mode**: the task is a column of a DataFrame, split off by
  :class:`~skmtl.pipeline.TaskColumnEstimator`, with routing off.

The same folds give the same scores either way; the heat maps of
``cv_results_`` below show it.
"""

# %%
# Data: eight related classification tasks
# ----------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import GridSearchCV

from skmtl import MultiTaskClassifier
from skmtl.datasets import make_multitask_classification
from skmtl.metrics import make_task_scorer
from skmtl.model_selection import TaskStratifiedKFold
from skmtl.penalties import MeanRegularized
from skmtl.pipeline import make_task_pipeline

X, y, tasks = make_multitask_classification(
    n_tasks=8,
    n_samples=30,
    n_features=20,
    n_informative=5,
    relatedness=0.8,
    random_state=0,
)
alphas = [0.01, 0.1, 1.0, 10.0]
specifics = [0.01, 0.1, 1.0, 10.0, 100.0]
scoring = make_task_scorer("accuracy")  # macro average over the tasks

# %%
# Routing mode
# ------------
folds = TaskStratifiedKFold(5, shuffle=True, random_state=0)
routed = GridSearchCV(
    MultiTaskClassifier(penalty=MeanRegularized()),
    {"alpha": alphas, "penalty__specific": specifics},
    cv=folds,
    scoring=scoring,
)
with sklearn.config_context(enable_metadata_routing=True):
    routed.fit(X, y, tasks=tasks)
print("routing mode:", routed.best_params_, f"{routed.best_score_:.3f}")

# %%
# Column mode
# -----------
# The task id travels as the ``"task"`` column; the splitter reads the same
# column, and the parameters get the wrapper's prefix.
df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
df["task"] = tasks
prefix = "estimator__multitaskclassifier__"
column = GridSearchCV(
    make_task_pipeline(MultiTaskClassifier(penalty=MeanRegularized())),
    {prefix + "alpha": alphas, prefix + "penalty__specific": specifics},
    cv=TaskStratifiedKFold(5, shuffle=True, random_state=0, task_column="task"),
    scoring="accuracy",
)
column.fit(df, y)
print("column mode: ", column.best_params_, f"{column.best_score_:.3f}")

# %%
# Heat maps of ``cv_results_``
# ----------------------------
# ``mean_test_score`` is laid out in the grid's order (alpha, then specific).
# Column mode scores with plain ``"accuracy"`` over all test rows of a fold,
# routing mode with the macro average over tasks; with equal task sizes in
# each fold the two coincide.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, search, title, a_key, s_key in [
    (axes[0], routed, "routing mode", "param_alpha", "param_penalty__specific"),
    (
        axes[1],
        column,
        "column mode",
        f"param_{prefix}alpha",
        f"param_{prefix}penalty__specific",
    ),
]:
    res = search.cv_results_
    grid = np.zeros((len(alphas), len(specifics)))
    for a, s, score in zip(res[a_key], res[s_key], res["mean_test_score"]):
        grid[alphas.index(a), specifics.index(s)] = score
    im = ax.imshow(grid, cmap="viridis", vmin=0.6, vmax=0.75, origin="lower")
    for i in range(len(alphas)):
        for j in range(len(specifics)):
            ax.text(
                j,
                i,
                f"{grid[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if grid[i, j] < 0.7 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(specifics)), [f"{s:g}" for s in specifics])
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_xlabel("penalty__specific")
    ax.set_title(f"{title}: best {search.best_score_:.3f}")
axes[0].set_ylabel("alpha")
fig.colorbar(im, ax=axes, label="mean CV accuracy")
plt.show()

# %%
# The two searches agree cell by cell:
print(
    np.allclose(
        routed.cv_results_["mean_test_score"], column.cv_results_["mean_test_score"]
    )
)
