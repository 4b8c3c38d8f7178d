"""
Incremental learning with ``partial_fit``
=========================================

The :meth:`~skmtl.linear_model.MultiTaskRegressor.partial_fit` method of
:class:`~skmtl.linear_model.MultiTaskRegressor` learns from a stream of
batches. It is exact: each task's weighted moments
(means and centred co-moments, merged batch by batch) determine its mean
squared loss, so after any split of the rows into calls the model is the one
``fit`` gives on all of them (to the solver's tolerance). New tasks may
appear in any batch.

Here the School pupils arrive in 20 batches, in random order; after each
batch the model is scored on held-out pupils, and every 5 batches compared
with a model refitted from scratch on every row seen so far.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from skmtl import MultiTaskRegressor
from skmtl.datasets import load_school, train_test_split_tasks

school = load_school()
X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
    school, train_size=0.75, stratify=False, random_state=0
)
rng = np.random.default_rng(0)
order = rng.permutation(len(y_tr))
batches = np.array_split(order, 20)


def make():
    return MultiTaskRegressor(alpha=0.03, penalty="mean", tol=1e-6)


# %%
# The stream
# ----------
# Pupils of a school not yet seen cannot be scored by the model (a
# ``"mean"`` model could use its shared part, but we score only the schools
# seen so far, on their test pupils).
stream = make()
seen = np.zeros(0, dtype=int)
stream_scores, checkpoints, refit_scores, gaps = [], [], [], []
stream_time = refit_time = 0.0
for k, rows in enumerate(batches, start=1):
    start = time.perf_counter()
    stream.partial_fit(X_tr[rows], y_tr[rows], tasks=t_tr[rows])
    stream_time += time.perf_counter() - start
    seen = np.concatenate([seen, rows])
    known = np.isin(t_te, stream.tasks_)
    stream_scores.append(stream.score(X_te[known], y_te[known], tasks=t_te[known]))
    if k % 5 == 0:  # every 5th batch, the refit on all rows seen so far
        start = time.perf_counter()
        refit = make().fit(X_tr[seen], y_tr[seen], tasks=t_tr[seen])
        refit_time += time.perf_counter() - start
        checkpoints.append(len(seen))
        refit_scores.append(refit.score(X_te[known], y_te[known], tasks=t_te[known]))
        gaps.append(np.abs(stream.coef_ - refit.coef_).max())
print(
    f"largest |coef_ difference| stream vs refit: {max(gaps):.1e} "
    f"(largest |coef_|: {np.abs(refit.coef_).max():.1f})"
)
print(f"time: 20 partial_fit calls {stream_time:.2f} s, 4 refits {refit_time:.2f} s")

# %%
# Plot
# ----
# The refits fall on the stream's curve: the stream is the refit (to the
# solver's tolerance), for a cost per batch that does not grow with the rows
# already seen.
n_seen = np.cumsum([len(b) for b in batches])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(n_seen, stream_scores, "o-", label="partial_fit, batch by batch")
ax1.plot(
    checkpoints,
    refit_scores,
    "s",
    markersize=10,
    fillstyle="none",
    label="fit on all rows seen",
)
ax1.set_xlabel("training pupils seen")
ax1.set_ylabel("test R² (schools seen so far)")
ax1.legend()
ax1.set_title("School, 20 batches of pupils")
ax2.semilogy(checkpoints, gaps, "s-")
ax2.set_xlabel("training pupils seen")
ax2.set_ylabel("max |coef_ stream - coef_ refit|")
ax2.set_title("the stream is exact")
fig.tight_layout()
plt.show()
