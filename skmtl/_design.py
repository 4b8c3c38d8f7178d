"""Linear scores of a multi-task model (the smooth loss on them: ``_loss.py``).

Internal layout (fixed once for the whole package): ``W`` has shape
(n_features, n_tasks) for scalar outputs and (n_features, n_tasks, n_classes)
for multinomial models; the intercept ``b`` has shape (n_tasks,) or
(n_tasks, n_classes).

Rows are stored grouped by task (a stable sort of the task codes), so the
scores of task ``t`` are ``X_t @ W[:, t] + b[t]`` on a contiguous slice. In the
shared-design form (one X for every task, as in MultiTaskLasso) the product is
a single ``X @ W`` instead of one product per task.

With an intercept, the design is centred implicitly: the solvers work with
``(X_t - m_t) @ w_t + b'_t`` where ``m_t`` is task t's weighted feature mean,
computed as ``X_t @ w_t - m_t . w_t`` so that sparse X stays sparse (with the
means of :meth:`TaskDesign.center`, from the rows: see
``TaskDesign._row_centring``). This is an
exact change of variables (``b_t = b'_t - m_t . w_t``) that removes the
coupling between intercept and weights, which otherwise slows first-order
solvers badly on uncentred features.
"""

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

from ._threads import blas_threads

__all__ = [
    "TaskDesign",
    "task_weighted_means",
    "public_coef",
    "internal_coef",
    "count_data_passes",
]


class DataPasses:
    """Products with X or X^T counted by :func:`count_data_passes`.

    ``forward`` counts products ``X @ W`` (scores), ``backward`` products
    ``X^T @ G`` (gradients, Hessian products, curvature diagonals); a product
    with the element-wise squared X counts as one backward pass. A design in
    the ``"blocks"`` mode makes one product per task, counted once: a pass
    reads every row of X once.
    """

    def __init__(self):
        self.forward = 0
        self.backward = 0

    @property
    def total(self):
        return self.forward + self.backward

    def __repr__(self):
        return f"DataPasses(forward={self.forward}, backward={self.backward})"


_PASS_COUNTERS = []


def _count(kind):
    for counter in _PASS_COUNTERS:
        setattr(counter, kind, getattr(counter, kind) + 1)


@contextmanager
def count_data_passes():
    """Count the passes over the data (products with X and X^T) in a block.

    The benchmarks' measure of a solver's work, independent of the machine::

        with count_data_passes() as passes:
            model.fit(X, y, tasks=tasks)
        passes.total  # forward + backward products

    Counters nest; each sees every product made while it is open (in this
    thread of this process).
    """
    counter = DataPasses()
    _PASS_COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _PASS_COUNTERS.remove(counter)


def public_coef(W):
    """Internal ``W`` (n_features, n_tasks[, n_classes]) -> public ``coef_``.

    The public layout puts tasks first, as scikit-learn's multi-output models:
    (n_tasks, n_features) or (n_tasks, n_classes, n_features).
    """
    return np.moveaxis(W, 0, -1)


def internal_coef(coef):
    """Inverse of :func:`public_coef`."""
    return np.moveaxis(coef, -1, 0)


def _as_dtype(A, dtype):
    return A if A.dtype == dtype else A.astype(dtype)


def _segment_sum(G, row_codes, n_tasks):
    """Sum of the rows of G within each task (G of shape (n_rows,) or (n_rows, k))."""
    if G.ndim == 1:
        return np.bincount(row_codes, weights=G, minlength=n_tasks)
    return np.stack(
        [
            np.bincount(row_codes, weights=G[:, k], minlength=n_tasks)
            for k in range(G.shape[1])
        ],
        axis=1,
    )


def _square(X):
    """Element-wise square of X, sharing nothing with it.

    Not ``X.power(2)``: scipy first puts X in canonical form *in place*
    (sorted indices), which reorders the data of the caller's matrix when
    X shares it (the block-diagonal design does) without its indices.
    """
    if not sp.issparse(X):
        return np.square(X)
    X = X.tocsr()
    return sp.csr_matrix(
        (np.square(X.data), X.indices.copy(), X.indptr.copy()), shape=X.shape
    )


def task_weighted_means(values, weights, row_codes, n_tasks):
    """Per task, the ``weights``-weighted mean of ``values`` (0 at zero weight)."""
    num = _segment_sum(weights * values, row_codes, n_tasks)
    den = _segment_sum(weights, row_codes, n_tasks)
    return num / np.where(den > 0, den, 1.0)


# Dense X with at most this many tasks, or with large blocks (entries per
# task), keeps one BLAS product per task; with many small blocks the Python
# loop costs more than the products, and one batched product over the tasks
# stacked in a 3-D array (``"stacked"``) or a block-diagonal sparse matrix
# does every task at once.
_MAX_DENSE_BLOCKS = 4
_MIN_DENSE_BLOCK_SIZE = 10_000
_MAX_DENSE_TO_SPARSE = 50_000_000  # entries of a dense X we agree to re-store
# Ragged tasks are stacked with zero rows up to the largest task: at most
# this many stored entries per entry of X, else the block-diagonal matrix.
# Measured (one thread, 10 tasks of 100 x 50): a batched ``np.matmul`` takes
# 6-7 us per product, the block-diagonal CSR product 30 us and a loop of
# per-task BLAS products 18-27 us.
_MAX_STACK_PADDING = 2.0


class TaskDesign:
    """Rows of X grouped by task, as a linear operator ``W -> scores``.

    Three storage modes, chosen once:

    - ``"shared"``: one X for every task (2-D y); scores are ``X @ W``;
    - ``"blocks"``: one slice ``X_t`` per task, one product per task (dense X
      with few tasks, where BLAS on large blocks is fastest);
    - ``"stacked"``: dense X with many small tasks, the tasks' rows in a
      3-D array of shape (n_tasks, n_max, n_features) (``n_max`` the largest
      task's rows; shorter tasks padded with zero rows, at most
      ``_MAX_STACK_PADDING`` times the entries of X, a view of X when every
      task has ``n_max`` rows), one batched ``np.matmul`` per product;
    - ``"blockdiag"``: a CSR matrix of shape (n_rows, n_tasks * n_features)
      whose row ``i`` holds ``x_i`` in the column block of its task, so that
      every task is done by one sparse product (sparse X, or many ragged
      dense tasks). It stores the same non-zeros as X: nothing is densified.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    codes : ndarray of int of shape (n_samples,) or None
        Task index of each row. None means the shared design: every task sees
        all rows of X.
    n_tasks : int
    """

    def __init__(self, X, codes, n_tasks):
        self.n_tasks = n_tasks
        self.n_features = p = X.shape[1]
        self.dtype = X.dtype
        self.means = None
        self.order = None
        if codes is None:
            self.mode = "shared"
            self.X = self.X_sorted = X
            self.bounds = np.arange(n_tasks + 1) * X.shape[0]
        else:
            if sp.issparse(X) and X.format != "csr":
                # Row slicing needs CSR: a format change, not densification.
                X = X.tocsr()
            order = np.argsort(codes, kind="stable")
            counts = np.bincount(codes, minlength=n_tasks)
            self.bounds = np.concatenate([[0], np.cumsum(counts)])
            if np.any(order != np.arange(len(order))):
                self.order = order
                X = X[order]
            sparse_ok = sp.issparse(X) or X.size <= _MAX_DENSE_TO_SPARSE
            self.X_sorted = X  # kept for per-task sub-problems (shares the data)
            many_small = (
                not sp.issparse(X)
                and n_tasks > _MAX_DENSE_BLOCKS
                and X.size < _MIN_DENSE_BLOCK_SIZE * n_tasks
            )
            n_max = int(counts.max(initial=0))
            stacked_size = n_tasks * n_max * p
            if (
                many_small
                and stacked_size <= _MAX_STACK_PADDING * max(X.size, 1)
                and (stacked_size == X.size or stacked_size <= _MAX_DENSE_TO_SPARSE)
            ):
                self.mode = "stacked"
                self._stack(X, counts, n_max)
            elif n_tasks > 1 and sparse_ok and (sp.issparse(X) or many_small):
                self.mode = "blockdiag"
                row_codes = np.repeat(np.arange(n_tasks), counts)
                if sp.issparse(X):
                    data, indices, indptr = X.data, X.indices, X.indptr
                else:
                    # every entry of a dense row, without scanning for zeros
                    data = np.ascontiguousarray(X).ravel()
                    indices = np.tile(np.arange(p, dtype=np.int64), X.shape[0])
                    indptr = np.arange(0, X.size + 1, p, dtype=np.int64)
                cols = indices + p * np.repeat(row_codes, np.diff(indptr))
                self.X = sp.csr_matrix(
                    (data, cols, indptr), shape=(X.shape[0], n_tasks * p)
                )
            else:
                self.mode = "blocks"
                self.X = X
                self.blocks = [
                    X[self.bounds[t] : self.bounds[t + 1]] for t in range(n_tasks)
                ]
        self.row_codes = np.repeat(np.arange(n_tasks), np.diff(self.bounds))

    def _stack(self, X, counts, n_max):
        """Store the task-grouped dense rows of X as (n_tasks, n_max, n_features)."""
        T, p = self.n_tasks, self.n_features
        self.X = X
        if np.all(counts == n_max):
            self._pad = None  # every task full: a view of X when contiguous
            self._X3 = np.ascontiguousarray(X).reshape(T, n_max, p)
            return
        row_codes = np.repeat(np.arange(T), counts)
        # position of each row in the stacked rows: its task's slot + its rank
        rank = np.arange(X.shape[0]) - self.bounds[:-1][row_codes]
        self._pad = row_codes * n_max + rank
        X3 = np.zeros((T * n_max, p), dtype=X.dtype)
        X3[self._pad] = X
        self._X3 = X3.reshape(T, n_max, p)

    def _stack_rows(self, G):
        """Per-row values (n_rows, k) -> stacked (n_tasks, n_max, k), zero padding."""
        T, n_max = self._X3.shape[:2]
        if self._pad is None:
            return G.reshape(T, n_max, -1)
        out = np.zeros((T * n_max,) + G.shape[1:], dtype=G.dtype)
        out[self._pad] = G
        return out.reshape(T, n_max, -1)

    def _centred_stack(self):
        """The stack with each task's mean row subtracted (cached per ``means``).

        Padding rows stay zero. Centred once, the products need neither the
        offsets ``m_t . w_t`` nor the gradient's correction: two to four
        fewer array operations per product, the bulk of a product's time on
        small tasks. The stack itself when there are no means.
        """
        m = self.means
        if m is None:
            return self._X3
        if getattr(self, "_X3c_src", None) is not m:
            X3c = self._X3 - m[:, None, :].astype(self.dtype)
            if self._pad is not None:
                real = np.zeros(self._X3.shape[0] * self._X3.shape[1], dtype=bool)
                real[self._pad] = True
                X3c[~real.reshape(self._X3.shape[:2])] = 0.0
            self._X3c_src, self._X3c = m, X3c
        return self._X3c

    def _stack_forward(self, Wd, centred=True):
        """Scores ``X_t @ W[:, t]`` of the stacked rows, (n_tasks, n_max, k).

        Of the centred rows unless ``centred=False`` (raw rows).
        """
        X3 = self._centred_stack() if centred else self._X3
        Wt = Wd.reshape(self.n_features, self.n_tasks, -1).transpose(1, 0, 2)
        return np.asarray(np.matmul(X3, Wt), dtype=np.float64)

    def _stack_adjoint(self, G3, X3=None):
        """``X_t^T G_t`` of stacked ``G3`` (n_tasks, n_max, k), for every task.

        Shape (n_features, n_tasks, k). ``X3``: another stacked matrix (the
        raw or squared X) in place of the centred stack.
        """
        X3 = self._centred_stack() if X3 is None else X3
        out = np.matmul(_as_dtype(G3, self.dtype).transpose(0, 2, 1), X3)
        # C-contiguous like W (see backward)
        return np.asarray(out.transpose(2, 0, 1), dtype=np.float64, order="C")

    def raw_scores(self, W):
        """``X_t @ W[:, t]`` of every row of the uncentred X, task-grouped.

        ``W`` of shape (n_features, n_tasks); returns shape (n_rows,), float64,
        without intercept or centring. One product for every task; for the
        designs that store every task in one array (``"stacked"``,
        ``"blockdiag"``; :class:`~skmtl.solvers.BlockCoordinateDescent` takes
        the others column by column).
        """
        Wd = _as_dtype(W, self.dtype)
        if self.mode == "stacked":
            S = self._stack_forward(Wd, centred=False).reshape(-1)
            return S if self._pad is None else S[self._pad]
        if self.mode == "blockdiag":
            return np.asarray(self.X @ Wd.T.ravel(), dtype=np.float64)
        raise ValueError(
            f"raw_scores is for stacked or blockdiag designs, not {self.mode!r}."
        )

    def raw_adjoint(self, u):
        """``X_t^T u_t`` of the uncentred X for every task, shape (n_features, n_tasks).

        ``u`` of shape (n_rows,), task-grouped; the designs of :meth:`raw_scores`.
        """
        if self.mode == "stacked":
            return self._stack_adjoint(self._stack_rows(u), self._X3)[:, :, 0]
        if self.mode == "blockdiag":
            full = np.asarray(self.XT @ u, dtype=np.float64)
            return full.reshape(self.n_tasks, self.n_features).T
        raise ValueError(
            f"raw_adjoint is for stacked or blockdiag designs, not {self.mode!r}."
        )

    def task_sums(self, a):
        """Per task, the sum of the per-row values ``a`` (n_rows[, k]), task-grouped."""
        return _segment_sum(a, self.row_codes, self.n_tasks)

    def product_work(self, n_outputs=1):
        """Multiply-adds of the largest BLAS product of :meth:`forward`.

        What the thread policy (:mod:`skmtl._threads`) decides from: ``n p k``
        for the shared design (``k = n_tasks * n_outputs`` columns of ``W`` in
        one product), ``n_t p n_outputs`` for the largest task block, and 0
        when X is sparse or block-diagonal (scipy's sparse products are
        single-threaded: BLAS only sees vector operations).
        """
        if sp.issparse(self.X) or self.mode == "blockdiag":
            return 0.0
        p = self.n_features
        if self.mode == "shared":
            return float(self.X.shape[0]) * p * self.n_tasks * n_outputs
        return float(np.diff(self.bounds).max(initial=0)) * p * n_outputs

    @property
    def XT(self):
        # scipy builds a new transposed object at every ``.T`` (~40 us): once
        # per design is enough
        if getattr(self, "_XT", None) is None:
            self._XT = self.X.T
        return self._XT

    @property
    def blocks_T(self):
        """The transposes of :attr:`blocks`, built once (see :attr:`XT`)."""
        if getattr(self, "_blocks_T", None) is None:
            self._blocks_T = [Xt.T for Xt in self.blocks]
        return self._blocks_T

    def restrict(self, t):
        """The design of task ``t`` alone (a one-task design on its rows)."""
        lo, hi = self.bounds[t], self.bounds[t + 1]
        if self.mode == "shared":
            sub = TaskDesign(self.X, None, 1)
        else:
            sub = TaskDesign(self.X_sorted[lo:hi], np.zeros(hi - lo, dtype=np.intp), 1)
        if self.means is not None:
            sub.means = self.means[t : t + 1]
        return sub

    def restrict_features(self, features):
        """The same rows and tasks on a subset of the features (working sets)."""
        Xf = self.X_sorted[:, features]
        if self.mode == "shared":
            sub = TaskDesign(Xf, None, self.n_tasks)
        else:
            sub = TaskDesign(Xf, self.row_codes, self.n_tasks)
        if self.means is not None:
            sub.means = self.means[:, features]
        return sub

    def center(self, row_weights):
        """Use each task's ``row_weights``-weighted feature mean as offset."""
        wsum = np.bincount(self.row_codes, weights=row_weights, minlength=self.n_tasks)
        wsum = np.where(wsum > 0, wsum, 1.0)
        self.means = None  # the sums below must not be centred themselves
        self._zero_memo = None
        centring = (np.array(row_weights, dtype=np.float64), 1.0 / wsum)
        if self.mode == "shared":
            rows = np.reshape(row_weights, (self.n_tasks, -1))
            if np.all(rows == rows[0]):
                # every task weighs the rows alike: one product, not T
                one = TaskDesign(self.X, None, 1)
                with blas_threads(one.product_work()):  # skmtl._threads
                    sums, _ = one.backward(rows[0])
                self.means = np.repeat(sums.T, self.n_tasks, axis=0) / wsum[:, None]
                self._centring_rows = (self.means, *centring)
                return self
        with blas_threads(self.product_work()):  # the policy of skmtl._threads
            sums, _ = self.backward(row_weights)
        self.means = sums.T / wsum[:, None]
        self._centring_rows = (self.means, *centring)
        return self

    def _row_centring(self):
        """``(d, 1 / sum_t d)`` when the means are those :meth:`center` computed.

        Then ``m_t = X_t^T d_t / sum(d_t)``, so the centring of a product
        needs only per-row values: ``m_t . w_t`` is the ``d``-weighted mean of
        task t's raw scores, and ``X_t^T G_t - m_t sum(G_t)`` is ``X_t^T (G_t
        - d_t sum(G_t) / sum(d_t))``. That is O(n_rows) work per product in
        place of O(n_features * n_tasks) (the offsets' and the gradient
        correction's passes over arrays of W's size, which stop fitting the
        caches as tasks are added: measured, see :meth:`backward`). None for
        the stacked mode (its stack is centred once), without means, or for
        means set from outside (:meth:`restrict`, :meth:`restrict_features`).
        Also None for float32 X, which keeps the explicit (float64)
        correction: the row-space one moved where float32 L-BFGS finds its
        objective flat (``tests/test_distill.py::test_kkt_at_solution``: 2.8
        times the KKT tolerance, against 0.75).
        """
        rows = getattr(self, "_centring_rows", None)
        if (
            self.mode == "stacked"
            or self.dtype != np.float64
            or rows is None
            or rows[0] is not self.means
        ):
            return None
        return rows[1], rows[2]

    def _centred_offsets(self, S, rows):
        """``m_t . w_t`` per task from raw scores ``S`` (:meth:`_row_centring`)."""
        d, inv_wsum = rows
        dS = d * S if S.ndim == 1 else d[:, None] * S
        sums = _segment_sum(dS, self.row_codes, self.n_tasks)
        return sums * (inv_wsum if S.ndim == 1 else inv_wsum[:, None])

    def _centred_row_gradient(self, G, gb, rows):
        """``G_t - d_t sum(G_t) / sum(d_t)`` per task (:meth:`_row_centring`)."""
        d, inv_wsum = rows
        c = gb * (inv_wsum if gb.ndim == 1 else inv_wsum[:, None])
        return G - (
            d * c[self.row_codes] if G.ndim == 1 else d[:, None] * c[self.row_codes]
        )

    def _means_pt(self, ndim):
        """The means as (n_features, n_tasks[, 1]), C-contiguous (cached).

        In the layout of ``W``: the products below then run over contiguous
        memory (einsum on the transposed (n_tasks, n_features) means was
        strided, a third of a Newton-CG step at 400 tasks x 2000 features).
        """
        m = self.means
        if getattr(self, "_means_src", None) is not m:
            self._means_src, self._means_T = m, np.ascontiguousarray(m.T)
        return self._means_T if ndim == 2 else self._means_T[:, :, None]

    def _offsets(self, W):
        """``m_t . w_t`` for every task, shape (n_tasks, ...)."""
        # einsum, not (means * W).sum(axis=0): numpy's strided sum over the
        # feature axis with a short task axis was 6-10x slower (20NG CV row)
        return np.einsum("pt...,pt...->t...", self._means_pt(W.ndim), W)

    def intercept_from_centered(self, W, b):
        """Intercept of the uncentred model, ``b_t = b'_t - m_t . w_t``."""
        return b if self.means is None else b - self._offsets(W)

    def intercept_to_centered(self, W, b):
        return b if self.means is None else b + self._offsets(W)

    @property
    def n_rows(self):
        return int(self.bounds[-1])

    def sort_rows(self, a):
        """Put a per-row array in the task-grouped order of the design."""
        if self.mode == "shared":
            # one copy of the per-sample values for each task
            return np.concatenate([a] * self.n_tasks, axis=0)
        return a if self.order is None else a[self.order]

    def unsort_rows(self, a):
        """Inverse of :meth:`sort_rows` (not defined for the shared design)."""
        if self.order is None:
            return a
        out = np.empty_like(a)
        out[self.order] = a
        return out

    def zero_scores(self, b=None, out_shape=()):
        """Scores of the zero model ``W = 0``: the intercepts ``b`` alone (or 0).

        Those of :meth:`forward` at ``W = 0``, without a product (no pass is
        counted). It arms a one-entry memory of :meth:`backward`: the next
        backward before any forward is stored, and a later one (after
        ``zero_scores`` again) on an equal gradient, or one that differs by
        ``d_i c_t`` (``d`` the centring weights: other intercepts of the zero
        model), is answered from it with no pass.
        For the zero model's two evaluations per fit: the tolerance's scale
        (:func:`~skmtl.solvers.absolute_tolerance`) and the solver's start.
        """
        S = np.zeros((self.n_rows,) + tuple(out_shape))
        if b is not None:
            S += b[self.row_codes]
        self._zero_armed = True
        return S

    def forward(self, W, b=None):
        """Scores of every row, in task-grouped order, shape (n_rows, ...)."""
        if _PASS_COUNTERS:
            _count("forward")
        self._zero_armed = False
        Wd = _as_dtype(W, self.dtype)
        out_shape = W.shape[2:]
        if self.mode == "stacked":
            # the stack is centred once (no offsets per product)
            S3 = self._stack_forward(Wd)
            if b is not None:  # broadcast over the rows: no gather
                S3 += b.reshape(self.n_tasks, 1, -1)
            S = S3.reshape(-1, S3.shape[2])
            if self._pad is not None:
                S = S[self._pad]
            return S.reshape((self.n_rows,) + out_shape)
        rows = self._row_centring()
        if rows is not None:
            # centred from the raw scores (O(n_rows), see _row_centring)
            S = self._raw_forward(Wd, out_shape, None)
            bias = -self._centred_offsets(S, rows)
            if b is not None:
                bias += b
            S += bias[self.row_codes]
            return S
        if self.means is not None:
            off = self._offsets(W)
            b = -off if b is None else b - off
        return self._raw_forward(Wd, out_shape, b)

    def _raw_forward(self, Wd, out_shape, b):
        """``X_t @ W[:, t] + b_t`` of every row (no centring), a fresh array."""
        if self.mode == "shared":
            n = self.X.shape[0]
            if not Wd.any():
                # the zero model (a solver's start, the scale of tol): no pass
                S = np.zeros((n, self.n_tasks) + out_shape)
                if b is not None:
                    S = S + b
                return np.moveaxis(S, 1, 0).reshape((-1,) + out_shape)
            S = self.X @ Wd.reshape(self.n_features, -1)
            S = np.asarray(S, dtype=np.float64).reshape((n, self.n_tasks) + out_shape)
            if b is not None:
                S = S + b
            return np.moveaxis(S, 1, 0).reshape((-1,) + out_shape)
        if self.mode == "blockdiag":
            Wbd = np.moveaxis(Wd, 1, 0).reshape((-1,) + out_shape)
            scores = np.asarray(self.X @ Wbd, dtype=np.float64)
        else:
            scores = np.empty((self.n_rows,) + out_shape)
            for t, Xt in enumerate(self.blocks):
                lo, hi = self.bounds[t], self.bounds[t + 1]
                if hi > lo:
                    scores[lo:hi] = Xt @ Wd[:, t]
        if b is not None:
            scores += b[self.row_codes]
        return scores

    def backward(self, G):
        """Adjoint of :meth:`forward`: gradients of W and b given d loss / d scores."""
        armed, self._zero_armed = getattr(self, "_zero_armed", False), False
        memo = getattr(self, "_zero_memo", None) if armed else None
        if memo is not None and memo[0].shape == G.shape and memo[0].dtype == G.dtype:
            # the zero model's gradient again (see zero_scores): no pass
            # (the memory is released: its arrays are the caller's, no copy)
            if np.array_equal(memo[0], G):
                self._zero_memo = None
                return memo[1], memo[2]
            # or shifted by d_i c_t (other intercepts, a GLM loss): that shift
            # centred in row space is 0, so is its product (to rounding)
            rows = self._row_centring()
            if rows is not None:
                D = G - memo[0]
                R = self._centred_row_gradient(D, self.task_sums(D), rows)
                if np.max(np.abs(R), initial=0) <= 1e-13 * np.max(np.abs(G), initial=0):
                    self._zero_memo = None
                    return memo[1], self.task_sums(G)
        gW, gb = self._backward(G)
        if armed:
            self._zero_memo = (G.copy(), gW.copy(), gb.copy())
        return gW, gb

    def _backward(self, G):
        if _PASS_COUNTERS:
            _count("backward")
        out_shape = G.shape[1:]
        T, p = self.n_tasks, self.n_features
        if self.mode == "stacked":
            G3 = self._stack_rows(np.asarray(G, dtype=np.float64))
            gb = G3.sum(axis=1).reshape((T,) + out_shape)
            # centred stack: the gradient needs no correction
            return self._stack_adjoint(G3).reshape((p, T) + out_shape), gb
        if self.mode == "shared":
            n = self.X.shape[0]
            gb = np.moveaxis(G.reshape((T, n) + out_shape), 0, 1).sum(axis=0)
        else:
            gb = _segment_sum(G, self.row_codes, T)
        rows = self._row_centring()
        if rows is not None:
            # centred in row space: X_t^T (G_t - d_t gb_t / sum d_t)
            gW = self._raw_backward(self._centred_row_gradient(G, gb, rows))
            return gW, gb
        return self._center_grad(self._raw_backward(G), gb), gb

    def _raw_backward(self, G):
        """``X_t^T G_t`` for every task (no centring), (n_features, n_tasks, ...)."""
        out_shape = G.shape[1:]
        T, p = self.n_tasks, self.n_features
        if self.mode == "shared":
            n = self.X.shape[0]
            Gt = np.moveaxis(G.reshape((T, n) + out_shape), 0, 1)
            Gd = _as_dtype(np.ascontiguousarray(Gt.reshape(n, -1)), self.dtype)
            if isinstance(self.X, np.ndarray) and self.X.flags.c_contiguous:
                # (G^T X)^T: OpenBLAS runs this layout about twice as fast as
                # X^T G on a C-ordered X with few columns in G (measured
                # 3.4 vs 6.3 ms, 500 x 5000 X, 20 tasks, one thread)
                gW = np.ascontiguousarray(np.asarray(Gd.T @ self.X, dtype=np.float64).T)
            else:
                gW = np.asarray(self.XT @ Gd, dtype=np.float64)
            return gW.reshape((p, T) + out_shape)
        if self.mode == "blockdiag":
            gbd = np.asarray(self.XT @ _as_dtype(G, self.dtype), dtype=np.float64)
            # C-contiguous like W: the solvers' vector operations on mixed
            # layouts (a transposed view here) were several times slower
            return np.ascontiguousarray(
                np.moveaxis(gbd.reshape((T, p) + out_shape), 0, 1)
            )
        gW = np.zeros((p, T) + out_shape)
        for t, XtT in enumerate(self.blocks_T):
            lo, hi = self.bounds[t], self.bounds[t + 1]
            if hi > lo:
                gW[:, t] = XtT @ _as_dtype(G[lo:hi], self.dtype)
        return gW

    def _squared(self):
        """X with every entry squared, in the storage of :attr:`X` (cached)."""
        if getattr(self, "_X2", None) is None:
            if self.mode == "blocks":
                self._X2 = [_square(Xt) for Xt in self.blocks]
            elif self.mode == "stacked":
                self._X2 = _square(self._X3)  # padding rows stay zero
            else:
                X2 = _square(self.X)
                self._X2 = X2.T.tocsr() if sp.issparse(X2) else X2.T
        return self._X2

    def hessian_diagonal(self, h):
        """Diagonal of ``[X_t - m_t, 1]^T diag(h_t) [X_t - m_t, 1]`` for every task.

        ``h`` (n_rows,) is the loss' second derivative in score space. Returns
        ``(dW, db)``, shapes (n_features, n_tasks) and (n_tasks,): entry
        ``(j, t)`` of ``dW`` is ``sum_{i in t} h_i (x_ij - m_tj)^2`` and ``db[t]``
        is ``sum_{i in t} h_i``. Two passes over the data (X^T h and the squared
        X's transpose times h); the squared X is stored once per design (the
        same non-zeros as X).
        """
        T, p = self.n_tasks, self.n_features
        X2 = self._squared()
        if _PASS_COUNTERS:
            _count("backward")
        hd = _as_dtype(h, self.dtype)
        if self.mode == "shared":
            n = self.X.shape[0]
            H = np.ascontiguousarray(hd.reshape(T, n).T)
            sq = np.asarray(X2 @ H, dtype=np.float64)
        elif self.mode == "stacked":
            sq = self._stack_adjoint(self._stack_rows(hd), X2).reshape(p, T)
        elif self.mode == "blockdiag":
            # C-contiguous like W (the preconditioner's operations with it)
            sq = np.asarray(X2 @ hd, dtype=np.float64).reshape(T, p)
            sq = np.ascontiguousarray(sq.T)
        else:
            sq = np.zeros((p, T))
            for t, X2t in enumerate(X2):
                lo, hi = self.bounds[t], self.bounds[t + 1]
                if hi > lo:
                    sq[:, t] = X2t.T @ hd[lo:hi]
        if self.means is None:
            db = _segment_sum(np.asarray(h, dtype=np.float64), self.row_codes, T)
            return sq, db
        gW, db = self.backward(h)  # centred: X^T h - m sum(h)
        m = self._means_pt(2)
        # sum h (x - m)^2 = sum h x^2 - 2 m sum h x + m^2 sum h, with
        # sum h x = gW + m db: sq - m (2 gW + m db), in place (both fresh)
        # and in W's layout (10-18% faster than mixed layouts and temporaries)
        gW *= 2.0
        gW += m * db
        gW *= m
        sq -= gW
        return np.maximum(sq, 0.0, out=sq), db

    def _center_grad(self, gW, gb):
        if self.means is None:
            return gW
        # d/dW of -sum_t (m_t . w_t) * sum_i G_ti
        # in place: gW is a fresh array of backward
        gW -= self._means_pt(gW.ndim) * gb
        return gW

    def task_rows(self, t):
        """The rows of task ``t`` (all of X for the shared design: no copy)."""
        if self.mode == "shared":
            return self.X
        return self.X_sorted[self.bounds[t] : self.bounds[t + 1]]

    def row_gram(self):
        """Inner products of the (centred) rows, shape (n_rows, n_rows), float64.

        Entry ``(i, k)`` is ``(x_i - m_{t(i)}) . (x_k - m_{t(k)})``, computed from
        ``X X^T`` so that sparse X is never densified. The shared design tiles
        the ``n x n`` inner products of X instead of stacking X once per task.
        """
        Xs = self.X if self.mode == "shared" else self.X_sorted
        G = Xs @ Xs.T
        G = G.toarray() if sp.issparse(G) else np.asarray(G)
        G = G.astype(np.float64, copy=False)
        P = None
        if self.means is not None:
            P = np.asarray(Xs @ self.means.T.astype(self.dtype), dtype=np.float64)
        if self.mode == "shared":
            G = np.tile(G, (self.n_tasks, self.n_tasks))
            P = None if P is None else np.tile(P, (self.n_tasks, 1))
        if P is not None:
            rc = self.row_codes
            Q = self.means @ self.means.T
            Pr = P[:, rc]  # x_i . m_{t(k)}
            G = G - Pr - Pr.T + Q[np.ix_(rc, rc)]
        return G

    def task_grams(self, row_weights):
        """Per-task weighted Gram matrices of the centred design, (n_tasks, p, p).

        Block ``t`` is ``sum_{i in t} d_i (x_i - m_t)(x_i - m_t)^T`` with ``d``
        the row weights (the centring weights, when the design is centred).
        """
        p = self.n_features
        out = np.empty((self.n_tasks, p, p))
        for t in range(self.n_tasks):
            lo, hi = self.bounds[t], self.bounds[t + 1]
            # the shared design: every task sees all of X, with its own weights
            Xt = self.X if self.mode == "shared" else self.X_sorted[lo:hi]
            d = row_weights[lo:hi]
            if sp.issparse(Xt):
                A = (Xt.multiply(d[:, None]).T @ Xt).toarray()
            else:
                Xt = np.asarray(Xt, dtype=np.float64)
                A = (Xt * d[:, None]).T @ Xt
            if self.means is not None:
                A = A - d.sum() * np.outer(self.means[t], self.means[t])
            out[t] = 0.5 * (A + A.T)
        return out

    def block_lipschitz(
        self, row_curvature, fit_intercept, n_power_iter=10, start=None
    ):
        """Upper estimate of the largest eigenvalue of the loss Hessian.

        The Hessian is block-diagonal across tasks; block t is bounded by
        ``[X_t - m_t, 1]^T diag(c_t) [X_t - m_t, 1]``. Power iterations run on
        all blocks at once through :meth:`forward` / :meth:`backward`, one
        normalisation per task; the solvers' backtracking corrects an estimate
        that is a little low. ``start`` (a pair ``(V, vb)``, e.g. the vectors
        of a nearby problem) replaces the random start. Returns the estimate
        and the last vectors.
        """
        if start is None:
            rng = np.random.default_rng(0)
            V = rng.standard_normal((self.n_features, self.n_tasks))
            vb = rng.standard_normal(self.n_tasks)
        else:
            V, vb = start
        if not fit_intercept:
            vb = np.zeros(self.n_tasks)
        lam = np.zeros(self.n_tasks)
        for _ in range(n_power_iter):
            norms = np.sqrt((V * V).sum(axis=0) + vb * vb)
            norms[norms == 0] = 1.0
            V, vb = V / norms, vb / norms
            S = self.forward(V, vb if fit_intercept else None)
            gW, gb = self.backward(row_curvature * S)
            if not fit_intercept:
                gb = np.zeros_like(gb)
            lam = (V * gW).sum(axis=0) + vb * gb
            V, vb = gW, gb
        return 1.05 * float(lam.max(initial=0.0)), (V, vb)
