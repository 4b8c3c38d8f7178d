"""Settings (and the MLP baseline) shared by ``bench_neural.py`` and its parts."""

from pathlib import Path

from sklearn.neural_network import MLPClassifier

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = ("comp_vs_rec", "rec_vs_sci", "sci_vs_comp")
WEIGHTINGS = ("fixed", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "cagrad")
REMOVE = ("headers", "footers", "quotes")
HIDDEN = (100,)
MIN_DF = 2
BATCH = 200
SPEED_GOAL = 0.5  # the issue: net epoch <= 0.5 x MLPClassifier's epoch
GPU_GOAL = 10.0  # the issue: GPU epoch at least 10x faster than CPU
#: the model each family's negative transfer is measured against
BASELINE = {"linear": "linear independent", "net": "MLP per task"}


def mlp(max_epochs, seed, **kw):
    return MLPClassifier(HIDDEN, max_iter=max_epochs, random_state=seed, **kw)
