"""The task-aware estimator protocol shared by every skmtl estimator.

Linear, transfer and (next) neural estimators take the task of each row as
``tasks``, a per-sample argument next to ``sample_weight``:

- ``fit(X, y, tasks=None, sample_weight=None, ...)``, likewise
  ``partial_fit``; ``predict(X, tasks=None)``, ``predict_proba``,
  ``predict_log_proba``, ``decision_function``; and one
  ``score(X, y, tasks=None, sample_weight=None)``;
- ``tasks`` may be any hashable labels (one per row) or a scalar (every row
  in that task); ``tasks=None`` means a single task labelled 0 in fit, and is
  accepted in predict only by a model fitted on one task;
- ``tasks_`` holds the sorted task labels seen in fit, the order of every
  per-task fitted attribute;
- tasks not seen in fit raise a ``ValueError`` naming them, unless the model
  has a shared part and ``unseen_tasks="shared"``.

:class:`TaskEstimatorMixin` implements this once; :class:`TaskRegressorMixin`
and :class:`TaskClassifierMixin` add the task-aware ``score`` (R^2, accuracy)
in place of scikit-learn's mixins, and go first among the bases::

    class MyModel(TaskClassifierMixin, BaseEstimator): ...

Metadata routing: every
method of the class whose signature takes ``tasks`` requests it at class level
(``__metadata_request__<method> = {"tasks": True}``), and likewise a ``fit``
that takes ``unlabelled`` (the mask of the unlabelled rows, see
``skmtl._validation.check_unlabelled``), so that ``Pipeline``,
``GridSearchCV`` and ``cross_validate`` route it without ``set_*_request``
calls; skmtl never changes scikit-learn's global configuration.
"""

import functools
import inspect
import sys
from contextlib import contextmanager

import numpy as np
from scipy.special import expit, softmax
from sklearn import get_config
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score

from ._tasks import TaskIndex, check_task_labels, encode_tasks

__all__ = [
    "TaskEstimatorMixin",
    "TaskRegressorMixin",
    "TaskClassifierMixin",
    "ScoreClassifierMixin",
    "TASK_METHODS",
    "ROUTED_METADATA",
    "restore_on_error",
    "fit_or_restore",
    "TasksNotPassedError",
]

#: methods that take ``tasks`` (when the class defines them)
TASK_METHODS = (
    "fit",
    "partial_fit",
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "score",
)


#: per-row metadata requested at class level by every method that takes it:
#: the task of each row, and the mask of the unlabelled rows (fit only, by the
#: estimators that learn from unlabelled rows)
ROUTED_METADATA = ("tasks", "unlabelled")


def _routed_params(method):
    if not inspect.isfunction(method):
        return {}
    params = inspect.signature(method).parameters
    return {name: True for name in ROUTED_METADATA if name in params}


class TasksNotPassedError(BaseException):
    """A scikit-learn stock scorer called a model of several tasks without tasks.

    Raised instead of the ``ValueError`` of a call without ``tasks`` when the
    call comes from one of scikit-learn's stock scorers (``scoring="accuracy"``,
    ``"r2"``, ... or ``scoring=None`` without metadata routing): they never pass
    ``tasks`` to ``predict`` or ``score``, so no fold of a search can succeed.

    It derives from ``BaseException``, not ``Exception``, on
    purpose: ``GridSearchCV``, ``cross_validate`` and ``cross_val_score`` turn
    every ``Exception`` raised while scoring into ``error_score`` (NaN by
    default) and a warning, so the search would go on with NaN in every fold
    and report its first candidate as the best. The same reason makes
    ``asyncio.CancelledError`` a ``BaseException``: an ``except
    Exception`` must not swallow it. Catch it by name. The message says what
    to use instead: ``skmtl.metrics.make_task_scorer``, ``scoring=None`` with
    routing, or column mode (``skmtl.pipeline.TaskColumnEstimator``).

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn
    >>> from sklearn.model_selection import cross_val_score
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.base import TasksNotPassedError
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> y, tasks = (X[:, 0] > 0).astype(int), np.repeat(["a", "b"], 20)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     try:
    ...         cross_val_score(MultiTaskClassifier(), X, y, scoring="accuracy",
    ...                         params={"tasks": tasks}, cv=2)
    ...     except TasksNotPassedError as exc:
    ...         print(str(exc)[:60])
    tasks is required: this model was fitted on 2 tasks, and met
    """


def _called_by_stock_scorer():
    """Whether the caller is a scikit-learn stock scorer (not a task scorer).

    Walks up the stack from the failed call: the first frame of
    ``skmtl.metrics`` (a task scorer, which reports the error itself) or of
    ``sklearn.metrics._scorer`` (stock scorers) decides. Elsewhere (a direct
    call, ``cross_val_predict``) the answer is False.
    """
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "skmtl.metrics" or module.startswith("skmtl.metrics."):
            return False
        if module == "sklearn.metrics._scorer":
            return True
        frame = frame.f_back
    return False


def tasks_required_error(owner, n_tasks):
    """The error for a call without ``tasks`` on a model of several tasks.

    One message for every task-aware estimator and transformer; it depends on
    whether metadata routing is on, since the remedies differ. A
    ``ValueError``, or a :class:`TasksNotPassedError` when a stock scorer made
    the call (a search must stop, not score NaN).
    """
    if get_config().get("enable_metadata_routing", False):
        # routing is on and still no tasks: the caller does not route them to
        # this method. Stock scorers call predict(X) alone, so a GridSearchCV
        # with scoring="accuracy" lands here in every fold.
        message = (
            f"tasks is required: {owner} was fitted on {n_tasks} tasks, and "
            "metadata routing is on but the caller passed no tasks to this method. "
            "scikit-learn's stock scorers (scoring='accuracy', 'r2', ...) and "
            "cross_val_predict never pass them to predict: score with "
            "skmtl.metrics.make_task_scorer('accuracy', task_average='pooled') "
            "(the stock score, with tasks routed to predict) or scoring=None (the "
            "estimator's score receives tasks), or keep the task id in a column of "
            "X and wrap the model in skmtl.pipeline.TaskColumnEstimator (column "
            "mode), or call predict(X, tasks=...) directly."
        )
    else:
        message = (
            f"tasks is required: {owner} was fitted on {n_tasks} tasks. Pass "
            "tasks=... (one label per row or a scalar). In GridSearchCV, "
            "cross_validate or Pipeline, either enable metadata routing "
            "(sklearn.set_config(enable_metadata_routing=True)), pass tasks as a "
            "parameter and score with skmtl.metrics.make_task_scorer, or keep the "
            "task id in a column of X and wrap the model in "
            "skmtl.pipeline.TaskColumnEstimator (column mode)."
        )
    if _called_by_stock_scorer():
        return TasksNotPassedError(
            message + " Raised as skmtl.base.TasksNotPassedError, which "
            "error_score does not turn into NaN: a stock scorer never passes "
            "tasks, so no fold of this search or cross-validation can succeed."
        )
    return ValueError(message)


class TaskEstimatorMixin:
    """Task encoding, the unseen-task rule and the metadata requests."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in TASK_METHODS:
            request = _routed_params(getattr(cls, name, None))
            if request:
                setattr(cls, f"__metadata_request__{name}", request)

    # ------------------------------------------------------------- tasks
    def _encode_fit_tasks(self, tasks, n_samples):
        """``(task_labels, codes)`` of the training rows; None is one task, 0."""
        if tasks is None:
            tasks = 0
        return encode_tasks(tasks, n_samples)

    def _encode_predict_tasks(self, tasks, n_samples, *, allow_unseen=False):
        """Codes of ``tasks`` in ``tasks_`` (-1 for unseen tasks if allowed)."""
        if tasks is None:
            if len(self.tasks_) == 1:
                return np.zeros(n_samples, dtype=np.intp)
            raise tasks_required_error("this model", len(self.tasks_))
        return TaskIndex(self.tasks_).transform(
            tasks, n_samples, allow_unseen=allow_unseen
        )


_SCORE_DOC = """{what} of ``predict(X, tasks)`` over all rows{detail}.

        Parameters
        ----------
        X : {{array-like, sparse matrix}} of shape (n_samples, n_features)
        y : array-like of shape {y_shape}
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task of each row, as for ``predict``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            See :func:`skmtl.metrics.per_task_report` for per-task scores.
        """


def _score(estimator, metric, X, y, tasks, sample_weight):
    if tasks is not None:
        check_task_labels(tasks, np.shape(y)[0])
    pred = estimator.predict(X, tasks=tasks)
    return float(metric(y, pred, sample_weight=sample_weight))


class TaskRegressorMixin(TaskEstimatorMixin, RegressorMixin):
    """``RegressorMixin`` with the task-aware ``score``: R^2 of the predictions."""

    def score(self, X, y, tasks=None, sample_weight=None):
        return _score(self, r2_score, X, y, tasks, sample_weight)

    score.__doc__ = _SCORE_DOC.format(
        what="R^2",
        detail=" (uniform average over outputs)",
        y_shape="(n_samples,) or (n_samples, n_outputs)",
    )


class TaskClassifierMixin(TaskEstimatorMixin, ClassifierMixin):
    """``ClassifierMixin`` with the task-aware ``score``: accuracy."""

    def score(self, X, y, tasks=None, sample_weight=None):
        return _score(self, accuracy_score, X, y, tasks, sample_weight)

    score.__doc__ = _SCORE_DOC.format(
        what="Accuracy", detail="", y_shape="(n_samples,)"
    )


class ScoreClassifierMixin:
    """``predict_proba``, ``predict_log_proba`` and ``predict`` from scores.

    For classifiers whose ``decision_function(X, tasks)`` gives the logit of
    ``classes_[1]`` (two classes, shape (n_samples,)) or one logit per class
    (shape (n_samples, n_classes), ``-inf`` for a class a row's task never
    saw): the linear and the neural multi-task classifiers.
    """

    def predict_proba(self, X, tasks=None):
        """Class probabilities of each row under its task's model.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X, tasks)
        if scores.ndim == 1:
            p1 = expit(scores)
            return np.column_stack([1.0 - p1, p1])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X, tasks=None):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, tasks))

    def predict(self, X, tasks=None):
        """Most probable class of each row under its task's model.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X, tasks)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[np.argmax(scores, axis=1)]


@contextmanager
def restore_on_error(estimator):
    """Leave ``estimator`` exactly as it was when the block raises.

    ``fit`` validates and sets attributes (``n_features_in_``,
    ``feature_names_in_``, ``classes_`` ...) before it can know that the input
    is bad; a failed call must leave a fitted model as it was. The attribute
    dict is restored (a shallow copy: fitted arrays are replaced by fit, never
    modified in place).
    """
    saved = dict(vars(estimator))
    try:
        yield estimator
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


def fit_or_restore(fit):
    """Decorate a ``fit`` method so that a failed call leaves the estimator as it was.

    See :func:`restore_on_error`; the signature is kept (metadata routing
    reads it).
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        with restore_on_error(self):
            return fit(self, *args, **kwargs)

    return wrapper
