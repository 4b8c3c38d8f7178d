"""
The learned task-relationship matrix
====================================

:class:`~skmtl.penalties.TaskRelationship` (multi-task relationship learning,
Zhang & Yeung, 2010) learns a task covariance ``Omega`` together with the
weights: the penalty ``alpha / 2 (ridge ||W||^2 + coupling tr(W Omega^-1 W^T))``
pulls positively related tasks together, pushes negatively related ones
apart and leaves unrelated ones alone. The fitted model reports ``Omega`` as
``task_relationship_`` and its correlation form as ``task_correlation_``.

Nine regression tasks in three groups of three: group B is unrelated to
group A, and group C is group A with the sign flipped (negatively related).
Each task has only 15 training rows for 10 features.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from skmtl import MultiTaskRegressor
from skmtl.penalties import TaskRelationship

rng = np.random.default_rng(0)
n_features, n_rows = 10, 15
centre_a, centre_b = rng.normal(size=(2, n_features))
# group B's centre orthogonal to A's, of the same length: unrelated
centre_b -= centre_b @ centre_a / (centre_a @ centre_a) * centre_a
centre_b *= np.linalg.norm(centre_a) / np.linalg.norm(centre_b)
centres = [centre_a, centre_b, -centre_a]
W = np.column_stack(
    [centres[g] + 0.3 * rng.normal(size=n_features) for g in range(3) for _ in range(3)]
)  # (n_features, 9)
tasks = np.repeat(np.arange(9), n_rows)
X = rng.normal(size=(len(tasks), n_features))
y = np.einsum("ij,ji->i", X, W[:, tasks]) + 1.0 * rng.normal(size=len(tasks))
X_test = rng.normal(size=(9 * 200, n_features))
t_test = np.repeat(np.arange(9), 200)
y_test = np.einsum("ij,ji->i", X_test, W[:, t_test])

# %%
# Independent ridge models against the learned relationship
# ---------------------------------------------------------
independent = MultiTaskRegressor(alpha=0.05).fit(X, y, tasks=tasks)
mtrl = MultiTaskRegressor(alpha=0.05, penalty=TaskRelationship()).fit(X, y, tasks=tasks)
for name, model in [("independent", independent), ("relationship", mtrl)]:
    print(f"{name:13s} test R² {model.score(X_test, y_test, tasks=t_test):.3f}")

# %%
# Three matrices
# --------------
# Left: the correlation of the true task weights. Middle: the correlation of
# the independent models' weights (noisy: 15 rows per task). Right: the
# learned ``task_correlation_``: the three groups, and the negative relation
# between A and C. Its contrasts are milder than the weights' own, as the
# model implies: the learned ``Omega`` is ``(W^T W)^(1/2)`` (scaled to trace
# 1), a square root that pulls the correlations toward 0. What the coupling
# buys is the test R² above.
true_corr = np.corrcoef(W.T)
indep_corr = np.corrcoef(independent.coef_)
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
labels = [f"{g}{k}" for g in "ABC" for k in range(1, 4)]
for ax, matrix, title in [
    (axes[0], true_corr, "true weights' correlation"),
    (axes[1], indep_corr, "independent models' weights"),
    (axes[2], mtrl.task_correlation_, "learned task_correlation_"),
]:
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(9), labels, fontsize=8)
    ax.set_yticks(range(9), labels, fontsize=8)
    ax.set_title(title)
fig.colorbar(im, ax=axes, shrink=0.8, label="correlation")
plt.show()
