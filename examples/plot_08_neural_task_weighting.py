"""
Neural multi-task training: loss curves and task weights over epochs
====================================================================

A :class:`~skmtl.neural.MultiTaskNetClassifier` (one shared encoder, one head
per task) records, at every epoch, the objective (``loss_curve_``), each
task's mean training loss (``task_loss_curve_``) and the weight its task
weighting gave each task (``task_weights_history_``).

Three tasks share a concept, but the labels of task ``"noisy"`` are 30%
flipped. Fixed weights give it the same say as the clean tasks; uncertainty
weighting (Kendall et al., 2018) learns a larger noise variance for it and
so a smaller weight, and dynamic weight average (Liu et al., 2019) weighs the
tasks by how slowly their losses fall.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skmtl.neural import MultiTaskNetClassifier

rng = np.random.default_rng(0)
X = rng.normal(size=(600, 10))
tasks = np.repeat(["a", "b", "noisy"], 200)
sign = np.where(tasks == "b", -1.0, 1.0)
y = (X[:, 0] + sign * X[:, 1] + 0.5 * X[:, 2] > 0).astype(int)
flip = (tasks == "noisy") & (rng.random(len(y)) < 0.3)
y[flip] = 1 - y[flip]

# %%
# Three weightings, the same network and seed
# -------------------------------------------
# A fixed budget of 60 epochs for all three (``tol=0``: no early stop, hence
# the ``ConvergenceWarning`` that says so is silenced).
warnings.filterwarnings("ignore", category=ConvergenceWarning)
nets = {}
for weighting in ["fixed", "uncertainty", "dwa"]:
    nets[weighting] = MultiTaskNetClassifier(
        hidden_layer_sizes=(32,),
        task_weighting=weighting,
        alpha=1e-2,
        batch_size=60,
        learning_rate=0.01,
        max_epochs=60,
        tol=0.0,
        n_iter_no_change=60,
        random_state=0,
    ).fit(X, y, tasks=tasks)
    net = nets[weighting]
    print(
        f"{weighting:12s} epochs {net.n_iter_}, final weights "
        f"{np.round(net.task_weights_history_[-1], 2)}"
    )

# %%
# Curves
# ------
# Top: each task's training loss (the noisy task's stays high: its flipped
# labels cannot be fitted). Bottom: the weights. Uncertainty weighting's
# weight ``1 / sigma_t^2`` grows for the clean tasks as their losses fall,
# and stays near 1 for the noisy one; DWA's weights move only while the
# losses fall at different rates, early on.
fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
for k, (weighting, net) in enumerate(nets.items()):
    epochs = np.arange(1, net.n_iter_ + 1)
    for t, task in enumerate(net.tasks_):
        axes[0, k].plot(epochs, net.task_loss_curve_[:, t], label=f"task {task}")
        axes[1, k].plot(epochs, net.task_weights_history_[:, t], label=f"task {task}")
    axes[0, k].plot(epochs, net.loss_curve_, "k--", linewidth=1, label="objective")
    axes[0, k].set_title(f'task_weighting="{weighting}"')
    axes[1, k].set_xlabel("epoch")
axes[0, 0].set_ylabel("training loss")
axes[1, 0].set_ylabel("task weight (log scale)")
for ax in axes[1]:
    ax.set_yscale("log")
axes[0, 0].legend(fontsize=8)
fig.tight_layout()
plt.show()
