"""Fine-tuning of a source network: start from its weights, freeze, L2-SP.

The linear side's name carries over: ``FineTuned*`` starts at the source
weights and trains on the target, here optionally with a frozen encoder,
gradual unfreezing and discriminative learning rates; ``source_alpha`` is the
neural analogue of ``RegularizedTransfer*`` (L2-SP: the penalty pulls the
transferred weights toward the source instead of toward zero). The hooks live
in ``_FineTunedMixin``, which ``_prior.py`` reuses.
"""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from .._tasks import TaskIndex
from ._base import BaseMultiTaskNet
from ._estimators import MultiTaskNetClassifier, MultiTaskNetRegressor
from ._module import MultiTaskModule

__all__ = ["FineTunedNetClassifier", "FineTunedNetRegressor"]


def _source_module(source):
    """``(module, task_labels, classes)`` of a source: a fitted net, a module or a dict.

    ``task_labels`` and ``classes`` are None where the source does not say.
    """
    inner = getattr(source, "estimator", None)  # sklearn.frozen.FrozenEstimator
    if isinstance(inner, BaseMultiTaskNet) and hasattr(source, "__sklearn_clone__"):
        source = inner
    if isinstance(source, BaseMultiTaskNet):
        if not hasattr(source, "module_"):
            raise ValueError(
                "source is a network that is not fitted. clone() (e.g. in "
                "GridSearchCV) returns unfitted copies: wrap the fitted source in "
                "sklearn.frozen.FrozenEstimator(source)."
            )
        return source.module_, source.tasks_, getattr(source, "classes_", None)
    if isinstance(source, (nn.Module, dict)):
        return source, None, None
    raise ValueError(
        "source must be a fitted skmtl.neural network, a torch.nn.Module (a "
        "MultiTaskModule or an encoder) or a state dict, got "
        f"{type(source).__name__}."
    )


def _copy_pairs(src, src_tasks, labels):
    """``(target head, source head)`` index pairs of ``heads="copy"``."""
    if not isinstance(src, MultiTaskModule):
        raise ValueError(
            'heads="copy" needs a source with heads: a fitted skmtl.neural '
            "network or a MultiTaskModule."
        )
    if len(src.heads) == 1:
        # one source head: it serves every target task
        return [(k, 0) for k in range(len(labels))]
    if src_tasks is None:
        raise ValueError(
            f'heads="copy": the source module has {len(src.heads)} heads and no '
            "task labels to match them with; pass the fitted network as source."
        )
    lookup = {t: i for i, t in enumerate(np.asarray(src_tasks).tolist())}
    pairs = [(k, lookup.get(t)) for k, t in enumerate(labels.tolist())]
    pairs = [(k, i) for k, i in pairs if i is not None]
    if not pairs:
        source = np.asarray(src_tasks).tolist()  # plain labels, not numpy reprs
        raise ValueError(
            'heads="copy": no target task is a task of the source (source '
            f"tasks: {source}, target tasks: {labels.tolist()})."
        )
    return pairs


class _FineTunedMixin:
    """A network that starts from a source network (hooks of BaseMultiTaskNet).

    - ``_adapt_module``: the source encoder (and heads for ``heads="copy"``)
      replace the freshly built ones, and the frozen parameters get
      ``requires_grad=False`` (skorch's ``Freezer``); a continued fit
      (``warm_start``, ``partial_fit``) copies the fitted module, flags
      included;
    - ``initialize_optimizer``: the trainable parameters, the encoder's in a
      parameter group of its own learning rate;
    - ``_on_epoch_end``: unfreeze after ``unfreeze_after`` epochs (a new
      optimizer that keeps the per-parameter state of the old one);
    - ``_initial_state``: the L2-SP reference ``source_parameters_``, taken
      right after the transfer (kept, not retaken, by a continued fit);
    - ``_l2_backward`` / ``_l2_value``: L2-SP toward the source weights.
    """

    _TORCH_ATTRIBUTES = BaseMultiTaskNet._TORCH_ATTRIBUTES + ("source_parameters_",)

    def __init__(
        self,
        source=None,
        hidden_layer_sizes=(100,),
        *,
        freeze=None,
        unfreeze_after=None,
        encoder_learning_rate=None,
        heads="new",
        source_alpha=None,
        task_weights=None,
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
            task_weights=task_weights,
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
        self.source = source
        self.freeze = freeze
        self.unfreeze_after = unfreeze_after
        self.encoder_learning_rate = encoder_learning_rate
        self.heads = heads
        self.source_alpha = source_alpha

    _transfer_constraints = {
        "source": "no_validation",
        "freeze": [None, StrOptions({"encoder"}), list, tuple],
        "unfreeze_after": [None, Interval(Integral, 1, None, closed="left")],
        "encoder_learning_rate": [None, Interval(Real, 0, None, closed="neither")],
        "heads": [StrOptions({"new", "copy"})],
        "source_alpha": [None, Interval(Real, 0, None, closed="left")],
    }

    # -------------------------------------------------------------- module
    def _architecture(self):
        arch = super()._architecture()
        if self.source is not None and not isinstance(self.source, dict):
            # the encoder is a copy of the source's: these two are not used
            arch.pop("hidden_layer_sizes", None)
            arch.pop("encoder", None)
        return arch

    def _adapt_module(self, module, data):
        if self.source is not None:
            module = self._transfer(module, data)
        frozen = self._frozen_names(module)
        # every flag is set: a source fitted with a freeze carries False flags
        for name, p in module.named_parameters():
            p.requires_grad_(name not in frozen)
        return module

    def _transfer(self, module, data):
        src, src_tasks, src_classes = _source_module(self.source)
        param = next(module.parameters())
        device, dtype = param.device, param.dtype
        if isinstance(src, dict):
            encoder_state = {
                k[len("encoder.") :] if k.startswith("encoder.") else k: v
                for k, v in src.items()
                if not k.startswith("heads.")
            }
            try:
                module.encoder.load_state_dict(encoder_state)
            except RuntimeError as exc:
                raise ValueError(
                    f"the source state dict does not fit the encoder: {exc}"
                ) from None
        else:
            encoder = src.encoder if isinstance(src, MultiTaskModule) else src
            # a copy: the caller's source is never modified
            module.encoder = copy.deepcopy(encoder).to(device=device, dtype=dtype)
            module.sparse_aware = (
                src.sparse_aware
                if isinstance(src, MultiTaskModule)
                else bool(getattr(encoder, "accepts_sparse", False))
            )
            width = self._encoder_width(module.encoder, data["X"], module.sparse_aware)
            module.heads = nn.ModuleList(
                [
                    self._new_head(width, data["n_outputs"]).to(
                        device=device, dtype=dtype
                    )
                    for _ in range(len(data["task_labels"]))
                ]
            )
        if self.heads == "copy":
            self._copy_heads(module, src, src_tasks, src_classes, data)
        return module

    def _copy_heads(self, module, src, src_tasks, src_classes, data):
        labels = data["task_labels"]
        classes = data["attributes"].get("classes_")
        if src_classes is not None and classes is not None:
            if not np.array_equal(np.asarray(src_classes), np.asarray(classes)):
                source = np.asarray(src_classes).tolist()  # plain labels
                raise ValueError(
                    f'heads="copy": the source classes {source} differ from the '
                    f"target classes {np.asarray(classes).tolist()}."
                )
        for k, i in _copy_pairs(src, src_tasks, labels):
            head, new = src.heads[i], module.heads[k]
            if head.output.out_features != new.output.out_features:
                raise ValueError(
                    f'heads="copy": the source head of task {labels[k]!r} has '
                    f"{head.output.out_features} outputs and the target needs "
                    f"{new.output.out_features} (the class sets differ)."
                )
            module.heads[k] = copy.deepcopy(head).to(new.output.weight)

    def _frozen_names(self, module):
        names = [n for n, _ in module.named_parameters()]
        if self.freeze is None:
            return set()
        if isinstance(self.freeze, str):
            return {n for n in names if n.startswith("encoder.")}
        bad = [f for f in self.freeze if not isinstance(f, str)]
        unknown = [f for f in self.freeze if f not in bad]
        unknown = [f for f in unknown if not any(n.startswith(f) for n in names)]
        if bad or unknown:
            raise ValueError(
                f"freeze names {bad + unknown} match no parameter of the network; "
                f"its parameters are {names}."
            )
        return {n for n in names if any(n.startswith(f) for f in self.freeze)}

    # ----------------------------------------------------------- optimizer
    def _check_lbfgs(self):
        if not self._is_lbfgs():
            return
        if self.encoder_learning_rate is not None:
            raise ValueError(
                "encoder_learning_rate needs an optimizer with parameter groups; "
                "L-BFGS has one learning rate (use optimizer='adam' or 'sgd')."
            )
        if self.unfreeze_after is not None:
            raise ValueError(
                "unfreeze_after counts epochs of a mini-batch optimizer; L-BFGS "
                "rounds have no such schedule (use optimizer='adam' or 'sgd')."
            )

    def initialize_optimizer(self, module, weighting):
        self._check_lbfgs()
        in_encoder = {id(p) for p in module.encoder.parameters()}
        trainable = [p for p in module.parameters() if p.requires_grad]
        trainable += list(weighting.parameters())
        if not trainable:
            raise ValueError(
                f"freeze={self.freeze!r} leaves no parameter to train; its names "
                f"are {[n for n, _ in module.named_parameters()]}."
            )
        encoder = [p for p in trainable if id(p) in in_encoder]
        rest = [p for p in trainable if id(p) not in in_encoder]
        if self.encoder_learning_rate is None or not encoder or not rest:
            lr = self.encoder_learning_rate if not rest else None
            groups = [{"params": trainable}]
        else:
            lr = None
            groups = [
                {"params": rest},
                {"params": encoder, "lr": self.encoder_learning_rate},
            ]
        if lr is not None:  # the encoder alone trains: its rate
            groups[0]["lr"] = lr
        return self._make_optimizer(groups)

    def _on_epoch_end(self, state):
        # ">=": a continued fit may start past the epoch (unfreeze_after set
        # after a fit); it then unfreezes at its first epoch end
        if (
            self.unfreeze_after is None
            or state["n_iter_"] < self.unfreeze_after
            or state.get("unfrozen_epoch_") is not None
        ):
            return
        module, old = state["module_"], state["optimizer_"]
        frozen = [p for p in module.parameters() if not p.requires_grad]
        if not frozen:
            return
        for p in frozen:
            p.requires_grad_(True)
        # the groups a new fit of this unfrozen module would get (so that a
        # warm start loads this optimizer's state), with the trained
        # parameters' state (Adam's moments) carried over
        new = self.initialize_optimizer(module, state["task_weighting_"])
        for p, s in old.state.items():
            new.state[p] = s
        state["optimizer_"] = new
        state["unfrozen_epoch_"] = state["n_iter_"]

    # --------------------------------------------------------------- L2-SP
    def _initial_state(self, data, device, incremental):
        state = super()._initial_state(data, device, incremental)
        if incremental:
            state["unfrozen_epoch_"] = getattr(self, "unfrozen_epoch_", None)
            old_index = TaskIndex(self.tasks_).transform(
                state["tasks_"], len(state["tasks_"]), allow_unseen=True
            )
            state["source_parameters_"] = _reindex_heads(
                getattr(self, "source_parameters_", {}), old_index, device
            )
        else:
            state["unfrozen_epoch_"] = None
            state["source_parameters_"] = self._source_reference(state["module_"], data)
        return state

    def _source_reference(self, module, data):
        """``{name: source value}`` of the transferred parameters (L2-SP)."""
        if self.source is None or self.source_alpha is None:
            return {}
        prefixes = ["encoder."]
        if self.heads == "copy":
            src, src_tasks, _ = _source_module(self.source)
            pairs = _copy_pairs(src, src_tasks, data["task_labels"])
            prefixes += [f"heads.{k}." for k, _ in pairs]
        # the weights right after the transfer are the source's
        return {
            name: p.detach().clone()
            for name, p in module.named_parameters()
            if name.startswith(tuple(prefixes))
        }

    def _penalised(self, module, state, params=None):
        ref = state.get("source_parameters_")
        if ref is None:
            ref = getattr(self, "source_parameters_", {})
        wanted = None if params is None else {id(p) for p in params}
        for name, p in module.named_parameters():
            if not p.requires_grad or (wanted is not None and id(p) not in wanted):
                continue
            if name in ref:
                yield p, ref[name], self.source_alpha
            elif p.ndim >= 2:
                yield p, None, self.alpha

    def _l2_backward(self, params, state):
        for p, ref, strength in self._penalised(state["module_"], state, params):
            if strength:
                diff = p.detach() if ref is None else p.detach() - ref
                # as the base class: in place, so that with no source the
                # gradient is bit-for-bit the plain network's
                if p.grad is None:
                    p.grad = strength * diff
                else:
                    p.grad.add_(diff, alpha=strength)

    def _l2_value(self, module, state):
        param = next(module.parameters())
        total = torch.zeros((), dtype=param.dtype, device=param.device)
        for p, ref, strength in self._penalised(module, state):
            diff = p if ref is None else p - ref
            total = total + 0.5 * strength * (diff * diff).sum()
        return total


def _reindex_heads(ref, old_index, device):
    """The L2-SP reference with head names in the new task order."""
    new_of_old = {int(i): k for k, i in enumerate(old_index) if i >= 0}
    out = {}
    for name, value in ref.items():
        if name.startswith("heads."):
            _, i, rest = name.split(".", 2)
            name = f"heads.{new_of_old[int(i)]}.{rest}"
        out[name] = value.to(device)
    return out


_FINETUNE_DOC = """Fine-tuning of a source network on target tasks.

    The network starts from ``source`` (a fitted :class:`{base}` or a
    ``torch.nn.Module`` / state dict): its encoder replaces the freshly built
    one (the architecture comes from the source), the heads are new (or
    copied, ``heads="copy"``), then training continues on the target rows as
    in :class:`{base}`. Optionally the encoder is **frozen** (only the heads
    train: a linear model of the source features), unfrozen after
    ``unfreeze_after`` epochs, trained with its own learning rate
    (discriminative fine-tuning), or pulled toward the source weights by
    L2-SP (Li, Grandvalet & Davoine, 2018)::

        objective = sum_t lambda_t L_t + source_alpha / 2 ||theta_S - theta_S^0||^2
                    + alpha / 2 ||W_new||^2

    with ``theta_S`` the transferred parameters, ``theta_S^0`` their source
    values and ``W_new`` the weight matrices of the new heads. Without
    ``source_alpha`` the usual ``alpha / 2 ||W||^2`` covers every weight
    matrix (fine-tuning with weight decay). ``source=None`` trains from
    scratch, exactly as :class:`{base}` with the same seed.

    Parameters
    ----------
    source : fitted network, torch.nn.Module or dict, default=None
        A fitted skmtl.neural network, a ``MultiTaskModule`` (encoder and
        heads), any encoder module (copied, never modified), or a state dict
        of an encoder (keys with or without the ``encoder.`` prefix; loaded
        into the encoder built from this estimator's parameters). Wrap a
        fitted network in ``sklearn.frozen.FrozenEstimator`` to keep it
        fitted through ``clone`` (GridSearchCV); modules and state dicts are
        copied by ``clone``.
    hidden_layer_sizes : tuple of int, default=(100,)
        Encoder built when ``source`` is None or a state dict.
    freeze : "encoder", list of str or None, default=None
        Parameters kept fixed (``requires_grad=False`` before the optimizer is
        built): the whole encoder, or the parameters whose names (as in
        ``module_.named_parameters()``, e.g. ``"encoder.layers.0"``) start
        with one of the strings (a string that matches no name is an error).
        A continued fit (``warm_start``, ``partial_fit``) keeps the fitted
        network's frozen parameters as they are.
    unfreeze_after : int or None, default=None
        Epochs after which the frozen parameters join training (the encoder's
        at ``encoder_learning_rate``); ``unfrozen_epoch_`` records it. A
        continued fit that starts past that epoch unfreezes at its first
        epoch end. Not with ``optimizer="lbfgs"`` (no epochs of mini-batches).
    encoder_learning_rate : float or None, default=None
        Learning rate of the encoder's parameters (a parameter group); None:
        ``learning_rate``. Not with ``optimizer="lbfgs"`` (one rate).
    heads : {{"new", "copy"}}, default="new"
        New heads, or copies of the source heads of the same task labels (a
        one-head source serves every target task); the output sizes must
        match (and a fitted classifier's classes equal the target's). Ignored
        without a source.
    source_alpha : float or None, default=None
        L2-SP strength toward the source values of the transferred
        parameters; None: plain weight decay ``alpha``.
    task_weights, activation, ... : see :class:`{base}` (all its parameters).

    Attributes
    ----------
    source_parameters_ : dict of str to torch.Tensor
        With a source and ``source_alpha``: the source values L2-SP pulls
        toward, by parameter name (empty otherwise).
    unfrozen_epoch_ : int or None
        The epoch after which the freeze ended (``unfreeze_after``); None
        while it holds.
    module_, tasks_, ... : as :class:`{base}`.

    See Also
    --------
    {base} : the network trained from scratch (``source=None``).
    skmtl.transfer.{linear} : the linear analogue.

    References
    ----------
    X. Li, Y. Grandvalet and F. Davoine. Explicit inductive bias for transfer
    learning with convolutional networks. ICML 2018.
    J. Howard and S. Ruder. Universal language model fine-tuning for text
    classification. ACL 2018 (gradual unfreezing, discriminative rates).
"""

_FINETUNE_EXAMPLE = """
    Examples
    --------
    A source network on tasks "a" and "b"; a new head for task "c" on its
    frozen encoder (a logistic regression of the source features):

    >>> import numpy as np
    >>> from skmtl.neural import FineTunedNetClassifier, MultiTaskNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5))
    >>> tasks = np.repeat(["a", "b", "c"], 100)
    >>> y = (X[:, 0] + np.where(tasks == "b", -1, 1) * X[:, 1] > 0).astype(int)
    >>> source = MultiTaskNetClassifier((16,), learning_rate=0.01, tol=1e-2,
    ...                                 random_state=0)
    >>> source = source.fit(X[:200], y[:200], tasks=tasks[:200])
    >>> net = FineTunedNetClassifier(source, freeze="encoder", optimizer="lbfgs",
    ...                              tol=1e-3)
    >>> net.fit(X[200:], y[200:], tasks="c").score(X[200:], y[200:]) > 0.9
    True
"""


class FineTunedNetClassifier(_FineTunedMixin, MultiTaskNetClassifier):
    __doc__ = (
        _FINETUNE_DOC.format(
            base="MultiTaskNetClassifier", linear="FineTunedClassifier"
        ).rstrip()
        + "\n"
        + _FINETUNE_EXAMPLE
    )
    _parameter_constraints = {
        **MultiTaskNetClassifier._parameter_constraints,
        **_FineTunedMixin._transfer_constraints,
    }


class FineTunedNetRegressor(_FineTunedMixin, MultiTaskNetRegressor):
    __doc__ = _FINETUNE_DOC.format(
        base="MultiTaskNetRegressor", linear="FineTunedRegressor"
    )
    _parameter_constraints = {
        **MultiTaskNetRegressor._parameter_constraints,
        **_FineTunedMixin._transfer_constraints,
    }
