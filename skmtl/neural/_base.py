"""Training machinery shared by the multi-task networks.

Following skorch's ``NeuralNet``: parameters of sub-objects are given as
``encoder__<name>`` and ``optimizer__<name>``; :meth:`initialize_module`
builds the network, :meth:`initialize_optimizer` the optimizer,
:meth:`train_step` runs one batch and :meth:`get_loss` gives the per-task
losses of a batch. The task protocol (``tasks``, ``tasks_``, metadata routing)
is :class:`skmtl.base.TaskEstimatorMixin`, as for the linear models.

Reproducibility: the whole fit runs inside ``torch.random.fork_rng`` seeded
from ``random_state`` (initial weights, dropout) and shuffles with a NumPy
generator of the same seed, so that the same seed gives the same model on
CPU and the caller's global torch generator is left untouched.
"""

import copy
import io
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, is_classifier
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._tasks import TaskIndex, check_task_labels, check_task_weights, encode_tasks
from .._validation import check_class_labels, check_sample_weight, drop_absent_rows
from ..base import TaskEstimatorMixin, restore_on_error
from ._module import ACTIVATIONS, CSRBatch, MLPEncoder, MultiTaskModule, TaskHead
from ._training import DTYPES, TrainingMixin, segments, torch_threads
from ._weighting import WEIGHTING_ALIASES, FixedWeighting, resolve_weighting

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "lbfgs": torch.optim.LBFGS,
}
_PREFIXES = ("encoder", "optimizer")
_NP_DTYPES = {"float32": np.float32, "float64": np.float64}
#: rows per forward pass at prediction time
_PREDICT_BATCH = 4096


def resolve_device(device):
    """The torch device named by ``device`` ("cpu", "cuda", "cuda:1", "auto")."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available to torch on this machine "
            "(torch.cuda.is_available() is False). Use device='cpu', or "
            "device='auto' to take a GPU only when there is one."
        )
    if dev.type == "meta":
        raise ValueError(
            f"device={device!r} holds shapes without data: a network cannot be "
            "trained there. Use device='cpu', 'cuda' or 'auto'."
        )
    try:
        torch.empty(0, device=dev)  # a build without the backend, a bad index
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"device={device!r} cannot be used by torch: {exc}") from None
    return dev


class BaseMultiTaskNet(TrainingMixin, TaskEstimatorMixin, BaseEstimator):
    """Hard parameter sharing: a shared encoder and one output head per task.

    Subclasses define the targets (``_prepare_targets``), the per-row loss
    (``_row_loss``), the output size of a head and the validation score.
    """

    #: fitted attributes holding tensors, pickled through torch (CPU-loadable)
    _TORCH_ATTRIBUTES = ("module_", "optimizer_", "task_weighting_")

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "encoder": [None, HasMethods(["forward"]), callable],
        "head_hidden_layer_sizes": ["array-like"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "task_weights": [dict, "array-like", None],
        "task_weighting": [
            StrOptions(set(WEIGHTING_ALIASES)),
            HasMethods(["backward"]),
        ],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), callable],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES))],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="relu",
        dropout=0.0,
        encoder=None,
        head_hidden_layer_sizes=(),
        alpha=1e-4,
        task_weights=None,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.encoder = encoder
        self.head_hidden_layer_sizes = head_hidden_layer_sizes
        self.alpha = alpha
        self.task_weights = task_weights
        self.task_weighting = task_weighting
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self._check_prefixed(kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ------------------------------------------------ skorch-style params
    @staticmethod
    def _check_prefixed(params):
        for key in params:
            if key.split("__", 1)[0] not in _PREFIXES or "__" not in key:
                raise TypeError(
                    f"unexpected parameter {key!r}: the networks take their own "
                    "parameters and ones prefixed 'encoder__<name>' (arguments of an "
                    "encoder class) or 'optimizer__<name>' (of the optimizer)."
                )

    def _prefixed(self, prefix):
        head = prefix + "__"
        return {k[len(head) :]: v for k, v in vars(self).items() if k.startswith(head)}

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        for prefix in _PREFIXES:
            params.update(
                {f"{prefix}__{k}": v for k, v in self._prefixed(prefix).items()}
            )
        return params

    def set_params(self, **params):
        mine = {k: v for k, v in params.items() if k.split("__", 1)[0] in _PREFIXES}
        mine = {k: v for k, v in mine.items() if "__" in k}
        for key, value in mine.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in mine}
        return super().set_params(**rest) if rest else self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ---------------------------------------------------------- fitted net
    @property
    def encoder_(self):
        """The fitted shared encoder (``module_.encoder``)."""
        return self.module_.encoder

    @property
    def heads_(self):
        """The fitted heads, one per task in the order of ``tasks_``."""
        return self.module_.heads

    # --------------------------------------------------------------- fit
    def fit(self, X, y, tasks=None, sample_weight=None):
        """Train the network on all tasks.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Sparse input (CSR) is read batch by batch by the first layer; it is
            never densified.
        y : array-like of shape (n_samples,)
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task label of each row; a scalar puts every row in one task.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights inside each task's mean loss; rows of weight 0
            are absent.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Bad input, naming the argument; a loss that becomes NaN or
            infinite (lower ``learning_rate``); a ``device`` torch cannot
            use (``"cuda"`` without CUDA, ``"meta"``); a continued fit with
            another ``dtype`` or architecture. A failed fit leaves a fitted
            model as it was.
        """
        self._validate_params()
        self._check_layer_sizes()
        keep = self.warm_start and hasattr(self, "module_")
        # validate_data sets n_features_in_ before the input can be rejected
        with restore_on_error(self):
            return self._train(
                X, y, tasks, sample_weight, incremental=keep, epochs=None
            )

    def _partial_fit(self, X, y, tasks, sample_weight, classes=None):
        self._validate_params()
        self._check_layer_sizes()
        with restore_on_error(self):
            return self._train(
                X,
                y,
                tasks,
                sample_weight,
                incremental=hasattr(self, "module_"),
                epochs=1,
                classes=classes,
            )

    def _check_layer_sizes(self):
        # "array-like" lets (0,), (-1,) or (4.5,) through to torch
        names = ["head_hidden_layer_sizes"]
        if self.encoder is None:
            names.insert(0, "hidden_layer_sizes")
        for name in names:
            sizes = list(getattr(self, name))
            if not all(
                isinstance(k, Integral) and not isinstance(k, bool) and k > 0
                for k in sizes
            ):
                raise ValueError(
                    f"{name} must be positive integers (one width per layer), "
                    f"got {tuple(sizes)}."
                )

    def _train(self, X, y, tasks, sample_weight, *, incremental, epochs, classes=None):
        device = resolve_device(self.device)
        data = self._prepare(
            X, y, tasks, sample_weight, incremental, classes, partial=epochs is not None
        )
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            state = self._initial_state(data, device, incremental)
            rows = data["X"].shape[0] if self._is_lbfgs() else self.batch_size
            rows = min(200, data["X"].shape[0]) if rows == "auto" else rows
            with torch_threads(state["module_"], rows):
                state = self._run_epochs(state, data, seed, epochs)
        n_tasks = len(state["tasks_"])
        for key in ("task_loss_curve_", "validation_scores_", "task_weights_history_"):
            rows = state[key]
            state[key] = (
                np.array(rows, dtype=float) if len(rows) else np.empty((0, n_tasks))
            )
        state["loss_curve_"] = list(state["loss_curve_"])
        # success: the estimator changes only now (a failed fit leaves it as it was)
        for key, value in state.items():
            setattr(self, key, value)
        return self

    def _prepare(self, X, y, tasks, sample_weight, incremental, classes, partial):
        first = not incremental
        if is_classifier(self):
            check_class_labels(y)
            # partial_fit's classes: refused as the linear classifier refuses
            # them (NaN would become a class, None dies in sorting)
            check_class_labels(classes, name="classes")
            if classes is not None and np.ndim(classes) != 1:
                raise ValueError(
                    "classes must be a 1-D array-like of labels, got shape "
                    f"{np.shape(classes)}."
                )
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            y_numeric=self._y_numeric,
        )
        np_dtype = _NP_DTYPES[self.dtype]
        if X.dtype != np_dtype:
            X = X.astype(np_dtype)
        if sp.issparse(X):
            X = X.tocsr()
            X.sort_indices()
        sw = check_sample_weight(sample_weight, X.shape[0])
        X, y, tasks, sw = drop_absent_rows(X, y, tasks, sw)
        n = X.shape[0]
        if incremental:
            labels = check_task_labels(0 if tasks is None else tasks, n)
            new = np.setdiff1d(labels, self.tasks_) if len(labels) else labels
            if len(new):
                # the union as a fresh fit on it would see it: plain labels, so
                # that the object array of a scalar label ("b") and '<U1'
                # tasks_ give '<U1' again, not object
                union = self.tasks_.tolist() + new.tolist()
                task_labels, _ = encode_tasks(union, len(union))
            else:
                task_labels = self.tasks_
            codes = TaskIndex(task_labels).transform(labels, n)
        else:
            task_labels, codes = self._encode_fit_tasks(tasks, n)
        data = {"X": X, "codes": codes, "sample_weight": sw, "task_labels": task_labels}
        data["partial"] = partial
        data["task_weights"] = check_task_weights(self.task_weights, task_labels)
        data["task_scale"] = np.ones(len(task_labels))
        # targets, task_scale and the fitted attributes fixed by the data
        data["attributes"] = self._prepare_targets(y, data, incremental, classes)
        return data

    # ---------------------------------------------------- initialisation
    def initialize_module(self, X, n_tasks, n_outputs):
        """A new :class:`MultiTaskModule`: an encoder for ``X`` and ``n_tasks`` heads.

        Each head has ``n_outputs`` outputs (1 for regression and two classes).
        """
        n_features = X.shape[1]
        encoder_kwargs = self._prefixed("encoder")
        if self.encoder is None:
            if encoder_kwargs:
                raise ValueError(
                    f"encoder__ parameters {sorted(encoder_kwargs)} were given but "
                    "encoder is None (the default MLP takes hidden_layer_sizes, "
                    "activation and dropout)."
                )
            encoder = MLPEncoder(
                n_features,
                tuple(self.hidden_layer_sizes),
                self.activation,
                self.dropout,
            )
            sparse_aware = True
        elif isinstance(self.encoder, nn.Module):
            if encoder_kwargs:
                raise ValueError(
                    f"encoder__ parameters {sorted(encoder_kwargs)} need encoder to be "
                    "a class (an nn.Module subclass), not an instance."
                )
            encoder = copy.deepcopy(self.encoder)  # never alias the parameter
            sparse_aware = bool(getattr(encoder, "accepts_sparse", False))
        else:
            encoder = self.encoder(**encoder_kwargs)
            if not isinstance(encoder, nn.Module):
                raise ValueError(
                    f"encoder must be a torch.nn.Module class or instance, got "
                    f"{type(encoder).__name__} from calling {self.encoder!r}."
                )
            sparse_aware = bool(getattr(encoder, "accepts_sparse", False))
        # probe in the network's precision: a float64 sparse batch cannot meet
        # float32 weights in embedding_bag
        encoder = encoder.to(dtype=DTYPES[self.dtype])
        n_out = self._encoder_width(encoder, X, sparse_aware)
        heads = [self._new_head(n_out, n_outputs) for _ in range(n_tasks)]
        return MultiTaskModule(encoder, heads, sparse_aware)

    def _architecture(self):
        """The parameters that shape the network, as the fit builds it."""
        arch = {
            "head_hidden_layer_sizes": tuple(
                int(k) for k in self.head_hidden_layer_sizes
            ),
            "activation": self.activation,
            "dropout": float(self.dropout),
        }
        if self.encoder is None:
            arch["hidden_layer_sizes"] = tuple(int(k) for k in self.hidden_layer_sizes)
        # an instance is copied at fit, so its class (not its identity) counts
        enc = self.encoder
        arch["encoder"] = type(enc) if isinstance(enc, nn.Module) else enc
        arch["task_weighting"] = repr(resolve_weighting(self.task_weighting))
        return arch

    def _adapt_module(self, module, data):
        """Hook: change a freshly built network (transfer copies source weights)."""
        return module

    def _new_head(self, n_in, n_outputs):
        return TaskHead(
            n_in,
            n_outputs,
            tuple(self.head_hidden_layer_sizes),
            self.activation,
            self.dropout,
        )

    def _encoder_width(self, encoder, X, sparse_aware):
        probe = self._batch(X, np.arange(min(2, X.shape[0])), torch.device("cpu"))
        if isinstance(probe, CSRBatch) and not sparse_aware:
            probe = probe.to_dense()
        probe = (
            probe
            if isinstance(probe, CSRBatch)
            else probe.to(next(iter(encoder.parameters()), probe).dtype)
        )
        was_training = encoder.training
        encoder.eval()
        with torch.no_grad():
            try:
                z = encoder(probe)
            except Exception as exc:
                raise ValueError(
                    f"the encoder failed on a batch of shape ({probe.shape[0]}, "
                    f"{X.shape[1]}): {exc}"
                ) from exc
        encoder.train(was_training)
        if isinstance(z, CSRBatch):
            return z.n_features
        if z.ndim != 2:
            raise ValueError(
                "the encoder must return a 2-D tensor (n_samples, n_features_out), "
                f"got shape {tuple(z.shape)}."
            )
        return int(z.shape[1])

    def initialize_optimizer(self, module, weighting):
        """The optimizer over the trainable parameters (frozen ones excluded)."""
        params = [p for p in module.parameters() if p.requires_grad]
        params += list(weighting.parameters())
        return self._make_optimizer(params)

    def _make_optimizer(self, params):
        """The optimizer of ``optimizer`` over ``params`` (tensors or groups)."""
        kwargs = {"lr": self.learning_rate, **self._prefixed("optimizer")}
        cls = (
            _OPTIMIZERS[self.optimizer]
            if isinstance(self.optimizer, str)
            else self.optimizer
        )
        if cls in (torch.optim.Adam, torch.optim.AdamW) and not (
            {"fused", "foreach"} & set(kwargs)
        ):
            # torch's CPU default is the per-tensor loop: the fused kernel took
            # the Adam step of the TF-IDF network from 14 ms to 4.8 ms per batch
            kwargs["fused"] = True
        if cls is torch.optim.LBFGS:
            kwargs.setdefault("max_iter", 20)
            kwargs.setdefault("line_search_fn", "strong_wolfe")
            # torch stops a round at |g|_inf <= 1e-7 or a loss change of 1e-9
            # (absolute); tie the first to tol, the second to round-off only
            kwargs.setdefault("tolerance_grad", self.tol)
            kwargs.setdefault(
                "tolerance_change", 16 * float(torch.finfo(DTYPES[self.dtype]).eps)
            )
        try:
            return cls(params, **kwargs)
        except TypeError as exc:
            raise ValueError(
                f"optimizer {cls.__name__} rejected its arguments: {exc}"
            ) from None

    def _initial_state(self, data, device, incremental):
        dtype = DTYPES[self.dtype]
        n_tasks = len(data["task_labels"])
        if not incremental:
            module = self.initialize_module(data["X"], n_tasks, data["n_outputs"]).to(
                device=device, dtype=dtype
            )
            module = self._adapt_module(module, data)
            weighting = resolve_weighting(self.task_weighting).initialize(
                n_tasks, device, dtype
            )
            if self._is_lbfgs() and not isinstance(weighting, FixedWeighting):
                raise ValueError(
                    "optimizer='lbfgs' trains on the full batch with the fixed joint "
                    f"loss; task_weighting={self.task_weighting!r} needs mini-batches "
                    "(use optimizer='adam' or 'sgd')."
                )
            optimizer = self.initialize_optimizer(module, weighting)
            history = {
                "_fitted_architecture": self._architecture(),
                "loss_curve_": [],
                "task_loss_curve_": [],
                "validation_scores_": [],
                "task_weights_history_": [],
            }
            return {
                "module_": module,
                "optimizer_": optimizer,
                "task_weighting_": weighting,
                "tasks_": data["task_labels"],
                "n_iter_": 0,
                "t_": 0,
                **history,
                **data["attributes"],
            }
        fitted = next(self.module_.parameters()).dtype
        if fitted != dtype:
            raise ValueError(
                f"dtype={self.dtype!r} differs from the fitted network's "
                f"{str(fitted).removeprefix('torch.')}: a continued fit "
                "(warm_start=True or partial_fit) keeps the network's precision; "
                "set warm_start=False for a new network."
            )
        fitted_arch = getattr(self, "_fitted_architecture", None)  # None: older pickles
        for name, value in self._architecture().items():
            if fitted_arch is not None and fitted_arch.get(name, value) != value:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} differs from the fitted "
                    f"network's {fitted_arch[name]!r}: a continued fit "
                    "(warm_start=True or partial_fit) keeps the network's "
                    "architecture and task weighting; set warm_start=False for a "
                    "new network."
                )
        # continue from the fitted state, on copies (a failed call changes nothing)
        module = copy.deepcopy(self.module_).to(device=device)
        weighting = copy.deepcopy(self.task_weighting_)
        old = self.tasks_
        new = data["task_labels"]
        old_index = TaskIndex(old).transform(new, len(new), allow_unseen=True)
        width = self._head_input(module)
        heads = [
            module.heads[i]
            if i >= 0
            else self._new_head(width, data["n_outputs"]).to(device=device, dtype=dtype)
            for i in old_index
        ]
        module.heads = nn.ModuleList(heads)
        optimizer = self.initialize_optimizer(module, weighting)
        if (
            (old_index >= 0).all()
            and len(new) == len(old)
            and type(optimizer) is type(self.optimizer_)
        ):
            # carry the per-parameter state (Adam's moments) over, but keep the
            # groups' current settings: load_state_dict would restore the old
            # learning_rate / optimizer__<name> set before this call
            settings = [
                {k: v for k, v in g.items() if k != "params"}
                for g in optimizer.param_groups
            ]
            optimizer.load_state_dict(self.optimizer_.state_dict())
            for group, setting in zip(optimizer.param_groups, settings):
                group.update(setting)
        else:
            weighting.reindex_tasks(old_index)
            optimizer = self.initialize_optimizer(module, weighting)
        curves = {
            k: [_reindex_row(r, old_index) for r in getattr(self, k)]
            for k in ("task_loss_curve_", "validation_scores_", "task_weights_history_")
        }
        return {
            "module_": module,
            "optimizer_": optimizer,
            "task_weighting_": weighting,
            "_fitted_architecture": fitted_arch,
            "tasks_": new,
            "n_iter_": self.n_iter_,
            "t_": self.t_,
            "loss_curve_": list(self.loss_curve_),
            **curves,
            **data["attributes"],
        }

    @staticmethod
    def _head_input(module):
        head = module.heads[0]
        first = head.hidden[0] if len(head.hidden) else head.output
        return first.in_features

    def _is_lbfgs(self):
        return self.optimizer == "lbfgs" or self.optimizer is torch.optim.LBFGS

    # ------------------------------------------------------------- batches
    def _batch(self, X, rows, device):
        # X is already in the network's precision (a dense batch keeps it too)
        if sp.issparse(X):
            dtype = torch.float64 if X.dtype == np.float64 else torch.float32
            return CSRBatch.from_scipy(X[rows], device, dtype)
        return torch.as_tensor(np.ascontiguousarray(X[rows]), device=device)

    # ----------------------------------------------------------- predict
    def _forward(self, X, tasks):
        """Head outputs of every row, shape (n_samples, n_outputs), and the codes."""
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32]
        )
        # the fitted network's precision (dtype may have been set since)
        fitted = next(self.module_.parameters()).dtype
        np_dtype = np.float64 if fitted == torch.float64 else np.float32
        if X.dtype != np_dtype:
            X = X.astype(np_dtype)
        if sp.issparse(X):
            X = X.tocsr()
        codes = self._encode_predict_tasks(tasks, X.shape[0])
        return self._outputs(self.module_, X, codes), codes

    def _outputs(self, module, X, codes):
        """Head outputs of ``module`` on every row of ``X``, in eval mode."""
        with torch_threads(module, min(X.shape[0], _PREDICT_BATCH)):
            return self._outputs_unthreaded(module, X, codes)

    def _outputs_unthreaded(self, module, X, codes):
        device = next(module.parameters()).device
        out = np.empty((X.shape[0], module.heads[0].output.out_features))
        was_training = module.training
        module.eval()
        with torch.no_grad():
            for start in range(0, X.shape[0], _PREDICT_BATCH):
                rows = np.arange(start, min(start + _PREDICT_BATCH, X.shape[0]))
                order, segs = segments(codes[rows])
                rows = rows[order]
                _, outputs = module(self._batch(X, rows, device), segs)
                for (_, lo, hi), o in zip(segs, outputs):
                    out[rows[lo:hi]] = o.double().cpu().numpy()
        module.train(was_training)
        return out

    # ----------------------------------------------------------- pickling
    def __getstate__(self):
        state = (
            super().__getstate__()
            if hasattr(super(), "__getstate__")
            else dict(vars(self))
        )
        state = dict(state)
        torch_keys = [k for k in self._TORCH_ATTRIBUTES if k in state]
        if torch_keys:
            buffer = io.BytesIO()
            torch.save({k: state.pop(k) for k in torch_keys}, buffer)
            state["_torch_state"] = buffer.getvalue()
        return state

    def __setstate__(self, state):
        state = dict(state)
        blob = state.pop("_torch_state", None)
        if blob is not None:
            # a model fitted on a GPU loads on a machine without one
            location = None if torch.cuda.is_available() else torch.device("cpu")
            state.update(
                torch.load(io.BytesIO(blob), map_location=location, weights_only=False)
            )
        self.__dict__.update(state)


def _reindex_row(row, old_index):
    out = np.full(len(old_index), np.nan)
    known = old_index >= 0
    out[known] = np.asarray(row, float)[old_index[known]]
    return out
