"""Per-task scores of a fitted model, optionally against a baseline."""

import numpy as np
from sklearn.base import is_classifier

from .._tasks import check_task_labels
from ._scorer import METRIC_NAMES, _resolve, _TaskScorer

__all__ = ["per_task_report"]


def _as_task_scorer(metric, estimator):
    """The (aggregating) task scorer that computes ``metric``."""
    if isinstance(metric, _TaskScorer):
        return metric
    if isinstance(metric, str) and metric == "auto":
        metric = "accuracy" if is_classifier(estimator) else "r2"
    if not (isinstance(metric, str) or callable(metric)):
        raise TypeError(
            "metric must be 'auto', a metric name, a metric function or a scorer "
            f"from make_task_scorer, got {metric!r}."
        )
    if isinstance(metric, str) and metric not in METRIC_NAMES:
        raise ValueError(
            f"metric={metric!r} is not a known metric name; use 'auto', one of "
            f"{list(METRIC_NAMES)}, a metric function or a scorer from "
            "make_task_scorer."
        )
    func, sign, method, kwargs, name = _resolve(metric, None, None, {})
    return _TaskScorer(func, sign, kwargs, method, "macro", None, name)


def _scores(scorer, estimator, X, y, tasks, sample_weight):
    y_true, y_pred, sw, kwargs = scorer._predict(estimator, X, y, tasks, sample_weight)
    return scorer._per_task(y_true, y_pred, tasks, sw, kwargs)


def per_task_report(
    estimator, X, y, tasks, *, metric="auto", baseline=None, sample_weight=None
):
    """Per-task scores of a fitted model, and its gain over a baseline.

    Parameters
    ----------
    estimator : object
        Fitted estimator; ``tasks`` is passed to its response method.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Evaluation data.
    y : array-like of shape (n_samples,)
        True targets.
    tasks : hashable or array-like of shape (n_samples,)
        Task label of each row (a scalar: one task).
    metric : str, callable or scorer, default="auto"
        ``"auto"``: accuracy for classifiers, R^2 otherwise. A metric name of
        :data:`METRIC_NAMES` (losses are negated: ``"neg_mean_squared_error"``),
        a function ``metric(y_true, y_pred)`` where greater is better, or a
        scorer from :func:`make_task_scorer` (its sign, response method and
        arguments are used; its ``task_average`` is not).
    baseline : object, default=None
        Another fitted model to compare with, e.g. independent per-task models
        (``MultiTaskClassifier(penalty="independent")``), or a single pooled
        scikit-learn model (called without ``tasks`` when its method does not
        take them).
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights, passed to the metric. A row of weight 0 is absent: it
        is not counted in ``n_samples``, and a task whose rows all have
        weight 0 has no row in the report.

    Returns
    -------
    report : pandas.DataFrame or dict of ndarray
        One row per task, in sorted task order, with columns ``task``,
        ``n_samples``, ``score`` and, with a ``baseline``, ``baseline_score``,
        ``gain`` (``score - baseline_score``, positive when the model is
        better, also for negated losses) and ``negative_transfer``
        (``gain < 0``). A DataFrame when pandas can be imported, else a dict
        of columns. There is no summary row, so that every column keeps one
        type: the macro average is ``report["score"].mean()``.

    See Also
    --------
    make_task_scorer : The aggregated score, for model selection.

    Examples
    --------
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.datasets import make_multitask_classification
    >>> from skmtl.metrics import per_task_report
    >>> X, y, tasks = make_multitask_classification(
    ...     n_tasks=3, n_samples=40, random_state=0)
    >>> shared = MultiTaskClassifier(penalty="mean").fit(X, y, tasks=tasks)
    >>> alone = MultiTaskClassifier(penalty="independent").fit(X, y, tasks=tasks)
    >>> report = per_task_report(shared, X, y, tasks, baseline=alone)
    >>> list(report.columns)
    ['task', 'n_samples', 'score', 'baseline_score', 'gain', 'negative_transfer']
    >>> report["n_samples"].tolist()
    [40, 40, 40]
    """
    if tasks is None:
        raise ValueError(
            "tasks is required: pass the task label of each row (or a scalar "
            "for a single task)."
        )
    n_samples = np.shape(y)[0]
    tasks = check_task_labels(tasks, n_samples)
    if np.ndim(y) != 1:
        raise ValueError(
            f"y must be 1-D (one target per row), got shape {np.shape(y)}."
        )
    scorer = _as_task_scorer(metric, estimator)
    labels, counts, _, scores = _scores(scorer, estimator, X, y, tasks, sample_weight)
    columns = {"task": labels, "n_samples": counts, "score": scores.astype(float)}
    if baseline is not None:
        _, _, _, base = _scores(scorer, baseline, X, y, tasks, sample_weight)
        base = base.astype(float)
        gain = columns["score"] - base
        columns.update(baseline_score=base, gain=gain, negative_transfer=gain < 0)
    try:
        import pandas as pd
    except ImportError:
        return columns
    return pd.DataFrame(columns)
