"""
Transfer learning curve on a 20 Newsgroups split
================================================

The ``comp_vs_sci`` split of Dai et al. (2007): the task is to tell computer
posts from science posts, but the labelled *source* posts come from other
newsgroups (``comp.graphics``, ``comp.os.ms-windows.misc``, ``sci.crypt``,
``sci.electronics``) than the *target* posts we must classify
(``comp.sys.*``, ``comp.windows.x``, ``sci.med``, ``sci.space``). Only a
fraction of the target posts is labelled.

The curve shows target accuracy against that labelled fraction for the two
baselines (a model of the labelled target posts only, and the source model
used as is) and the transfer methods of :mod:`skmtl.transfer`, with the
settings of ``benchmarks/bench_transfer.py`` (fixed, not tuned here, to
stay fast; the benchmark tunes them by cross-validation).
"""

# %%
# Data and features
# -----------------
# One TF-IDF vocabulary, fitted on the source posts (no target label is
# used). The parsed archive is cached, so this takes about a second.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skmtl import MultiTaskClassifier
from skmtl.datasets import fetch_20newsgroups_transfer, train_test_split_target
from skmtl.transfer import (
    DistilledClassifier,
    FeatureAugmenter,
    FineTunedClassifier,
    JointTransferClassifier,
    RegularizedTransferClassifier,
    TrAdaBoostClassifier,
)

data = fetch_20newsgroups_transfer(
    "comp_vs_sci", remove=("headers", "footers", "quotes"), download_if_missing=False
)
docs = np.asarray(data.data, dtype=object)
is_source = data.tasks == "source"
tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
tfidf.fit(docs[is_source])
X = tfidf.transform(docs)
print(
    f"{is_source.sum()} source posts, {(~is_source).sum()} target posts, "
    f"{X.shape[1]} features"
)

# %%
# The source model
# ----------------
# Fitted once on all source posts; it is the prior of
# ``RegularizedTransferClassifier``, the starting point of
# ``FineTunedClassifier`` and the teacher of ``DistilledClassifier``.
source = MultiTaskClassifier(alpha=1e-3).fit(X[is_source], data.target[is_source])


def methods():
    """name -> (estimator, trained on all rows with tasks (True) or target only)."""
    return {
        "target-only": (MultiTaskClassifier(alpha=1e-4), False),
        "source-only": (None, False),
        "RegularizedTransfer": (
            RegularizedTransferClassifier(source, alpha=1e-3),
            False,
        ),
        "FineTuned": (FineTunedClassifier(source, alpha=1e-3), False),
        "JointTransfer": (JointTransferClassifier(source_weight=0.5, alpha=1e-3), True),
        "FeatureAugmenter + LR": (
            make_pipeline(FeatureAugmenter(), LogisticRegression(C=10.0)),
            True,
        ),
        "Distilled": (DistilledClassifier(source, mix=0.5, alpha=1e-3), False),
        "TrAdaBoost": (
            TrAdaBoostClassifier(MultiTaskClassifier(alpha=1e-3), n_estimators=20),
            True,
        ),
    }


# %%
# The curve
# ---------
# For each fraction, two draws of labelled target posts
# (:func:`~skmtl.datasets.train_test_split_target`); every method sees the
# same draws and is scored on the unlabelled target posts.
fractions = [0.01, 0.02, 0.05, 0.1]
seeds = [0, 1]
rows = np.arange(len(docs))
scores = {name: np.zeros((len(fractions), len(seeds))) for name in methods()}
for i, fraction in enumerate(fractions):
    for j, seed in enumerate(seeds):
        tr, te, y_tr, y_te, t_tr, _ = train_test_split_target(
            rows, data.target, data.tasks, labelled=fraction, random_state=seed
        )
        target = t_tr == "target"
        for name, (model, joint) in methods().items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if model is None:
                    model = source
                elif joint and name.startswith("Feature"):
                    model.fit(X[tr], y_tr, featureaugmenter__tasks=t_tr)
                elif joint:
                    model.fit(X[tr], y_tr, tasks=t_tr)
                else:
                    model.fit(X[tr[target]], y_tr[target])
            if name.startswith("Feature"):
                pred = model[-1].predict(model[0].transform(X[te], tasks="target"))
            else:
                pred = model.predict(X[te])
            scores[name][i, j] = np.mean(pred == y_te)

n_labelled = [int(round(f * (~is_source).sum())) for f in fractions]
for name, s in scores.items():
    print(f"{name:22s}", "  ".join(f"{100 * m:5.1f}" for m in s.mean(axis=1)))

# %%
# Plot
# ----
# With 1% of the target labelled (49 posts), most transfer methods beat both
# baselines by 5-10 points; from 2% on the target-only model catches up with
# the best of them (the joint loss), and fine-tuning or boosting the source
# can fall behind it: transfer pays most where target labels are scarcest.
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, s in scores.items():
    style = "--" if name in ("target-only", "source-only") else "-"
    ax.plot(
        np.array(fractions) * 100, 100 * s.mean(axis=1), style, marker="o", label=name
    )
ax.set_xscale("log")
ax.set_xticks(
    np.array(fractions) * 100,
    [f"{100 * f:g}%\n({n})" for f, n in zip(fractions, n_labelled)],
)
ax.set_xlabel("labelled target posts (fraction and number)")
ax.set_ylabel("target test accuracy (%)")
ax.set_title("20 Newsgroups comp_vs_sci: transfer from other newsgroups")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
