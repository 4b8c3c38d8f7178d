"""Joint transfer: source and target domains as tasks of one network.

``JointTransfer*`` minimises ``lambda L_source + (1 - lambda) L_target``, here
with source and target as two tasks of one shared encoder.
"""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ._estimators import MultiTaskNetClassifier, MultiTaskNetRegressor

__all__ = ["JointTransferNetClassifier", "JointTransferNetRegressor"]


class _JointTransferMixin:
    """Source and target domains as tasks of one network, weighted lam / 1 - lam.

    The rows whose ``tasks`` label equals ``target`` form the target task;
    every other label is a source domain with its own head. The fixed task
    weights are ``(1 - source_weight)`` for the target and ``source_weight /
    n_sources`` for each source domain (as ``JointTransfer*`` with a
    penalty); ``predict`` uses the target head unless ``tasks`` says
    otherwise.
    """

    #: the weights come from source_weight (no task_weights parameter)
    task_weights = None

    def __init__(
        self,
        source_weight=0.5,
        hidden_layer_sizes=(100,),
        *,
        target="target",
        activation="relu",
        dropout=0.0,
        encoder=None,
        head_hidden_layer_sizes=(),
        alpha=1e-4,
        task_weighting="fixed",
        optimizer="adam",
        learning_rate=1e-3,
        batch_size="auto",
        max_epochs=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        warm_start=False,
        random_state=None,
        device="cpu",
        dtype="float32",
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            encoder=encoder,
            head_hidden_layer_sizes=head_hidden_layer_sizes,
            alpha=alpha,
            task_weighting=task_weighting,
            optimizer=optimizer,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_epochs=max_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            warm_start=warm_start,
            random_state=random_state,
            device=device,
            dtype=dtype,
            verbose=verbose,
            **kwargs,
        )
        # the base sets task_weights; the weights come from source_weight
        del self.task_weights
        self.source_weight = source_weight
        self.target = target

    _joint_constraints = {
        "source_weight": [Interval(Real, 0, 1, closed="left")],
        "target": "no_validation",
    }

    def _prepare(self, X, y, tasks, sample_weight, incremental, classes, partial):
        # tasks=None: the scalar target, broadcast by the base after it has
        # validated X and y
        tasks = self.target if tasks is None else tasks
        data = super()._prepare(
            X, y, tasks, sample_weight, incremental, classes, partial
        )
        # after the rows of weight 0 left: the target needs rows that train
        names = data["task_labels"].tolist()
        if not any(t == self.target for t in names):
            raise ValueError(
                f"no row of tasks (of positive sample_weight) is the target "
                f"{self.target!r}; set target= to the label of the target domain."
            )
        n_sources = sum(1 for t in names if t != self.target)
        lam = float(self.source_weight)
        data["task_weights"] = np.array(
            [1.0 - lam if t == self.target else lam / n_sources for t in names]
        )
        return data

    def _encode_predict_tasks(self, tasks, n_samples, *, allow_unseen=False):
        if tasks is None:
            tasks = self.target
        return super()._encode_predict_tasks(
            tasks, n_samples, allow_unseen=allow_unseen
        )


_JOINT_DOC = """Joint weighted loss over domains with a shared encoder.

    Minimises ``lam * L_source + (1 - lam) * L_target + alpha / 2 ||W||^2``
    with ``lam = source_weight``: the source and target domains are tasks of
    one :class:`{base}` (a shared encoder, one head per domain), the rows
    with ``tasks == target`` the target and every other label a source
    domain (each with weight ``lam / n_sources``). ``predict(X)`` uses the
    target head. The linear analogue is ``skmtl.transfer.{linear}``.

    Parameters
    ----------
    source_weight : float in [0, 1), default=0.5
        ``lam``: 0 ignores the source rows. The target's weight is
        ``1 - lam`` even when every row is a target row (as the linear
        ``{linear}``).
    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the default MLP encoder's hidden layers.
    target : hashable, default="target"
        Label of the target rows in ``tasks``; ``tasks=None`` makes every row
        a target row.
    activation, alpha, ... : see :class:`{base}` (all its parameters except
        ``task_weights``).

    Attributes
    ----------
    tasks_ : ndarray
        The domains (the target label and the source labels).
    module_, ... : as :class:`{base}`.

    See Also
    --------
    {base} : the same network with free task weights.
    skmtl.transfer.{linear} : the linear analogue.
"""


def _joint_constraints(base):
    """``base``'s parameter constraints with the joint ones, without
    ``task_weights`` (set from ``source_weight``)."""
    merged = {**base._parameter_constraints, **_JointTransferMixin._joint_constraints}
    return {k: v for k, v in merged.items() if k != "task_weights"}


class JointTransferNetClassifier(_JointTransferMixin, MultiTaskNetClassifier):
    __doc__ = _JOINT_DOC.format(
        base="MultiTaskNetClassifier", linear="JointTransferClassifier"
    )
    _parameter_constraints = _joint_constraints(MultiTaskNetClassifier)


class JointTransferNetRegressor(_JointTransferMixin, MultiTaskNetRegressor):
    __doc__ = _JOINT_DOC.format(
        base="MultiTaskNetRegressor", linear="JointTransferRegressor"
    )
    _parameter_constraints = _joint_constraints(MultiTaskNetRegressor)
