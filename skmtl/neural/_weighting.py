"""Task weighting: how the per-task losses of a batch become one update.

Every method is a scikit-learn-style object whose strengths are plain
parameters (``GridSearchCV`` over ``task_weighting__alpha``); the network
estimator clones it at fit and keeps its history in ``task_weights_history_``.

The losses a method receives are already scaled by the fixed ``task_weights``
``lambda_t`` of the estimator; a dynamic method multiplies them by its own
weights. To keep one learning rate meaningful across methods, every method
produces a shared-parameter update on the scale of ``sum_t L_t`` (equal
weights give exactly the fixed sum).

Loss-weighting methods (fixed, uncertainty, DWA, GradNorm) are written here:
they are a few lines over the losses and are not aggregators, so torchjd
does not offer them. The gradient-conflict methods (PCGrad, MGDA, CAGrad)
use torchjd's aggregators on the per-task gradients of the shared
parameters; their results are tested against hand-computed answers and
cvxpy in ``tests/neural/test_weighting.py``.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

__all__ = [
    "TaskWeighting",
    "FixedWeighting",
    "UncertaintyWeighting",
    "DynamicWeightAverage",
    "GradNorm",
    "PCGrad",
    "MGDA",
    "CAGrad",
    "WEIGHTING_ALIASES",
    "resolve_weighting",
]


class TaskWeighting(BaseEstimator):
    """Base class: turn a batch's per-task losses into gradients.

    A subclass implements :meth:`backward`, which writes the gradients of
    every trainable parameter (``.grad``) and returns the weights it gave the
    present tasks. The estimator calls, in order: :meth:`initialize` once per
    fit, :meth:`reindex_tasks` when ``partial_fit`` meets new tasks,
    :meth:`backward` on each batch and :meth:`end_epoch` after each epoch.
    """

    #: subclasses declare their parameters' constraints (checked when a
    #: network takes the weighting, by :func:`resolve_weighting`)
    _parameter_constraints: dict = {}

    def initialize(self, n_tasks, device, dtype):
        self.n_tasks_ = n_tasks
        self.device_, self.dtype_ = device, dtype
        self.weights_ = np.ones(n_tasks)
        return self

    def reindex_tasks(self, old_index):
        """Follow a change of the task list (``partial_fit`` met new tasks).

        ``old_index[k]`` is the former index of the task now at ``k``, or -1
        for a new task (which starts from the initial state).
        """
        self.n_tasks_ = len(old_index)
        self.weights_ = _reindex(self.weights_, old_index, 1.0)

    def parameters(self):
        """Tensors trained by the network's optimizer (learned weights)."""
        return []

    def end_epoch(self, task_losses):
        """Called with the epoch's mean loss of each task, shape (n_tasks,)."""

    def backward(self, losses, task_ids, shared_params, task_params, features):
        """Set ``.grad`` from ``losses`` (a tensor of shape (n_present,)).

        Parameters
        ----------
        losses : torch.Tensor of shape (n_present,)
            ``lambda_t * L_t`` of the tasks present in the batch.
        task_ids : ndarray of int of shape (n_present,)
            Their indices in ``tasks_``.
        shared_params : list of torch.Tensor
            The encoder's trainable parameters.
        task_params : list of torch.Tensor
            The other trainable parameters (the heads').
        features : torch.Tensor
            The encoder's output on the batch.

        Returns
        -------
        weights : ndarray of shape (n_present,)
        """
        raise NotImplementedError

    def _weighted_backward(self, losses, weights):
        (
            losses * torch.as_tensor(weights, dtype=losses.dtype, device=losses.device)
        ).sum().backward()
        return weights


class FixedWeighting(TaskWeighting):
    """The fixed joint loss ``sum_t lambda_t L_t`` (``lambda_t``: ``task_weights``)."""

    def backward(self, losses, task_ids, shared_params, task_params, features):
        losses.sum().backward()
        return np.ones(len(task_ids))


class UncertaintyWeighting(TaskWeighting):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, 2018).

    Learns one log-variance ``s_t = log sigma_t^2`` per task with the network
    and minimises ``sum_t exp(-s_t) L_t + s_t``; at a stationary point
    ``sigma_t^2 = L_t``, so a task of large loss gets a small weight
    ``exp(-s_t) = 1 / sigma_t^2``. The weights start at 1.

    References
    ----------
    A. Kendall, Y. Gal and R. Cipolla. Multi-task learning using uncertainty
    to weigh losses for scene geometry and semantics. CVPR 2018.
    """

    def initialize(self, n_tasks, device, dtype):
        super().initialize(n_tasks, device, dtype)
        self.log_variance_ = torch.zeros(
            n_tasks, device=device, dtype=dtype, requires_grad=True
        )
        return self

    def reindex_tasks(self, old_index):
        super().reindex_tasks(old_index)
        old = self.log_variance_.detach().cpu().numpy()
        self.log_variance_ = torch.as_tensor(
            _reindex(old, old_index, 0.0), dtype=self.dtype_, device=self.device_
        ).requires_grad_(True)

    def parameters(self):
        return [self.log_variance_]

    def backward(self, losses, task_ids, shared_params, task_params, features):
        s = self.log_variance_[torch.as_tensor(task_ids, device=losses.device)]
        (torch.exp(-s) * losses + s).sum().backward()
        self.weights_ = np.exp(-self.log_variance_.detach().cpu().numpy().astype(float))
        return self.weights_[task_ids]


class DynamicWeightAverage(TaskWeighting):
    """Dynamic weight average (Liu, Johns & Davison, 2019).

    ``lambda_t(e) = n_tasks * exp(r_t / T) / sum_k exp(r_k / T)`` with
    ``r_t = L_t(e - 1) / L_t(e - 2)`` the ratio of the task's mean training
    losses over the two previous epochs: a task whose loss falls slowly gets
    more weight. The first two epochs use equal weights.

    Parameters
    ----------
    temperature : float, default=2.0
        ``T``: large values give equal weights.

    References
    ----------
    S. Liu, E. Johns and A. J. Davison. End-to-end multi-task learning with
    attention. CVPR 2019.

    Examples
    --------
    Task 0's loss halved over the last epoch, task 1's did not move:

    >>> import torch
    >>> from skmtl.neural import DynamicWeightAverage
    >>> dwa = DynamicWeightAverage(temperature=2.0).initialize(2, "cpu", torch.float32)
    >>> dwa.end_epoch([1.0, 1.0])
    >>> dwa.end_epoch([0.5, 1.0])
    >>> dwa.weights_.round(3)
    array([0.876, 1.124])
    """

    _parameter_constraints = {
        "temperature": [Interval(Real, 0, None, closed="neither")]
    }

    def __init__(self, temperature=2.0):
        self.temperature = temperature

    def initialize(self, n_tasks, device, dtype):
        super().initialize(n_tasks, device, dtype)
        self.loss_history_ = []
        return self

    def reindex_tasks(self, old_index):
        super().reindex_tasks(old_index)
        self.loss_history_ = [
            _reindex(h, old_index, np.nan) for h in self.loss_history_
        ]

    def end_epoch(self, task_losses):
        self.loss_history_ = [*self.loss_history_[-1:], np.asarray(task_losses, float)]
        if len(self.loss_history_) < 2:
            return
        prev, last = self.loss_history_
        ratio = np.where(
            (prev > 0) & np.isfinite(prev) & np.isfinite(last), last / prev, 1.0
        )
        e = np.exp((ratio - ratio.max()) / self.temperature)
        self.weights_ = len(e) * e / e.sum()

    def backward(self, losses, task_ids, shared_params, task_params, features):
        return self._weighted_backward(losses, self.weights_[task_ids])


class GradNorm(TaskWeighting):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, 2018).

    Learns weights ``w_t`` so that the gradient norms
    ``G_t = w_t ||grad_W L_t||`` on the last shared weight matrix ``W`` move
    towards the targets ``mean(G) * r_t ** alpha`` (rescaled to mean
    ``mean(G)``), where ``r_t = (L_t / L_t(0)) / mean_k (L_k / L_k(0))`` is
    the task's relative inverse training rate and ``L_t(0)`` its first batch
    loss. The network's gradient is that of ``sum_t w_t L_t``; then each
    batch takes one step of size ``learning_rate`` on
    ``L_grad = sum_t |G_t - target_t|`` in ``log w`` (targets held constant)
    and renormalises the present tasks' weights to sum to their number. At
    equilibrium ``G_t / G_k = (r_t / r_k) ** alpha``: with ``alpha=0`` every
    task has the same gradient norm.

    Parameters
    ----------
    alpha : float, default=1.5
        Asymmetry: 0 balances the gradient norms; larger values favour tasks
        that train slowly.
    learning_rate : float, default=0.025
        Step of the log-weights per batch (the paper's value for its ``w``
        update); the weighted gradient norms settle within about
        ``learning_rate`` (relative) of their targets.

    Notes
    -----
    Two departures from a plain gradient step on ``w``, both so that one
    ``learning_rate`` means the same thing whatever the units of the losses:
    the step is taken in ``log w`` (weights stay positive without clipping)
    and divided by ``mean(G)``, i.e. ``log w_t -= learning_rate *
    sign(G_t - target_t) * G_t / mean(G)``. A plain step
    ``w_t -= learning_rate * sign(G_t - target_t) * ||grad_W L_t||`` is in
    the units of the gradients: with norms of 10 and 1 it moves a weight of
    equilibrium 0.18 by 0.25 per batch and never settles. The targets are
    rescaled to mean ``mean(G)`` because the renormalisation of the weights
    fixes the scale of ``G``; only the ratios of the targets can be met, and
    without the rescaling an L1 objective has a whole interval of minima for
    ``alpha > 0``.

    References
    ----------
    Z. Chen, V. Badrinarayanan, C.-Y. Lee and A. Rabinovich. GradNorm:
    gradient normalization for adaptive loss balancing in deep multitask
    networks. ICML 2018.
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, alpha=1.5, learning_rate=0.025):
        self.alpha = alpha
        self.learning_rate = learning_rate

    def initialize(self, n_tasks, device, dtype):
        super().initialize(n_tasks, device, dtype)
        self.initial_losses_ = np.full(n_tasks, np.nan)
        self.gradient_norms_ = np.full(n_tasks, np.nan)
        return self

    def reindex_tasks(self, old_index):
        super().reindex_tasks(old_index)
        self.initial_losses_ = _reindex(self.initial_losses_, old_index, np.nan)
        self.gradient_norms_ = _reindex(self.gradient_norms_, old_index, np.nan)

    def backward(self, losses, task_ids, shared_params, task_params, features):
        last = [p for p in shared_params if p.ndim >= 2]
        if not last:
            raise ValueError(
                "task_weighting=GradNorm needs a shared encoder with a weight "
                "matrix (its gradient norms are balanced); this encoder has none. "
                "Use hidden_layer_sizes with at least one layer."
            )
        W = last[-1]
        norms = np.array(
            [
                torch.linalg.vector_norm(
                    torch.autograd.grad(loss, W, retain_graph=True)[0]
                ).item()
                for loss in losses
            ]
        )
        values = losses.detach().cpu().numpy().astype(float)
        first = np.isnan(self.initial_losses_[task_ids])
        self.initial_losses_[task_ids[first]] = values[first]
        used = self.weights_[task_ids].copy()
        # the paper's order: this batch trains with w(t), then w(t + 1) is found
        self._weighted_backward(losses, used)
        G = used * norms
        self.gradient_norms_[task_ids] = G
        G_mean = G.mean()
        if len(used) > 1 and G_mean > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = values / self.initial_losses_[task_ids]
            rate = np.where(np.isfinite(rate) & (rate > 0), rate, 1.0)
            target = (rate / rate.mean()) ** self.alpha
            target *= G_mean / target.mean()
            # d L_grad / d log w_t = sign(G_t - target_t) * G_t, in units of mean(G)
            log_w = np.log(used) - self.learning_rate * np.sign(G - target) * G / G_mean
            w = np.exp(log_w - log_w.max())
            self.weights_[task_ids] = len(w) * w / w.sum()
        return used


def _reindex(values, old_index, fill):
    old_index = np.asarray(old_index)
    out = np.full((len(old_index),) + np.shape(values)[1:], fill, dtype=float)
    known = old_index >= 0
    out[known] = np.asarray(values)[old_index[known]]
    return out


def _task_jacobian(losses, shared_params):
    """(n_present, n_shared) matrix of the per-task gradients of the encoder."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(
            loss, shared_params, retain_graph=True, allow_unused=True
        )
        rows.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).reshape(-1)
                    for g, p in zip(grads, shared_params)
                ]
            )
        )
    return torch.stack(rows)


def _set_shared_grad(vector, shared_params):
    start = 0
    for p in shared_params:
        n = p.numel()
        g = vector[start : start + n].view_as(p)
        p.grad = g.clone() if p.grad is None else p.grad + g
        start += n


def _head_backward(losses, task_params):
    """Backpropagate ``sum_t losses`` into the task-specific parameters only."""
    if task_params:
        losses.sum().backward(inputs=task_params)


class _AggregatorWeighting(TaskWeighting):
    """Shared parameters get ``self._aggregate(J)``; each head its own gradient."""

    def _aggregate(self, J):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, losses, task_ids, shared_params, task_params, features):
        if shared_params and len(losses) > 1:
            J = _task_jacobian(losses, shared_params)
            _set_shared_grad(self._aggregate(J).detach(), shared_params)
            _head_backward(losses, task_params)
        else:
            losses.sum().backward()
        return np.ones(len(task_ids))


class PCGrad(_AggregatorWeighting):
    """Projecting conflicting gradients (Yu et al., 2020), via torchjd.

    Each task's gradient on the shared parameters is projected onto the
    normal plane of every other task's gradient it conflicts with (negative
    inner product); the update is the sum of the projected gradients. The
    heads get their own task's gradient.

    References
    ----------
    T. Yu, S. Kumar, A. Gupta, S. Levine, K. Hausman and C. Finn. Gradient
    surgery for multi-task learning. NeurIPS 2020.

    Examples
    --------
    Two conflicting gradients ``(1, 0)`` and ``(-1, 1)``: each loses its
    component along the other, ``(0.5, 0.5) + (0, 1)``.

    >>> import numpy as np, torch
    >>> from skmtl.neural import PCGrad
    >>> p = torch.zeros(2, requires_grad=True)
    >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    >>> losses = g @ p
    >>> pcgrad = PCGrad().initialize(2, "cpu", torch.float32)
    >>> pcgrad.backward(losses, np.arange(2), [p], [], None)
    array([1., 1.])
    >>> p.grad
    tensor([0.5000, 1.5000])
    """

    def _aggregate(self, J):
        from torchjd.aggregation import PCGrad as _PCGrad

        # the sum of the projected gradients: already on the scale of sum_t L_t
        return _PCGrad()(J)


class CAGrad(_AggregatorWeighting):
    """Conflict-averse gradient descent (Liu et al., 2021), via torchjd.

    The shared update is ``n_present / (1 + c) * d``, where ``d`` maximises
    the worst task's improvement ``min_t <g_t, d>`` within the ball
    ``||d - g_0|| <= c ||g_0||`` around the mean gradient ``g_0``
    (torchjd's aggregator, which needs cvxpy). The heads get their own
    task's gradient.

    Parameters
    ----------
    c : float, default=0.5
        Radius of the ball, relative to ``||g_0||``; 0 gives the plain sum.

    Notes
    -----
    Where the task gradients agree, ``d = (1 + c) g_0``, so the factor
    ``n_present / (1 + c)`` makes equal gradients give exactly the sum
    ``sum_t g_t`` of the fixed weighting, as every method here does (the
    official code's ``rescale=2``; its default ``rescale=1`` divides by
    ``1 + c ** 2``). The Jacobian is divided by its Frobenius norm before it
    reaches torchjd and the result multiplied back: torchjd's CAGrad returns
    a zero update whenever ``sum_t ||g_t|| ** 2 < 1e-4`` (its ``norm_eps``),
    which small losses late in training reach. The direction does not depend
    on this scale. torchjd solves the dual problem over the simplex; the
    direction agrees with a primal cvxpy solution to about 1e-5 relative,
    1e-3 where the gradients nearly cancel (large ``c``).

    References
    ----------
    B. Liu, X. Liu, X. Jin, P. Stone and Q. Liu. Conflict-averse gradient
    descent for multi-task learning. NeurIPS 2021.
    """

    _parameter_constraints = {"c": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, c=0.5):
        self.c = c

    def _aggregate(self, J):
        from torchjd.aggregation import CAGrad as _CAGrad

        scale = torch.linalg.matrix_norm(J)
        if not scale > 0:
            return torch.zeros_like(J[0])
        d = _CAGrad(c=self.c)(J / scale) * scale
        return d * (len(J) / (1.0 + self.c))


class MGDA(TaskWeighting):
    """Multiple-gradient descent (Sener & Koltun, 2018).

    Finds the convex weights ``a`` of the minimum-norm point of the convex
    hull of the task gradients (Frank-Wolfe on their Gram matrix, torchjd's
    ``MGDAWeighting``); the shared parameters get the gradient of
    ``n_present * sum_t a_t L_t`` (equal gradients give the plain sum) and
    each head the gradient of its own task's loss. With
    ``upper_bound=True`` (MGDA-UB) the gradients are taken with respect to the
    encoder's output on the batch instead of its parameters, one cheap
    backward per task; since every row of skmtl belongs to one task, those
    gradients are orthogonal and MGDA-UB weighs tasks by the inverse of their
    squared gradient norms.

    Parameters
    ----------
    upper_bound : bool, default=False
        Use the gradients with respect to the shared representation (MGDA-UB).
    max_iter : int, default=100
        Frank-Wolfe iterations.
    tol : float, default=1e-5
        Frank-Wolfe stopping tolerance.

    References
    ----------
    O. Sener and V. Koltun. Multi-task learning as multi-objective
    optimization. NeurIPS 2018.
    """

    _parameter_constraints = {
        "upper_bound": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, upper_bound=False, max_iter=100, tol=1e-5):
        self.upper_bound = upper_bound
        self.max_iter = max_iter
        self.tol = tol

    def backward(self, losses, task_ids, shared_params, task_params, features):
        from torchjd.aggregation import MGDAWeighting

        n = len(losses)
        if n == 1:
            losses.sum().backward()
            return np.ones(1)
        if (
            self.upper_bound
            and isinstance(features, torch.Tensor)
            and features.requires_grad
        ):
            J = _task_jacobian(losses, [features])
        elif shared_params:
            J = _task_jacobian(losses, shared_params)
        else:
            losses.sum().backward()
            return np.ones(n)
        a = MGDAWeighting(epsilon=self.tol, max_iters=self.max_iter)(J @ J.T)
        w = n * a.detach().cpu().numpy().astype(float)
        self.weights_[task_ids] = w
        # the shared parameters follow the min-norm point; each head its own
        # task's gradient (Sener & Koltun, Algorithm 2), so that a task whose
        # weight is 0 still trains its head
        weighted = (
            losses * torch.as_tensor(w, dtype=losses.dtype, device=losses.device)
        ).sum()
        if shared_params:
            weighted.backward(inputs=shared_params, retain_graph=bool(task_params))
        _head_backward(losses, task_params)
        return w


WEIGHTING_ALIASES = {
    "fixed": FixedWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "mgda": MGDA,
    "cagrad": CAGrad,
}


def resolve_weighting(weighting):
    """A fresh weighting object from an alias or a (cloned) object."""
    from sklearn.base import clone

    if isinstance(weighting, str):
        return WEIGHTING_ALIASES[weighting]()
    weighting = clone(weighting)
    if isinstance(weighting, BaseEstimator):
        weighting._validate_params()  # the declared constraints, named
    return weighting
