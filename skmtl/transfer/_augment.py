"""Feature augmentation for domain adaptation (Daume III, 2007)."""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._tasks import TaskIndex, encode_tasks
from ..base import fit_or_restore, tasks_required_error

__all__ = ["FeatureAugmenter"]

#: dense input gives dense output up to this many entries, CSR beyond
_MAX_DENSE_OUTPUT = 10_000_000


class FeatureAugmenter(TransformerMixin, BaseEstimator):
    """Shared plus task-specific copies of the features ("frustratingly easy" DA).

    Row ``x`` of task ``t`` becomes ``[shared_scale * x, 0, ..., x, ..., 0]``: a
    shared block followed by one block per task seen in fit, ``x`` in the block
    of its own task. Any linear model on these features is a multi-task /
    transfer model: its weights on the shared block are common to all tasks,
    those on block ``t`` are task ``t``'s deviation. With an L2 penalty of
    strength ``alpha`` the model equals :class:`~skmtl.MultiTaskRegressor` with
    ``penalty=MeanRegularized(shared=1 / shared_scale**2, specific=1)``.

    Rows of a task not seen in fit get the shared block only (zeros in every
    task block), i.e. they are predicted by the shared weights.

    Sparse input stays sparse (CSR); dense input gives a dense array up to
    10 million entries (``n_samples * (n_tasks + 1) * n_features``), a CSR
    matrix beyond (each row fills 2 of the ``n_tasks + 1`` blocks).

    Parameters
    ----------
    shared_scale : float, default=1.0
        Multiplier of the shared block; larger values make the shared part
        cheaper to use (weaker penalty on it).
    unseen_tasks : {"shared", "error"}, default="shared"
        Use the shared block alone for tasks not seen in fit, or raise.

    Attributes
    ----------
    tasks_ : ndarray of shape (n_tasks,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    References
    ----------
    H. Daume III, "Frustratingly easy domain adaptation", ACL 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.transfer import FeatureAugmenter
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> FeatureAugmenter().fit_transform(X, tasks=["source", "target"])
    array([[1., 2., 1., 2., 0., 0.],
           [3., 4., 0., 0., 3., 4.]])
    """

    __metadata_request__fit = {"tasks": True}
    __metadata_request__transform = {"tasks": True}

    _parameter_constraints = {
        "shared_scale": [Interval(Real, 0, None, closed="neither")],
        "unseen_tasks": [StrOptions({"shared", "error"})],
    }  # fmt: skip

    def __init__(self, shared_scale=1.0, *, unseen_tasks="shared"):
        self.shared_scale = shared_scale
        self.unseen_tasks = unseen_tasks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_or_restore
    def fit(self, X, y=None, tasks=None):
        """Record the tasks (and the number of features).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ignored
        tasks : hashable or array-like of shape (n_samples,), default=None
            Task of each row; None is a single task labelled 0.

        Returns
        -------
        self : object
        """
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32]
        )
        self.tasks_, _ = encode_tasks(0 if tasks is None else tasks, X.shape[0])
        return self

    def transform(self, X, tasks=None):
        """Augmented features.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        tasks : hashable or array-like of shape (n_samples,), default=None
            May be None only when a single task was seen in fit.

        Returns
        -------
        X_aug : {ndarray, sparse matrix} of shape (n_samples, (n_tasks+1) * n_features)
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=False,
        )  # fmt: skip
        n, p = X.shape
        if tasks is None:
            if len(self.tasks_) != 1:
                raise tasks_required_error("FeatureAugmenter", len(self.tasks_))
            codes = np.zeros(n, dtype=np.intp)
        else:
            codes = TaskIndex(self.tasks_).transform(
                tasks, n, allow_unseen=self.unseen_tasks == "shared"
            )
        T = len(self.tasks_)
        if not sp.issparse(X) and n * (T + 1) * p > _MAX_DENSE_OUTPUT:
            # each row fills 2 of the T + 1 blocks: dense output would be
            # mostly zeros (4 GB at 5,000 tasks on 10^5 x 10 rows)
            X = sp.csr_matrix(X)
        if sp.issparse(X):
            Xc = X.tocsr()
            nnz_rows = np.diff(Xc.indptr)
            row_codes = np.repeat(codes, nnz_rows)
            keep = row_codes >= 0  # unseen tasks: no task block
            task_cols = Xc.indices[keep] + p * (1 + row_codes[keep])
            rows = np.repeat(np.arange(n), nnz_rows)
            data = np.concatenate([self.shared_scale * Xc.data, Xc.data[keep]])
            out = sp.csr_matrix(
                (data, (np.concatenate([rows, rows[keep]]),
                        np.concatenate([Xc.indices, task_cols]))),
                shape=(n, (T + 1) * p),
            )  # fmt: skip
            out.sum_duplicates()
            return out
        out = np.zeros((n, (T + 1) * p), dtype=X.dtype)
        out[:, :p] = self.shared_scale * X
        seen = np.flatnonzero(codes >= 0)  # unseen tasks: no task block
        cols = p * (1 + codes[seen])[:, None] + np.arange(p)
        out[seen[:, None], cols] = X[seen]
        return out

    def fit_transform(self, X, y=None, tasks=None):
        """Fit, then transform the same rows (``tasks`` goes to both)."""
        return self.fit(X, y, tasks=tasks).transform(X, tasks=tasks)

    def get_feature_names_out(self, input_features=None):
        """``shared__<name>`` then ``task_<label>__<name>`` for every task."""
        check_is_fitted(self)
        # scikit-learn's rule: the fitted names, else x0 ... x{n-1}; a given
        # input_features must agree with them
        n = self.n_features_in_
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = [f"x{i}" for i in range(n)] if fitted is None else fitted
        elif fitted is not None and not np.array_equal(
            np.asarray(input_features, dtype=object), fitted
        ):
            raise ValueError("input_features is not equal to feature_names_in_.")
        elif len(input_features) != n:
            raise ValueError(
                f"input_features should have length equal to number of features "
                f"({n}), got {len(input_features)}."
            )
        names = [f"shared__{f}" for f in input_features]
        for label in self.tasks_:
            names += [f"task_{label}__{f}" for f in input_features]
        return np.asarray(names, dtype=object)
