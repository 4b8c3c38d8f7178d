"""Behaviour a new user hits, found by probing the public API (one test a bug).

Each test is the smallest repro of a bug found while using skmtl as a
scikit-learn user would; the fix is in the module the test names.
"""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier
from skmtl.metrics import make_task_scorer, per_task_report


@pytest.fixture
def three_tasks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=90) > 0).astype(int)
    tasks = np.tile(["a", "b", "c"], 30)
    return X, y, tasks


def _by_task(metric, y, pred, tasks, sample_weight=None):
    out = []
    for t in np.unique(tasks):
        rows = tasks == t
        w = None if sample_weight is None else sample_weight[rows]
        out.append(metric(y[rows], pred[rows], sample_weight=w))
    return np.array(out)


# --------------------------------------------------- skmtl/metrics/_scorer.py
@pytest.mark.parametrize("routing", [False, True])
@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_pipeline_of_sklearn_estimators_is_scored_without_tasks(
    three_tasks, routing, metric
):
    # A pooled baseline in a Pipeline (scaler + LogisticRegression) is a plain
    # scikit-learn model: Pipeline.predict takes **params, so the scorer used
    # to pass tasks= on, which LogisticRegression refuses (TypeError), and
    # cross_validate turned every fold into NaN.
    X, y, tasks = three_tasks
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    if metric == "accuracy":
        expected = np.mean(_by_task(accuracy_score, y, pipe.predict(X), tasks))
    else:
        score = pipe.decision_function(X)
        expected = np.mean(_by_task(roc_auc_score, y, score, tasks))
    with sklearn.config_context(enable_metadata_routing=routing):
        got = make_task_scorer(metric)(pipe, X, y, tasks=tasks)
        report = per_task_report(
            MultiTaskClassifier().fit(X, y, tasks=tasks),
            X,
            y,
            tasks,
            metric=metric,
            baseline=pipe,
        )
    assert got == pytest.approx(expected)
    assert report["baseline_score"].mean() == pytest.approx(expected)


def test_cross_validate_pooled_pipeline_with_task_scorer(three_tasks):
    X, y, tasks = three_tasks
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(
            make_pipeline(StandardScaler(), LogisticRegression()),
            X,
            y,
            cv=cv,
            scoring=make_task_scorer("accuracy"),
            params={"tasks": tasks},
            error_score="raise",
        )
    for (train, test), score in zip(cv.split(X), res["test_score"]):
        model = make_pipeline(StandardScaler(), LogisticRegression())
        pred = model.fit(X[train], y[train]).predict(X[test])
        assert score == pytest.approx(
            np.mean(_by_task(accuracy_score, y[test], pred, tasks[test]))
        )


@pytest.mark.parametrize("routing", [False, True])
@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_pipeline_of_skmtl_model_still_gets_tasks(three_tasks, routing, metric):
    # and roc_auc (decision_function) works without routing, where
    # Pipeline.decision_function refuses keywords ("Passing extra keyword
    # arguments to Pipeline.decision_function is only supported if
    # enable_metadata_routing=True")
    X, y, tasks = three_tasks
    pipe = make_pipeline(StandardScaler(), MultiTaskClassifier(penalty="independent"))
    pipe.fit(X, y, multitaskclassifier__tasks=tasks)
    Xt = pipe[0].transform(X)
    if metric == "accuracy":
        pred = pipe[-1].predict(Xt, tasks=tasks)
        expected = np.mean(_by_task(accuracy_score, y, pred, tasks))
    else:
        score = pipe[-1].decision_function(Xt, tasks=tasks)
        expected = np.mean(_by_task(roc_auc_score, y, score, tasks))
    with sklearn.config_context(enable_metadata_routing=routing):
        got = make_task_scorer(metric)(pipe, X, y, tasks=tasks)
        report = per_task_report(pipe, X, y, tasks, metric=metric)
    assert got == pytest.approx(expected)
    assert report["score"].mean() == pytest.approx(expected)


def test_task_with_all_weights_zero_is_absent_from_the_scores(three_tasks):
    # sample_weight 0 means the row is absent: a task whose test rows all have
    # weight 0 is not in the test set. The scorer used to hand the metric an
    # all-zero weight vector, which scikit-learn refuses (ValueError), so a
    # search fold with such a task scored NaN.
    X, y, tasks = three_tasks
    model = MultiTaskClassifier().fit(X, y, tasks=tasks)
    pred = model.predict(X, tasks=tasks)
    sw = np.where(tasks == "a", 0.0, 1.0)
    sw[tasks == "b"] = np.tile([0.0, 2.0], 15)
    keep = tasks != "a"
    expected = _by_task(accuracy_score, y[keep], pred[keep], tasks[keep], sw[keep])
    got = make_task_scorer("accuracy")(model, X, y, tasks=tasks, sample_weight=sw)
    assert got == pytest.approx(expected.mean())
    worst = make_task_scorer("accuracy", task_average="worst")
    assert worst(model, X, y, tasks=tasks, sample_weight=sw) == pytest.approx(
        expected.min()
    )
    report = per_task_report(model, X, y, tasks, sample_weight=sw)
    assert report["task"].tolist() == ["b", "c"]
    np.testing.assert_allclose(report["score"], expected)
    # n_samples counts the rows present (weight > 0)
    assert report["n_samples"].tolist() == [
        int(np.sum((tasks == t) & (sw > 0))) for t in ("b", "c")
    ]
    one = make_task_scorer("accuracy", task="a")
    assert np.isnan(one(model, X, y, tasks=tasks, sample_weight=sw))
    with pytest.raises(ValueError, match="sample_weight is zero on every row"):
        make_task_scorer("accuracy")(
            model, X, y, tasks=tasks, sample_weight=np.zeros(len(y))
        )


# ------------------------------------------------ skmtl/transfer/_base_model.py
def _unsupervised_shift():
    # every target row unlabelled: unsupervised domain adaptation
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    X = rng.normal(size=(400, 5))
    X[:, :2] += 3.0 * y[:, None] - 1.5
    X[200:, 0] += 1.0
    tasks = np.repeat(["source", "target"], 200)
    return X, y, tasks, np.arange(400) >= 200


@pytest.mark.parametrize("name", ["self_training", "em"])
@pytest.mark.parametrize("base", ["default", "joint_mean", "multitask"])
def test_no_labelled_target_row_with_a_base_that_takes_domains(name, base):
    # check_transfer_rows accepts a target made of unlabelled rows only, and
    # class_prior="target" falls back to the labelled rows; but a base that
    # takes the domains (the default JointTransferClassifier) was fitted on
    # the labelled (source) rows with their domains and refused ("no row of
    # tasks is the target"), or predicted an unseen task (MultiTaskClassifier).
    from skmtl.transfer import (
        EMTransferClassifier,
        JointTransferClassifier,
        SelfTrainingTransferClassifier,
    )

    X, y, tasks, unlabelled = _unsupervised_shift()
    estimator = {
        "default": None,
        "joint_mean": JointTransferClassifier(penalty="mean"),
        "multitask": MultiTaskClassifier(),
    }[base]
    Est = {"self_training": SelfTrainingTransferClassifier, "em": EMTransferClassifier}
    model = Est[name](estimator).fit(X, y, tasks=tasks, unlabelled=unlabelled)
    assert model.score(X[unlabelled], y[unlabelled]) > 0.95
    if name != "em":
        return
    # no EM round: the source-only limit, the base fitted on the labelled
    # rows as one domain
    first = Est[name](estimator, max_iter=0).fit(
        X, y, tasks=tasks, unlabelled=unlabelled
    )
    alone = (JointTransferClassifier() if estimator is None else estimator).fit(
        X[~unlabelled], y[~unlabelled]
    )
    np.testing.assert_allclose(
        first.predict_proba(X), alone.predict_proba(X), rtol=1e-10, atol=1e-12
    )


# ------------------------------------------------- skmtl/transfer/_alignment.py
def test_coral_in_a_pandas_pipeline():
    # CORAL had no get_feature_names_out, so set_output(transform="pandas")
    # on it, or on any Pipeline holding it, raised.
    import pandas as pd

    from skmtl.transfer import CORAL

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["u", "v", "w"])
    X.iloc[30:] *= 2.0
    y = (X["u"] > 0).astype(int).to_numpy()
    tasks = np.repeat(["source", "target"], 30)
    coral = CORAL().fit(X, tasks=tasks)
    assert coral.get_feature_names_out().tolist() == ["u", "v", "w"]
    out = CORAL().set_output(transform="pandas").fit_transform(X, tasks=tasks)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == ["u", "v", "w"]
    np.testing.assert_allclose(out.to_numpy(), coral.transform(X, tasks=tasks))
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(CORAL(), StandardScaler()).set_output(transform="pandas")
        Z = pipe.fit_transform(X, y, tasks=tasks)
    assert isinstance(Z, pd.DataFrame) and Z.columns.tolist() == ["u", "v", "w"]


# ------------------------------------------------ skmtl/transfer/_unlabelled.py
@pytest.mark.parametrize("prior", [{0: 0.5, 1: 0.5}, ["a", "b"]])
def test_class_prior_that_is_not_proportions_is_named(prior):
    # a dict passed the "array-like" constraint and failed in float() with
    # "float() argument must be a string or a real number, not 'dict'"
    from skmtl.transfer import SelfTrainingTransferClassifier

    X, y, tasks, unlabelled = _unsupervised_shift()
    unlabelled[200:210] = False
    with pytest.raises(ValueError, match=r"class_prior must be .*\[0, 1\]"):
        SelfTrainingTransferClassifier(class_prior=prior).fit(
            X, y, tasks=tasks, unlabelled=unlabelled
        )


# ---------------------------------------------- skmtl/linear_model/_laplace.py
@pytest.mark.parametrize("classes", [[0, np.nan, 1], [0, None, 1]])
def test_partial_fit_refuses_a_missing_class(three_tasks, classes):
    # fit refuses a missing label; partial_fit(classes=[0, nan, 1]) used to
    # make NaN a class (a third predict_proba column), and None in classes
    # raised "'<' not supported between instances of 'NoneType' and 'int'"
    X, y, tasks = three_tasks
    model = MultiTaskClassifier()
    with pytest.raises(ValueError, match="classes contains missing labels"):
        model.partial_fit(X, y, tasks=tasks, classes=classes)
    assert not hasattr(model, "classes_")
    model.partial_fit(X, y, tasks=tasks, classes=[0, 1])
    with pytest.raises(ValueError, match="classes contains missing labels"):
        model.partial_fit(X, y, tasks=tasks, classes=classes)
    assert model.classes_.tolist() == [0, 1]


@pytest.mark.parametrize("routing", [False, True])
@pytest.mark.parametrize("name", ["self_training", "em"])
def test_pipeline_base_gets_the_weights_on_its_final_step(routing, name):
    # EM always refits its base with weights (the soft labels), self-training
    # with sample_weight or unlabelled_weight: a Pipeline base (a scaler or a
    # vectorizer, then a classifier) was refused ("the estimator Pipeline
    # does not accept sample_weight in fit"), since Pipeline.fit takes
    # **params. Reference: a stateless first step, applied by hand.
    from sklearn.preprocessing import FunctionTransformer

    from skmtl.transfer import EMTransferClassifier, SelfTrainingTransferClassifier

    X, y, tasks, unlabelled = _unsupervised_shift()
    X = np.abs(X)
    unlabelled[200:210] = False
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    Est = {"self_training": SelfTrainingTransferClassifier, "em": EMTransferClassifier}
    with sklearn.config_context(enable_metadata_routing=routing):
        pipe = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
        model = Est[name](pipe).fit(
            X, y, tasks=tasks, sample_weight=sw, unlabelled=unlabelled
        )
        ref = Est[name](LogisticRegression()).fit(
            np.log1p(X), y, tasks=tasks, sample_weight=sw, unlabelled=unlabelled
        )
    np.testing.assert_allclose(
        model.predict_proba(X), ref.predict_proba(np.log1p(X)), rtol=1e-10
    )
    # the weights matter: without them the model differs
    plain = Est[name](LogisticRegression()).fit(
        np.log1p(X), y, tasks=tasks, unlabelled=unlabelled
    )
    assert (
        np.abs(plain.predict_proba(np.log1p(X)) - ref.predict_proba(np.log1p(X))).max()
        > 1e-4
    )


@pytest.mark.parametrize("routing", [False, True])
def test_importance_weighting_with_pipelines(routing):
    # The estimator must take the importance weights: a Pipeline was refused.
    # A Pipeline domain classifier was fitted silently without sample_weight.
    from sklearn.preprocessing import FunctionTransformer

    from skmtl.transfer import ImportanceWeightedClassifier

    X, y, tasks, unlabelled = _unsupervised_shift()
    X = np.abs(X)
    unlabelled[200:210] = False
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))

    def log_pipe():
        return make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())

    with sklearn.config_context(enable_metadata_routing=routing):
        model = ImportanceWeightedClassifier(
            log_pipe(), domain_classifier=log_pipe()
        ).fit(X, y, tasks=tasks, sample_weight=sw, unlabelled=unlabelled)
        ref = ImportanceWeightedClassifier().fit(
            np.log1p(X), y, tasks=tasks, sample_weight=sw, unlabelled=unlabelled
        )
    np.testing.assert_allclose(model.source_weights_, ref.source_weights_, rtol=1e-8)
    np.testing.assert_allclose(
        model.predict_proba(X), ref.predict_proba(np.log1p(X)), rtol=1e-8
    )


@pytest.mark.parametrize("routing", [False, True])
def test_tradaboost_and_distillation_with_a_pipeline(routing):
    # TrAdaBoost passes the boosting weights and the scikit-learn student of
    # DistilledClassifier its row weights: a Pipeline was refused.
    from sklearn.preprocessing import FunctionTransformer

    from skmtl.transfer import DistilledClassifier, TrAdaBoostClassifier

    X, y, tasks, _ = _unsupervised_shift()
    X = np.abs(X)
    keep = np.r_[np.arange(200), np.arange(200, 230)]
    X, y, tasks = X[keep], y[keep], tasks[keep]
    pipe = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
    teacher = LogisticRegression().fit(np.log1p(X), y)
    with sklearn.config_context(enable_metadata_routing=routing):
        boost = TrAdaBoostClassifier(pipe, n_estimators=5).fit(X, y, tasks=tasks)
        boost_ref = TrAdaBoostClassifier(LogisticRegression(), n_estimators=5).fit(
            np.log1p(X), y, tasks=tasks
        )
        student = DistilledClassifier(
            teacher=make_pipeline(FunctionTransformer(np.log1p), teacher),
            student=pipe,
            temperature=1.0,
        ).fit(X, y)
        student_ref = DistilledClassifier(
            teacher=teacher, student=LogisticRegression(), temperature=1.0
        ).fit(np.log1p(X), y)
    np.testing.assert_allclose(
        boost.predict_proba(X), boost_ref.predict_proba(np.log1p(X)), rtol=1e-8
    )
    np.testing.assert_allclose(
        student.predict_proba(X), student_ref.predict_proba(np.log1p(X)), rtol=1e-8
    )


@pytest.mark.parametrize(
    "bad, match",
    [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (-1.0, "non-negative")],
)
def test_task_scorer_refuses_nan_and_negative_weights(three_tasks, bad, match):
    # fit refuses them; the scorer (and per_task_report) scored on, dropping
    # the row silently (NaN) or weighting it negatively
    X, y, tasks = three_tasks
    model = MultiTaskClassifier().fit(X, y, tasks=tasks)
    sw = np.ones(len(y))
    sw[3] = bad
    for task_average in ("macro", "pooled"):
        scorer = make_task_scorer("accuracy", task_average=task_average)
        with pytest.raises(ValueError, match=match):
            scorer(model, X, y, tasks=tasks, sample_weight=sw)
    with pytest.raises(ValueError, match=match):
        make_task_scorer("accuracy", task="a")(
            model, X, y, tasks=tasks, sample_weight=sw
        )
    with pytest.raises(ValueError, match=match):
        per_task_report(model, X, y, tasks, sample_weight=sw)


# ------------------------------------------ skmtl/linear_model/_incremental.py
def test_named_batch_shuffled_within_itself_says_why(three_tasks):
    # the digest depends on the row order: a loader that shuffles within each
    # batch was told the batch held "other rows"
    X, y, tasks = three_tasks
    model = MultiTaskClassifier().partial_fit(
        X[:30], y[:30], tasks=tasks[:30], classes=[0, 1], batch_id=0
    )
    coef = model.coef_.copy()
    perm = np.random.default_rng(0).permutation(30)
    with pytest.raises(ValueError, match="in the same order"):
        model.partial_fit(X[perm], y[perm], tasks=tasks[perm], batch_id=0)
    np.testing.assert_array_equal(model.coef_, coef)


# ------------------------------------- skmtl/metrics/_scorer.py, column mode
def test_task_scorers_in_column_mode_match_routing_mode(three_tasks):
    # In column mode (TaskColumnEstimator, routing off) scikit-learn calls the
    # scorer without tasks: make_task_scorer scored all rows pooled (its
    # task_average silently ignored) and per_task_scorers gave NaN in every
    # fold. The tasks are in X's task column.
    import pandas as pd

    from skmtl.metrics import per_task_scorers
    from skmtl.model_selection import TaskStratifiedKFold
    from skmtl.pipeline import make_task_pipeline

    X, y, tasks = three_tasks
    df = pd.DataFrame(X, columns=["u", "v", "w"]).assign(task=tasks)
    scoring = {
        "worst": make_task_scorer("accuracy", task_average="worst"),
        "auc": make_task_scorer("roc_auc"),
        **per_task_scorers("accuracy", ["a", "b", "c"]),
    }
    column = cross_validate(
        make_task_pipeline(StandardScaler(), MultiTaskClassifier(), task_column="task"),
        df,
        y,
        cv=TaskStratifiedKFold(3, shuffle=True, random_state=0, task_column="task"),
        scoring=scoring,
        error_score="raise",
    )
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_validate(
            make_pipeline(StandardScaler(), MultiTaskClassifier()),
            X,
            y,
            cv=TaskStratifiedKFold(3, shuffle=True, random_state=0),
            scoring=scoring,
            params={"tasks": tasks},
            error_score="raise",
        )
    for name in scoring:
        np.testing.assert_allclose(
            column[f"test_{name}"], routed[f"test_{name}"], rtol=1e-10
        )
    # "worst" is not the pooled accuracy here
    pooled = cross_validate(
        make_task_pipeline(StandardScaler(), MultiTaskClassifier(), task_column="task"),
        df,
        y,
        cv=TaskStratifiedKFold(3, shuffle=True, random_state=0, task_column="task"),
        scoring="accuracy",
    )
    assert np.any(column["test_worst"] < pooled["test_score"] - 1e-9)


# ----------------------------------------------- skmtl/model_selection/_split.py
def test_task_splitters_keep_unlabelled_rows_out_of_the_test_folds():
    # TaskStratifiedKFold and LeaveOneTaskOut did not request ``unlabelled``:
    # with routing, cross_validate put the unlabelled rows in the test folds
    # and scored them against their placeholders (accuracy 0.53 for a model
    # that is right on 98% of the labelled rows), and TaskStratifiedKFold
    # stratified by the placeholder as if it were a class.
    from skmtl.model_selection import LeaveOneTaskOut, TaskStratifiedKFold
    from skmtl.transfer import SelfTrainingTransferClassifier

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    X = rng.normal(size=(300, 5))
    X[:, :2] += 3.0 * y[:, None] - 1.5
    tasks = np.repeat(["source", "target"], [100, 200])
    unlabelled = np.arange(300) >= 160
    y_seen = np.where(unlabelled, -999, y)
    lab = np.flatnonzero(~unlabelled)
    cv = TaskStratifiedKFold(3, shuffle=True, random_state=0)
    folds = list(cv.split(X, y_seen, tasks=tasks, unlabelled=unlabelled))
    # the labelled rows are dealt as TaskStratifiedKFold deals them alone
    alone = list(cv.split(X[lab], y[lab], tasks=tasks[lab]))
    assert len(folds) == len(alone) == 3
    for (train, test), (_, test_alone) in zip(folds, alone):
        np.testing.assert_array_equal(test, lab[test_alone])
        assert not unlabelled[test].any()
        assert unlabelled[train].sum() == unlabelled.sum()
    # the placeholder is never read
    other = list(
        cv.split(X, np.where(unlabelled, 0, y), tasks=tasks, unlabelled=unlabelled)
    )
    for (_, a), (_, b) in zip(folds, other):
        np.testing.assert_array_equal(a, b)
    loto = LeaveOneTaskOut()
    all_unlabelled = unlabelled | (tasks == "target")
    assert loto.get_n_splits(tasks=tasks, unlabelled=unlabelled) == 2
    assert loto.get_n_splits(tasks=tasks, unlabelled=all_unlabelled) == 1
    for train, test in loto.split(X, y_seen, tasks=tasks, unlabelled=unlabelled):
        assert not unlabelled[test].any()
        assert unlabelled[train].sum() == unlabelled.sum()
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(
            SelfTrainingTransferClassifier(),
            X,
            y_seen,
            cv=cv,
            params={"tasks": tasks, "unlabelled": unlabelled},
            return_estimator=True,
            error_score="raise",
        )
    for (_, test), model, score in zip(folds, res["estimator"], res["test_score"]):
        assert score == pytest.approx(accuracy_score(y[test], model.predict(X[test])))
    assert res["test_score"].min() > 0.9
