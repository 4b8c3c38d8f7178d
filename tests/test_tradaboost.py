"""TrAdaBoostClassifier against hand computations of Dai et al. (2007), Alg. 1."""

import pickle
from math import log, sqrt

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skmtl.transfer import TrAdaBoostClassifier

CLIP = 1e-10  # the documented clipping of eps_t into [CLIP, 1/2 - CLIP]

# scikit-learn checks: tests/test_common.py (the one expected-failure list)


class ThresholdStump(ClassifierMixin, BaseEstimator):
    """h(x) = 1[sign * x_0 > threshold], whatever the data; records its weights."""

    def __init__(self, threshold=0.0, sign=1.0):
        self.threshold = threshold
        self.sign = sign

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.sample_weight_ = None if sample_weight is None else sample_weight.copy()
        return self

    def predict(self, X):
        return (self.sign * np.asarray(X)[:, 0] > self.threshold).astype(int)


def make_plan(thresholds):
    """A function giving the next threshold at each call.

    clone deep-copies parameters, but a function is copied as itself, so the
    clones made in successive rounds share this counter.
    """
    it = iter(thresholds)

    def plan():
        return next(it)

    return plan


class ScriptedStump(ThresholdStump):
    """A stump whose threshold in round t is the t-th value of a plan."""

    def __init__(self, plan=None):
        self.plan = plan

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.threshold, self.sign = self.plan(), 1.0
        return self


# 6 source rows, 4 target rows; the stump h = 1[x > 0] misses source rows
# x = -1 and x = 3 and target row x = -0.5
X_SMALL = np.array([-3, -2, -1, 1, 2, 3, -2, -0.5, 0.5, 2.0])[:, None]
Y_SMALL = np.array([0, 0, 1, 1, 1, 0, 0, 1, 1, 1])
T_SMALL = np.array(["s"] * 6 + ["t"] * 4)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_weights_after_one_round_match_hand_computation(weighted, dynamic):
    sw = np.array([1, 1, 1, 1, 1, 1, 1, 2, 1, 1.0]) if weighted else None
    clf = TrAdaBoostClassifier(
        ThresholdStump(), n_estimators=1, target="t", dynamic=dynamic
    )
    clf.fit(X_SMALL, Y_SMALL, tasks=T_SMALL, sample_weight=sw)
    # eps_1: weight of the missed target row x = -0.5 over the target weight
    eps = 2 / 5 if weighted else 1 / 4
    beta_1 = eps / (1 - eps)  # 2/3 or 1/3
    beta = 1 / (1 + sqrt(2 * log(6) / 1))  # n = 6 source rows, N = 1
    w1 = np.ones(10) if sw is None else sw
    w2 = w1.copy()
    w2[[2, 5]] *= beta  # missed source rows lose weight
    w2[7] /= beta_1  # the missed target row gains weight
    if dynamic:
        w2[:6] *= 2 * (1 - eps)  # Al-Stouhi & Reddy's correction, source rows
    assert_allclose(clf.estimator_errors_, [eps])
    assert_allclose(clf.estimator_weights_, [beta_1])
    assert_allclose(clf.beta_, beta)
    assert_allclose(clf.sample_weights_, w2 / w2.sum())
    # the learner saw p^1 at the scale of the caller's weights: w^1 itself
    assert_allclose(clf.estimators_[0].sample_weight_, w1)
    # h_f with one round: h_1 itself
    assert_array_equal(clf.predict(X_SMALL), (X_SMALL[:, 0] > 0).astype(int))


def test_vote_uses_only_the_second_half_of_the_rounds():
    # target rows follow 1[x > 0]. Rounds 1-2 use threshold 0 (perfect on the
    # target: eps = 0, clipped, vote weight ln(1e10)); rounds 3-5 use 1.5,
    # which says 0 at x = 1. The paper votes over t = ceil(5/2) = 3, ..., 5.
    X = np.array([-3, 3, -2, -1, 1, 2.0])[:, None]
    y = np.array([0, 1, 0, 0, 1, 1])
    tasks = ["s", "s", "t", "t", "t", "t"]
    base = ScriptedStump(plan=make_plan([0, 0, 1.5, 1.5, 1.5]))
    clf = TrAdaBoostClassifier(base, n_estimators=5, target="t")
    clf.fit(X, y, tasks=tasks)
    x_star = np.array([[1.0]])
    votes = np.array([est.predict(x_star)[0] for est in clf.estimators_])
    assert_array_equal(votes, [1, 1, 0, 0, 0])
    alphas = -np.log(clf.estimator_weights_)
    # the vote of all the rounds would say 1 ...
    assert np.sum(alphas * (votes - 0.5)) > 0
    # ... the second half says 0, and that is what the estimator predicts
    second = slice(2, None)
    assert_allclose(
        clf.decision_function(x_star), np.sum(alphas[second] * (votes[second] - 0.5))
    )
    assert clf.predict(x_star)[0] == 0
    assert clf.predict_proba(x_star)[0, 0] > 0.5
    # eps of round 3: one of four equal target weights; round 4: that row
    # now holds 3 / 6 of the target weight
    assert_allclose(clf.estimator_errors_[:4], [0, 0, 1 / 4, 1 / 2])
    assert_allclose(clf.estimator_weights_[2], 1 / 3)


def test_error_clipping():
    # eps = 0: clipped up, the weights do not move, no NaN
    clf = TrAdaBoostClassifier(ThresholdStump(-1.0), n_estimators=1, target="t")
    clf.fit(X_SMALL, Y_SMALL, tasks=T_SMALL)  # 1[x > -1] is right on the target
    assert clf.estimator_errors_[0] == 0
    assert_allclose(clf.estimator_weights_, [CLIP / (1 - CLIP)])
    assert np.all(np.isfinite(clf.sample_weights_))
    assert_allclose(clf.sample_weights_[6:], clf.sample_weights_[6])
    # eps = 3/4 (h = 1[x < 0]): recorded as measured, clipped to just below
    # 1/2, so beta_t ~ 1: target weights stay, the vote weight is ~0, while
    # the source rows are still reweighted
    clf = TrAdaBoostClassifier(ThresholdStump(0.0, sign=-1), n_estimators=1)
    clf.fit(X_SMALL, Y_SMALL, tasks=np.where(T_SMALL == "t", "target", "src"))
    assert_allclose(clf.estimator_errors_, [3 / 4])
    assert_allclose(clf.estimator_weights_, [(0.5 - CLIP) / (0.5 + CLIP)])
    target_w = clf.sample_weights_[6:]
    assert_allclose(target_w, target_w[0], rtol=1e-8)
    assert clf.sample_weights_[:6].std() > 0


def shift_problem(seed, *, n_features=15, n_source=200, n_target=15, n_test=1000):
    """Half of the source rows follow the target concept, half another one."""
    rng = np.random.default_rng(seed)
    w_target, w_other = rng.normal(size=(2, n_features))
    X_src, X_tgt, X_test = (
        rng.normal(size=(n, n_features)) for n in (n_source, n_target, n_test)
    )
    other = rng.random(n_source) < 0.5
    y_src = np.where(other, X_src @ w_other > 0, X_src @ w_target > 0).astype(int)
    X = np.vstack([X_src, X_tgt])
    y = np.r_[y_src, (X_tgt @ w_target > 0).astype(int)]
    tasks = np.r_[["source"] * n_source, ["target"] * n_target]
    return X, y, tasks, X_test, (X_test @ w_target > 0).astype(int), other


def test_beats_target_only_and_pooled_on_a_shift_problem():
    scores = []
    for seed in range(8):
        X, y, tasks, X_test, y_test, _ = shift_problem(seed)
        tgt = tasks == "target"
        scores.append(
            [
                LogisticRegression().fit(X[tgt], y[tgt]).score(X_test, y_test),
                LogisticRegression().fit(X, y).score(X_test, y_test),
                TrAdaBoostClassifier(n_estimators=20)
                .fit(X, y, tasks=tasks)
                .score(X_test, y_test),
            ]
        )
    target_only, pooled, trada = np.mean(scores, axis=0)
    # measured: 0.73, 0.78, 0.81 mean accuracy
    assert trada > target_only + 0.04
    assert trada > pooled + 0.015


def test_source_rows_against_the_target_concept_lose_weight():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(330, 4))
    y = (X @ [1.0, -1.0, 0.5, 0.0] > 0).astype(int)
    tasks = np.r_[["source"] * 300, ["target"] * 30]
    flipped = np.zeros(330, dtype=bool)
    flipped[rng.choice(300, 60, replace=False)] = True  # 20% of the source
    y[flipped] = 1 - y[flipped]
    shares = []
    for n_estimators in (1, 5, 20):
        clf = TrAdaBoostClassifier(n_estimators=n_estimators).fit(X, y, tasks=tasks)
        w = clf.sample_weights_
        shares.append(w[flipped].sum() / w[:300].sum())
    assert shares[0] < 0.2  # initial share: 60 / 300
    assert shares[0] > shares[1] > shares[2]
    assert shares[2] < 0.01


def test_labels_of_any_type_and_tasks_ignored_in_predict():
    X, y01, tasks, X_test, _, _ = shift_problem(0, n_test=50)
    y = np.where(y01 == 1, "spam", "ham")
    domains = np.where(tasks == "target", 1, 0)
    clf = TrAdaBoostClassifier(n_estimators=5, target=1).fit(X, y, tasks=domains)
    assert_array_equal(clf.classes_, ["ham", "spam"])
    assert_array_equal(clf.tasks_, [0, 1])
    pred = clf.predict(X_test)
    assert set(pred) <= {"ham", "spam"}
    assert_array_equal(clf.predict(X_test, tasks=np.zeros(50)), pred)
    proba = clf.predict_proba(X_test)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(clf.classes_[(proba[:, 1] >= 0.5).astype(int)], pred)
    total = -np.log(clf.estimator_weights_[2:]).sum()  # rounds 3..5
    assert_allclose(proba[:, 1], 0.5 + clf.decision_function(X_test) / total)
    assert clf.score(X_test, pred, tasks=1) == 1.0


def test_tasks_none_is_boosting_on_the_target_rows():
    # every row is a target row: AdaBoost.M1's update, no source factor
    clf = TrAdaBoostClassifier(ThresholdStump(), n_estimators=1)
    clf.fit(X_SMALL, Y_SMALL)
    assert np.isnan(clf.beta_)
    assert_array_equal(clf.tasks_, ["target"])
    assert_allclose(clf.estimator_errors_, [3 / 10])  # rows 2, 5, 7 missed
    w2 = np.ones(10)
    w2[[2, 5, 7]] *= 7 / 3  # 1 / beta_1
    assert_allclose(clf.sample_weights_, w2 / w2.sum())
    X, _, _, _, _, _ = shift_problem(1)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    assert TrAdaBoostClassifier(n_estimators=6).fit(X, y).score(X, y) > 0.95


def test_random_state_reaches_the_base_estimator():
    X, y, tasks, _, _, _ = shift_problem(2)
    base = DecisionTreeClassifier(max_depth=2, max_features=1)
    fits = [
        TrAdaBoostClassifier(base, n_estimators=4, random_state=7).fit(
            X, y, tasks=tasks
        )
        for _ in range(2)
    ]
    seeds = [est.random_state for est in fits[0].estimators_]
    assert len(set(seeds)) == 4 and all(isinstance(s, int) for s in seeds)
    assert seeds == [est.random_state for est in fits[1].estimators_]
    assert_array_equal(fits[0].estimator_errors_, fits[1].estimator_errors_)
    assert base.random_state is None  # the caller's estimator is untouched


def test_clone_pickle_and_pipeline_routing():
    X, y, tasks, X_test, _, _ = shift_problem(3, n_test=20)
    clf = TrAdaBoostClassifier(n_estimators=4).fit(X, y, tasks=tasks)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "estimators_")
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(
        restored.decision_function(X_test), clf.decision_function(X_test)
    )
    # tasks is requested at class level: routed without set_fit_request
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), TrAdaBoostClassifier(n_estimators=4))
        pipe.fit(X, y, tasks=tasks)
        assert pipe.predict(X_test, tasks=tasks[:20]).shape == (20,)


def test_errors():
    X, y, tasks = X_SMALL, Y_SMALL, T_SMALL
    with pytest.raises(ValueError, match="No target rows: target='target'"):
        TrAdaBoostClassifier().fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="No source rows"):
        TrAdaBoostClassifier(target="t").fit(X, y, tasks="t")
    y3 = np.arange(10) % 3
    with pytest.raises(ValueError, match="Only binary classification"):
        TrAdaBoostClassifier(target="t").fit(X, y3, tasks=tasks)
    with pytest.raises(ValueError, match="2 classes; got 1 class"):
        TrAdaBoostClassifier(target="t").fit(X, np.zeros(10), tasks=tasks)
    with pytest.raises(ValueError, match="tasks has 3 labels but X has 10 rows"):
        TrAdaBoostClassifier(target="t").fit(X, y, tasks=["s", "t", "t"])
    with pytest.raises(ValueError, match="zero on every target row"):
        sw = np.r_[np.ones(6), np.zeros(4)]
        TrAdaBoostClassifier(target="t").fit(X, y, tasks=tasks, sample_weight=sw)
    with pytest.raises(TypeError, match="KNeighborsClassifier does not accept"):
        TrAdaBoostClassifier(KNeighborsClassifier(), target="t").fit(X, y, tasks=tasks)


def test_dynamic_factor_stops_the_drift_of_correct_source_rows():
    # Al-Stouhi & Reddy (2011): when every source row is classified correctly,
    # the original update still moves weight from the source to the target
    # rows (their misses gain weight, then everything is normalised); the
    # factor 2 (1 - eps_t) keeps the source share exactly where it was.
    X = np.array([-3, -2, 2, 3, -1, -0.5, 0.5, 1.0])[:, None]
    y = np.array([0, 0, 1, 1, 0, 1, 1, 1])  # target x = -0.5 against 1[x > 0]
    tasks = np.array(["s"] * 4 + ["t"] * 4)
    shares = {}
    for dynamic in (False, True):
        clf = TrAdaBoostClassifier(
            ThresholdStump(), n_estimators=5, target="t", dynamic=dynamic
        ).fit(X, y, tasks=tasks)
        shares[dynamic] = clf.sample_weights_[:4].sum()
    assert_allclose(shares[True], 0.5)  # the initial share, after 5 rounds
    # without it: round 1 has eps = 1/4, the target total grows to
    # 2 * (1/2) * (3/4) = 3/4 against 1/2 for the source, a share of 0.4;
    # later rounds have eps = 1/2 (clipped just below) and change nothing
    assert_allclose(shares[False], 0.4, rtol=1e-6)
