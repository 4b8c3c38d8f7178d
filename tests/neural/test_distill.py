"""DistilledClassifier with a network student: the torch loss and the training path."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from skmtl.datafits import Distillation
from skmtl.transfer import DistilledClassifier

torch = pytest.importorskip("torch")

from skmtl.neural import MultiTaskNetClassifier  # noqa: E402
from skmtl.neural._distill import distillation_loss  # noqa: E402


# ------------------------------------------------------------------ the loss
def _paper_loss_and_gradient(Z, Y, labelled, w, t, T, lam):
    """Hinton et al. (2015) written out row by row, with its gradient."""
    value, grad = 0.0, np.zeros_like(Z)
    for i in range(len(Z)):
        q = np.exp(t[i] / T) / np.exp(t[i] / T).sum()  # soft targets
        r = np.exp(Z[i] / T) / np.exp(Z[i] / T).sum()  # tempered student
        p = np.exp(Z[i]) / np.exp(Z[i]).sum()
        soft = -np.sum(q * np.log(r))
        if labelled[i]:
            hard = -np.sum(Y[i] * np.log(p))
            value += w[i] * ((1 - lam) * hard + lam * T**2 * soft)
            # d soft / dz = (r - q) / T, d hard / dz = p - y
            grad[i] = w[i] * ((1 - lam) * (p - Y[i]) + lam * T * (r - q))
        else:
            value += w[i] * T**2 * soft
            grad[i] = w[i] * T * (r - q)
    return value, grad


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("columns", ["binary-one-output", "binary-two", "three"])
def test_torch_loss_equals_the_datafit_and_the_paper(T, lam, columns):
    rng = np.random.default_rng(int(10 * T + 100 * lam))
    n, K = 9, 3 if columns == "three" else 2
    labelled = rng.random(n) < 0.6
    labelled[:2] = [True, False]
    codes = rng.integers(K, size=n)
    Y = np.zeros((n, K))
    Y[np.flatnonzero(labelled), codes[labelled]] = 1.0
    w = rng.uniform(0.5, 2.0, size=n)
    w /= w.sum()
    t = 2.0 * rng.normal(size=(n, K))
    Q = np.exp(t / T) / np.exp(t / T).sum(axis=1, keepdims=True)
    if columns == "binary-one-output":
        s = rng.normal(size=n)
        Z = np.column_stack([np.zeros(n), s])  # the logits [0, s] of one output
        out = torch.tensor(s[:, None], requires_grad=True)
    else:
        Z = rng.normal(size=(n, K))
        out = torch.tensor(Z, requires_grad=True)

    rows = distillation_loss(
        out,
        torch.as_tensor(np.where(labelled, codes, 0)),
        torch.as_tensor(labelled),
        torch.as_tensor(Q),
        T,
        lam,
    )
    value = (torch.as_tensor(w) * rows).sum()
    value.backward()
    grad = out.grad.numpy()

    df = Distillation(K, temperature=T, mix=lam).initialize(Y, w, t)
    paper_value, paper_grad = _paper_loss_and_gradient(Z, Y, labelled, w, t, T, lam)
    df_grad = df.gradient(Z)
    if columns == "binary-one-output":
        # d/ds of a function of [0, s] is its derivative in the second column
        df_grad, paper_grad = df_grad[:, 1:], paper_grad[:, 1:]
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(df.value(Z), rel=1e-12, abs=1e-12)
    assert value.item() == pytest.approx(paper_value, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, df_grad, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, paper_grad, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------- the student
def _data(n_classes, seed=0, n=150):
    X, y = make_classification(
        n,
        5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )
    return X, y


def _reference_net(**kw):
    """A linear network trained to its optimum in float64."""
    params = dict(
        hidden_layer_sizes=(),
        optimizer="lbfgs",
        dtype="float64",
        alpha=0.02,
        tol=1e-10,
        max_epochs=300,
        random_state=0,
    )
    params.update(kw)
    return MultiTaskNetClassifier(**params)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("T", [1.0, 3.0])
def test_linear_network_reaches_the_builtin_students_optimum(n_classes, T):
    # an independent reference for the whole path: targets, rows, weights,
    # temperature, the loss and the optimizer
    X, y = _data(n_classes)
    teacher = LogisticRegression(C=0.5).fit(X, y)
    unl = np.arange(len(y)) % 3 == 0
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    kw = dict(temperature=T, mix=0.4)
    builtin = DistilledClassifier(teacher, alpha=0.02, tol=1e-10, **kw)
    builtin.fit(X, y, sample_weight=sw, unlabelled=unl)
    neural = DistilledClassifier(teacher, student=_reference_net(alpha=0.02), **kw)
    neural.fit(X, y, sample_weight=sw, unlabelled=unl)

    head = neural.student_.heads_[0].output
    coef = head.weight.detach().numpy()
    intercept = head.bias.detach().numpy()
    assert coef.shape == builtin.coef_.shape
    np.testing.assert_allclose(coef, builtin.coef_, rtol=1e-4, atol=1e-6)
    # softmax intercepts are unpenalised: defined up to a common constant
    if n_classes > 2:
        intercept = intercept - intercept.mean()
        expected = builtin.intercept_ - builtin.intercept_.mean()
    else:
        expected = builtin.intercept_
    np.testing.assert_allclose(intercept, expected, rtol=1e-4, atol=1e-6)
    # L-BFGS in float64 stops when a round no longer moves the objective
    # beyond round-off: gradient entries near 1e-7, not 1e-10
    np.testing.assert_allclose(
        neural.predict_proba(X), builtin.predict_proba(X), atol=1e-5
    )
    scores, expected = neural.decision_function(X), builtin.decision_function(X)
    if n_classes > 2:  # logits up to the same common constant
        scores = scores - scores.mean(axis=1, keepdims=True)
        expected = expected - expected.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert neural.n_iter_ == neural.student_.n_iter_ >= 1


@pytest.mark.parametrize("n_classes", [2, 3])
def test_mix_zero_is_plain_training_of_the_network(n_classes):
    X, y = _data(n_classes, seed=1)
    teacher = RandomForestClassifier(5, random_state=0).fit(X, y)
    net = MultiTaskNetClassifier(
        (8,), batch_size=32, learning_rate=0.01, max_epochs=15, random_state=3
    )
    distilled = DistilledClassifier(teacher, student=net, mix=0.0, temperature=3.0)
    with pytest.warns(Warning):  # both stop at max_epochs
        distilled.fit(X, y)
    with pytest.warns(Warning):
        plain = clone(net).fit(X, y)
    np.testing.assert_array_equal(distilled.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(distilled.student_.loss_curve_, plain.loss_curve_)
    # and the soft term does change the training when it is on
    soft = DistilledClassifier(teacher, student=net, mix=0.5, temperature=3.0)
    with pytest.warns(Warning):
        soft.fit(X, y)
    assert np.abs(soft.predict_proba(X) - plain.predict_proba(X)).max() > 1e-3


def test_unlabelled_rows_are_learned_from_the_teacher():
    X, y = _data(3, seed=2, n=120)
    teacher = LogisticRegression().fit(X, y)
    labelled = np.arange(len(y)) < 40
    student = _reference_net(alpha=0.05, tol=1e-8)
    kw = dict(student=student, temperature=2.0, mix=0.5)
    few = DistilledClassifier(teacher, **kw).fit(X[labelled], y[labelled])
    more = DistilledClassifier(teacher, **kw).fit(X, y, unlabelled=~labelled)
    assert np.abs(more.predict_proba(X) - few.predict_proba(X)).max() > 1e-2
    # the unlabelled rows pull the student to the teacher
    gap_few = np.abs(few.predict_proba(X) - teacher.predict_proba(X)).mean()
    gap_more = np.abs(more.predict_proba(X) - teacher.predict_proba(X)).mean()
    assert gap_more < gap_few
    # rows of weight 0 are dropped inside the network's fit: the soft
    # targets must stay with their rows
    sw = np.where(np.arange(len(y)) % 5 == 0, 0.0, 1.0)
    kept = sw > 0
    dropped = DistilledClassifier(teacher, **kw).fit(
        X, y, sample_weight=sw, unlabelled=~labelled
    )
    subset = DistilledClassifier(teacher, **kw).fit(
        X[kept], y[kept], unlabelled=~labelled[kept]
    )
    np.testing.assert_allclose(
        dropped.predict_proba(X), subset.predict_proba(X), atol=1e-10
    )


def test_network_teacher_is_reproduced_and_pickles():
    X, y = _data(3, seed=4, n=120)
    names = np.array(["ant", "bee", "cat"])
    teacher = _reference_net(alpha=0.05, tol=1e-8).fit(X, names[y])
    # mix=1 and a student as expressive as the (linear) teacher: its optimum
    # is the teacher's probabilities, at any temperature
    student = _reference_net(alpha=1e-9, tol=1e-9)
    est = DistilledClassifier(teacher, student=student, temperature=2.0, mix=1.0)
    est.fit(sp.csr_matrix(X), names[y], unlabelled=np.arange(len(y)) >= 20)
    np.testing.assert_array_equal(est.classes_, names)
    np.testing.assert_array_equal(est.student_.classes_, names)
    np.testing.assert_allclose(
        est.predict_proba(X), teacher.predict_proba(X), atol=1e-4
    )
    assert set(est.predict(X)) <= set(names)

    # the fitted student is the user's kind of network, the parameter untouched
    assert type(est.student_) is MultiTaskNetClassifier
    assert not hasattr(est.student_, "_soft_targets")
    assert not hasattr(student, "module_")
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    fresh = clone(est)
    assert not hasattr(fresh, "student_")
    assert fresh.student.get_params() == student.get_params()


def test_early_stopping_and_float32_student():
    X, y = _data(2, seed=5, n=200)
    teacher = LogisticRegression().fit(X, y)
    unl = np.arange(len(y)) >= 100
    net = MultiTaskNetClassifier(
        (8,),
        batch_size=20,
        learning_rate=0.02,
        early_stopping=True,
        n_iter_no_change=3,
        max_epochs=60,
        random_state=0,
    )
    est = DistilledClassifier(teacher, student=net, temperature=4.0)
    est.fit(X, y, unlabelled=unl)
    assert est.student_.validation_scores_.shape[1] == 1
    assert est.predict_proba(X).dtype == np.float64
    assert est.score(X[:100], y[:100]) > 0.8


def test_import_skmtl_with_a_linear_student_never_imports_torch():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from skmtl.transfer import DistilledClassifier\n"
        "X = np.random.default_rng(0).normal(size=(30, 2))\n"
        "y = (X[:, 0] > 0).astype(int)\n"
        "t = LogisticRegression().fit(X, y)\n"
        "DistilledClassifier(t).fit(X, y)\n"
        "DistilledClassifier(t, student=LogisticRegression(), temperature=1)"
        ".fit(X, y)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
