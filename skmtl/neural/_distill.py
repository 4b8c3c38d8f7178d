"""Soft-target training of a network: the student of knowledge distillation.

:func:`distillation_loss` is the per-row loss of
:class:`skmtl.datafits.Distillation` written in torch (Hinton, Vinyals & Dean,
2015), and :func:`fit_distilled_network` trains a clone of a
:class:`~skmtl.neural.MultiTaskNetClassifier` on it. This is what
``DistilledClassifier(student=MultiTaskNetClassifier(...))`` runs; the network
keeps its own architecture, optimizer and ``alpha``.

How the soft targets reach the training loop: the network is fitted with
``y = arange(n_samples)``, so that ``_prepare_targets`` receives the indices
of the rows that survive (rows of weight 0 are dropped inside ``fit``) and
looks their hard label, labelled flag and teacher probabilities up. The two
hooks ``_prepare_targets`` and ``_row_loss`` are overridden by a subclass of
the student's own class made for the fit only; the fitted network is then
given back its own class, so that it predicts, clones and pickles as the
network the user passed.
"""

import functools

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone

from ._estimators import MultiTaskNetClassifier

__all__ = ["distillation_loss", "fit_distilled_network"]


def distillation_loss(out, hard, labelled, soft, temperature, mix):
    """Per-row distillation loss of a network's outputs.

    For row ``i`` with logits ``z_i``, teacher probabilities ``q_i`` (already
    softened at temperature ``T``) and mix ``lam``::

        labelled:   (1 - lam) * CE(y_i, softmax(z_i))
                    + lam * T**2 * CE(q_i, softmax(z_i / T))
        unlabelled: T**2 * CE(q_i, softmax(z_i / T))

    which is :class:`skmtl.datafits.Distillation`'s row loss divided by the
    row's weight. A one-column output ``s`` (two classes) stands for the logits
    ``[0, s]``: its terms are the logistic losses of ``s`` and ``s / T``.

    Parameters
    ----------
    out : tensor of shape (n_rows, 1) or (n_rows, n_classes)
    hard : tensor of int64 of shape (n_rows,)
        Class index of each labelled row (any valid index on unlabelled rows).
    labelled : tensor of bool of shape (n_rows,)
    soft : tensor of shape (n_rows, n_classes)
        The teacher's probabilities at temperature ``T`` (two columns for a
        one-column output).
    temperature : float
    mix : float

    Returns
    -------
    loss : tensor of shape (n_rows,)
    """
    T = float(temperature)
    if out.shape[1] == 1:
        s = out[:, 0]
        # CE(y, softmax([0, s])) is the logistic loss of s: the same call as
        # MultiTaskNetClassifier's, so that mix=0 trains exactly as it does
        hard_loss = F.binary_cross_entropy_with_logits(
            s, hard.to(out.dtype), reduction="none"
        )
        soft_loss = F.binary_cross_entropy_with_logits(
            s / T, soft[:, 1].to(out.dtype), reduction="none"
        )
    else:
        hard_loss = F.cross_entropy(out, hard, reduction="none")
        soft_loss = F.cross_entropy(out / T, soft.to(out.dtype), reduction="none")
    one = torch.ones((), dtype=out.dtype, device=out.device)
    a = torch.where(labelled, (1.0 - mix) * one, 0.0 * one)
    c = torch.where(labelled, mix * one, one)
    return a * hard_loss + c * (T * T) * soft_loss


class _SoftTargets:
    """What the student learns from, per training row (before rows are dropped)."""

    def __init__(self, classes, hard, labelled, proba, temperature, mix):
        self.classes = classes
        self.hard = hard
        self.labelled = labelled
        self.proba = proba
        self.temperature = temperature
        self.mix = mix


class _SoftTargetMixin:
    """Overrides the targets and the row loss of a network classifier."""

    def _prepare_targets(self, y, data, incremental, classes):
        targets = self._soft_targets
        rows = np.asarray(y, dtype=np.intp)  # fitted with y = arange(n_samples)
        hard = targets.hard[rows]
        labelled = targets.labelled[rows]
        proba = targets.proba[rows]
        n_classes = len(targets.classes)
        binary = n_classes == 2
        data["distill"] = {"hard": hard, "labelled": labelled, "proba": proba}
        data["n_outputs"] = 1 if binary else n_classes
        # the validation score (early stopping) is the accuracy against the
        # label, or the teacher's most probable class on unlabelled rows
        guess = np.where(labelled, hard, np.argmax(proba, axis=1))
        data["targets"] = guess.astype(np.float64) if binary else guess
        # every class can carry teacher probability: no class is left out
        mask = np.ones((len(data["task_labels"]), n_classes), dtype=bool)
        data["mask"] = mask
        return {"classes_": targets.classes, "task_class_mask_": mask}

    def _row_loss(self, out, data, rows, task):
        d, targets = data["distill"], self._soft_targets
        device = out.device
        return distillation_loss(
            out,
            torch.as_tensor(d["hard"][rows], device=device),
            torch.as_tensor(d["labelled"][rows], device=device),
            torch.as_tensor(d["proba"][rows], device=device, dtype=out.dtype),
            targets.temperature,
            targets.mix,
        )


@functools.cache
def _soft_target_class(cls):
    # named as the user's class: warnings and errors raised during the fit
    # ("MultiTaskNetClassifier reached max_epochs=...") name the network given
    return type(cls.__name__, (_SoftTargetMixin, cls), {"__module__": __name__})


def fit_distilled_network(
    network, X, hard, labelled, proba, classes, temperature, mix, sample_weight
):
    """A clone of ``network`` fitted on hard labels and soft targets.

    Parameters
    ----------
    network : MultiTaskNetClassifier
        The unfitted (or fitted: it is cloned) student; its own class is kept.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    hard : ndarray of int of shape (n_samples,)
        Class index of each labelled row (ignored on unlabelled rows).
    labelled : ndarray of bool of shape (n_samples,)
    proba : ndarray of shape (n_samples, n_classes)
        The teacher's probabilities at ``temperature``.
    classes : ndarray of shape (n_classes,)
        The fitted network's ``classes_`` (the order of ``proba``'s columns).
    temperature, mix : float
    sample_weight : ndarray of shape (n_samples,)

    Returns
    -------
    network : MultiTaskNetClassifier
        The fitted clone, of ``type(network)``.
    """
    cls = type(network)
    if not isinstance(network, MultiTaskNetClassifier):
        raise TypeError(
            f"a neural student must be a MultiTaskNetClassifier, got {cls.__name__}."
        )
    n = X.shape[0]
    net = clone(network)
    net.__class__ = _soft_target_class(cls)
    net._soft_targets = _SoftTargets(
        np.asarray(classes),
        np.where(labelled, hard, 0).astype(np.int64),
        np.asarray(labelled, dtype=bool),
        np.asarray(proba, dtype=np.float64),
        float(temperature),
        float(mix),
    )
    try:
        net.fit(X, np.arange(n), sample_weight=sample_weight)
    finally:
        # the fitted network is the user's kind of network again
        net.__class__ = cls
        del net._soft_targets
    return net
