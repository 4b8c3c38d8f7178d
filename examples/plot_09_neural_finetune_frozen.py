"""
Fine-tuning a network with a frozen encoder
===========================================

A network trained on the 8x8 images of digits 0-4 (the *source*) has learnt
stroke features that help to tell digits 5-9 apart (the *target*), for which
only a few labelled images exist. :class:`~skmtl.neural.FineTunedNetClassifier`
copies the source's encoder and puts a new head on it:

- ``freeze="encoder"``: only the new head trains, a logistic regression on the
  source features (skorch's ``Freezer``: ``requires_grad=False`` before the
  optimizer is built);
- no freeze: every weight trains, starting from the source's.

Both are compared with the same network trained from scratch and with a
logistic regression on the raw pixels, for 5, 10 and 20 labelled images per
class.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skmtl.neural import FineTunedNetClassifier, MultiTaskNetClassifier

# small training sets: a fixed budget of epochs, not convergence, is the point
warnings.filterwarnings("ignore", category=ConvergenceWarning)


class SmallCNN(torch.nn.Module):
    """Two 3x3 convolutions on the 8x8 image: 256 features."""

    def __init__(self, channels=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, channels, 3)
        self.conv2 = torch.nn.Conv2d(channels, 2 * channels, 3)

    def forward(self, x):
        z = torch.relu(self.conv1(x.view(-1, 1, 8, 8)))
        return torch.relu(self.conv2(z)).flatten(1)


X, y = load_digits(return_X_y=True)
X = X / 16
Xs, ys = X[y < 5], y[y < 5]  # source: digits 0-4
Xt, yt = X[y >= 5], y[y >= 5]  # target: digits 5-9
source = MultiTaskNetClassifier(
    encoder=SmallCNN, max_epochs=30, learning_rate=0.01, batch_size=64, random_state=0
).fit(Xs, ys)
print(f"source network: accuracy {source.score(Xs, ys):.3f} on digits 0-4")
# the target networks: a fixed budget of 100 epochs, as in the benchmark
settings = dict(
    learning_rate=0.01,
    batch_size=64,
    max_epochs=100,
    n_iter_no_change=100,
    random_state=0,
)

# %%
# Target draws
# ------------
# For each number of labelled images per class, two draws; the other
# target images are the test set.
rng = np.random.default_rng(0)
sizes = [5, 10, 20]
models = {
    "pixels + LogisticRegression": lambda: LogisticRegression(),
    "network from scratch": lambda: MultiTaskNetClassifier(
        encoder=SmallCNN, **settings
    ),
    "fine-tuned, frozen encoder": lambda: FineTunedNetClassifier(
        source, freeze="encoder", **settings
    ),
    "fine-tuned, all weights": lambda: FineTunedNetClassifier(source, **settings),
}
scores = {name: np.zeros((len(sizes), 2)) for name in models}
for i, n in enumerate(sizes):
    for draw in range(2):
        train = np.concatenate(
            [
                rng.choice(np.flatnonzero(yt == c), n, replace=False)
                for c in range(5, 10)
            ]
        )
        test = np.setdiff1d(np.arange(len(yt)), train)
        for name, make in models.items():
            model = make().fit(Xt[train], yt[train])
            scores[name][i, draw] = model.score(Xt[test], yt[test])
for name, s in scores.items():
    print(f"{name:28s}", np.round(s.mean(axis=1), 3))

# %%
# The source features help a little: the frozen encoder (only a 5-class
# head on 256 features is learnt) is at or above the network trained from
# scratch, and cheaper. On these tiny images a logistic regression on the
# raw pixels remains a strong baseline, as ``benchmarks/bench_neural_transfer.py``
# measures over 10 draws.
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, s in scores.items():
    ax.errorbar(
        sizes, s.mean(axis=1), yerr=s.std(axis=1), marker="o", capsize=3, label=name
    )
ax.set_xticks(sizes)
ax.set_xlabel("labelled target images per class")
ax.set_ylabel("test accuracy on digits 5-9")
ax.set_title("transfer from digits 0-4 to digits 5-9")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
