"""Property-based tests (hypothesis) over every public estimator.

Issue [6/9] (hardening): random small problems in every input container, task
label type and weighting, against five invariants:

1. the inputs are left unchanged by fit / predict / score;
2. a fit either fails clearly (ValueError / TypeError naming an argument) or
   gives finite predictions (probabilities summing to 1);
3. a row of weight 0 is a dropped row;
4. an integer weight is that many copies of the row;
5. a pickle round trip keeps the predictions identical.

The estimators are those of tests/test_common.py (``ESTIMATORS``); those a
property does not apply to are left out with the reason beside them.
Examples are drawn with ``derandomize=True``: the same every run.
"""

import copy
import inspect
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone, is_classifier

from skmtl.model_selection import MultiTaskClassifierCV, MultiTaskRegressorCV
from skmtl.pipeline import TaskColumnEstimator
from skmtl.transfer import (
    CORAL,
    FeatureAugmenter,
    FineTunedClassifier,
    JointTransferClassifier,
    JointTransferRegressor,
    TrAdaBoostClassifier,
)

from .test_common import ESTIMATORS, _key

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning"
)

CONTAINERS = ["numpy", "list", "dataframe", "csr", "csc"]
LABEL_KINDS = ["str", "int", "tuple", "numpy_str"]


def _ids(estimators):
    # the index in ESTIMATORS: the same id in every test
    index = {id(e): i for i, e in enumerate(ESTIMATORS)}
    return [f"{_key(e)}-{index[id(e)]}" for e in estimators]


def _proximal(est):
    """Non-smooth penalties solved iteratively (FISTA / alternating): slow at
    tol=1e-10."""
    params = est.get_params()
    return params.get("penalty") in ("trace", "relationship", "l21") or (
        params.get("solver") == "fista"
    )


def _examples(est, n, *, tight=False):
    """Fewer examples for the estimators that fit many models per fit, and for
    the proximal ones solved to tol=1e-10 (``tight``), to keep the module under
    a minute on two cores."""
    if isinstance(est, (MultiTaskRegressorCV, MultiTaskClassifierCV)):
        return max(2, n // 3)
    if tight and _proximal(est):
        return max(2, n // 2)
    return n


def _settings(n):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# --------------------------------------------------------------- protocol
def _fit_params(est):
    fit = type(est).fit
    return set(inspect.signature(fit).parameters)


def _takes_tasks(est):
    return "tasks" in _fit_params(est)


def _takes_weights(est):
    # TaskColumnEstimator routes **fit_params (sample_weight) to its estimator
    return "sample_weight" in _fit_params(est) or isinstance(est, TaskColumnEstimator)


def _n_tasks_allowed(est):
    """Estimators without ``tasks`` (and the task-column wrapper) see one task.

    TaskColumnEstimator reads the tasks from column 0 of X (integer codes here).
    """
    if isinstance(est, TrAdaBoostClassifier):
        return 2, 3  # a target task and at least one source task
    return (
        (1, 3) if _takes_tasks(est) or isinstance(est, TaskColumnEstimator) else (1, 1)
    )


def _n_classes_allowed(est):
    # TrAdaBoost (Dai et al., 2007) is a two-class method, and says so
    return [2] if isinstance(est, TrAdaBoostClassifier) else [2, 3]


def _label_kinds(est):
    return LABEL_KINDS


# ------------------------------------------------------------------- data
def _label(code, kind):
    if kind == "str":
        return f"t{code}"
    if kind == "int":
        return 7 * code - 3
    if kind == "tuple":
        return ("t", code)
    return np.str_(f"t{code}")


def _task_container(codes, kind, as_array):
    labels = [_label(int(c), kind) for c in codes]
    if not as_array:
        return labels
    if kind == "tuple":
        out = np.empty(len(labels), dtype=object)
        out[:] = labels
        return out
    return np.asarray(labels)


def _x_container(X, container, dtype):
    if container == "list":
        return X.tolist()
    X = X.astype(dtype)
    if container == "dataframe":
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    if container == "csr":
        return sp.csr_matrix(X)
    if container == "csc":
        return sp.csc_matrix(X)
    return X


@st.composite
def problems(draw, est, *, weights="any", dtypes=(np.float64, np.float32)):
    """A small problem for ``est``: a dict of the raw arrays and the containers.

    ``weights``: "any" (None, or zeros and small integers), "zeros" (some rows
    of weight 0), "integers" (small positive integers).
    """
    classifier = is_classifier(est)
    n = draw(st.integers(12, 40), label="n")
    p = draw(st.integers(1, 5), label="p")
    n_tasks = draw(st.integers(*_n_tasks_allowed(est)), label="n_tasks")
    n_classes = draw(st.sampled_from(_n_classes_allowed(est)), label="n_classes")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    container = draw(st.sampled_from(CONTAINERS), label="container")
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    kind = draw(st.sampled_from(_label_kinds(est)), label="task labels")
    tasks_as_array = draw(st.booleans(), label="tasks as array")
    if weights == "any":
        weights = draw(st.sampled_from([None, "zeros", "integers"]), label="weights")

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    codes = rng.permutation(np.arange(n) % n_tasks)
    if weights is None:
        sw = None
    elif weights == "integers":
        sw = rng.integers(1, 4, size=n).astype(float)
    else:
        sw = rng.integers(1, 4, size=n).astype(float)
        sw[rng.random(n) < 0.3] = 0.0
    # the first 3 rows of each task: positive weight, and in a classifier one
    # row of each class (every task has classes 0 and 1; class 2, when drawn,
    # is in task 0 at least)
    forced = np.concatenate([np.flatnonzero(codes == t)[:3] for t in range(n_tasks)])
    if sw is not None:
        sw[forced] = np.maximum(sw[forced], 1.0)
    coef = rng.normal(size=(n_tasks, p))
    scores = np.einsum("ij,ij->i", X, coef[codes]) + 0.3 * rng.normal(size=n)
    if classifier:
        edges = np.quantile(scores, np.linspace(0, 1, n_classes + 1)[1:-1])
        y = np.searchsorted(edges, scores)
        for t in range(n_tasks):
            rows = np.flatnonzero(codes == t)[:3]
            y[rows] = [0, 1, n_classes - 1] if t == 0 else [0, 1, y[rows[2]]]
        if sw is not None:
            for t in range(n_tasks):
                assume(len(np.unique(y[(codes == t) & (sw > 0)])) >= 2)
    else:
        y = scores + codes
    if est.__sklearn_tags__().input_tags.positive_only:
        # multinomial naive Bayes (alone or as a meta-estimator's base, whose
        # tags it takes) models counts: X >= 0 (labels drawn above)
        X = np.abs(X)
    if isinstance(est, TaskColumnEstimator):
        X = np.column_stack([codes.astype(float), X])
        tasks = None
    elif _takes_tasks(est):
        tasks = _task_container(codes, kind, tasks_as_array)
    else:
        tasks = None
    return {
        "X_raw": X,
        "X": _x_container(X, container, dtype),
        "y": y,
        "tasks": tasks,
        "codes": codes,
        "sw": sw,
        "kind": kind,
        "tasks_as_array": tasks_as_array,
        "container": container,
        "dtype": dtype,
    }


def _prepare(est, data):
    """A clone of ``est`` whose transfer target is the first task's label."""
    est = clone(est)
    # JointTransfer*, JointTransferNet*, TrAdaBoost
    if "target" in est.get_params(deep=False):
        est.set_params(target=_label(0, data["kind"]))
    if "random_state" in est.get_params():
        est.set_params(random_state=0)
    return est


def _fit(est, X, y, tasks=None, sample_weight=None):
    kwargs = {}
    if _takes_tasks(est):
        kwargs["tasks"] = tasks
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    return est.fit(X, y, **kwargs)


def _outputs(est, X, tasks=None):
    """Every prediction of ``est`` on X, by method name."""
    kwargs = {"tasks": tasks} if _takes_tasks(est) else {}
    if isinstance(est, (FeatureAugmenter, CORAL)):
        out = est.transform(X, **kwargs)
        return {"transform": out.toarray() if sp.issparse(out) else out}
    out = {"predict": est.predict(X, **kwargs)}
    for method in ("predict_proba", "decision_function"):
        if hasattr(est, method):
            out[method] = getattr(est, method)(X, **kwargs)
    return out


def _subset(data, rows):
    """``data`` restricted to ``rows`` (repeated rows allowed), same containers."""
    X = data["X_raw"][rows]
    tasks = data["tasks"]
    if tasks is not None:
        tasks = _task_container(
            data["codes"][rows], data["kind"], data["tasks_as_array"]
        )
    return _x_container(X, data["container"], data["dtype"]), data["y"][rows], tasks


# ------------------------------------------------------- input comparison
def _assert_same(a, b, what):
    assert type(a) is type(b), what
    if isinstance(a, pd.DataFrame):
        assert list(a.columns) == list(b.columns), what
        assert (a.dtypes == b.dtypes).all(), what
        assert a.equals(b), what
    elif sp.issparse(a):
        assert a.format == b.format and a.dtype == b.dtype, what
        assert a.shape == b.shape, what
        assert_array_equal(a.data, b.data, err_msg=what)
        assert_array_equal(a.indices, b.indices, err_msg=what)
        assert_array_equal(a.indptr, b.indptr, err_msg=what)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, what
        assert all(u == v for u, v in zip(a.ravel(), b.ravel())), what
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for u, v in zip(a, b):
            _assert_same(u, v, what)
    else:
        assert a == b, what


# ------------------------------------------------------------- 1. inputs
@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_inputs_unchanged(est):
    @_settings(_examples(est, 5))
    @given(data=problems(est))
    def check(data):
        model = _prepare(est, data)
        X, y, tasks, sw = data["X"], data["y"], data["tasks"], data["sw"]
        if not _takes_weights(model):
            sw = None
        before = copy.deepcopy((X, y, tasks, sw))
        try:
            _fit(model, X, y, tasks, sw)
        except (ValueError, TypeError):
            pass  # a clear error (test 2) must leave the inputs as well
        else:
            _outputs(model, X, tasks)
            if hasattr(model, "score"):
                kwargs = {"tasks": tasks} if _takes_tasks(model) else {}
                model.score(X, y, sample_weight=sw, **kwargs)
        after = (X, y, tasks, sw)
        for name, old, new in zip(("X", "y", "tasks", "sample_weight"), before, after):
            _assert_same(old, new, name)

    check()


# -------------------------------------------------- 2. clear error or finite
def _argument_names(est):
    names = {"X", "y", "tasks", "sample_weight"}
    return names | set(est.get_params(deep=False))


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_clear_error_or_finite_fit(est):
    @_settings(_examples(est, 5))
    @given(data=problems(est))
    def check(data):
        model = _prepare(est, data)
        sw = data["sw"] if _takes_weights(model) else None
        try:
            _fit(model, data["X"], data["y"], data["tasks"], sw)
        except (ValueError, TypeError) as exc:
            names = "|".join(re.escape(n) for n in _argument_names(model))
            assert re.search(rf"\b({names})\b", str(exc)), repr(exc)
            return
        out = _outputs(model, data["X"], data["tasks"])
        for name, values in out.items():
            if name == "predict" and is_classifier(model):
                assert set(np.unique(values)) <= set(model.classes_)
                continue
            values = np.asarray(values, dtype=float)
            assert not np.any(np.isnan(values)), name
            finite_rows = slice(None)
            if name == "decision_function" and hasattr(model, "task_class_mask_"):
                # documented: a class absent from a task's rows has decision
                # value -inf there (a binary task with one class: +-inf);
                # tasks_ is sorted, so row i is in task codes[i]
                mask = model.task_class_mask_
                finite_rows = mask[data["codes"]].all(axis=1)
            assert np.all(np.isfinite(values[finite_rows])), name
        if "predict_proba" in out:
            proba = out["predict_proba"]
            assert np.all(proba >= 0)
            # float32 inputs give float32 probabilities
            rtol = 1e-7 if proba.dtype == np.float64 else 1e-5
            assert_allclose(proba.sum(axis=1), 1.0, rtol=rtol)

    check()


# ---------------------------------------------------- 3, 4. sample weights
_CV_FOLDS = (
    "cross-validation folds are drawn from the rows: dropping or repeating rows "
    "changes the folds, hence the chosen alpha (as in tests/test_common.py)"
)
_VALIDATION = (
    "early stopping draws its validation rows from the rows: dropping or "
    "repeating rows changes the split, hence the stopping point"
)
_NO_WEIGHTS = "fit takes no sample_weight (a transformer)"
_ROW_COUNT = (
    "TrAdaBoost's source factor beta = 1 / (1 + sqrt(2 ln(n_source) / N)) "
    "(Dai et al., 2007) counts the source rows: repeating rows changes beta "
    "(found here: predict_proba off by 0.33); and the stump ties of "
    "tests/test_common.py"
)


# The estimators properties 3 and 4 do not apply to, with the reason. Both
# TaskColumnEstimator configurations are covered (sample_weight is routed to
# the wrapped estimator); the other 4 properties cover every estimator.


_MINIBATCH = (
    "a network trained by mini-batches or with hidden layers: a repeated row "
    "falls in other batches than a weighted one, and the non-convex objective "
    "has other local optima; the convex full-batch configuration (no hidden "
    "layer, L-BFGS) is kept"
)


def _is_network(est):
    return type(est).__module__.startswith("skmtl.neural")


def _convex_full_batch(est):
    params = est.get_params()
    return (
        tuple(params.get("hidden_layer_sizes", (1,))) == ()
        and params.get("encoder") is None
        and params.get("optimizer") == "lbfgs"
    )


def _weight_exclusion(est, prop):
    if prop == "integer" and isinstance(est, TrAdaBoostClassifier):
        return _ROW_COUNT
    if prop == "integer" and _is_network(est) and not _convex_full_batch(est):
        return _MINIBATCH
    if isinstance(est, (FeatureAugmenter, CORAL)):
        return _NO_WEIGHTS
    if isinstance(est, (MultiTaskRegressorCV, MultiTaskClassifierCV)):
        return _CV_FOLDS
    if isinstance(est, FineTunedClassifier) and est.early_stopping:
        return _VALIDATION
    return None


def _tight(est):
    """``est`` solved to tol=1e-10 where it has a tolerance.

    solver="auto" may pick another solver for another number of rows (the
    dropped or repeated rows); at tol=1e-10 every solver reaches the same
    optimum to well within the comparison's rtol=1e-5 / atol=1e-6, so the
    solver is not pinned. FineTuned* (no tol: a fixed budget of L-BFGS
    iterations, max_iter) and TrAdaBoost* (no tol: its base learner's default)
    pass as they are; random_state is fixed at 0 by _prepare.
    """
    params = est.get_params()
    if "tol" in params:
        est.set_params(tol=1e-10)
    if "max_iter" in params:
        # FineTuned* has no tol: its max_iter=50 L-BFGS iterations stop short of
        # the optimum, where the weighted and the dropped / repeated fits differ
        est.set_params(max_iter=max(params["max_iter"], 5000))
    return est


def _weighted_outputs(est, data, sw, rows_other, sw_other):
    """Outputs on every row of the fit weighted by ``sw``, and of the fit on
    ``rows_other`` (weights ``sw_other``), evaluated on the same rows."""
    a = _fit(_tight(_prepare(est, data)), data["X"], data["y"], data["tasks"], sw)
    X_o, y_o, tasks_o = _subset(data, rows_other)
    b = _fit(_tight(_prepare(est, data)), X_o, y_o, tasks_o, sw_other)
    return _outputs(a, data["X"], data["tasks"]), _outputs(b, data["X"], data["tasks"])


def _assert_outputs_close(out_a, out_b, rows):
    # float64 only (problems(dtypes=[np.float64])): float32 inputs are fitted
    # in float32, where tol=1e-10 is out of reach and the weighted and the
    # repeated fits stop apart by ~3e-4 relative (mean-penalty classifier)
    for name in out_a:
        if name == "predict" and "decision_function" in out_a:
            continue  # labels follow the scores compared below (ties aside)
        assert_allclose(
            np.asarray(out_a[name])[rows],
            np.asarray(out_b[name])[rows],
            rtol=1e-5,
            atol=1e-6,
            err_msg=name,
        )


WEIGHTED = [e for e in ESTIMATORS if _weight_exclusion(e, "zero") is None]
REPEATED = [e for e in ESTIMATORS if _weight_exclusion(e, "integer") is None]


@pytest.mark.parametrize("est", WEIGHTED, ids=_ids(WEIGHTED))
def test_zero_weight_is_a_dropped_row(est):
    @_settings(_examples(est, 4, tight=True))
    @given(data=problems(est, weights="zeros", dtypes=[np.float64]))
    def check(data):
        sw = data["sw"]
        keep = np.flatnonzero(sw > 0)
        assume(len(keep) < len(sw))
        out_a, out_b = _weighted_outputs(est, data, sw, keep, sw[keep])
        _assert_outputs_close(out_a, out_b, keep)

    check()


@pytest.mark.parametrize("est", REPEATED, ids=_ids(REPEATED))
def test_integer_weight_is_repeated_rows(est):
    @_settings(_examples(est, 4, tight=True))
    @given(data=problems(est, weights="integers", dtypes=[np.float64]))
    def check(data):
        sw = data["sw"]
        rows = np.repeat(np.arange(len(sw)), sw.astype(int))
        out_a, out_b = _weighted_outputs(est, data, sw, rows, None)
        _assert_outputs_close(out_a, out_b, slice(None))

    check()


# ------------------------------------------------------------- 5. pickle
@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_pickle_keeps_predictions(est):
    @_settings(_examples(est, 3))
    @given(data=problems(est))
    def check(data):
        model = _prepare(est, data)
        sw = data["sw"] if _takes_weights(model) else None
        _fit(model, data["X"], data["y"], data["tasks"], sw)
        again = pickle.loads(pickle.dumps(model))
        before = _outputs(model, data["X"], data["tasks"])
        after = _outputs(again, data["X"], data["tasks"])
        for name in before:
            assert_array_equal(after[name], before[name], err_msg=name)

    check()


# ------------------------------------------------------- bugs found by them
@pytest.mark.parametrize("Est", [JointTransferRegressor, JointTransferClassifier])
def test_joint_transfer_tuple_target(Est):
    # a tuple label as target was compared with numpy broadcasting
    # (domains == target) and raised a shape error
    X = np.arange(8.0)[:, None]
    y = np.array([0, 1] * 4)
    tasks = [("t", 0)] * 4 + [("s", 1)] * 4
    model = Est(target=("t", 0)).fit(X, y, tasks=tasks)
    assert model.predict(X, tasks=tasks).shape == (8,)
