"""Behaviour a demanding new user hits (one test a bug), fourth probe.

Each test is the smallest repro of a bug found by probing the public API as a
scikit-learn user would (see /work/notes/breakit4.md); the fix is in the
module named above the test.
"""

import numpy as np
import pytest


@pytest.fixture
def two_tasks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.tile([0, 1], 20)
    tasks = np.repeat(["a", "b"], 20)
    return X, y, tasks


# ------------------------------------------------------- skmtl/datasets/_splits.py
@pytest.mark.parametrize("bad", ["no", 1, None, np.array([0, 1])])
def test_splitters_stratify_must_be_a_bool(two_tasks, bad):
    # stratify="no" was truthy: a stratified draw, silently (the fix of
    # SourceTargetSplit's stratify in the second probe, for the two splitters).
    from skmtl.datasets import train_test_split_target, train_test_split_tasks

    X, y, tasks = two_tasks
    with pytest.raises(TypeError, match="stratify"):
        train_test_split_tasks(X, y, tasks, train_size=4, stratify=bad)
    with pytest.raises(TypeError, match="stratify"):
        train_test_split_target(X, y, tasks, target_task="b", labelled=4, stratify=bad)
    # numpy's bool is a bool
    train_test_split_tasks(X, y, tasks, train_size=4, stratify=np.bool_(False))


@pytest.mark.parametrize("bad", [None, np.nan, 1])
def test_splitters_name_tasks_with_a_missing_or_mixed_label(two_tasks, bad):
    # A None / NaN / int among str task labels died in numpy's sorting
    # ("'<' not supported between instances of 'NoneType' and 'str'"); the
    # estimators refuse such tasks with a message naming tasks.
    from skmtl.datasets import train_test_split_target, train_test_split_tasks

    X, y, tasks = two_tasks
    tasks = tasks.astype(object)
    tasks[0] = bad
    with pytest.raises((TypeError, ValueError), match="tasks"):
        train_test_split_tasks(X, y, tasks, train_size=4)
    with pytest.raises((TypeError, ValueError), match="tasks"):
        train_test_split_target(X, y, tasks, target_task="b", labelled=4)


def test_n_per_class_true_is_refused_naming_n_per_class(two_tasks):
    # bool is an Integral: n_per_class=True passed the check and died in
    # numpy ("expected a sequence of integers ..., got 'True'").
    from skmtl.datasets import train_test_split_tasks

    X, y, tasks = two_tasks
    with pytest.raises(ValueError, match="n_per_class"):
        train_test_split_tasks(X, y, tasks, n_per_class=True)


# --------------------------------------------------- skmtl/datasets/_newsgroups.py
_NO_CORPUS = dict(archive_path="/nonexistent/20news", download_if_missing=False)


@pytest.mark.parametrize("param", ["shuffle", "one_vs_rest", "return_X_y"])
def test_newsgroups_multitask_bool_parameters_must_be_bools(param, tmp_path):
    # shuffle="no" shuffled and one_vs_rest="yes" built one-vs-rest tasks,
    # silently (sklearn.datasets.fetch_20newsgroups refuses a non-bool shuffle).
    from skmtl.datasets import fetch_20newsgroups_multitask

    setting = ["comp.graphics", "sci.med"] if param == "one_vs_rest" else "comp_vs_rec"
    with pytest.raises(TypeError, match=param):
        fetch_20newsgroups_multitask(
            setting, data_home=tmp_path, **{param: "no"}, **_NO_CORPUS
        )


@pytest.mark.parametrize("param", ["shuffle", "return_X_y"])
def test_newsgroups_transfer_bool_parameters_must_be_bools(param, tmp_path):
    from skmtl.datasets import fetch_20newsgroups_transfer

    with pytest.raises(TypeError, match=param):
        fetch_20newsgroups_transfer(
            "comp_vs_sci", data_home=tmp_path, **{param: "no"}, **_NO_CORPUS
        )


@pytest.mark.parametrize("one_vs_rest", [False, True])
@pytest.mark.parametrize("bad", [5, None, 1.5])
def test_newsgroups_multitask_setting_of_a_wrong_type_names_setting(
    bad, one_vs_rest, tmp_path
):
    # setting=5 died with "'int' object is not iterable".
    from skmtl.datasets import fetch_20newsgroups_multitask

    with pytest.raises(TypeError, match="setting"):
        fetch_20newsgroups_multitask(
            bad, one_vs_rest=one_vs_rest, data_home=tmp_path, **_NO_CORPUS
        )


def test_newsgroups_remove_none_names_remove(tmp_path):
    # remove=None died with "'NoneType' object is not iterable".
    from skmtl.datasets import fetch_20newsgroups_multitask

    with pytest.raises(TypeError, match="remove"):
        fetch_20newsgroups_multitask(
            "comp_vs_rec", remove=None, data_home=tmp_path, **_NO_CORPUS
        )


# ------------------------------------------------------- skmtl/datasets/_school.py
@pytest.mark.parametrize("kwargs", [{"return_X_y": "no"}, {"path": 5}])
def test_load_school_bad_arguments_are_named(kwargs):
    # return_X_y="no" returned the tuple (truthy), path=5 died in os.fspath
    # ("expected str, bytes or os.PathLike object, not int").
    from skmtl.datasets import load_school

    (name,) = kwargs
    with pytest.raises(TypeError, match=name):
        load_school(**kwargs)


# ------------------------------------------------------- skmtl/metrics/_report.py
def test_per_task_report_unknown_metric_names_metric(two_tasks):
    # The error said "score_func='bogus'", a name the caller never wrote.
    from skmtl import MultiTaskClassifier
    from skmtl.metrics import per_task_report

    X, y, tasks = two_tasks
    model = MultiTaskClassifier().fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match=r"^metric='bogus'"):
        per_task_report(model, X, y, tasks, metric="bogus")


# ------------------------------------------------------- skmtl/neural/_base.py
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
@pytest.mark.parametrize(
    "param, value",
    [
        ("hidden_layer_sizes", (3,)),
        ("head_hidden_layer_sizes", (2,)),
        ("activation", "tanh"),
        ("dropout", 0.5),
        ("task_weighting", "uncertainty"),
        ("encoder", "a class"),
    ],
)
def test_continued_fit_with_another_architecture_names_the_parameter(
    two_tasks, how, param, value
):
    # A warm-started fit or partial_fit kept the fitted network and ignored a
    # changed architecture silently (new tasks' heads were even built with
    # the new head_hidden_layer_sizes next to the old heads).
    pytest.importorskip("torch")
    from skmtl.neural import MultiTaskNetClassifier

    X, y, tasks = two_tasks
    net = MultiTaskNetClassifier(
        (4,), max_epochs=2, warm_start=how == "warm_start", random_state=0
    ).fit(X, y, tasks=tasks)
    before = net.predict_proba(X, tasks=tasks)
    if value == "a class":
        import torch

        value = lambda: torch.nn.Linear(3, 4)  # noqa: E731
    net.set_params(**{param: value})
    call = net.fit if how == "warm_start" else net.partial_fit
    with pytest.raises(ValueError, match=param):
        call(X, y, tasks=tasks)
    np.testing.assert_array_equal(net.predict_proba(X, tasks=tasks), before)
    # the same value again, or a fresh fit, still works
    if how == "warm_start":
        net.set_params(warm_start=False).fit(X, y, tasks=tasks)
        net.set_params(warm_start=True).fit(X, y, tasks=tasks)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_continued_fine_tuning_checks_only_the_architecture_it_uses(two_tasks):
    # With a network source the encoder is the source's copy and
    # hidden_layer_sizes is documented as unused: changing it is no change;
    # the heads' sizes are used, and a change is refused.
    pytest.importorskip("torch")
    from skmtl.neural import FineTunedNetClassifier, MultiTaskNetClassifier

    X, y, tasks = two_tasks
    source = MultiTaskNetClassifier((4,), max_epochs=1, random_state=0)
    source.fit(X, y, tasks=tasks)
    net = FineTunedNetClassifier(source, max_epochs=1, warm_start=True)
    net.fit(X, y).set_params(hidden_layer_sizes=(9,)).fit(X, y)
    net.set_params(head_hidden_layer_sizes=(2,))
    with pytest.raises(ValueError, match="head_hidden_layer_sizes"):
        net.fit(X, y)


@pytest.mark.parametrize("device", ["meta", "mps"])
def test_device_torch_cannot_compute_on_names_device(two_tasks, device):
    # device="meta" died in "Tensor.item() cannot be called on meta tensors",
    # device="mps" (torch without MPS) in "PyTorch is not linked with support
    # for mps devices": neither named device (device="cuda" does).
    torch = pytest.importorskip("torch")
    from skmtl.neural import MultiTaskNetRegressor

    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this torch has MPS")
    X, y, tasks = two_tasks
    net = MultiTaskNetRegressor((4,), max_epochs=1, device=device)
    with pytest.raises(ValueError, match="device="):
        net.fit(X, y.astype(float), tasks=tasks)
    assert not hasattr(net, "module_")


# ------------------------------------------------------- skmtl/metrics/_scorer.py
def test_per_task_scorers_of_no_task_says_so():
    # per_task_scorers("accuracy", []) said "tasks: no rows to fit."
    from skmtl.metrics import per_task_scorers

    with pytest.raises(ValueError, match="at least one task label"):
        per_task_scorers("accuracy", [])


# --------------------------------------------------- skmtl/datasets/_generators.py
@pytest.mark.parametrize("maker", ["regression", "classification"])
def test_generators_refuse_fractional_sizes_and_missing_task_names(maker):
    # n_samples=[5.5, 5] drew 5 rows for the first task (cut silently);
    # task_names=["a", None] gave a task label every estimator refuses.
    import skmtl.datasets as datasets

    make = getattr(datasets, f"make_multitask_{maker}")
    with pytest.raises(ValueError, match="n_samples"):
        make(n_tasks=2, n_samples=[5.5, 5])
    with pytest.raises(ValueError, match="task_names"):
        make(n_tasks=2, task_names=["a", None])
    # whole floats are sizes, as before
    X, _, tasks = make(n_tasks=2, n_samples=[6.0, 5], random_state=0)
    assert np.bincount(tasks).tolist() == [6, 5]
