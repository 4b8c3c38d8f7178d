"""More behaviour a demanding new user hits (one test a bug), second probe.

Each test is the smallest repro of a bug found by probing the public API as a
scikit-learn user would (see /work/notes/breakit2.md); the fix is in the
module named above the test.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LinearRegression

from skmtl import MultiTaskRegressor, transfer
from skmtl.model_selection import (
    MultiTaskClassifierCV,
    MultiTaskRegressorCV,
    SourceTargetSplit,
)
from skmtl.penalties import Clustered, TraceNorm


@pytest.fixture
def three_tasks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    tasks = np.repeat(["a", "b", "c"], 30)
    y = X[:, 0] + (tasks == "b") * X[:, 1] + 0.3 * rng.normal(size=90)
    return X, y, tasks


# ------------------------------------------------- skmtl/model_selection/_cv.py
def test_cv_best_estimator_does_not_share_the_penalty_object(three_tasks):
    # best_estimator_ held the very penalty object passed to the CV estimator,
    # so cv.set_params(penalty__n_clusters=3) after fit rewrote the fitted
    # model's parameters (GridSearchCV's best_estimator_ is a clone).
    X, y, tasks = three_tasks
    penalty = Clustered(n_clusters=2)
    cv = MultiTaskRegressorCV(alphas=[0.1, 0.01], penalty=penalty, cv=3)
    cv.fit(X, y, tasks=tasks)
    assert cv.best_estimator_.penalty is not penalty
    cv.set_params(penalty__n_clusters=3)
    assert cv.best_estimator_.get_params()["penalty__n_clusters"] == 2


@pytest.mark.parametrize(
    "Est, penalty",
    [(MultiTaskRegressorCV, TraceNorm()), (MultiTaskClassifierCV, "mean")],
)
def test_cv_rows_of_weight_zero_are_absent_from_the_folds(three_tasks, Est, penalty):
    # A row of weight 0 is absent: the folds used to be drawn over every row,
    # so adding a weight-0 row moved other rows between folds and changed the
    # cross-validation scores (and possibly the chosen alpha).
    X, y, tasks = three_tasks
    if Est is MultiTaskClassifierCV:
        y = (y > 0).astype(int)
    sw = np.ones(len(y))
    sw[[0, 31, 32, 62]] = 0
    keep = sw > 0
    kw = dict(alphas=[1.0, 0.1, 0.01], penalty=penalty, cv=3, tol=1e-8)
    weighted = Est(**kw).fit(X, y, tasks=tasks, sample_weight=sw)
    absent = Est(**kw).fit(X[keep], y[keep], tasks=tasks[keep])
    assert_allclose(
        weighted.cv_results_["mean_test_score"],
        absent.cv_results_["mean_test_score"],
        rtol=1e-6,
    )
    assert weighted.best_params_ == absent.best_params_
    assert_allclose(
        weighted.best_estimator_.coef_, absent.best_estimator_.coef_, atol=1e-6
    )


# ------------------------------------------------------ skmtl/transfer/_prior.py
@pytest.mark.parametrize("name", ["RegularizedTransfer", "FineTuned"])
def test_source_task_not_in_the_source_is_named(three_tasks, name):
    # source_task that is not a task of the source died in list.index with
    # "'zz' is not in list"; a source_task given with a source that has no
    # tasks (a scikit-learn model, an array) was silently ignored.
    Est = getattr(transfer, f"{name}Regressor")
    X, y, tasks = three_tasks
    source = MultiTaskRegressor(penalty="dirty").fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match=r"source_task='zz'.*\['a', 'b', 'c'\]"):
        Est(source, source_task="zz").fit(X[:20], y[:20])
    plain = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match="source_task='a'.*no tasks"):
        Est(plain, source_task="a").fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="source_task='a'.*no tasks"):
        Est(plain.coef_, source_task="a").fit(X[:20], y[:20])
    # the task's own weights are the start / the prior's centre
    fitted = Est(source, source_task="b", **({"alpha": 1e6} if "Reg" in name else {}))
    fitted.fit(X[:20], y[:20])
    if name == "RegularizedTransfer":
        assert_allclose(fitted.coef_, source.coef_[1], atol=1e-3)


def test_bad_penalty_grid_setting_names_penalty_grid(three_tasks):
    # A penalty_grid value the penalty refuses was reported as a data error of
    # "cross-validation fold 0 (60 training rows, 30 test rows)", and an
    # unknown key as TraceNorm's "Invalid parameter", neither naming
    # penalty_grid.
    X, y, tasks = three_tasks
    cv = MultiTaskRegressorCV(
        alphas=[0.1], penalty="trace", cv=3, penalty_grid={"l1_ratio": [0.5, 2.0]}
    )
    with pytest.raises(ValueError, match="penalty_grid") as info:
        cv.fit(X, y, tasks=tasks)
    assert "fold" not in str(info.value)
    assert "l1_ratio" in str(info.value)
    cv.set_params(penalty_grid={"bogus": [1.0]})
    with pytest.raises(ValueError, match="penalty_grid.*bogus"):
        cv.fit(X, y, tasks=tasks)


def test_unknown_scoring_of_cv_estimator_names_scoring(three_tasks):
    # The error spoke of "score_func='bogus'", a name the user never wrote.
    X, y, tasks = three_tasks
    with pytest.raises(ValueError, match=r"scoring='bogus'.*'r2'"):
        MultiTaskRegressorCV(cv=3, scoring="bogus").fit(X, y, tasks=tasks)


# ------------------------------------------------------ skmtl/transfer/_joint.py
@pytest.mark.parametrize("Est", ["JointTransferRegressor", "JointTransferClassifier"])
def test_joint_transfer_target_named_like_a_source_label(three_tasks, Est):
    # With a coupling penalty the domains were relabelled: the target to
    # "target", sources to str(label). Reverse transfer (target="source" with
    # domains "source" / "target") thus merged both domains into one task
    # silently, and sources 1 and "1" became one domain.
    X, y, _ = three_tasks
    Est = getattr(transfer, Est)
    if "Classifier" in Est.__name__:
        y = (y > 0).astype(int)
    domains = np.where(np.arange(len(y)) < 60, "source", "target")
    renamed = np.where(domains == "source", "T", "S")
    kw = dict(source_weight=0.3, penalty="mean", tol=1e-10)
    reverse = Est(**kw, target="source").fit(X, y, tasks=domains)
    reference = Est(**kw, target="T").fit(X, y, tasks=renamed)
    assert len(reverse.model_.tasks_) == 2
    assert_allclose(reverse.model_.coef_[::-1], reference.model_.coef_, atol=1e-8)
    assert_allclose(reverse.predict(X), reference.predict(X), atol=1e-8)
    # labels of mixed types still work; ones equal as text are refused
    mixed = np.array([0] * 30 + [1] * 30 + ["t"] * 30, dtype=object)
    assert len(Est(**kw, target="t").fit(X, y, tasks=mixed).model_.tasks_) == 3
    mixed[30:60] = "0"
    with pytest.raises(ValueError, match="tasks has distinct domain labels"):
        Est(**kw, target="t").fit(X, y, tasks=mixed)
    # tuple labels (any hashable label is a task) died in astype(str)
    pairs = [("s", 1)] * 60 + [("t", 2)] * 30
    model = Est(**kw, target=("t", 2)).fit(X, y, tasks=pairs)
    assert len(model.model_.tasks_) == 2


# ------------------------------------------------------- skmtl/neural/_base.py
def test_warm_start_uses_the_new_optimizer_settings(three_tasks):
    # A continued fit loaded the old optimizer's state_dict, param_groups
    # included: set_params(learning_rate=...) or optimizer__<name> before a
    # warm-started fit was silently ignored (the old rate went on), and a new
    # optimizer class died in its step (KeyError 'momentum').
    pytest.importorskip("torch")
    from skmtl.neural import MultiTaskNetRegressor

    X, y, tasks = three_tasks
    kw = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=16, random_state=0)
    net = MultiTaskNetRegressor(**kw, learning_rate=1e-2).fit(X, y, tasks=tasks)
    net.set_params(warm_start=True, learning_rate=1e-5, optimizer__weight_decay=0.1)
    net.fit(X, y, tasks=tasks)
    group = net.optimizer_.param_groups[0]
    assert group["lr"] == 1e-5 and group["weight_decay"] == 0.1
    # Adam's moments are kept (a continued fit, not a new optimizer)
    assert all("exp_avg" in s for s in net.optimizer_.state.values())
    net.set_params(optimizer="sgd", optimizer__weight_decay=0.0, learning_rate=1e-3)
    net.fit(X, y, tasks=tasks)
    assert type(net.optimizer_).__name__ == "SGD"
    assert net.optimizer_.param_groups[0]["lr"] == 1e-3


def test_continued_fit_with_another_dtype_names_dtype(three_tasks):
    # set_params(dtype="float64") before a warm-started fit (or partial_fit)
    # died in torch ("mat1 and mat2 must have the same dtype").
    pytest.importorskip("torch")
    from skmtl.neural import MultiTaskNetClassifier

    X, y, tasks = three_tasks
    y = (y > 0).astype(int)
    kw = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=16, random_state=0)
    net = MultiTaskNetClassifier(**kw).fit(X, y, tasks=tasks)
    before = net.predict_proba(X, tasks=tasks)
    net.set_params(warm_start=True, dtype="float64")
    with pytest.raises(ValueError, match="dtype='float64'.*float32.*warm_start"):
        net.fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="dtype='float64'"):
        net.partial_fit(X, y, tasks=tasks)
    assert_allclose(net.predict_proba(X, tasks=tasks), before)
    # a new fit takes the new precision
    net.set_params(warm_start=False).fit(X, y, tasks=tasks)
    assert next(net.module_.parameters()).dtype.itemsize == 8


# ------------------------------------------------ skmtl/linear_model/_base.py
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("Est", ["MultiTaskRegressor", "MultiTaskClassifier"])
def test_predict_does_not_read_fit_intercept_after_fit(three_tasks, Est, shared):
    # predict dropped the fitted intercepts when fit_intercept was set to
    # False after fit (set_params before a refit that failed, or a grid
    # search's clone): predictions depend on the fitted state only, as
    # scikit-learn's linear models (intercept_ is what predict adds).
    import skmtl

    X, y, tasks = three_tasks
    y = y + 3.0
    Est = getattr(skmtl, Est)
    if Est is skmtl.MultiTaskClassifier:
        y = (y > 3.0).astype(int)
    if shared:
        y, tasks = np.column_stack([y, y[::-1]]), None
    model = Est(penalty="trace").fit(X, y, tasks=tasks)
    methods = ["predict"] + (["decision_function"] if shared is False else [])
    methods = [m for m in methods if hasattr(model, m)]
    before = {m: getattr(model, m)(X, tasks=tasks) for m in methods}
    model.set_params(fit_intercept=False)
    for m in methods:
        assert_allclose(getattr(model, m)(X, tasks=tasks), before[m])
    # and a model fitted without intercepts still predicts without them
    model.fit(X, y, tasks=tasks)
    assert np.all(model.intercept_ == 0)
    model.set_params(fit_intercept=True)
    pred = model.predict(X, tasks=tasks)
    assert_allclose(pred, model.set_params(fit_intercept=False).predict(X, tasks=tasks))


def test_cv_classifier_with_continuous_y_is_not_a_fold_error(three_tasks):
    # A continuous y was reported as an error "in cross-validation fold 0
    # (60 training rows, 30 test rows)", as if one fold's data were at fault.
    X, y, tasks = three_tasks
    with pytest.raises(ValueError, match="Unknown label type") as info:
        MultiTaskClassifierCV(cv=3).fit(X, y, tasks=tasks)
    assert "fold" not in str(info.value)


@pytest.mark.parametrize("name", ["RegularizedTransfer", "FineTuned"])
def test_transfer_model_does_not_share_the_source_pipeline_steps(name):
    # With a Pipeline source, features_ held the source's own fitted
    # transformers: refitting the source elsewhere afterwards changed the
    # fitted target model's predictions (by 10 in decision_function).
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int)
    source = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    model = getattr(transfer, f"{name}Classifier")(source).fit(X[150:], y[150:])
    before = model.predict_proba(X)
    source.fit(10 * X + 5, y)
    source[-1].coef_ *= -1
    assert_allclose(model.predict_proba(X), before)


@pytest.mark.parametrize("param", ["hidden_layer_sizes", "head_hidden_layer_sizes"])
@pytest.mark.parametrize("sizes", [(0,), (8, -1), (4.5,), (True,)])
def test_layer_sizes_that_are_not_positive_ints_are_named(three_tasks, param, sizes):
    # (0,) trained a network with a zero-width layer (constant output)
    # silently; (-1,) and (4.5,) died in torch with RuntimeError / TypeError.
    # scikit-learn's MLP refuses them naming hidden_layer_sizes.
    pytest.importorskip("torch")
    from skmtl.neural import MultiTaskNetClassifier

    X, y, tasks = three_tasks
    y = (y > 0).astype(int)
    net = MultiTaskNetClassifier(max_epochs=1, **{param: sizes})
    with pytest.raises(ValueError, match=f"{param} must be positive integers"):
        net.fit(X, y, tasks=tasks)


# ----------------------------------------------------- skmtl/penalties/base.py
@pytest.mark.parametrize("value", ["0.5", b"1", [0.5]])
def test_penalty_strength_that_is_not_a_number_is_named(three_tasks, value):
    # A string strength died in np.isfinite with numpy's "ufunc 'isfinite'
    # not supported for the input types", naming neither the penalty nor the
    # parameter.
    X, y, tasks = three_tasks
    with pytest.raises(ValueError, match="Clustered.coupling must be a finite"):
        MultiTaskRegressor(penalty=Clustered(coupling=value)).fit(X, y, tasks=tasks)


# --------------------------------------------------- skmtl/neural/_weighting.py
@pytest.mark.parametrize(
    "name, param, value",
    [
        ("GradNorm", "learning_rate", -1.0),
        ("GradNorm", "alpha", "x"),
        ("DynamicWeightAverage", "temperature", -1.0),
        ("MGDA", "tol", np.nan),
        ("MGDA", "max_iter", "x"),
        ("CAGrad", "c", -1.0),
    ],
)
def test_task_weighting_parameters_are_validated(three_tasks, name, param, value):
    # The weightings declared _parameter_constraints that nothing checked:
    # GradNorm(learning_rate=-1) or DynamicWeightAverage(temperature=-1)
    # trained silently, others died in numpy / torch without naming the
    # parameter.
    pytest.importorskip("torch")
    from sklearn.utils._param_validation import InvalidParameterError

    from skmtl import neural

    X, y, tasks = three_tasks
    y = (y > 0).astype(int)
    weighting = getattr(neural, name)(**{param: value})
    net = neural.MultiTaskNetClassifier(
        hidden_layer_sizes=(4,), max_epochs=1, task_weighting=weighting
    )
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        net.fit(X, y, tasks=tasks)


# ------------------------------------------------ skmtl/model_selection/_split.py
def test_source_target_split_stratify_must_be_a_bool():
    # stratify="no" was taken as True (truthy), silently; shuffle is checked.
    X = np.zeros((40, 2))
    y = np.tile([0, 1], 20)
    tasks = np.repeat(["source", "target"], 20)
    with pytest.raises(TypeError, match="stratify must be True or False"):
        list(SourceTargetSplit(stratify="no").split(X, y, tasks=tasks))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(penalty="trace", unseen_tasks="shared"), "unseen_tasks='shared'"),
        (dict(task_weights={"zz": 1.0}), "task_weights names"),
        (dict(task_weights=[1.0, 2.0]), "task_weights must be"),
    ],
)
def test_cv_configuration_errors_are_not_fold_errors(three_tasks, kw, match):
    # Settings that fail whatever the data were reported as errors "in
    # cross-validation fold 0 (60 training rows, 30 test rows)".
    X, y, tasks = three_tasks
    with pytest.raises(ValueError, match=match) as info:
        MultiTaskRegressorCV(alphas=[1.0, 0.1], cv=3, **kw).fit(X, y, tasks=tasks)
    assert "fold" not in str(info.value)
