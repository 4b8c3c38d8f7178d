"""
Multi-task, independent and pooled models on School
===================================================

The School data (Goldstein, 1991; used by Evgeniou & Pontil, 2004, and most
multi-task papers since) hold the exam scores of 15,362 pupils in 139 London
schools, 28 features each. Predicting the scores of one school is one
regression task. Three ways to use the other schools' pupils:

- **independent**: one ridge model per school, each from its own pupils only;
- **pooled**: one ridge model for all pupils, ignoring the schools;
- **mean-regularized**: each school's weights are a shared part plus a
  school-specific deviation, ``w_t = w_0 + v_t`` (Evgeniou & Pontil, 2004),
  fitted jointly.

With few pupils per school the coupled model borrows strength from the
others. :func:`skmtl.metrics.per_task_report` then shows, school by school,
where coupling helps and where it hurts (negative transfer).
"""

# %%
# Data: a small training set per school
# -------------------------------------
# 20% of each school's pupils train, the rest test, so that the schools are
# short of data (the setting multi-task learning is for). The strengths are
# the ones ``make demo`` uses (chosen by cross-validation on another split).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge

from skmtl import MultiTaskRegressor
from skmtl.datasets import load_school, train_test_split_tasks
from skmtl.metrics import per_task_report
from skmtl.penalties import MeanRegularized

school = load_school()
X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
    school, train_size=0.2, stratify=False, random_state=0
)
print(
    f"{len(np.unique(t_tr))} schools, {len(y_tr)} training pupils, "
    f"{len(y_te)} test pupils"
)

# %%
# Three models
# ------------
# ``pooled`` is scikit-learn's ``Ridge`` on all pupils (the same objective as
# ``MultiTaskRegressor(alpha=0.01)`` fitted without ``tasks``: ridge's alpha
# is on the summed loss, skmtl's on the mean); ``per_task_report`` calls a
# scikit-learn baseline without ``tasks``.
independent = MultiTaskRegressor(alpha=0.3).fit(X_tr, y_tr, tasks=t_tr)
pooled = Ridge(alpha=0.01 * len(y_tr)).fit(X_tr, y_tr)
coupled = MultiTaskRegressor(alpha=10.0, penalty=MeanRegularized(shared=0.01))
coupled.fit(X_tr, y_tr, tasks=t_tr)

# %%
# Per-school scores
# -----------------
# :func:`~skmtl.metrics.per_task_report` scores a fitted model on each task's
# test rows (R² here) and, given a ``baseline``, the gain over it and a
# ``negative_transfer`` flag where the gain is negative.
report = per_task_report(coupled, X_te, y_te, t_te, baseline=independent)
vs_pooled = per_task_report(coupled, X_te, y_te, t_te, baseline=pooled)
print(
    f"mean R²: independent {report['baseline_score'].mean():.3f}, "
    f"pooled {vs_pooled['baseline_score'].mean():.3f}, "
    f"mean-regularized {report['score'].mean():.3f}"
)
print(
    f"coupling hurts {int(report['negative_transfer'].sum())} of "
    f"{len(report)} schools against independent models, "
    f"{int(vs_pooled['negative_transfer'].sum())} against pooling"
)
print(report.sort_values("gain").head(5).round(3).to_string(index=False))

# %%
# Where coupling helps, and where it hurts
# ----------------------------------------
# Left: the per-school R² of each model. Right: the gain of the coupled model
# over the independent ones, school by school (sorted); red bars are the
# schools with negative transfer. Small schools gain most: their own pupils
# say least.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
scores = [report["baseline_score"], vs_pooled["baseline_score"], report["score"]]
ax1.boxplot(scores)
ax1.set_xticks([1, 2, 3], ["independent", "pooled", "mean-regularized"])
ax1.set_ylabel("per-school test R²")
ax1.set_title("139 schools, 20% of the pupils for training")

order = np.argsort(report["gain"].to_numpy())
gain = report["gain"].to_numpy()[order]
colors = np.where(gain < 0, "tab:red", "tab:blue")
ax2.bar(np.arange(len(gain)), gain, color=colors, width=1.0)
ax2.axhline(0, color="black", linewidth=0.8)
ax2.set_xlabel("school (sorted by gain)")
ax2.set_ylabel("R² gain over independent")
ax2.set_title(f"negative transfer: {int((gain < 0).sum())} schools (red)")
fig.tight_layout()
plt.show()
