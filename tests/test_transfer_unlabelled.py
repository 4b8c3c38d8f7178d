"""Transfer that learns from the unlabelled target rows (fit metadata ``unlabelled``).

References: scikit-learn's ``SelfTrainingClassifier`` (same selection when the
settings coincide), ``MultinomialNB`` (the EM M step), a closed-form EM step,
the EM monotonicity of the observed-data log-likelihood, and synthetic shifts
where the unlabelled rows must help.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import MultinomialNB
from sklearn.semi_supervised import SelfTrainingClassifier

from skmtl import MultiTaskClassifier
from skmtl._validation import check_unlabelled
from skmtl.model_selection import SourceTargetSplit
from skmtl.transfer import (
    EMTransferClassifier,
    JointTransferClassifier,
    NaiveBayesTransferClassifier,
    SelfTrainingTransferClassifier,
)


# ---------------------------------------------------------------- data
def _clusters(n=300, n_labelled=6, seed=0, n_classes=2):
    """Gaussian clusters, the first ``n_labelled`` rows labelled."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    centres = 3.0 * rng.normal(size=(n_classes, 5))
    X = rng.normal(size=(n, 5)) + centres[y]
    return X, y, np.arange(n) >= n_labelled


def _counts(n=300, n_labelled=6, seed=0, n_classes=2):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    rates = rng.gamma(1.0, 1.0, size=(n_classes, 12))
    X = rng.poisson(rates[y] * 2.0).astype(float)
    return X, y, np.arange(n) >= n_labelled


ESTIMATORS = [
    SelfTrainingTransferClassifier(),
    SelfTrainingTransferClassifier(
        LogisticRegression(solver="newton-cholesky"), balance=False, k_best=7
    ),
    NaiveBayesTransferClassifier(),
    EMTransferClassifier(),
    EMTransferClassifier(LogisticRegression(solver="newton-cholesky")),
    # the fixed method of benchmarks/bench_transfer.py
    SelfTrainingTransferClassifier(NaiveBayesTransferClassifier(max_iter=0)),
]
IDS = ["self-training", "self-training-lr", "nb", "em", "em-lr", "self-training-nb"]


# ---------------------------------------------------------------- the mask
def test_check_unlabelled_refuses_non_bool():
    assert not check_unlabelled(None, 3).any()
    np.testing.assert_array_equal(
        check_unlabelled([True, False, True], 3), [True, False, True]
    )
    for bad in ([1, 0, 1], np.array([1.0, 0.0, 0.0]), np.array(["a", "b", "c"])):
        with pytest.raises(ValueError, match="unlabelled must be an array of bool"):
            check_unlabelled(bad, 3)
    with pytest.raises(ValueError, match="unlabelled has 2 values but X has 3"):
        check_unlabelled([True, False], 3)
    with pytest.raises(ValueError, match="unlabelled is True on every row"):
        check_unlabelled([True, True, True], 3)
    with pytest.raises(ValueError, match="1-D"):
        check_unlabelled(np.zeros((3, 1), dtype=bool), 3)


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_bad_mask_names_unlabelled(est):
    X, y, u = _counts()
    with pytest.raises(ValueError, match="unlabelled"):
        est.fit(X, y, unlabelled=u.astype(int))


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_placeholder_labels_are_never_read(est):
    """Scrambled placeholders (other classes, -999, strings) give the same model."""
    X, y, u = _counts(n_labelled=30, n_classes=3)
    tasks = np.where(np.arange(len(y)) % 4 == 0, "source", "target")
    tasks[u] = "anything"  # unlabelled rows are target rows whatever their task
    ref = est.fit(X, y, tasks=tasks, unlabelled=u).predict_proba(X)
    rng = np.random.default_rng(1)
    y_int = y.copy()
    y_int[u] = rng.permutation(y[u])
    y_neg = y.copy()
    y_neg[u] = -999
    y_obj = y.astype(object)
    y_obj[u] = "not a class"
    y_list = y_obj.tolist()
    for y_scrambled in (y_int, y_neg, y_obj, y_list):
        est.fit(X, y_scrambled, tasks=tasks, unlabelled=u)
        np.testing.assert_array_equal(est.classes_, [0, 1, 2])
        np.testing.assert_allclose(est.predict_proba(X), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_zero_weight_rows_are_absent(est):
    X, y, u = _counts(n=200)
    rng = np.random.default_rng(2)
    sw = rng.uniform(0.5, 2.0, len(y))
    drop = (np.arange(len(y)) % 5 == 1) & u  # some unlabelled rows
    drop[[7, 9]] = True  # and labelled ones
    sw[drop] = 0.0
    junk = X.copy()
    junk[drop] = rng.poisson(5.0, size=junk[drop].shape)
    a = est.fit(junk, y, sample_weight=sw, unlabelled=u).predict_proba(X)
    b = est.fit(X[~drop], y[~drop], sample_weight=sw[~drop], unlabelled=u[~drop])
    np.testing.assert_allclose(a, b.predict_proba(X), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_sparse_equals_dense(est):
    X, y, u = _counts(n=200)
    dense = est.fit(X, y, unlabelled=u).predict_proba(X)
    sparse = est.fit(sp.csr_matrix(X), y, unlabelled=u).predict_proba(X)
    np.testing.assert_allclose(sparse, dense, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- self-training
@pytest.mark.parametrize("k_best", [1, 7, 500])
@pytest.mark.parametrize("max_iter", [3, None])
def test_self_training_matches_sklearn(k_best, max_iter):
    """balance=False, integer k_best, no domains: sklearn's loop exactly."""
    X, y, u = _clusters(n=60, n_labelled=8, n_classes=3, seed=3)
    y_sk = np.where(u, -1, y)
    base = LogisticRegression(C=0.5, solver="newton-cholesky")
    ref = SelfTrainingClassifier(
        base, criterion="k_best", k_best=k_best, max_iter=max_iter
    )
    with pytest.warns(UserWarning) if k_best == 500 else _nothing():
        ref.fit(X, y_sk)
    ours = SelfTrainingTransferClassifier(
        base, k_best=k_best, balance=False, max_iter=max_iter
    ).fit(X, y, unlabelled=u)
    labelled = ref.labeled_iter_ >= 0
    np.testing.assert_array_equal(ours.labeled_iter_, ref.labeled_iter_)
    np.testing.assert_array_equal(
        ours.transduction_[labelled], ref.transduction_[labelled]
    )
    assert ours.n_iter_ == ref.n_iter_
    assert ours.termination_condition_ == ref.termination_condition_
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_self_training_schedule_and_balance():
    """k_best as a fraction: ceil(f * n_unlabelled) per round; class shares kept."""
    X, y, u = _clusters(n=203, n_labelled=9, n_classes=3, seed=4)
    est = SelfTrainingTransferClassifier(
        LogisticRegression(solver="newton-cholesky"), k_best=0.3, max_iter=None
    ).fit(X, y, unlabelled=u)
    per_round = np.bincount(est.labeled_iter_[est.labeled_iter_ > 0])[1:]
    np.testing.assert_array_equal(per_round, [59, 59, 59, 17])  # ceil(0.3 * 194)
    assert est.termination_condition_ == "all_labeled" and est.n_iter_ == 4
    # after every round, the pseudo-labels follow the labelled proportions
    pi = np.bincount(y[~u], minlength=3) / (~u).sum()
    for r in range(1, 5):
        pseudo = (est.labeled_iter_ > 0) & (est.labeled_iter_ <= r)
        counts = np.bincount(est.transduction_[pseudo], minlength=3)
        assert np.all(np.abs(counts - pi * pseudo.sum()) < 1.0)


def _biased_shift(seed=0, n=600, shift=5.0):
    """Two clusters per domain; the target's are translated along feature 0.

    A model trained on the source puts most target rows in class 0 (the
    translation moves them across its boundary) but still ranks them in the
    right order. The class structure is in the clusters, so the unlabelled
    rows carry information (the generators of skmtl.datasets draw an
    isotropic Gaussian X, where unlabelled rows say nothing about the
    boundary: no semi-supervised method can use them there).
    """
    rng = np.random.default_rng(seed)
    w = np.zeros(10)
    w[:2] = [1.0, 1.0]
    ys = rng.integers(0, 2, n)
    Xs = rng.normal(size=(n, 10)) + 1.5 * np.outer(2 * ys - 1, w)
    yt = rng.integers(0, 2, n)
    Xt = rng.normal(size=(n, 10)) + 1.5 * np.outer(2 * yt - 1, w)
    Xt[:, 0] -= shift
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, yt])
    tasks = np.repeat(["source", "target"], n)
    u = np.zeros(2 * n, dtype=bool)
    u[n + 10 :] = True  # 10 labelled target rows
    return X, y, tasks, u


def test_threshold_collapses_balance_does_not():
    X, y, tasks, u = _biased_shift()
    test = u
    # sklearn's threshold rule, on the source + labelled target pooled
    plain = SelfTrainingClassifier(
        LogisticRegression(solver="newton-cholesky"), threshold=0.75
    )
    plain.fit(X, np.where(u, -1, y))
    shares = np.bincount(plain.transduction_[test & (plain.labeled_iter_ > 0)])
    ours = SelfTrainingTransferClassifier(
        LogisticRegression(solver="newton-cholesky")
    ).fit(X, y, tasks=tasks, unlabelled=u)
    labelled_only = LogisticRegression(solver="newton-cholesky").fit(X[~u], y[~u])
    acc_plain = plain.score(X[test], y[test])
    acc_ours = ours.score(X[test], y[test])
    acc_lab = labelled_only.score(X[test], y[test])
    # the threshold pseudo-labels collapse onto class 0 (the classes are
    # balanced) and it gains nothing on the labelled rows ...
    assert shares[0] > 0.8 * shares.sum()
    assert acc_plain < acc_lab + 0.01 and acc_plain < 0.72
    # ... the balanced schedule keeps the classes and beats the labelled rows
    ours_shares = np.bincount(ours.transduction_[test])
    assert abs(ours_shares[0] / ours_shares.sum() - 0.5) < 0.1
    assert acc_ours > acc_lab + 0.15
    assert acc_ours > 0.85


@pytest.mark.parametrize("Est", [SelfTrainingTransferClassifier, EMTransferClassifier])
@pytest.mark.parametrize("sparse", [False, True])
def test_unlabelled_rows_help_the_transfer_model(Est, sparse):
    """The default JointTransfer base, with and without the unlabelled rows."""
    X, y, tasks, u = _biased_shift(seed=1, shift=3.0)
    Xf = sp.csr_matrix(X) if sparse else X
    base = JointTransferClassifier(source_weight=0.5, alpha=1e-3)
    lab = base.fit(Xf[~u], y[~u], tasks=tasks[~u]).score(X[u], y[u])
    # both domains are balanced: the labelled rows' class proportions (source
    # included) are steadier than those of the 10 labelled target rows
    est = Est(base, class_prior="labelled").fit(Xf, y, tasks=tasks, unlabelled=u)
    assert est.n_iter_ >= 1
    assert est.score(X[u], y[u]) > lab + 0.05


def _word_shift(seed=0, n=400, n_labelled=4):
    """Word counts: each class has words of its own in both domains (weak) and
    words of its own in each domain (strong); the target's are unseen in the
    source, so only the unlabelled target rows can teach them."""
    rng = np.random.default_rng(seed)
    n_words = 40  # 0-3 shared class words, 4-11 source, 12-19 target, noise
    rates = np.full((2, 2, n_words), 0.3)  # (domain, class, word)
    for c in (0, 1):
        rates[:, c, 2 * c : 2 * c + 2] += 0.5
        rates[0, c, 4 + 4 * c : 8 + 4 * c] += 1.5
        rates[1, c, 12 + 4 * c : 16 + 4 * c] += 1.5
    y = rng.integers(0, 2, 2 * n)
    domain = np.repeat([0, 1], n)
    X = rng.poisson(rates[domain, y]).astype(float)
    tasks = np.where(domain == 0, "source", "target")
    u = np.zeros(2 * n, dtype=bool)
    u[n + n_labelled :] = True
    return X, y, tasks, u


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("sparse", [False, True])
def test_self_trained_naive_bayes_learns_the_target_words(seed, sparse):
    """The benchmark's fixed method on a known shift: the target's own class
    words are learnt from the unlabelled rows only."""
    X, y, tasks, u = _word_shift(seed=seed)
    Xf = sp.csr_matrix(X) if sparse else X
    base = NaiveBayesTransferClassifier(max_iter=0)
    lab = base.fit(Xf[~u], y[~u], tasks=tasks[~u]).score(X[u], y[u])
    st = SelfTrainingTransferClassifier(base).fit(Xf, y, tasks=tasks, unlabelled=u)
    assert st.score(X[u], y[u]) > lab + 0.05
    assert st.score(X[u], y[u]) > 0.95
    # the target words now separate the classes in the fitted naive Bayes
    logp = st.estimator_.feature_log_prob_
    assert np.all(logp[1, 16:20] - logp[0, 16:20] > 1.0)
    assert np.all(logp[0, 12:16] - logp[1, 12:16] > 1.0)


def test_meta_estimators_take_the_base_input_tags():
    """Self-training and EM need what their base needs (scikit-learn's
    meta-estimators delegate these tags likewise)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.utils import get_tags

    for Est in (SelfTrainingTransferClassifier, EMTransferClassifier):
        nb = get_tags(Est(NaiveBayesTransferClassifier()))
        assert nb.input_tags.positive_only and nb.classifier_tags.poor_score
        assert nb.input_tags.sparse
        default = get_tags(Est())
        assert not default.input_tags.positive_only and default.input_tags.sparse
        assert not default.classifier_tags.poor_score
        assert not get_tags(Est(HistGradientBoostingClassifier())).input_tags.sparse
        assert get_tags(Est(LogisticRegression())).input_tags.sparse


def test_em_without_balance_drifts_with_the_bias():
    """The soft labels of a biased discriminative model reinforce its bias;
    class mass normalisation prevents it."""
    X, y, tasks, u = _biased_shift(seed=0, shift=5.0)
    base = JointTransferClassifier(source_weight=0.5, alpha=1e-3)
    lab = base.fit(X[~u], y[~u], tasks=tasks[~u]).score(X[u], y[u])
    free = EMTransferClassifier(base, balance=False).fit(
        X, y, tasks=tasks, unlabelled=u
    )
    balanced = EMTransferClassifier(base, class_prior="labelled").fit(
        X, y, tasks=tasks, unlabelled=u
    )
    assert free.score(X[u], y[u]) < lab - 0.03
    assert balanced.score(X[u], y[u]) > lab + 0.03
    assert np.mean(free.predict(X[u]) == 0) > np.mean(balanced.predict(X[u]) == 0)


def test_balance_posteriors_matches_the_prior():
    from skmtl.transfer._unlabelled import balance_posteriors

    rng = np.random.default_rng(0)
    Q = rng.dirichlet([0.3, 1.0, 2.0], size=50)
    w = rng.uniform(0.5, 2.0, 50)
    prior = np.array([0.5, 0.3, 0.2])
    B = balance_posteriors(np.log(Q), w, prior)
    np.testing.assert_allclose(B.sum(axis=1), 1.0)
    np.testing.assert_allclose(w @ B / w.sum(), prior, atol=1e-8)
    # a rescaling of the columns: the odds between classes change by a
    # per-class factor only
    ratio = (B[:, 0] / B[:, 1]) / (Q[:, 0] / Q[:, 1])
    np.testing.assert_allclose(ratio, ratio[0])
    # near-certain posteriors (logits far apart) are balanced exactly too
    logits = 40.0 * rng.normal(size=(300, 3))
    B = balance_posteriors(logits, np.ones(300), prior)
    np.testing.assert_allclose(B.mean(axis=0), prior, atol=1e-8)
    # a class of prior 0 gets no mass
    B = balance_posteriors(np.log(Q), w, np.array([0.6, 0.4, 0.0]))
    assert np.all(B[:, 2] == 0) and np.allclose(w @ B / w.sum(), [0.6, 0.4, 0])


# ---------------------------------------------------------------- naive Bayes EM
def test_nb_closed_form_one_round():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 1, 0])
    u = np.array([False, False, True])
    nb = NaiveBayesTransferClassifier(alpha=1.0, balance=False, max_iter=1)
    nb.fit(X, y, unlabelled=u)
    # initial model: theta_0 = [2/3, 1/3], theta_1 = [1/3, 2/3], pi = [1/2, 1/2];
    # E step: P(0 | x_3) = 2/3; M step counts N_0 = [5/3, 0], N_1 = [1/3, 1]
    np.testing.assert_allclose(np.exp(nb.class_log_prior_), [5 / 9, 4 / 9])
    np.testing.assert_allclose(
        np.exp(nb.feature_log_prob_), [[8 / 11, 3 / 11], [0.4, 0.6]]
    )
    assert nb.n_iter_ == 1


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("source_weight", [None, 0.3])
def test_nb_m_step_is_multinomialnb_on_soft_counts(sparse, source_weight):
    X, y, u = _counts(n=150, n_labelled=30, n_classes=3, seed=5)
    tasks = np.where(np.arange(150) < 20, "source", "target")
    sw = np.random.default_rng(5).uniform(0.5, 2.0, 150)
    Xf = sp.csr_matrix(X) if sparse else X
    nb = NaiveBayesTransferClassifier(
        alpha=0.5, max_iter=1, source_weight=source_weight, balance=False
    ).fit(Xf, y, tasks=tasks, sample_weight=sw, unlabelled=u)
    # the reference: the domain weights by hand, MultinomialNB on labelled
    # rows, its posteriors on the unlabelled rows, MultinomialNB on the rows
    # repeated per class with weight c_i * q_ic
    c = sw.copy()
    if source_weight is not None:
        src = tasks == "source"
        total = c.sum()
        c = np.where(
            src,
            source_weight * total * c / c[src].sum(),
            (1 - source_weight) * total * c / c[~src].sum(),
        )
    lab = ~u
    nb0 = MultinomialNB(alpha=0.5).fit(X[lab], y[lab], sample_weight=c[lab])
    Q = nb0.predict_proba(X[u])
    X_exp = np.vstack([X[lab]] + [X[u]] * 3)
    y_exp = np.concatenate([y[lab]] + [np.full(u.sum(), k) for k in range(3)])
    w_exp = np.concatenate([c[lab]] + [c[u] * Q[:, k] for k in range(3)])
    nb1 = MultinomialNB(alpha=0.5).fit(X_exp, y_exp, sample_weight=w_exp)
    np.testing.assert_allclose(nb.feature_log_prob_, nb1.feature_log_prob_)
    np.testing.assert_allclose(nb.class_log_prior_, nb1.class_log_prior_)
    np.testing.assert_allclose(nb.predict_proba(X), nb1.predict_proba(X))


@pytest.mark.parametrize("seed", range(4))
def test_nb_em_log_likelihood_never_decreases(seed):
    X, y, u = _counts(n=400, n_labelled=10, n_classes=3, seed=seed)
    tasks = np.where(np.arange(400) % 3 == 0, "source", "target")
    nb = NaiveBayesTransferClassifier(
        alpha=0.1,
        max_iter=30,
        tol=0,
        source_weight=0.4,
        unlabelled_weight=0.7,
        balance=False,
    ).fit(X, y, tasks=tasks, unlabelled=u)
    ll = nb.log_likelihood_
    assert len(ll) == nb.n_iter_ + 1 and nb.n_iter_ >= 5
    assert np.all(np.diff(ll) >= -1e-9 * np.abs(ll[1:]))
    assert ll[-1] > ll[0]


def test_nb_log_likelihood_value():
    """``log_likelihood_`` is the stated objective, recomputed from the model."""
    X, y, u = _counts(n=60, n_labelled=10, seed=6)
    nb = NaiveBayesTransferClassifier(alpha=0.3, max_iter=3, tol=0, balance=False)
    nb.fit(X, y, unlabelled=u)
    jll = nb.predict_joint_log_proba(X)
    lab = ~u
    expected = (
        jll[lab, y[lab]].sum()
        + np.log(np.exp(jll[u]).sum(axis=1)).sum()
        + 0.3 * nb.feature_log_prob_.sum()
    )
    np.testing.assert_allclose(nb.log_likelihood_[-1], expected)


def test_nb_refuses_negative_X():
    X, y, u = _counts()
    X[0, 0] = -1.0
    with pytest.raises(ValueError, match="Negative values"):
        NaiveBayesTransferClassifier().fit(X, y, unlabelled=u)


@pytest.mark.parametrize("seed", [1, 3])
def test_nb_em_helps_with_few_labels(seed):
    rng = np.random.default_rng(seed)
    y = np.arange(600) % 2
    rng.shuffle(y)
    rates = rng.gamma(1.0, 1.0, size=(2, 12))
    rates = 0.5 * rates + 0.5 * rates.mean(axis=0)  # close word rates
    X = rng.poisson(0.6 * rates[y]).astype(float)
    u = np.arange(600) >= 8
    lab = NaiveBayesTransferClassifier(max_iter=0).fit(X, y, unlabelled=u)
    for balance in (False, True):
        em = NaiveBayesTransferClassifier(balance=balance).fit(X, y, unlabelled=u)
        assert em.score(X[u], y[u]) > lab.score(X[u], y[u]) + 0.03


# ---------------------------------------------------------------- linear EM
def test_em_m_step_is_the_base_on_soft_rows():
    X, y, u = _clusters(n=80, n_labelled=10, n_classes=3, seed=8)
    base = LogisticRegression(C=2.0, solver="newton-cholesky")
    em = EMTransferClassifier(base, balance=False, temperature=1.0, max_iter=1)
    em.fit(X, y, unlabelled=u)
    m0 = LogisticRegression(C=2.0, solver="newton-cholesky").fit(X[~u], y[~u])
    Q = m0.predict_proba(X[u])
    X_exp = np.vstack([X[~u]] + [X[u]] * 3)
    y_exp = np.concatenate([y[~u]] + [np.full(u.sum(), k) for k in range(3)])
    w_exp = np.concatenate([np.ones((~u).sum())] + [Q[:, k] for k in range(3)])
    m1 = LogisticRegression(C=2.0, solver="newton-cholesky").fit(
        X_exp, y_exp, sample_weight=w_exp
    )
    np.testing.assert_allclose(em.predict_proba(X), m1.predict_proba(X), rtol=1e-5)
    assert em.n_iter_ == 1


def test_em_stops_at_tol():
    X, y, u = _clusters(n=200, n_labelled=10, seed=9)
    em = EMTransferClassifier(MultiTaskClassifier(0.01), max_iter=50, tol=1e-3)
    em.fit(X, y, unlabelled=u)
    assert 1 <= em.n_iter_ < 50


def test_no_unlabelled_rows_is_the_base():
    X, y, _ = _clusters(n=100, seed=10)
    base = JointTransferClassifier()
    ref = base.fit(X, y).predict_proba(X)
    for est in (SelfTrainingTransferClassifier(), EMTransferClassifier()):
        np.testing.assert_allclose(est.fit(X, y).predict_proba(X), ref)
        assert est.n_iter_ == 0


# ---------------------------------------------------------------- selection
def test_source_target_split_keeps_unlabelled_in_training():
    tasks = np.array(["source"] * 6 + ["target"] * 12)
    y = np.tile([0, 1], 9)
    u = np.zeros(18, dtype=bool)
    u[[6, 7, 8, 9, 10, 11]] = True
    y_placeholder = y.astype(object)
    y_placeholder[u] = "?"
    cv = SourceTargetSplit(n_splits=3, random_state=0)
    folds = list(cv.split(np.zeros((18, 1)), y_placeholder, tasks=tasks, unlabelled=u))
    assert len(folds) == 3
    tested = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(12, 18))
    for train, test in folds:
        assert set(np.flatnonzero(u)) <= set(train)
        assert set(range(6)) <= set(train)
        np.testing.assert_array_equal(np.bincount(y[test]), [1, 1])  # stratified
    with pytest.raises(ValueError, match="3 labelled rows, fewer than n_splits=4"):
        u2 = u.copy()
        u2[12:15] = True
        list(
            SourceTargetSplit(4).split(np.zeros((18, 1)), y, tasks=tasks, unlabelled=u2)
        )


def test_grid_search_routes_unlabelled():
    X, y, tasks, u = _biased_shift(n=150)
    u[150:160] = False
    u[160:170] = False  # 20 labelled target rows
    y_scrambled = np.where(u, -7, y)
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            SelfTrainingTransferClassifier(
                LogisticRegression(solver="newton-cholesky")
            ),
            {"k_best": [0.2, 0.5]},
            cv=SourceTargetSplit(n_splits=2, random_state=0),
            error_score="raise",
        )
        gs.fit(X, y_scrambled, tasks=tasks, unlabelled=u)
    # every score comes from labelled target rows (a placeholder -7 would be
    # scored as an error and is not a class of the model)
    assert np.all(gs.cv_results_["mean_test_score"] > 0.5)
    assert gs.best_estimator_.labeled_iter_.max() > 0


def test_nb_balance_follows_the_class_prior():
    """Class mass normalisation: the unlabelled rows' soft counts follow the
    prior, and a given prior is used as given."""
    X, y, u = _counts(n=300, n_labelled=20, n_classes=3, seed=11)
    prior = np.array([0.5, 0.3, 0.2])
    nb = NaiveBayesTransferClassifier(balance=True, class_prior=prior, max_iter=1)
    nb.fit(X, y, unlabelled=u)
    lab_counts = np.bincount(y[~u], minlength=3)
    np.testing.assert_allclose(nb.class_count_ - lab_counts, prior * u.sum(), rtol=1e-8)
    with pytest.raises(ValueError, match="class_prior has shape"):
        NaiveBayesTransferClassifier(balance=True, class_prior=[0.5, 0.5]).fit(
            X, y, unlabelled=u
        )
    with pytest.raises(ValueError, match="class_prior must be finite"):
        NaiveBayesTransferClassifier(balance=True, class_prior=[1, -1, 1]).fit(
            X, y, unlabelled=u
        )


# ---------------------------------------------------------------- prior_strength
def _prior_rows(seed=12):
    """Counts with a source, 12 labelled target rows (weighted) and the rest."""
    X, y, u = _counts(n=300, n_labelled=40, n_classes=3, seed=seed)
    tasks = np.where(np.arange(300) < 28, "source", "target")  # 12 target
    sw = np.random.default_rng(seed).uniform(0.5, 2.0, 300)
    return X, y, tasks, u, sw


def test_prior_strength_is_the_dirichlet_posterior_mean():
    """(n_c + m s_c) / (n + m), by hand; m = 0 is the target's, m -> inf the
    source's proportions; no source rows: centred on the uniform."""
    from skmtl.transfer._unlabelled import check_transfer_rows, class_proportions

    X, y, tasks, u, sw = _prior_rows()
    rows = check_transfer_rows(y, tasks, sw, u, "target", len(y))
    tgt, src = ~u & (tasks == "target"), tasks == "source"
    n_c = np.bincount(y[tgt], weights=sw[tgt], minlength=3)
    s = np.bincount(y[src], weights=sw[src], minlength=3)
    s = s / s.sum()
    for m in (0.0, 3.0, 40.0):
        expected = (n_c + m * s) / (n_c.sum() + m)
        np.testing.assert_allclose(
            class_proportions(rows, "target", m), expected, rtol=1e-12
        )
    np.testing.assert_allclose(
        class_proportions(rows, "target", 0.0), class_proportions(rows, "target")
    )
    np.testing.assert_allclose(class_proportions(rows, "target", 1e12), s, atol=1e-9)
    rows = check_transfer_rows(y, None, None, u, "target", len(y))
    n_c = np.bincount(y[~u], minlength=3)
    np.testing.assert_allclose(
        class_proportions(rows, "target", 6.0), (n_c + 2.0) / (n_c.sum() + 6.0)
    )


@pytest.mark.parametrize(
    "est",
    [
        SelfTrainingTransferClassifier(
            LogisticRegression(solver="newton-cholesky"), max_iter=None
        ),
        NaiveBayesTransferClassifier(max_iter=1),
        EMTransferClassifier(LogisticRegression(solver="newton-cholesky"), max_iter=1),
    ],
    ids=["self-training", "nb", "em"],
)
def test_prior_strength_sets_the_balanced_proportions(est):
    """Every estimator's balanced step follows the shrunk proportions: the
    same fit as with those proportions given as class_prior."""
    from skmtl.transfer._unlabelled import check_transfer_rows, class_proportions

    X, y, tasks, u, sw = _prior_rows()
    rows = check_transfer_rows(y, tasks, sw, u, "target", len(y))
    shrunk = class_proportions(rows, "target", 25.0)
    assert np.abs(shrunk - class_proportions(rows, "target")).max() > 0.05
    a = clone(est).set_params(prior_strength=25.0)
    a.fit(X, y, tasks=tasks, sample_weight=sw, unlabelled=u)
    b = clone(est).set_params(class_prior=shrunk)
    b.fit(X, y, tasks=tasks, sample_weight=sw, unlabelled=u)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-12)
    if isinstance(est, SelfTrainingTransferClassifier):
        pseudo = a.labeled_iter_ > 0
        counts = np.bincount(a.transduction_[pseudo], minlength=3)
        assert np.all(np.abs(counts - shrunk * pseudo.sum()) < 1.0)


def test_prior_strength_needs_the_target_prior():
    X, y, tasks, u, _ = _prior_rows()
    est = SelfTrainingTransferClassifier(LogisticRegression(solver="newton-cholesky"))
    est.fit(X, y, tasks=tasks, unlabelled=u)
    before = est.predict_proba(X)
    for prior in ("labelled", [0.2, 0.3, 0.5]):
        with pytest.raises(ValueError, match="prior_strength=5.0 applies to"):
            est.set_params(class_prior=prior, prior_strength=5.0).fit(
                X, y, tasks=tasks, unlabelled=u
            )
        np.testing.assert_array_equal(est.predict_proba(X), before)
    with pytest.raises(ValueError, match="prior_strength"):
        NaiveBayesTransferClassifier(prior_strength=-1.0).fit(X, y, unlabelled=u)


def test_em_temperature():
    """temperature=0 refits on the most probable classes (classification EM);
    a temperature sharpens the soft labels as p ** (1 / T)."""
    X, y, u = _clusters(n=80, n_labelled=10, n_classes=3, seed=12)
    lr = LogisticRegression(C=2.0, solver="newton-cholesky")
    m0 = LogisticRegression(C=2.0, solver="newton-cholesky").fit(X[~u], y[~u])
    P = m0.predict_proba(X[u])
    hard = EMTransferClassifier(lr, balance=False, temperature=0, max_iter=1)
    hard.fit(X, y, unlabelled=u)
    ref = LogisticRegression(C=2.0, solver="newton-cholesky").fit(
        np.vstack([X[~u], X[u]]), np.concatenate([y[~u], np.argmax(P, axis=1)])
    )
    np.testing.assert_allclose(hard.predict_proba(X), ref.predict_proba(X), rtol=1e-6)
    sharp = EMTransferClassifier(lr, balance=False, temperature=0.5, max_iter=1)
    sharp.fit(X, y, unlabelled=u)
    Q = P**2 / (P**2).sum(axis=1, keepdims=True)
    X_exp = np.vstack([X[~u]] + [X[u]] * 3)
    y_exp = np.concatenate([y[~u]] + [np.full(u.sum(), k) for k in range(3)])
    w_exp = np.concatenate([np.ones((~u).sum())] + [Q[:, k] for k in range(3)])
    ref = LogisticRegression(C=2.0, solver="newton-cholesky").fit(
        X_exp, y_exp, sample_weight=w_exp
    )
    np.testing.assert_allclose(
        sharp.predict_proba(X), ref.predict_proba(X), rtol=1e-5, atol=1e-8
    )


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_float32_equals_float64(est):
    X, y, u = _counts(n=200)
    p64 = est.fit(X, y, unlabelled=u).predict_proba(X)
    p32 = est.fit(X.astype(np.float32), y, unlabelled=u).predict_proba(X)
    np.testing.assert_allclose(p32, p64, rtol=1e-3, atol=1e-4)


def test_failed_fit_and_caller_arrays():
    X, y, u = _counts(n=120)
    y_orig, u_orig, X_orig = y.copy(), u.copy(), X.copy()
    est = SelfTrainingTransferClassifier(LogisticRegression(solver="newton-cholesky"))
    est.fit(X, y, unlabelled=u)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match="unlabelled"):
        est.fit(X, y, unlabelled=np.ones(120, dtype=bool))
    np.testing.assert_array_equal(est.predict_proba(X), before)
    np.testing.assert_array_equal(y, y_orig)
    np.testing.assert_array_equal(u, u_orig)
    np.testing.assert_array_equal(X, X_orig)


def test_base_without_scores_or_weights_is_refused():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import LinearSVC

    X, y, u = _clusters(n=100)
    with pytest.raises(ValueError, match="sample_weight"):
        EMTransferClassifier(KNeighborsClassifier()).fit(X, y, unlabelled=u)
    # decision_function alone ranks the rows (margins): self-training works
    # (the classes are balanced; 6 labelled rows would estimate 4:2)
    svc = SelfTrainingTransferClassifier(LinearSVC(), class_prior=[0.5, 0.5])
    svc.fit(X, y, unlabelled=u)
    assert svc.score(X, y) > 0.95
    assert not hasattr(svc, "predict_proba")
