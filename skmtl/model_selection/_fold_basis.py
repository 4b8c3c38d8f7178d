"""A fold's training rows in fewer features, with the same solution.

The CV estimators solve every (penalty setting, alpha) of a fold on one
design. With sparse X that design can often use fewer columns than X without
changing the solution; every vector operation of the solver (the weights,
gradients, preconditioner and conjugate-gradient vectors, ``n_features x
n_tasks`` floats each) is then that much shorter, for every point of the path.

Two reductions, both a matrix ``A`` of shape (n_features, n_kept) with
orthonormal columns such that ``X_train A A^T = X_train``:

- **drop**: a feature that no training row uses has a zero column; with a
  penalty whose optimum keeps such a row of ``W`` at zero, the fold's problem
  is the same without it (``A`` selects the present features).
- **merge**: with a quadratic task coupling that is the same for every feature
  and has no linear term, ``alpha / 2 * sum_j w_j H w_j^T`` (independent,
  mean, graph; ``coupling_hessian`` of the bound penalty), the penalty depends
  on ``W`` only through ``W^T W``, so ``W = A Z`` has the penalty of ``Z``,
  and the scores ``X W = (X A) Z``. The solution lies in the span of the
  training rows (and of the task means, themselves sums of rows), which ``A``
  contains. So minimising over ``Z`` with the design ``X A`` gives the
  solution ``W = A Z``. The columns of a text fold used by one training row
  only are all proportional to that row's unit vector: they merge into one
  column per row, ``A``'s column holding their values divided by their norm.
  In a 20 Newsgroups fold of 1,600 documents (comp_vs_rec) 20-28 thousand of
  33-42 thousand present words occur in one document only, and the fold's
  design shrinks from about 38 to about 15.5 thousand columns.

The merge is the linear-kernel form of the representer theorem restricted to
the cheap, exact case: no factorisation, one pass over the fold's entries.
"""

import numpy as np
import scipy.sparse as sp

from ..penalties import resolve_penalty

__all__ = ["feature_reduction", "fold_basis", "expand_coef"]

#: reduce a fold only when at most this fraction of the columns is kept
#: (the product with the basis costs a copy of the fold's rows)
MAX_KEPT_FRACTION = 0.95


def feature_reduction(penalty, task_labels):
    """Which reduction of a fold's features keeps the solution under ``penalty``.

    Returns ``"merge"`` for a smooth quadratic task coupling, the same for every
    feature (``coupling_hessian``), whose gradient is zero at zero (no linear
    term, unlike a transfer prior); ``"drop"`` for a non-smooth penalty
    ``separable_by_feature`` whose KKT violation at a zero row with a zero data
    gradient is zero (L2,1: absent features stay at zero, but the row norms are
    not invariant to rotations, so columns may not be merged); None otherwise
    (two-part models, trace norm, learned couplings, anything unknown).
    """
    try:
        bound = resolve_penalty(penalty).bind(task_labels, 1.0)
        if getattr(bound, "n_components", 1) != 1:
            return None
        zero = np.zeros((2, len(task_labels)))
        grad = bound.gradient(zero)
        if bound.is_smooth:
            if bound.coupling_hessian is not None and not np.any(grad):
                return "merge"
            return None
        if bound.separable_by_feature and bound.kkt_violation(zero, grad) == 0:
            return "drop"
        return None
    except (ValueError, TypeError, AttributeError):
        return None


def fold_basis(X, merge):
    """Orthonormal columns ``A`` (n_features, n_kept) with ``X A A^T = X``, or None.

    Parameters
    ----------
    X : scipy CSR matrix of shape (n_rows, n_features)
        The fold's training rows, without explicitly stored zeros.
    merge : bool
        Also merge, per row, the columns that only that row uses (see the
        module's docstring); otherwise only the absent columns are left out.

    Returns
    -------
    A : scipy CSR matrix of shape (n_features, n_kept), X's dtype, or None
        None when more than :data:`MAX_KEPT_FRACTION` of the columns would be
        kept (the reduction would not pay for its copy). Columns: the kept
        features in their order (a 1 in the feature's row), then one column
        per merged group.
    """
    n, p = X.shape
    counts = np.bincount(X.indices, minlength=p)
    kept = np.flatnonzero(counts >= (2 if merge else 1))
    group_cols = np.zeros(0, dtype=np.intp)
    group_vals = np.zeros(0)
    group = np.zeros(0, dtype=np.intp)
    n_groups = 0
    if merge:
        rows = np.repeat(np.arange(n), np.diff(X.indptr))
        single = counts[X.indices] == 1
        rows, cols = rows[single], X.indices[single]
        vals = X.data[single].astype(np.float64)
        per_row = np.bincount(rows, minlength=n)
        grouped = per_row[rows] >= 2
        # a row's only single-use column stays a column of its own
        kept = np.union1d(kept, cols[~grouped])
        rows, group_cols, vals = rows[grouped], cols[grouped], vals[grouped]
        _, group = np.unique(rows, return_inverse=True)
        n_groups = int(group.max()) + 1 if len(group) else 0
        norms = np.sqrt(np.bincount(group, weights=vals * vals, minlength=n_groups))
        group_vals = vals / norms[group]
    n_kept = len(kept) + n_groups
    if n_kept > MAX_KEPT_FRACTION * p:
        return None
    data = np.concatenate([np.ones(len(kept)), group_vals]).astype(X.dtype)
    row_ind = np.concatenate([kept, group_cols])
    col_ind = np.concatenate([np.arange(len(kept)), len(kept) + group])
    return sp.csr_matrix((data, (row_ind, col_ind)), shape=(p, n_kept))


def expand_coef(basis, coef):
    """Coefficients over the reduced columns, ``(..., n_kept)``, back to X's features.

    ``W = A Z``: returns ``coef @ A^T`` of shape ``(..., n_features)``, float64.
    """
    coef = np.asarray(coef, dtype=np.float64)
    if basis is None:
        return coef
    flat = coef.reshape(-1, coef.shape[-1])
    full = np.asarray((basis @ flat.T).T, dtype=np.float64)
    return full.reshape(coef.shape[:-1] + (basis.shape[0],))
