"""Column mode: the task id of each row travels inside ``X``.

Stock scikit-learn tools (``cross_val_score``, ``GridSearchCV``,
``cross_validate``) hand only ``X`` and ``y`` to an estimator when metadata
routing is off. :class:`TaskColumnEstimator` lets them drive a skmtl model
anyway: the task labels are one column of ``X`` (a DataFrame column or a
column of a 2-D array) that the wrapper splits off and hands to the final
skmtl estimator as ``tasks``.
"""

from dataclasses import replace

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._task_column import as_table, split_task_column, task_column_values
from ._tasks import encode_tasks
from .base import fit_or_restore, restore_on_error

__all__ = [
    "TaskColumnEstimator",
    "make_task_pipeline",
    "split_task_column",
    "task_column_values",
]


def final_step(est):
    """The last step of a Pipeline, or ``est`` itself."""
    return est.steps[-1][1] if isinstance(est, Pipeline) else est


def transform_to_final(pipe, X):
    """``X`` through every step of the Pipeline ``pipe`` but the last.

    Without metadata routing, ``Pipeline.decision_function`` and ``score`` do
    not forward keywords such as ``tasks``: callers run the transformers here,
    then call the last step themselves.
    """
    Xt = X
    for _, step in pipe.steps[:-1]:
        if step is not None and step != "passthrough":
            Xt = step.transform(Xt)
    return Xt


def _routing_on():
    return get_config().get("enable_metadata_routing", False)


def _inner_has(attr):
    def check(self):
        # Fitted: the fitted clone decides; before fit, the template does.
        est = getattr(self, "estimator_", self.estimator)
        return hasattr(est, attr)

    return check


class TaskColumnEstimator(MetaEstimatorMixin, BaseEstimator):
    """Read each row's task from a column of X and hand it on as ``tasks``.

    The wrapped ``estimator`` (a skmtl estimator, or a
    :class:`~sklearn.pipeline.Pipeline` ending in one) receives the other
    columns as ``X`` and the task column as ``tasks`` in ``fit``, ``predict``,
    ``predict_proba``, ``decision_function`` and ``score``. Since the tasks
    travel inside ``X``, scikit-learn's model selection tools work with
    metadata routing off: ``cross_val_score(TaskColumnEstimator(pipe),
    df, y, scoring="accuracy")`` scores each fold's test rows with their own
    tasks, and ``GridSearchCV`` tunes nested parameters such as
    ``estimator__multitaskclassifier__alpha``.

    How ``tasks`` reaches the final estimator:

    - ``estimator`` is a Pipeline and routing is off: ``fit`` gets the step
      parameter ``{last step name}__tasks``; the other methods run the
      transformers and call the last step with ``tasks=``;
    - routing is on (``sklearn.config_context(enable_metadata_routing=True)``),
      or ``estimator`` is not a Pipeline: ``tasks=`` is passed as a keyword
      (routed by a Pipeline to the steps that request it).

    Parameters
    ----------
    estimator : estimator object
        A skmtl estimator or a Pipeline whose last step takes ``tasks``.
    task_column : str or int, default="task"
        Name of the task column of a DataFrame, or its integer position (for
        arrays; negative positions count from the end).
    feature_columns : str, int, list or None, default=None
        Columns given to ``estimator``. None: every column but the task
        column, 2-D, except that when exactly one remains and it holds
        strings (a text column) it is passed as a 1-D Series / array, the
        input a ``TfidfVectorizer`` expects; a single numeric column stays
        2-D, as numeric estimators expect. A single name or position: that
        column, 1-D, whatever it holds. A list: those columns, 2-D.

    Attributes
    ----------
    estimator_ : estimator object
        Fitted clone of ``estimator``.
    tasks_ : ndarray of shape (n_tasks,)
        Sorted task labels seen in fit.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classifiers only), from ``estimator_``.
    n_features_in_ : int
        Number of columns of the outer X (task column included).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of the outer X, when it is a DataFrame with string names.

    See Also
    --------
    make_task_pipeline : build ``TaskColumnEstimator(make_pipeline(*steps))``.
    skmtl.model_selection.TaskStratifiedKFold : folds with every task, which
        reads the same column with ``task_column=``.

    Notes
    -----
    Task labels are validated by the same rules as ``tasks`` everywhere in
    skmtl (no missing labels, one label type); errors name the column.
    With routing on, passing ``tasks`` to ``fit`` as well is an error: the
    column is the only source.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.model_selection import cross_val_score
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.datasets import make_multitask_classification
    >>> from skmtl.pipeline import TaskColumnEstimator
    >>> X, y, tasks = make_multitask_classification(
    ...     n_tasks=3, n_samples=40, n_features=5, random_state=0)
    >>> df = pd.DataFrame(X, columns=[f"x{j}" for j in range(5)])
    >>> df["task"] = tasks
    >>> model = TaskColumnEstimator(MultiTaskClassifier(), task_column="task")
    >>> model.fit(df, y).tasks_
    array([0, 1, 2])
    >>> model.predict(df.head(3)).shape
    (3,)
    >>> from skmtl.model_selection import TaskStratifiedKFold
    >>> cv = TaskStratifiedKFold(3, task_column="task")  # every task in every fold
    >>> scores = cross_val_score(model, df, y, cv=cv, scoring="accuracy")
    >>> scores.shape
    (3,)
    """

    def __init__(self, estimator, task_column="task", *, feature_columns=None):
        self.estimator = estimator
        self.task_column = task_column
        self.feature_columns = feature_columns

    # ------------------------------------------------------------- tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        # In scikit-learn >= 1.6 the tags decide is_classifier / is_regressor
        # (and so the default scoring and stratified CV): copy the inner ones.
        tags.estimator_type = inner.estimator_type
        # 2-D y (multi-label) is the inner model's shared design, which takes
        # no tasks: with a task column, y is one label per row
        tags.classifier_tags = (
            None
            if inner.classifier_tags is None
            else replace(inner.classifier_tags, multi_label=False)
        )
        tags.regressor_tags = inner.regressor_tags
        # 2-D y is the skmtl shared design, which takes no tasks: with a task
        # column, y is one target per row.
        tags.target_tags = replace(inner.target_tags, multi_output=False)
        tags.input_tags.sparse = inner.input_tags.sparse
        # The task column may hold strings; the features may be text.
        tags.input_tags.string = True
        return tags

    # ------------------------------------------------------------- helpers
    def _split(self, X, *, reset):
        X = as_table(X)
        # Column names and count of the outer X, as sklearn sets them; no
        # conversion (the columns may be strings).
        validate_data(self, X, skip_check_array=True, reset=reset)
        return split_task_column(X, self.task_column, self.feature_columns)

    @staticmethod
    def _last_step(est):
        if isinstance(est, Pipeline):
            return est.steps[-1]
        return None

    def _call(self, method, X, *args, **kwargs):
        """Call ``method`` of the fitted estimator with the rows' tasks."""
        check_is_fitted(self)
        Xf, tasks = self._split(X, reset=False)
        est = self.estimator_
        last = self._last_step(est)
        if last is not None and not _routing_on():
            # Pipeline.decision_function / score do not forward keywords
            # without routing: run the transformers here, then the last step.
            est, Xf = last[1], transform_to_final(est, Xf)
        return getattr(est, method)(Xf, *args, tasks=tasks, **kwargs)

    # ------------------------------------------------------------- API
    @fit_or_restore
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` on the feature columns with their tasks.

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)
            Feature columns and the task column.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        **fit_params : dict
            Other fit parameters. Routing off: passed to ``estimator.fit`` as
            they are (Pipeline step parameters such as
            ``multitaskclassifier__sample_weight``). Routing on: routed.

        Returns
        -------
        self : object
        """
        if "tasks" in fit_params:
            raise ValueError(
                "TaskColumnEstimator reads the tasks from the column "
                f"task_column={self.task_column!r} of X; do not pass tasks to fit."
            )
        Xf, tasks = self._split(X, reset=True)
        if getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
            # One target per row (see the tags): a column vector is raveled,
            # with scikit-learn's DataConversionWarning.
            y = column_or_1d(y, warn=True)
        est = clone(self.estimator)
        if _routing_on():
            routed = process_routing(self, "fit", **fit_params)
            est.fit(Xf, y, tasks=tasks, **routed.estimator.fit)
        else:
            last = self._last_step(est)
            key = f"{last[0]}__tasks" if last is not None else "tasks"
            est.fit(Xf, y, **{key: tasks}, **fit_params)
        self.estimator_ = est
        fitted_tasks = getattr(final_step(est), "tasks_", None)
        if fitted_tasks is None:
            fitted_tasks = encode_tasks(tasks, len(tasks))[0]
        self.tasks_ = np.asarray(fitted_tasks)
        return self

    def predict(self, X):
        """Predict with each row's task model.

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        return self._call("predict", X)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of each row under its task's model.

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_proba", X)

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_log_proba", X)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X):
        """Decision values of each row under its task's model.

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._call("decision_function", X)

    def score(self, X, y, sample_weight=None):
        """Score of the final estimator (accuracy or R^2), tasks from the column.

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return self._call("score", X, y, **kwargs)

    @available_if(_inner_has("partial_fit"))
    def partial_fit(self, X, y=None, **fit_params):
        """Add rows to the wrapped estimator, tasks read from the column.

        The first call fits a clone of ``estimator`` with its ``partial_fit``;
        later calls continue it. This is what out-of-core wrappers need
        (dask-ml's ``Incremental`` hands ``partial_fit`` one block of rows at
        a time and the same keyword arguments to every block, so per-row
        tasks can only travel inside ``X``). Available when ``estimator`` has
        ``partial_fit`` (a Pipeline has none).

        Parameters
        ----------
        X : {DataFrame, array-like, sparse matrix} of shape (n_samples, n_columns)
            Feature columns and the task column.
        y : array-like of shape (n_samples,)
        **fit_params : dict
            Passed to ``estimator.partial_fit`` (``classes=``,
            ``sample_weight=``).

        Returns
        -------
        self : object
        """
        if "tasks" in fit_params:
            raise ValueError(
                "TaskColumnEstimator reads the tasks from the column "
                f"task_column={self.task_column!r} of X; do not pass tasks to "
                "partial_fit."
            )
        first = not hasattr(self, "estimator_")
        with restore_on_error(self):
            Xf, tasks = self._split(X, reset=first)
            if getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            est = clone(self.estimator) if first else self.estimator_
            est.partial_fit(Xf, y, tasks=tasks, **fit_params)
            self.estimator_ = est
            self.tasks_ = np.asarray(est.tasks_)
        return self

    @property
    def classes_(self):
        """Class labels of the fitted classifier."""
        check_is_fitted(self)
        return self.estimator_.classes_

    def get_metadata_routing(self):
        """Metadata routing of this object: other fit parameters go to ``estimator``.

        Returns
        -------
        routing : MetadataRouter
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )


def make_task_pipeline(
    *steps, task_column="task", feature_columns=None, memory=None, verbose=False
):
    """Build ``TaskColumnEstimator(make_pipeline(*steps), task_column)``.

    Parameters
    ----------
    *steps : list of estimators
        The pipeline's steps; the last one takes ``tasks`` (a skmtl estimator).
    task_column : str or int, default="task"
        Column of X holding the task labels.
    feature_columns : str, int, list or None, default=None
        See :class:`TaskColumnEstimator`.
    memory, verbose :
        Passed to :func:`sklearn.pipeline.make_pipeline`.

    Returns
    -------
    estimator : TaskColumnEstimator
        Its parameters are nested as ``estimator__<step>__<param>``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.pipeline import make_task_pipeline
    >>> df = pd.DataFrame({
    ...     "text": ["goal team", "disk chip", "ball team", "chip memory"] * 2,
    ...     "task": ["a"] * 4 + ["b"] * 4})
    >>> y = [0, 1, 0, 1] * 2
    >>> model = make_task_pipeline(TfidfVectorizer(), MultiTaskClassifier())
    >>> model.fit(df, y).predict(pd.DataFrame({"text": ["team"], "task": ["b"]}))
    array([0])
    """
    pipe = make_pipeline(*steps, memory=memory, verbose=verbose)
    return TaskColumnEstimator(
        pipe, task_column=task_column, feature_columns=feature_columns
    )
