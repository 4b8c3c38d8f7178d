"""Regularization toward a source network (L2-SP) with one strength.

``RegularizedTransferNet*`` is ``FineTunedNet*`` with ``source_alpha=alpha``
and no freezing, as ``skmtl.transfer.RegularizedTransfer*`` pulls a linear
model toward its source.
"""

from sklearn.utils._param_validation import StrOptions

from ._estimators import MultiTaskNetClassifier, MultiTaskNetRegressor
from ._finetune import _FineTunedMixin

__all__ = ["RegularizedTransferNetClassifier", "RegularizedTransferNetRegressor"]


class _RegularizedTransferMixin(_FineTunedMixin):
    """L2-SP with one strength: ``alpha`` pulls the transferred weights toward
    the source and the new weights toward zero (``FineTunedNet*`` with
    ``source_alpha=alpha``, no freezing), as ``RegularizedTransfer*`` pulls a
    linear model toward its source."""

    # the fine-tuning options this estimator does not take
    freeze = None
    unfreeze_after = None
    encoder_learning_rate = None

    @property
    def source_alpha(self):
        return self.alpha

    def __init__(
        self,
        source=None,
        hidden_layer_sizes=(100,),
        *,
        alpha=0.01,
        heads="new",
        task_weights=None,
        activation="relu",
        dropout=0.0,
        encoder=None,
        head_hidden_layer_sizes=(),
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
        # skip _FineTunedMixin.__init__: freeze & co. are not parameters here
        super(_FineTunedMixin, self).__init__(
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
        self.heads = heads

    _regularized_constraints = {
        "source": "no_validation",
        "heads": [StrOptions({"new", "copy"})],
    }


_REGULARIZED_DOC = """Regularization toward a source network (L2-SP).

    Minimises, from the source's weights::

        sum_t lambda_t L_t + alpha / 2 ||theta_S - theta_S^0||^2
                           + alpha / 2 ||W_new||^2

    with ``theta_S`` the transferred parameters (the encoder; the heads too
    with ``heads="copy"``), ``theta_S^0`` their source values and ``W_new``
    the weight matrices of the new heads: the penalty pulls toward the source
    instead of toward zero (Li, Grandvalet & Davoine, 2018), as
    ``skmtl.transfer.{linear}`` does for a linear model. It equals
    ``{finetuned}(source, source_alpha=alpha, alpha=alpha)``; use that class
    for separate strengths, a frozen encoder, gradual unfreezing or
    discriminative learning rates. ``source=None`` is plain weight decay:
    :class:`{base}` from scratch.

    Parameters
    ----------
    source : fitted network, torch.nn.Module or dict, default=None
        As for :class:`{finetuned}`.
    hidden_layer_sizes : tuple of int, default=(100,)
        Encoder built when ``source`` is None or a state dict.
    alpha : float, default=0.01
        Strength of the pull toward the source (and of the new weights'
        decay).
    heads : {{"new", "copy"}}, default="new"
        As for :class:`{finetuned}`.
    task_weights, activation, ... : see :class:`{base}` (all its parameters).

    Attributes
    ----------
    source_parameters_ : dict
        The source values the penalty pulls toward.
    module_, tasks_, ... : as :class:`{base}`.

    References
    ----------
    X. Li, Y. Grandvalet and F. Davoine. Explicit inductive bias for transfer
    learning with convolutional networks. ICML 2018.
"""


class RegularizedTransferNetClassifier(
    _RegularizedTransferMixin, MultiTaskNetClassifier
):
    __doc__ = _REGULARIZED_DOC.format(
        base="MultiTaskNetClassifier",
        finetuned="FineTunedNetClassifier",
        linear="RegularizedTransferClassifier",
    )
    _parameter_constraints = {
        **MultiTaskNetClassifier._parameter_constraints,
        **_RegularizedTransferMixin._regularized_constraints,
    }


class RegularizedTransferNetRegressor(_RegularizedTransferMixin, MultiTaskNetRegressor):
    __doc__ = _REGULARIZED_DOC.format(
        base="MultiTaskNetRegressor",
        finetuned="FineTunedNetRegressor",
        linear="RegularizedTransferRegressor",
    )
    _parameter_constraints = {
        **MultiTaskNetRegressor._parameter_constraints,
        **_RegularizedTransferMixin._regularized_constraints,
    }
