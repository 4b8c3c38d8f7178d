"""Task-aware scorers: per-task metrics aggregated over the tasks of a test set.

scikit-learn's string scorers call ``estimator.predict(X)`` without metadata,
so a multi-task model cannot see the task of each test row. The scorers of this
module pass ``tasks`` to the estimator's response method, compute the metric
on each task's rows and aggregate.

How they take part in metadata routing
--------------------------------------
A scorer is a *consumer* of its ``score`` method, exactly like scikit-learn's
own scorers: ``GridSearchCV``, ``cross_validate`` and ``_MultimetricScorer``
add the scorer to their ``MetadataRouter`` (``fit -> score`` and
``score -> score``) and read its requests through ``get_metadata_routing()``.
Our scorer answers with a public ``MetadataRequest`` whose ``score`` method
requests ``tasks`` (``True``) and leaves ``sample_weight`` at ``None`` (an
error if passed without a request), the default of scikit-learn's scorers.
Nothing private is subclassed: ``sklearn.metrics._scorer._BaseScorer`` calls
the response method through ``_get_response_values`` without metadata
(``_MultimetricScorer`` even calls ``_BaseScorer._score`` directly with a
cache keyed by method name), so a subclass could not forward ``tasks``.
Scorers that are not ``_BaseScorer`` are called as
``scorer(estimator, X, y, **routed_params)``, which is what we need.
"""

import inspect
import numbers
from functools import partial

import numpy as np
from sklearn import get_config
from sklearn.base import is_classifier
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from .._task_column import task_column_values
from .._tasks import check_task_labels, encode_tasks
from ..pipeline import TaskColumnEstimator, final_step, transform_to_final

__all__ = ["make_task_scorer", "per_task_scorers", "METRIC_NAMES"]

# name: (score function, greater_is_better, response_method, fixed kwargs).
# Kept small and explicit; any other metric goes through a callable.
_METRICS = {
    "accuracy": (accuracy_score, True, "predict", {}),
    "balanced_accuracy": (balanced_accuracy_score, True, "predict", {}),
    "f1": (f1_score, True, "predict", {}),
    "f1_macro": (f1_score, True, "predict", {"average": "macro"}),
    # as scikit-learn's "roc_auc": the decision function when there is one
    "roc_auc": (roc_auc_score, True, ("decision_function", "predict_proba"), {}),
    "neg_log_loss": (log_loss, False, "predict_proba", {}),
    "r2": (r2_score, True, "predict", {}),
    "neg_mean_squared_error": (mean_squared_error, False, "predict", {}),
    "neg_root_mean_squared_error": (root_mean_squared_error, False, "predict", {}),
    "neg_mean_absolute_error": (mean_absolute_error, False, "predict", {}),
}

#: Metric names accepted by :func:`make_task_scorer` and :func:`per_task_scorers`.
METRIC_NAMES = tuple(_METRICS)

_TASK_AVERAGES = ("macro", "weighted", "worst", "pooled", None)
_RESPONSE_METHODS = ("predict", "predict_proba", "decision_function")


def _check_response_method(response_method):
    names = (response_method,) if isinstance(response_method, str) else response_method
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(
            "response_method must be one of "
            f"{_RESPONSE_METHODS} or a tuple of them, got {response_method!r}."
        )
    for name in names:
        if name not in _RESPONSE_METHODS:
            raise ValueError(
                f"response_method must be one of {_RESPONSE_METHODS} or a tuple "
                f"of them, got {response_method!r}."
            )
    return response_method if isinstance(response_method, str) else tuple(names)


def _func_name(func):
    if isinstance(func, partial):
        return _func_name(func.func)
    return getattr(func, "__name__", type(func).__name__)


def _fitted_tasks(estimator):
    tasks = getattr(estimator, "tasks_", None)
    return None if tasks is None else np.asarray(tasks)


def _accepts(func, param):
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return True
    return param in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _takes_tasks(estimator, name):
    """Whether ``estimator.<name>`` should be called with ``tasks=``.

    A method that names ``tasks`` takes them and one without ``**kwargs``
    does not. ``Pipeline`` methods take ``**params``, which reach the final
    step (routing off) or the steps that request them (routing on, else
    scikit-learn raises): a pipeline of plain scikit-learn estimators (a
    pooled baseline) must be called without ``tasks``, so look at its steps.
    Any other ``**kwargs`` method is given ``tasks``.
    """
    method = getattr(estimator, name, None)
    if method is None:
        return False
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return True
    if "tasks" in params:
        return True
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return False
    if not isinstance(estimator, Pipeline):
        return True
    final = final_step(estimator)
    takes = final not in (None, "passthrough") and _takes_tasks(final, name)
    if get_config().get("enable_metadata_routing", False):
        # the transformers receive tasks too when they request them
        takes = takes or any(
            step not in (None, "passthrough") and _takes_tasks(step, "transform")
            for _, step in estimator.steps[:-1]
        )
    return takes


def _column_tasks(estimator, X):
    """Column mode: the tasks a ``TaskColumnEstimator`` reads from ``X``, or None.

    Routing is off there, so scikit-learn calls the scorer without ``tasks``;
    the task of each row is in ``X``, and the per-task scores and their
    average must be those of routing mode.
    """
    if isinstance(estimator, TaskColumnEstimator):
        return task_column_values(X, estimator.task_column)
    return None


class _TaskScorer:
    """Scorer ``scorer(estimator, X, y_true, tasks=None, sample_weight=None)``.

    Built by :func:`make_task_scorer`; see there for the parameters.
    """

    def __init__(
        self,
        score_func,
        sign,
        kwargs,
        response_method,
        task_average="macro",
        task=None,
        metric_name=None,
    ):
        self._score_func = score_func
        self._sign = sign
        self._kwargs = kwargs
        self._response_method = response_method
        self._task_average = task_average
        self._task = task
        self._metric_name = metric_name
        self._requests = {"tasks": True, "sample_weight": None}

    # ------------------------------------------------------------ display
    def __repr__(self):
        if self._metric_name is not None:
            args = [repr(self._metric_name)]
            table_method = _METRICS[self._metric_name][2]
            if self._response_method != table_method:
                args.append(f"response_method={self._response_method!r}")
            fixed = _METRICS[self._metric_name][3]
            extra = {k: v for k, v in self._kwargs.items() if k not in fixed}
        else:
            args = [
                repr(self._score_func)
                if isinstance(self._score_func, partial)
                else _func_name(self._score_func)
            ]
            if self._response_method != "predict":
                args.append(f"response_method={self._response_method!r}")
            if self._sign < 0:
                args.append("greater_is_better=False")
            extra = self._kwargs
        if self._task is not None:
            args.append(f"task={self._task!r}")
        elif self._task_average != "macro":
            args.append(f"task_average={self._task_average!r}")
        args += [f"{k}={v!r}" for k, v in extra.items()]
        return f"make_task_scorer({', '.join(args)})"

    def _routing_repr(self):
        # Used by scikit-learn's routing error messages (duck-typed hook).
        return repr(self)

    # ------------------------------------------------------------ routing
    def get_metadata_routing(self):
        """Metadata requested by the scorer (its ``score`` method).

        Returns
        -------
        request : MetadataRequest
            ``tasks`` is requested by default; ``sample_weight`` is an error if
            passed until :meth:`set_score_request` requests it.
        """
        request = MetadataRequest(owner=self)
        for param, alias in self._requests.items():
            request.score.add_request(param=param, alias=alias)
        return request

    def set_score_request(self, *, tasks=UNCHANGED, sample_weight=UNCHANGED):
        """Set which metadata the scorer requests, as scikit-learn's scorers.

        Only available with metadata routing enabled. Each value is ``True``
        (requested), ``False`` (not requested), ``None`` (error if passed) or a
        string alias; a parameter left out keeps its request.

        Parameters
        ----------
        tasks : bool, None or str, default=UNCHANGED
            Request for the per-row task labels (``True`` unless changed).
        sample_weight : bool, None or str, default=UNCHANGED
            Request for sample weights (``None`` unless changed).

        Returns
        -------
        self : object
            The scorer, with updated requests.
        """
        if not get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request is only available when metadata routing is "
                "enabled: use it inside sklearn.config_context("
                "enable_metadata_routing=True) or after "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        for param, alias in (("tasks", tasks), ("sample_weight", sample_weight)):
            if alias is UNCHANGED:
                continue
            # scikit-learn's own validation of an alias (bool, None, identifier)
            MetadataRequest(owner=self).score.add_request(param=param, alias=alias)
            self._requests[param] = True if alias == param else alias
        return self

    def _accept_sample_weight(self):
        # scikit-learn asks scorers this on its routing-off path (GridSearchCV
        # and _MultimetricScorer forward sample_weight only when it is True).
        return _accepts(self._score_func, "sample_weight")

    # ------------------------------------------------------------ scoring
    def __call__(self, estimator, X, y_true, tasks=None, sample_weight=None):
        """Score ``estimator`` on ``X`` against ``y_true``, task by task.

        Parameters
        ----------
        estimator : object
            Fitted estimator; ``tasks`` is passed to its response method when
            given and when the method accepts it.
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test data.
        y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True targets. With ``tasks=None``, a 2-D ``y_true`` is the shared
            design: each column is a task.
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task label of each row.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights, passed to the metric and used by
            ``task_average="weighted"``.

        Returns
        -------
        score : float
            Greater is better (losses are negated).
        """
        if tasks is None:
            tasks = _column_tasks(estimator, X)
        if self._task is not None:
            return self._score_one_task(estimator, X, y_true, tasks, sample_weight)
        avg = self._task_average
        y_true, y_pred, sw, kwargs = self._predict(
            estimator, X, y_true, tasks, sample_weight
        )
        if avg in (None, "pooled"):
            return float(self._metric(y_true, y_pred, sw, kwargs))
        _, _, weights, scores = self._per_task(
            y_true, y_pred, tasks, sw, kwargs, _fitted_tasks(estimator)
        )
        if avg == "macro":
            return float(np.mean(scores))
        if avg == "worst":
            return float(np.min(scores))
        if not np.sum(weights) > 0:
            raise ValueError(
                "task_average='weighted' needs a positive total sample_weight; "
                "got weights summing to 0."
            )
        return float(np.average(scores, weights=weights))

    def _check_sample_weight(self, sample_weight, n_samples):
        if sample_weight is None:
            return None
        if not _accepts(self._score_func, "sample_weight"):
            raise ValueError(
                f"sample_weight was given but {_func_name(self._score_func)} "
                "does not accept a sample_weight argument."
            )
        sw = np.asarray(sample_weight, dtype=float)
        if sw.ndim != 1 or sw.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight must be 1-D with one weight per row ({n_samples}), "
                f"got shape {sw.shape}."
            )
        # as in fit: a weight 0 drops the row, so NaN or a negative weight
        # must not pass for one
        if not np.all(np.isfinite(sw)):
            raise ValueError("sample_weight contains NaN or infinite values.")
        if np.any(sw < 0):
            raise ValueError(
                f"sample_weight must be non-negative, got a minimum of {sw.min()}."
            )
        return sw

    def _response(self, estimator, X, tasks):
        """Call the response method, passing ``tasks`` when there are some."""
        names = (
            (self._response_method,)
            if isinstance(self._response_method, str)
            else self._response_method
        )
        for name in names:
            method = getattr(estimator, name, None)  # available_if -> None
            if method is not None:
                break
        else:
            raise AttributeError(
                f"{type(estimator).__name__} has no method among "
                f"response_method={self._response_method!r}."
            )
        # A model that takes no tasks (a pooled baseline, a plain scikit-learn
        # estimator) predicts the same whatever the task: call it without.
        if tasks is None or not _takes_tasks(estimator, name):
            try:
                y_pred = method(X)
            except ValueError as exc:
                if tasks is None and "tasks" in str(exc):
                    raise ValueError(
                        f"{self!r} received tasks=None, but "
                        f"{type(estimator).__name__}.{name} needs them. {exc} "
                        "The scorer requests tasks, so with routing enabled it "
                        "receives them in every fold; called directly, use "
                        "scorer(estimator, X, y, tasks=tasks)."
                    ) from exc
                raise
        elif isinstance(estimator, Pipeline) and not get_config().get(
            "enable_metadata_routing", False
        ):
            # without routing, Pipeline.decision_function does not forward
            # keywords: run the transformers, then the final step with tasks
            # (as skmtl.pipeline.TaskColumnEstimator does)
            Xt = transform_to_final(estimator, X)
            y_pred = getattr(final_step(estimator), name)(Xt, tasks=tasks)
        else:
            y_pred = method(X, tasks=tasks)
        return self._select_positive(estimator, name, np.asarray(y_pred))

    def _pos_label(self):
        if "pos_label" in self._kwargs:
            return self._kwargs["pos_label"]
        try:
            param = inspect.signature(self._score_func).parameters.get("pos_label")
        except (TypeError, ValueError):
            param = None
        return None if param is None else param.default

    def _select_positive(self, estimator, method_name, y_pred):
        """Binary classification: the positive class's column, as scikit-learn."""
        if method_name == "predict" or not is_classifier(estimator):
            return y_pred
        classes = np.asarray(getattr(estimator, "classes_", []))
        if classes.shape[0] != 2:
            return y_pred
        pos_label = self._pos_label()
        if pos_label is None or pos_label is inspect.Parameter.empty:
            pos_label = classes[-1]
        if not np.any(classes == pos_label):
            raise ValueError(
                f"pos_label={pos_label!r} is not a class of the estimator: "
                f"classes_={classes.tolist()}."
            )
        if method_name == "predict_proba":
            return y_pred[:, np.flatnonzero(classes == pos_label)[0]]
        # decision_function scores classes_[1]
        return -y_pred if pos_label == classes[0] else y_pred

    def _metric_kwargs(self, estimator):
        kwargs = dict(self._kwargs)
        # A task (or a fold of it) may miss some classes: tell probability
        # metrics such as log_loss which columns the probabilities belong to.
        proba = self._response_method == "predict_proba"
        if (
            proba
            and "labels" not in kwargs
            and hasattr(estimator, "classes_")
            and _accepts(self._score_func, "labels")
        ):
            kwargs["labels"] = estimator.classes_
        return kwargs

    def _metric(self, y_true, y_pred, sample_weight, kwargs):
        if sample_weight is not None:
            kwargs = {**kwargs, "sample_weight": sample_weight}
        return self._sign * self._score_func(y_true, y_pred, **kwargs)

    def _predict(self, estimator, X, y_true, tasks, sample_weight):
        """Validated ``y_true``, predictions, sample weights, metric kwargs."""
        y_true = np.asarray(y_true)
        sw = self._check_sample_weight(sample_weight, y_true.shape[0])
        y_pred = self._response(estimator, X, tasks)
        return y_true, y_pred, sw, self._metric_kwargs(estimator)

    def _per_task(self, y_true, y_pred, tasks, sw, kwargs, labels_2d=None):
        """Scores of every task of the test set.

        Returns the sorted task labels, their row counts, their weights (rows or
        sum of sample_weight) and their signed scores. ``labels_2d`` names the
        columns of a 2-D ``y_true`` (shared design).
        """
        n_samples = y_true.shape[0]
        if tasks is None and y_true.ndim == 2:
            # shared design: every column is a task observed on every row
            n_tasks = y_true.shape[1]
            labels = np.arange(n_tasks) if labels_2d is None else labels_2d
            if labels.shape[0] != n_tasks:
                labels = np.arange(n_tasks)
            scores = np.array(
                [
                    self._metric(y_true[:, j], y_pred[:, j], sw, kwargs)
                    for j in range(n_tasks)
                ]
            )
            counts = np.full(n_tasks, n_samples)
            weights = counts if sw is None else np.full(n_tasks, sw.sum())
            return labels, counts, weights, scores
        if tasks is None:
            # one task: every row (a single-task model, or a plain estimator)
            labels, codes = np.array([None], dtype=object), np.zeros(n_samples, int)
        else:
            labels, codes = encode_tasks(tasks, n_samples)
        if sw is not None:
            # a row of weight 0 is absent: a task with no other row is not in
            # the test set (the metrics refuse an all-zero weight vector)
            present = np.bincount(codes, weights=sw > 0, minlength=len(labels)) > 0
            if not present.any():
                raise ValueError(
                    "sample_weight is zero on every row: there is no row to score "
                    "(a row of weight 0 is absent)."
                )
            labels, codes = labels[present], np.cumsum(present)[codes] - 1
            keep = sw > 0
            y_true, y_pred, sw, codes = (
                y_true[keep],
                y_pred[keep],
                sw[keep],
                codes[keep],
            )
        scores, counts, weights = [], [], []
        for k in range(len(labels)):
            rows = codes == k
            w = None if sw is None else sw[rows]
            scores.append(self._metric(y_true[rows], y_pred[rows], w, kwargs))
            counts.append(int(rows.sum()))
            weights.append(counts[-1] if w is None else w.sum())
        return labels, np.array(counts), np.array(weights), np.array(scores)

    def _score_one_task(self, estimator, X, y_true, tasks, sample_weight):
        """Score the rows of ``self._task`` only; NaN when there are none."""
        y_true = np.asarray(y_true)
        n_samples = y_true.shape[0]
        sw = self._check_sample_weight(sample_weight, n_samples)
        if tasks is None and y_true.ndim == 2:
            # shared design: the task is a column of y
            labels = _fitted_tasks(estimator)
            if labels is None or labels.shape[0] != y_true.shape[1]:
                labels = np.arange(y_true.shape[1])
            cols = np.flatnonzero(np.asarray(labels == self._task, dtype=bool))
            if cols.size == 0:
                raise ValueError(
                    f"task {self._task!r} is not a column of y_true: the "
                    f"estimator's tasks are {labels.tolist()}."
                )
            y_pred = self._response(estimator, X, None)
            j = cols[0]
            kwargs = self._metric_kwargs(estimator)
            return float(self._metric(y_true[:, j], y_pred[:, j], sw, kwargs))
        if tasks is None:
            raise ValueError(
                f"{self!r} scores the rows of task {self._task!r} and needs the "
                "task of each row, but received tasks=None. Pass tasks as a "
                "parameter (cross_validate(..., params={'tasks': tasks}) or "
                "search.fit(X, y, tasks=tasks)) with metadata routing enabled "
                "(sklearn.config_context(enable_metadata_routing=True))."
            )
        labels = check_task_labels(tasks, n_samples)
        rows = np.asarray(labels == self._task, dtype=bool)
        if sw is not None:
            rows &= sw > 0  # a row of weight 0 is absent
        rows = np.flatnonzero(rows)
        if rows.size == 0:
            return float("nan")
        y_pred = self._response(
            estimator, _safe_indexing(X, rows), _safe_indexing(labels, rows)
        )
        w = None if sw is None else sw[rows]
        kwargs = self._metric_kwargs(estimator)
        return float(self._metric(y_true[rows], y_pred, w, kwargs))


def _resolve(score_func, response_method, greater_is_better, kwargs):
    """(score_func, sign, response_method, kwargs, metric_name) of the arguments."""
    if isinstance(score_func, str):
        if score_func not in _METRICS:
            raise ValueError(
                f"score_func={score_func!r} is not a known metric name; use one of "
                f"{list(METRIC_NAMES)} or pass a metric function "
                "score_func(y_true, y_pred, **kwargs)."
            )
        if greater_is_better is not None:
            raise ValueError(
                f"greater_is_better cannot be set with the metric name "
                f"{score_func!r}: the name fixes the sign (neg_* are losses)."
            )
        func, better, method, fixed = _METRICS[score_func]
        if response_method is not None:
            method = _check_response_method(response_method)
        return func, 1 if better else -1, method, {**fixed, **kwargs}, score_func
    if not callable(score_func):
        raise TypeError(
            "score_func must be a metric name or a callable "
            f"score_func(y_true, y_pred, **kwargs), got {score_func!r}."
        )
    if isinstance(score_func, _TaskScorer):
        raise TypeError(
            "score_func must be a metric function, got a scorer; pass the metric "
            "function or its name instead."
        )
    method = _check_response_method(
        "predict" if response_method is None else response_method
    )
    if greater_is_better is None:
        greater_is_better = True
    if not isinstance(greater_is_better, (bool, np.bool_)):
        raise ValueError(
            f"greater_is_better must be a bool, got {greater_is_better!r}."
        )
    return score_func, 1 if greater_is_better else -1, method, dict(kwargs), None


def make_task_scorer(
    score_func,
    *,
    response_method=None,
    task_average="macro",
    greater_is_better=None,
    task=None,
    **kwargs,
):
    """Make a scorer that scores each task separately and aggregates.

    The scorer is called as ``scorer(estimator, X, y_true, tasks=None,
    sample_weight=None)``. It passes ``tasks`` to the estimator's response
    method, computes ``score_func`` on the rows of each task and aggregates the
    per-task scores. It requests ``tasks`` for metadata routing, so that with
    ``sklearn.config_context(enable_metadata_routing=True)``, ``GridSearchCV``
    and ``cross_validate`` give it the test rows' tasks in every fold.

    Parameters
    ----------
    score_func : str or callable
        A metric name from :data:`METRIC_NAMES` (``"accuracy"``,
        ``"balanced_accuracy"``, ``"f1"``, ``"f1_macro"``, ``"roc_auc"``,
        ``"neg_log_loss"``, ``"r2"``, ``"neg_mean_squared_error"``,
        ``"neg_root_mean_squared_error"``, ``"neg_mean_absolute_error"``),
        which fixes the sign and the response method as scikit-learn's scorer
        of that name does, or a function ``score_func(y_true, y_pred,
        **kwargs)``.
    response_method : {"predict", "predict_proba", "decision_function"} or \
tuple of them, default=None
        Method of the estimator that gives ``y_pred``; a tuple means the first
        one the estimator has. ``None``: ``"predict"`` for a function, the
        table's method for a name. For binary classification,
        ``predict_proba`` gives the probability of the positive class
        (``pos_label`` of the metric, else ``classes_[1]``), as scikit-learn.
    task_average : {"macro", "weighted", "worst", "pooled"} or None, \
default="macro"
        How the per-task scores are aggregated:

        - ``"macro"``: unweighted mean over the tasks present in ``y_true``
          (a task whose rows all have ``sample_weight`` 0 is absent);
        - ``"weighted"``: mean weighted by each task's number of rows (sum of
          ``sample_weight`` when given);
        - ``"worst"``: the lowest (signed) per-task score, i.e. the worst task;
        - ``"pooled"`` or None: ``score_func`` over all rows at once.

        (Named ``task_average`` and not ``average`` so that it cannot be
        mistaken for the ``average`` argument of ``f1_score`` or
        ``roc_auc_score``, which goes through ``**kwargs``.)
    greater_is_better : bool, default=None
        Whether ``score_func`` is a score (True) or a loss (False, the result
        is negated). ``None`` means True for a function; it cannot be set with
        a metric name.
    task : hashable, default=None
        Score only the rows of this task (``task_average`` is then unused).
        The score of a test set without any row of ``task`` is NaN. See
        :func:`per_task_scorers`.
    **kwargs
        Extra arguments of ``score_func``. With ``response_method=
        "predict_proba"``, a metric that takes ``labels`` (``log_loss``) gets
        ``labels=estimator.classes_`` unless given, so that a task missing a
        class is still scored.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true, tasks=None, sample_weight=None)``
        returning a float, greater is better. It pickles, has
        ``get_metadata_routing`` and ``set_score_request`` (for instance
        ``scorer.set_score_request(sample_weight=True)`` under routing).

    See Also
    --------
    per_task_scorers : One scorer per task, for ``cross_validate``.
    per_task_report : Per-task scores of a fitted model as a table.

    Notes
    -----
    Without routing, scikit-learn calls scorers without ``tasks``. A
    single-task model is then scored on all rows; a model fitted on several
    tasks raises an error that says how to enable routing. A model whose
    response method does not take ``tasks`` (a plain scikit-learn estimator)
    is called without them and still scored task by task; so is a
    ``Pipeline`` of such estimators (no step of it takes ``tasks``). In
    column mode (:class:`skmtl.pipeline.TaskColumnEstimator`, routing off)
    the scorer reads the tasks from the estimator's task column of ``X``.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.model_selection import KFold, cross_validate
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.datasets import make_multitask_classification
    >>> from skmtl.metrics import make_task_scorer
    >>> X, y, tasks = make_multitask_classification(
    ...     n_tasks=3, n_samples=40, random_state=0)
    >>> scorer = make_task_scorer("accuracy", task_average="worst")
    >>> scorer
    make_task_scorer('accuracy', task_average='worst')
    >>> cv = KFold(3, shuffle=True, random_state=0)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     res = cross_validate(MultiTaskClassifier(), X, y, cv=cv,
    ...                          params={"tasks": tasks}, scoring=scorer)
    >>> res["test_score"].shape
    (3,)
    """
    if task_average not in _TASK_AVERAGES:
        raise ValueError(
            f"task_average must be one of {list(_TASK_AVERAGES)}, got {task_average!r}."
        )
    func, sign, method, kwargs, name = _resolve(
        score_func, response_method, greater_is_better, kwargs
    )
    return _TaskScorer(func, sign, kwargs, method, task_average, task, name)


def per_task_scorers(
    score_func,
    tasks,
    *,
    response_method=None,
    greater_is_better=None,
    task_average=None,
    name=None,
    **kwargs,
):
    """One scorer per task, as a ``scoring`` dict for ``cross_validate``.

    Parameters
    ----------
    score_func : str or callable
        Metric name or function, as in :func:`make_task_scorer`.
    tasks : array-like
        Task labels. Duplicates are dropped, so the per-row task array of the
        data works too.
    response_method : str or tuple of str, default=None
        As in :func:`make_task_scorer`.
    greater_is_better : bool, default=None
        As in :func:`make_task_scorer`.
    task_average : {"macro", "weighted", "worst", "pooled"} or None, \
default=None
        When set, the dict also holds the aggregated scorer of
        :func:`make_task_scorer` under the key ``f"{name}_{task_average}"``
        (handy as ``refit`` in ``GridSearchCV``). None: per-task scorers
        only.
    name : str, default=None
        Prefix of the keys. Default: the metric name, or the function's name
        without a trailing ``"_score"`` (``accuracy_score`` -> ``"accuracy"``).
    **kwargs
        Extra arguments of ``score_func``.

    Returns
    -------
    scorers : dict of str to callable
        ``{f"{name}_{task}": scorer}`` in sorted task order. Each scorer scores
        only the rows of its task; on a test fold without any row of its task
        it returns NaN (a missing value rather than an error, so that the other
        columns survive; use ``np.nanmean`` over folds).

    See Also
    --------
    make_task_scorer : One aggregated task-aware scorer.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.model_selection import KFold, cross_validate
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.datasets import make_multitask_classification
    >>> from skmtl.metrics import per_task_scorers
    >>> X, y, tasks = make_multitask_classification(
    ...     n_tasks=3, n_samples=40, random_state=0)
    >>> scoring = per_task_scorers("accuracy", tasks)
    >>> list(scoring)
    ['accuracy_0', 'accuracy_1', 'accuracy_2']
    >>> cv = KFold(3, shuffle=True, random_state=0)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     res = cross_validate(MultiTaskClassifier(), X, y, cv=cv,
    ...                          params={"tasks": tasks}, scoring=scoring)
    >>> sorted(k for k in res if k.startswith("test_"))
    ['test_accuracy_0', 'test_accuracy_1', 'test_accuracy_2']
    """
    if task_average not in _TASK_AVERAGES:
        raise ValueError(
            f"task_average must be one of {list(_TASK_AVERAGES)}, got {task_average!r}."
        )
    if tasks is None or isinstance(tasks, (str, bytes, numbers.Number)):
        raise ValueError(
            "tasks must be an array-like of task labels (the per-row task array "
            f"works), got {tasks!r}."
        )
    if len(tasks) == 0:
        raise ValueError("tasks must hold at least one task label, got none.")
    labels, _ = encode_tasks(tasks, len(tasks))
    func, sign, method, kwargs, metric_name = _resolve(
        score_func, response_method, greater_is_better, kwargs
    )
    if name is None:
        name = metric_name or _func_name(func).removesuffix("_score")
    scorers = {}
    for label in labels.tolist():
        key = f"{name}_{label}"
        if key in scorers:
            raise ValueError(
                f"tasks {label!r} and another label both give the key {key!r}; "
                "use task labels whose str() differ."
            )
        scorers[key] = _TaskScorer(func, sign, kwargs, method, None, label, metric_name)
    if task_average is not None:
        key = f"{name}_{task_average}"
        if key in scorers:
            raise ValueError(
                f"The aggregated key {key!r} is also a task key; pass name=... or "
                "task_average=None."
            )
        scorers[key] = _TaskScorer(
            func, sign, kwargs, method, task_average, None, metric_name
        )
    return scorers
