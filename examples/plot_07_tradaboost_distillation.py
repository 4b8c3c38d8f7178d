"""
TrAdaBoost and distillation in a few lines
==========================================

Two transfer methods of :mod:`skmtl.transfer` that reuse source knowledge in
different forms:

- :class:`~skmtl.transfer.TrAdaBoostClassifier` (Dai et al., 2007) boosts on
  source and target rows together and lowers the weight of the source rows
  that the current model gets wrong: source rows of another concept fade out.
- :class:`~skmtl.transfer.DistilledClassifier` (Hinton et al., 2015) trains
  a linear student on a teacher's softened outputs, on unlabelled rows as
  well as on the few labelled ones.
"""

# %%
# TrAdaBoost: half of the source is of another concept
# ----------------------------------------------------
# 200 source rows (the first 100 labelled by another linear rule), 20 target
# rows, and a large target test set.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from skmtl import MultiTaskClassifier
from skmtl.transfer import DistilledClassifier, TrAdaBoostClassifier

rng = np.random.default_rng(0)
w_target, w_other = rng.normal(size=(2, 10))
X = rng.normal(size=(220, 10))
tasks = np.array(["source"] * 200 + ["target"] * 20)
y = (X @ w_target > 0).astype(int)
y[:100] = X[:100] @ w_other > 0
X_test = rng.normal(size=(2000, 10))
y_test = (X_test @ w_target > 0).astype(int)
target = tasks == "target"

boost = TrAdaBoostClassifier(n_estimators=20).fit(X, y, tasks=tasks)
tradaboost_scores = {
    "target only": LogisticRegression().fit(X[target], y[target]).score(X_test, y_test),
    "all rows pooled": LogisticRegression().fit(X, y).score(X_test, y_test),
    "TrAdaBoost": boost.score(X_test, y_test),
}
print({k: round(v, 3) for k, v in tradaboost_scores.items()})

# %%
# Distillation: a teacher and 10 labels
# -------------------------------------
# The teacher was fitted on its own data; the student has 200 rows of which
# only 10 are labelled (the bool mask ``unlabelled`` marks the others; their
# ``y`` is a placeholder that is never read).
Z = rng.normal(size=(2400, 5))
z_label = (Z[:, 0] - Z[:, 1] + 0.5 * Z[:, 2] > 0).astype(int)
teacher = LogisticRegression().fit(Z[200:400], z_label[200:400])
unlabelled = np.arange(200) >= 10
y_few = np.where(unlabelled, 0, z_label[:200])  # 0: a placeholder, never read
student = DistilledClassifier(teacher, temperature=2.0, mix=0.5).fit(
    Z[:200], y_few, unlabelled=unlabelled
)
alone = MultiTaskClassifier().fit(Z[:10], z_label[:10])
test = slice(400, None)
distill_scores = {
    "10 labels alone": alone.score(Z[test], z_label[test]),
    "teacher": teacher.score(Z[test], z_label[test]),
    "student (10 labels\n+ 190 unlabelled)": student.score(Z[test], z_label[test]),
}
print({k: round(v, 3) for k, v in distill_scores.items()})

# %%
# Plots
# -----
# Left: target test accuracy of the TrAdaBoost comparison. Middle: the final
# weight of each group of training rows, which start at 100/220, 100/220 and
# 20/220 of the total: boosting moves most of the weight to the target rows,
# and the off-concept source rows keep about half as much as the same-concept
# ones. Right: the student with 10 labels gets close to its teacher.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
axes[0].bar(
    list(tradaboost_scores),
    list(tradaboost_scores.values()),
    color=["tab:gray", "tab:gray", "tab:blue"],
)
axes[0].set_ylim(0.5, 1.0)
axes[0].set_ylabel("target test accuracy")
axes[0].set_title("TrAdaBoost")
w = boost.sample_weights_
groups = {
    "source, other\nconcept": w[:100],
    "source, same\nconcept": w[100:200],
    "target": w[200:],
}
axes[1].bar(list(groups), [g.sum() for g in groups.values()], color="tab:blue")
axes[1].set_ylabel("total final sample weight")
axes[1].set_title("where TrAdaBoost's weight went")
axes[2].bar(
    list(distill_scores),
    list(distill_scores.values()),
    color=["tab:gray", "tab:gray", "tab:orange"],
)
axes[2].set_ylim(0.5, 1.0)
axes[2].set_title("distillation")
for ax in axes:
    ax.tick_params(axis="x", labelsize=8)
fig.tight_layout()
plt.show()
