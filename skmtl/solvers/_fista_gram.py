"""FISTA on per-task Gram matrices for a squared loss and a penalty on two parts.

The squared loss is a quadratic in ``W``: with the per-task Grams
``A_t = sum_{i in t} d_i x_i x_i^T`` of the centred rows (``d`` the row
weights) and ``c_t = sum_{i in t} d_i x_i (y_i - b_t)``,

    f(W) = 1/2 sum_t (w_t^T A_t w_t - 2 c_t^T w_t) + f(0),

and, the rows being centred with the loss' own weights, the intercepts do not
interact with ``W``: their optimum, the weighted mean of each task's targets,
is taken once. :func:`solve_gram_fista` runs the iterations of
:class:`~skmtl.solvers.FISTA` (the same growing step and backtracking, the
same momentum and restart, the same KKT stopping rule checked every
``check_every`` iterations by the penalty itself) on the stacked parts
``V = (P, Q)`` with the loss in this form:

- the gradient of an iterate is ``A_t w_t - c_t``, and ``A W`` of the
  extrapolated point is combined from the two last iterates' (as FISTA
  combines their scores): one product with the Grams per try of a step;
- the step test is exact: ``f(new) - f(y) - <g, d> = 1/2 d^T A d`` (no
  difference of two large values).

A product with the Grams costs ``T p^2`` against ``2 nnz(X)`` for the two
products with X; a FISTA iteration on small arrays is, however, bound by
the call overhead of its 60-70 NumPy calls (~0.1 ms at T=10, p=50), not by
arithmetic. The iterations between two checks therefore run in one function
compiled by numba (the ``fast`` extra), which is what pays: measured on the
squared problems of ``benchmarks/bench_structure.py`` part 3 (T=10, n_t=100,
p=50, CPU time of whole fits, one thread, main's code side by side in one
process; ``benchmarks/results/structure.md``), dirty 5.8 -> 2.4 ms, dirty
L1,2 5.8 -> 2.3 ms, rMTFL 3.2 -> 1.9 ms, with the same iterations. Without
numba, FISTA on X runs (the same loop in Python would be slower than it);
tests run the uncompiled loop and compare it with the compiled one.

The norms supported are those of :mod:`skmtl.penalties._dirty` that act on
feature rows, entries or task columns (``l1``, ``block_linf``, ``block_l2``,
``task_l2``): the dirty models and rMTFL. The nuclear norm (RMTL) needs an
SVD per step and stays on FISTA on X.
"""

import math
from functools import lru_cache

import numpy as np

__all__ = ["NORM_CODES", "gram_fista_applies", "have_numba", "solve_gram_fista"]

#: the norms of a part the compiled prox handles, by the name
#: ``_BoundTwoParts.norm_names`` gives them
NORM_CODES = {"l1": 0, "block_linf": 1, "block_l2": 2, "task_l2": 3}

#: The Grams cost ``n p^2`` to build and ``T p^2`` per product, X's two
#: products ``2 nnz(X)`` plus the NumPy call overhead of an iteration. Dirty
#: squared, one thread, CPU time of whole fits, FISTA on X / Gram form
#: (``/work/notes/dirtyfast2.md``): T=10, n_t=100, p=50: 2.1x; T=40: 1.5x;
#: n_t=400: 3.4x; T=10, n_t=1000, p=100: 2.0x; T=20, n_t=50, p=200: 1.2x;
#: T=4, n_t=200, p=300: 1.0x (the build); T=100, n_t=20, p=50: 0.72x (T p^2
#: = 1.25 x 2 nnz); T=10, n_t=50, p=500: 0.26x; CSR 2%, p=500: 0.20x. Hence:
#: a Gram product at most X's two products, and at most 200 features.
_MAX_GRAM_FEATURES = 200


# ---------------------------------------------------------------------------
# the loop (plain Python, compiled by numba when available); parts are stored
# transposed, (2, n_tasks, n_features), so that a task's weights are
# contiguous for its Gram product


def _prox_part(Z, thresh, kind, out):  # pragma: no cover - compiled copy
    """Proximal step of ``thresh * N(.)`` on one part ``Z`` (T, p) into ``out``."""
    T, p = Z.shape
    if thresh <= 0.0:
        out[:, :] = Z
    elif kind == 0:  # l1: soft-thresholding
        for t in range(T):
            for j in range(p):
                z = Z[t, j]
                a = abs(z) - thresh
                out[t, j] = (a if z > 0 else -a) if a > 0 else 0.0
    elif kind == 1:  # block_linf: the row minus its projection on the L1 ball
        a = np.empty(T)
        for j in range(p):
            s = 0.0
            for t in range(T):
                a[t] = abs(Z[t, j])
                s += a[t]
            theta = 0.0
            if s > thresh:
                # Duchi et al. (2008): the largest rho with u_rho > (css_rho -
                # radius) / rho on the entries sorted in decreasing order
                # (insertion sort in place for rows of a few tens of tasks,
                # no allocation per row; a sort beyond)
                if T > 64:
                    a[:] = np.sort(a)[::-1]
                for r in range(1, T if T <= 64 else 0):
                    v = a[r]
                    i = r - 1
                    while i >= 0 and a[i] < v:
                        a[i + 1] = a[i]
                        i -= 1
                    a[i + 1] = v
                css = 0.0
                for r in range(T):
                    css += a[r]
                    if a[r] * (r + 1) > css - thresh:
                        theta = (css - thresh) / (r + 1)
                theta = max(theta, 0.0)
            for t in range(T):
                out[t, j] = min(max(Z[t, j], -theta), theta)
    elif kind == 2:  # block_l2: group soft-thresholding of the feature rows
        for j in range(p):
            s = 0.0
            for t in range(T):
                s += Z[t, j] * Z[t, j]
            norm = math.sqrt(s)
            scale = max(norm - thresh, 0.0) / norm if norm > 0 else 0.0
            for t in range(T):
                out[t, j] = Z[t, j] * scale
    else:  # task_l2: group soft-thresholding of the task columns
        for t in range(T):
            s = 0.0
            for j in range(p):
                s += Z[t, j] * Z[t, j]
            norm = math.sqrt(s)
            scale = max(norm - thresh, 0.0) / norm if norm > 0 else 0.0
            for j in range(p):
                out[t, j] = Z[t, j] * scale


def _gram_product(A, W, out):  # pragma: no cover - compiled copy
    """``out[t] = A[t] @ W[t]`` for every task."""
    for t in range(A.shape[0]):
        out[t] = np.dot(A[t], W[t])


def _fista_steps(
    A, C, kinds, lams, X, Y, AX, AY, state, n_steps, shrink, L_min, slack_eps, f0
):  # pragma: no cover - compiled copy
    """``n_steps`` iterations of FISTA in place; ``state`` = [t, L, longer].

    ``X``, ``Y`` (2, T, p): the last iterate and the extrapolated point;
    ``AX``, ``AY`` (T, p): the Grams times the sums of their parts.
    """
    t, L, longer = state[0], state[1], state[2] > 0
    T, p = C.shape
    new = np.empty_like(X)
    Z = np.empty((T, p))
    wy = np.empty((T, p))
    wn = np.empty((T, p))
    An = np.empty((T, p))
    for _ in range(n_steps):
        # gradient at y (the same for both parts) and f(y) from A y
        f_y = f0
        for k in range(T):
            for j in range(p):
                w = Y[0, k, j] + Y[1, k, j]
                wy[k, j] = w
                f_y += w * (0.5 * AY[k, j] - C[k, j])
        slack = slack_eps * (abs(f_y) + 1.0)
        L_prev = L
        if longer:
            L = max(L * shrink, L_min)
        sq = 0.0
        for _try in range(60):
            step = 1.0 / L
            for c in range(2):
                for k in range(T):
                    for j in range(p):
                        Z[k, j] = Y[c, k, j] - step * (AY[k, j] - C[k, j])
                _prox_part(Z, step * lams[c], kinds[c], new[c])
            for k in range(T):
                for j in range(p):
                    wn[k, j] = new[0, k, j] + new[1, k, j]
            _gram_product(A, wn, An)
            # f(new) - f(y) - <g, d> = 1/2 dW^T A dW exactly (a quadratic)
            q = 0.0
            dd = 0.0
            for k in range(T):
                for j in range(p):
                    q += (wn[k, j] - wy[k, j]) * (An[k, j] - AY[k, j])
                    for c in range(2):
                        d = new[c, k, j] - Y[c, k, j]
                        dd += d * d
            sq = L * dd
            if 0.5 * q <= 0.5 * sq + slack:
                break
            L *= 2.0
        longer = 0.5 * sq > slack
        # adaptive restart: momentum against the step just taken
        agree = 0.0
        for c in range(2):
            for k in range(T):
                for j in range(p):
                    agree += (new[c, k, j] - Y[c, k, j]) * (new[c, k, j] - X[c, k, j])
        if agree < 0:
            t = 1.0
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t * L / L_prev))
        beta = (t - 1.0) / t_new
        for c in range(2):
            for k in range(T):
                for j in range(p):
                    Y[c, k, j] = new[c, k, j] + beta * (new[c, k, j] - X[c, k, j])
                    X[c, k, j] = new[c, k, j]
        for k in range(T):
            for j in range(p):
                AY[k, j] = An[k, j] + beta * (An[k, j] - AX[k, j])
                AX[k, j] = An[k, j]
        t = t_new
    state[0], state[1], state[2] = t, L, 1.0 if longer else 0.0


@lru_cache(maxsize=1)
def _compiled():
    """The numba-compiled loop, or None without numba (imported lazily)."""
    try:
        from numba import njit
    except ImportError:
        return None
    jit = njit(cache=True, nogil=True, fastmath=False)
    prox, product = jit(_prox_part), jit(_gram_product)
    # the loop calls the compiled helpers: rebuild it over them
    glb = dict(_fista_steps.__globals__, _prox_part=prox, _gram_product=product)
    code = _fista_steps.__code__
    steps = type(_fista_steps)(code, glb, code.co_name)
    return jit(steps), prox


def have_numba():
    """Whether the compiled loop is available (imports numba once)."""
    return _compiled() is not None


# ---------------------------------------------------------------------------
# the solve


def gram_fista_applies(loss, penalty, W0):
    """Whether :func:`solve_gram_fista` solves this problem (and numba is there).

    A quadratic datafit with one weight per row, 2-D weights, at most
    :data:`_MAX_GRAM_FEATURES` features and Grams whose product costs at
    most about X's two (see there), and a penalty on two parts whose norms
    all have a compiled prox (``penalty.norm_names``).
    """
    names = getattr(penalty, "norm_names", None)
    return (
        getattr(penalty, "n_components", 1) == 2
        and names is not None
        and all(n in NORM_CODES for n in names)
        and loss.is_quadratic
        and getattr(loss.datafit, "weights", None) is not None
        and np.ndim(loss.datafit.y) == 1
        and W0.ndim == 2
        and loss.design.n_features <= _MAX_GRAM_FEATURES
        and W0.shape[1] * W0.shape[0] ** 2 <= 2 * _stored_entries(loss.design)
        # last: numba is imported (once, some 0.4 s with the cached loop)
        # only where the loop would run
        and have_numba()
    )


def _stored_entries(design):
    """Entries of X the design's products read (non-zeros for sparse X)."""
    X = design.X_sorted if design.mode != "shared" else design.X
    nnz = X.nnz if hasattr(X, "nnz") else X.size
    # the shared design multiplies all of X by every task's weights
    return int(nnz) * (design.n_tasks if design.mode == "shared" else 1)


def _quadratic_form(loss, b0):
    """``(A, C, f0, b, gb, U)`` of the loss in the Gram form, or None.

    ``C`` of shape (n_tasks, n_features), ``b`` the intercepts (optimal),
    ``gb`` their gradient at ``W = 0`` (0 to rounding) and ``U`` (n_features,
    n_tasks) the weighted sums of the centred rows (0 to rounding): the
    intercepts' gradient at ``W`` is ``gb + sum_j U_jt W_jt``.

    None when the intercepts interact with ``W`` (rows not centred with the
    loss' weights): then FISTA on X applies.
    """
    design, weights = loss.design, loss.datafit.weights
    b = np.array(b0, dtype=np.float64)
    A = design.task_grams(weights)
    if loss.fit_intercept:
        # The cross term U_t = sum_i d_i x_i of the centred rows must vanish,
        # up to the rounding of the centring in X's dtype: of the order of
        # eps (sqrt(s_t A_tjj) + s_t |m_tj|) (Cauchy-Schwarz; the mean's own
        # rounding). float32 stacks are centred in float32: 1e-9 alone sent
        # every dense float32 fit of many small tasks to FISTA on X.
        U, _ = design.backward(weights)
        s = design.task_sums(weights)
        scale = np.sqrt(np.maximum(s, 0)[None, :] * np.diagonal(A, 0, 1, 2).T)
        if design.means is not None:
            scale = scale + s[None, :] * np.abs(design.means.T)
        rel = max(1e-9, 100 * float(np.finfo(design.dtype).eps))
        if np.any(np.abs(U) > rel * scale + 1e-300):
            return None
        # each task's intercept: its targets' weighted mean (a task without
        # weight keeps its start)
        ys = design.task_sums(weights * loss.datafit.y)
        b = np.where(s > 0, ys / np.where(s > 0, s, 1.0), b)
        gb = s * b - ys
    else:
        U, gb = np.zeros((design.n_features, design.n_tasks)), np.zeros_like(b)
    W_zero = np.zeros((design.n_features, design.n_tasks))
    S0 = loss.scores(W_zero, b)
    gW, _ = loss.grad_from_scores(S0)
    return A, np.ascontiguousarray(-gW.T), loss.value_from_scores(S0), b, gb, U


def _lipschitz(A):
    """1.05 times the largest eigenvalue of the Grams (10 power iterations).

    As ``SmoothLoss.lipschitz``, without the intercepts (taken exactly);
    the backtracking corrects an estimate that is a little low.
    """
    T, p, _ = A.shape
    v = np.random.default_rng(0).standard_normal((T, p, 1))
    lam = np.zeros(T)
    for _ in range(10):
        norms = np.sqrt(np.sum(v * v, axis=(1, 2)))
        v = v / np.where(norms > 0, norms, 1.0)[:, None, None]
        Av = np.matmul(A, v)
        lam = np.sum(v * Av, axis=(1, 2))
        v = Av
    return 1.05 * float(lam.max(initial=0.0))


def solve_gram_fista(solver, loss, penalty, V0, b0, tol_abs, compiled=True):
    """FISTA on the Gram form from the stacked parts ``V0``; None when it does
    not apply (see :func:`_quadratic_form`).

    Returns ``(V, b, n_iter, kkt, objective)`` with ``V`` the stacked parts
    (2, n_features, n_tasks). ``compiled=False`` runs the Python loop (tests
    compare the two).
    """
    form = _quadratic_form(loss, b0)
    if form is None:
        return None
    A, C, f0, b, gb, U = form
    if compiled:
        steps, _ = _compiled()
    else:
        steps = _fista_steps
    kinds = np.array([NORM_CODES[n] for n in penalty.norm_names], dtype=np.int64)
    lams = np.array(penalty.lam, dtype=np.float64)
    X = np.ascontiguousarray(np.transpose(V0, (0, 2, 1)), dtype=np.float64)
    Y = X.copy()
    AX = np.matmul(A, (X[0] + X[1])[:, :, None])[:, :, 0]
    AY = AX.copy()
    # the stacked parts' Hessian [[A, A], [A, A]] has twice A's norm
    L = max(2.0 * _lipschitz(A), 1e-12)
    state = np.array([1.0, L, 1.0])
    eps = float(np.finfo(loss.design.dtype).eps)
    kkt, n_iter, every = np.inf, 0, solver.check_every
    while n_iter < solver.max_iter:
        n = min(every - n_iter % every, solver.max_iter - n_iter)
        steps(A, C, kinds, lams, X, Y, AX, AY, state, n, solver.shrink, 1e-6 * L,
              100 * eps, f0)  # fmt: skip
        n_iter += n
        V = np.transpose(X, (0, 2, 1))
        # the KKT distance of the penalty, on the exact gradient at X
        G = (np.matmul(A, (X[0] + X[1])[:, :, None])[:, :, 0] - C).T
        # the intercepts' gradient, with the (rounding-size) cross term
        gb_now = gb + np.einsum("tj,jt->t", X[0] + X[1], U)
        kkt_b = float(np.abs(gb_now).max(initial=0.0)) if loss.fit_intercept else 0.0
        kkt = max(penalty.kkt_violation(V, np.stack([G, G])), kkt_b)
        if solver.verbose:
            print(f"[FISTA gram] iter {n_iter}: KKT {kkt:.3g}")
        if kkt <= tol_abs:
            break
    V = np.ascontiguousarray(np.transpose(X, (0, 2, 1)))
    objective = loss.value_from_scores(loss.scores(V[0] + V[1], b)) + penalty.value(V)
    return V, b, n_iter, kkt, objective
