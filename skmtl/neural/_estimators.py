"""The multi-task networks: a classifier and a regressor."""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import r2_score
from sklearn.utils.multiclass import check_classification_targets

from .._tasks import TaskIndex
from ..base import ScoreClassifierMixin, TaskClassifierMixin, TaskRegressorMixin
from ._base import BaseMultiTaskNet

_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the default MLP encoder's hidden layers; ``()`` makes the
        encoder the identity (each head is then a linear model of ``X``).
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation after each hidden layer (of the MLP encoder and the heads).
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    encoder : torch.nn.Module class or instance, default=None
        Any shared feature extractor mapping a batch of shape (batch_size,
        n_features) to (batch_size, n_features_out), for example a CNN or a
        pretrained backbone; a class is built with the ``encoder__<name>``
        arguments, an instance is copied. It receives dense batches (only the
        batch is densified) unless it has ``accepts_sparse = True``. None: the
        MLP of ``hidden_layer_sizes``.
    head_hidden_layer_sizes : tuple of int, default=()
        Hidden layers of each task's head; ``()``: one linear layer.
    alpha : float, default=1e-4
        Strength of the L2 penalty ``alpha / 2 * sum ||W||^2`` on every weight
        matrix (biases are not penalised), as scikit-learn's ``MLPClassifier``.
    task_weights : dict or array-like of shape (n_tasks,), default=None
        Fixed per-task loss weights ``lambda_t`` (1 by default).
    task_weighting : str or TaskWeighting, default="fixed"
        How the per-task losses of a batch become one update: ``"fixed"``
        (``sum_t lambda_t L_t``), ``"uncertainty"`` (Kendall et al. 2018),
        ``"dwa"`` (Liu et al. 2019), ``"gradnorm"`` (Chen et al. 2018),
        ``"pcgrad"`` (Yu et al. 2020), ``"mgda"`` (Sener & Koltun 2018),
        ``"cagrad"`` (Liu et al. 2021), or one of the objects of
        :mod:`skmtl.neural` with its parameters (tunable as
        ``task_weighting__<name>``).
    optimizer : {"adam", "adamw", "sgd", "lbfgs"} or torch optimizer class, \
default="adam"
        ``"lbfgs"`` trains on the full batch (fixed weighting only); further
        arguments as ``optimizer__<name>`` (``optimizer__momentum=0.9``).
    learning_rate : float, default=1e-3
        The optimizer's ``lr``.
    batch_size : int or "auto", default="auto"
        Rows per mini-batch; "auto" is ``min(200, n_samples)``.
    max_epochs : int, default=200
        Passes over the training rows (rounds of L-BFGS for ``"lbfgs"``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of every task's rows and stop when the
        mean per-task validation score stops improving; the best epoch's
        weights are kept.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
        Epochs without an improvement larger than ``tol`` (of the training loss,
        or of the validation score with early stopping) before training stops.
    tol : float, default=1e-4
    warm_start : bool, default=False
        ``fit`` continues from the fitted network instead of a new one. A
        continued fit (or ``partial_fit``) keeps the network, its precision
        (``dtype``), architecture (``encoder``, ``hidden_layer_sizes``,
        ``head_hidden_layer_sizes``, ``activation``, ``dropout``) and
        ``task_weighting`` included: a changed one is a ValueError naming it.
        The optimizer takes the current ``learning_rate`` and
        ``optimizer__<name>`` settings, with its per-parameter state (Adam's
        moments) when ``optimizer`` is unchanged.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, dropout, the shuffling and the validation
        split; the same seed gives the same model on CPU.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:<k>"`` or ``"auto"`` (a GPU when there is
        one). A model fitted on a GPU unpickles on a machine without one.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network and of the input batches.
    verbose : int, default=0
        Show a progress bar (tqdm) with the loss of the first tasks.
    **kwargs
        ``encoder__<name>`` and ``optimizer__<name>`` arguments (skorch's
        convention).
"""

_ATTRIBUTES_DOC = """
    module_ : MultiTaskModule
        The fitted network; ``encoder_`` and ``heads_`` (a ``ModuleList`` in
        the order of ``tasks_``) are its parts.
    optimizer_ : torch.optim.Optimizer
        Kept for ``partial_fit`` and ``warm_start``.
    task_weighting_ : TaskWeighting
        The fitted weighting (its learned state included).
    tasks_ : ndarray of shape (n_tasks,)
    loss_curve_ : list of float
        Objective ``sum_t lambda_t L_t + alpha / 2 sum ||W||^2`` at each epoch.
    task_loss_curve_ : ndarray of shape (n_epochs, n_tasks)
        Mean training loss of each task at each epoch (NaN before a task
        existed).
    task_weights_history_ : ndarray of shape (n_epochs, n_tasks)
        Mean weight the task weighting gave each task at each epoch.
    validation_scores_ : ndarray of shape (n_epochs, n_tasks)
        Per-task validation score, sample-weighted (accuracy for the
        classifier, R^2 for the regressor; empty without early stopping).
    best_validation_score_ : float
        Only with early stopping.
    n_iter_ : int
        Epochs run (cumulated over ``partial_fit`` calls).
    t_ : int
        Training rows seen.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
"""

_OBJECTIVE_DOC = """
    Hard parameter sharing (Caruana, 1997): one encoder shared by all tasks
    and one output head per task, trained on::

        sum_t lambda_t * w_t * L_t + alpha / 2 * sum ||W||^2

    where ``L_t`` is the sample-weighted mean loss of task ``t``'s rows in a
    batch, ``lambda_t`` the fixed ``task_weights`` and ``w_t`` the weights of
    ``task_weighting`` (1 for ``"fixed"``; the gradient-conflict methods
    replace the sum's gradient on the encoder by their aggregate).
"""


class MultiTaskNetClassifier(
    TaskClassifierMixin, ScoreClassifierMixin, BaseMultiTaskNet
):
    """Multi-task neural network classifier: a shared encoder, one head per task.

    %(objective)s
    The loss is the logistic loss of one output per task for two classes,
    and the softmax cross-entropy over ``classes_`` for more. With
    ``hidden_layer_sizes=()`` and the fixed weighting, the heads are
    ``MultiTaskClassifier(penalty="independent", alpha=alpha)``'s models.

    A class a task never saw in training gets probability 0 for that task
    (it is left out of the task's softmax); a task whose training rows hold
    one class predicts it with probability 1, with a ``UserWarning``.
    %(params)s
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    task_class_mask_ : ndarray of bool of shape (n_tasks, n_classes)
        Classes seen by each task in training.
    %(attributes)s
    See Also
    --------
    MultiTaskNetRegressor : the same network with a squared loss.
    skmtl.MultiTaskClassifier : linear models coupled by a penalty.

    References
    ----------
    R. Caruana. Multitask learning. Machine Learning 28, 41-75 (1997).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.neural import MultiTaskNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> tasks = np.repeat(["a", "b"], 100)
    >>> y = (X[:, 0] + np.where(tasks == "a", X[:, 1], -X[:, 1]) > 0).astype(int)
    >>> net = MultiTaskNetClassifier((16,), learning_rate=0.01, tol=1e-2,
    ...                              random_state=0)
    >>> net.fit(X, y, tasks=tasks).score(X, y, tasks=tasks) > 0.9
    True
    """

    _y_numeric = False

    def partial_fit(self, X, y, tasks=None, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``; new tasks get a new head.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        tasks : hashable or array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            All the classes of every task; required on the first call.

        Returns
        -------
        self : object
        """
        return self._partial_fit(X, y, tasks, sample_weight, classes)

    def _prepare_targets(self, y, data, incremental, classes):
        check_classification_targets(y)
        codes, labels = data["codes"], data["task_labels"]
        if incremental:
            classes_ = self.classes_
            if classes is not None and not np.array_equal(np.unique(classes), classes_):
                given = np.asarray(classes).tolist()  # plain labels
                raise ValueError(
                    f"classes={given} differs from the classes of the first "
                    f"partial_fit call: {classes_.tolist()}."
                )
        elif classes is not None:
            classes_ = np.unique(classes)
        elif data.get("partial"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        else:
            classes_ = np.unique(y)
        unknown = np.setdiff1d(y, classes_)
        if len(unknown):
            raise ValueError(
                f"y contains labels not in classes: {unknown[:5].tolist()} (classes: "
                f"{classes_.tolist()})."
            )
        if len(classes_) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data (the "
                "rows of positive sample_weight), but the data contains only one "
                f"class: {classes_.tolist()[0]!r}."
            )
        y_enc = np.searchsorted(classes_, y)
        mask = np.zeros((len(labels), len(classes_)), dtype=bool)
        if incremental:
            old = TaskIndex(self.tasks_).transform(
                labels, len(labels), allow_unseen=True
            )
            mask[old >= 0] = self.task_class_mask_[old[old >= 0]]
        mask[codes, y_enc] = True
        single = mask.sum(axis=1) < 2
        if single.any() and not incremental:
            poor = np.flatnonzero(single)
            detail = ", ".join(
                f"{labels[t]!r} (only {classes_[np.flatnonzero(mask[t])[0]]!r})"
                for t in poor[:5]
            )
            warnings.warn(
                f"task(s) {detail} have training rows of one class only: they "
                "predict that class with probability 1.",
                UserWarning,
                stacklevel=5,
            )
            # their rows leave the loss: the optimum of one class is infinite
            data["task_scale"] = np.where(single, 0.0, 1.0)
        binary = len(classes_) == 2
        data["n_outputs"] = 1 if binary else len(classes_)
        data["targets"] = y_enc.astype(np.float64) if binary else y_enc.astype(np.int64)
        data["mask"] = mask
        return {"classes_": classes_, "task_class_mask_": mask}

    def _row_loss(self, out, data, rows, task):
        target = torch.as_tensor(data["targets"][rows], device=out.device)
        if out.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(
                out[:, 0], target.to(out.dtype), reduction="none"
            )
        mask = data["mask"][task]
        if not mask.all():
            out = out.masked_fill(~torch.as_tensor(mask, device=out.device), -torch.inf)
        return F.cross_entropy(out, target, reduction="none")

    def _scores_from_outputs(self, out, codes, mask):
        if out.shape[1] == 1:
            scores = out[:, 0]
            single = mask.sum(axis=1) < 2
            if single.any():
                fixed = np.where(mask[:, 1], np.inf, -np.inf)
                scores = np.where(single[codes], fixed[codes], scores)
            return scores
        return np.where(mask[codes], out, -np.inf)

    def _task_scores(self, module, data, rows):
        out = self._outputs(module, data["X"][rows], data["codes"][rows])
        codes = data["codes"][rows]
        scores = self._scores_from_outputs(out, codes, data["mask"])
        pred = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        hit = pred == data["targets"][rows]
        # sample-weighted accuracy, as the regressor's R^2 and score()
        sw = data["sample_weight"][rows]
        n_tasks = len(data["task_labels"])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(codes, hit * sw, n_tasks) / np.bincount(
                codes, sw, n_tasks
            )

    def decision_function(self, X, tasks=None):
        """Scores of each row's task head.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Two classes: the logit of ``classes_[1]``. More: ``-inf`` for the
            classes a row's task never saw in training.
        """
        out, codes = self._forward(X, tasks)
        return self._scores_from_outputs(out, codes, self.task_class_mask_)


class MultiTaskNetRegressor(TaskRegressorMixin, BaseMultiTaskNet):
    """Multi-task neural network regressor: a shared encoder, one head per task.

    %(objective)s
    The loss is the squared error ``(y - f(x))^2 / 2``. With
    ``hidden_layer_sizes=()`` and the fixed weighting, the heads are
    ``MultiTaskRegressor(penalty="independent", alpha=alpha)``'s models.
    %(params)s
    Attributes
    ----------
    %(attributes)s
    See Also
    --------
    MultiTaskNetClassifier : the same network for classification.
    skmtl.MultiTaskRegressor : linear models coupled by a penalty.

    References
    ----------
    R. Caruana. Multitask learning. Machine Learning 28, 41-75 (1997).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.neural import MultiTaskNetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> tasks = np.repeat([0, 1], 100)
    >>> y = np.sin(X[:, 0]) + np.where(tasks == 0, 1.0, -1.0) * X[:, 1]
    >>> net = MultiTaskNetRegressor((32,), learning_rate=0.01, tol=1e-3,
    ...                             random_state=0)
    >>> net.fit(X, y, tasks=tasks).score(X, y, tasks=tasks) > 0.9
    True
    """

    _y_numeric = True

    def partial_fit(self, X, y, tasks=None, sample_weight=None):
        """One epoch over ``(X, y)``; new tasks get a new head.

        Returns
        -------
        self : object
        """
        return self._partial_fit(X, y, tasks, sample_weight)

    def _prepare_targets(self, y, data, incremental, classes):
        try:
            # numeric strings are numbers, as for MultiTaskRegressor and Ridge
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must hold numbers for a regressor: {exc}") from None
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        data["n_outputs"] = 1
        data["targets"] = np.asarray(y, dtype=np.float64)
        return {}

    def _row_loss(self, out, data, rows, task):
        target = torch.as_tensor(
            data["targets"][rows], device=out.device, dtype=out.dtype
        )
        return 0.5 * (out[:, 0] - target) ** 2

    def _task_scores(self, module, data, rows):
        codes = data["codes"][rows]
        pred = self._outputs(module, data["X"][rows], codes)[:, 0]
        y, sw = data["targets"][rows], data["sample_weight"][rows]
        scores = np.full(len(data["task_labels"]), np.nan)
        for t in np.unique(codes):
            sel = codes == t
            if sel.sum() >= 2 and np.ptp(y[sel]) > 0:
                scores[t] = r2_score(y[sel], pred[sel], sample_weight=sw[sel])
        return scores

    def predict(self, X, tasks=None):
        """Prediction of each row's task head.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        out, _ = self._forward(X, tasks)
        return out[:, 0]


for _cls in (MultiTaskNetClassifier, MultiTaskNetRegressor):
    if _cls.__doc__ is None:  # python -OO
        continue
    # each snippet's first line follows the placeholder's indentation; blank
    # lines keep the sections sections (numpydoc reads a header only after one)
    _cls.__doc__ = (
        _cls.__doc__.replace(
            "%(objective)s", _OBJECTIVE_DOC.strip("\n").lstrip() + "\n"
        )
        .replace("%(params)s", "\n" + _PARAMS_DOC.strip("\n") + "\n")
        .replace("%(attributes)s", _ATTRIBUTES_DOC.strip("\n").lstrip() + "\n")
    )
