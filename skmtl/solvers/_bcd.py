"""Block coordinate descent for row-sparse penalties (L2,1), on working sets.

One block is one feature's row of ``W`` (its weight in every task), the unit
of a penalty that is a sum over feature rows (``separable_by_feature``). The
solver follows skglm's working-set scheme (Massias, Gramfort & Salmon, 2018;
Bertrand et al., 2022) with the datafit handled as a proximal Newton method:

- outer loop: one full gradient (a product with X^T), the per-feature KKT
  violations, stop when the largest is at most ``tol_abs``; otherwise the
  working set is the support plus the violating features and a margin of
  the zero features nearest to their threshold, up to twice the support
  (four times when the whole last working set became active, and every
  feature when that would hold three quarters of them), as celer and
  skglm grow it but without the features that already satisfy their
  optimality condition far from it. For the squared loss on Grams the
  working set's part of the gradient comes from the model (``A V - C``,
  which the epochs keep) and X^T is applied to the features outside it
  only (none once the working set holds every feature);
- on the working set, the datafit is replaced by its second-order model at
  the current scores, a weighted least-squares problem (exact for the
  squared loss, a Newton step with an Armijo line search for the logistic
  loss); the intercepts of that model are solved in closed form (weighted
  centring), which leaves a quadratic in the working set's weights;
- the quadratic is minimised by cyclic block coordinate descent on its
  per-task Gram matrices (``k x k`` for a working set of ``k`` features): a
  block step costs ``O(k T)`` instead of ``O(n T)`` for a step on the
  residuals, and the Grams are formed by BLAS once per working set (only
  the new features' columns: the Grams and, for the squared loss, the
  products ``X^T u`` are kept from one working set to the next). The
  compiled epochs take their blocks in chunks whose updates are BLAS-3
  products (see ``_bcd_kernels``); working sets with more features than
  rows run on the residuals instead (``_use_residuals``). The models and
  the Grams' cache live in ``_bcd_models``.

For the shared design (every task on the same rows, 2-D y) with task weights
proportional across tasks (the squared loss), all tasks share one Gram
matrix up to a factor, so memory is ``k^2`` and not ``T k^2``.
"""

import numpy as np
import scipy.sparse as sp

from ._bcd_models import (
    _columns,
    _GramModel,
    _GramSource,
    _ResidualModel,
    _RowBlocks,
    _use_residuals,
)
from .base import BaseSolver, SolverResult, armijo_backtracking, warn_not_converged

__all__ = ["BlockCoordinateDescent"]


def _anderson(iterates):
    """Anderson extrapolation of the last iterates (Anderson, 1965; skglm's form).

    With ``U`` the differences of consecutive iterates, the weights ``c``
    solve ``min ||U^T c||`` subject to ``sum c = 1``; the extrapolated point
    is ``sum_i c_i iterates[i + 1]``. Returns ``c``, or None when the system
    is singular (the iterates no longer move).
    """
    X = np.stack([V.ravel() for V in iterates])
    U = np.diff(X, axis=0)
    M = U @ U.T
    try:
        z = np.linalg.solve(M + 1e-12 * np.trace(M) * np.eye(len(M)), np.ones(len(M)))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(z)) or z.sum() == 0:
        return None
    return z / z.sum()


def _combine(c, arrays):
    """``sum_i c_i arrays[i]``."""
    out = c[0] * arrays[0]
    for ci, a in zip(c[1:], arrays[1:]):
        out += ci * a
    return out


#: working sets are solved to this fraction of the current KKT violation
_INNER_FRACTION = 0.1

#: the last working set is solved to this fraction of tol_abs
_FINAL_FRACTION = 0.5

#: Anderson acceleration every this many epochs (skglm's default)
_ANDERSON_EVERY = 5


def _cd_epochs(quad, penalty, V, tol, max_epochs, compiled=True):
    """Cyclic block coordinate descent on ``quad`` + penalty from ``V`` (in place).

    Block ``j`` takes a proximal gradient step of size ``1 / L_j`` with
    ``L_j = max_t A_t[j, j]`` plus the penalty's ridge curvature: for the
    shared design (equal diagonals) this is the exact block minimiser of the
    group lasso. ``Q = A V`` is kept up to date by a rank-one (BLAS ``ger``)
    update per moved block, ``O(k T)``. Every few epochs an Anderson
    extrapolation of the iterates is taken when it lowers the model
    objective (Bertrand & Massias, 2021). Stops when the model's max KKT
    violation is at most ``tol``. Returns ``(n_epochs, violation, state)``,
    ``state`` the model's state at ``V`` (``A V`` on Grams).
    """
    r, lam = penalty.row_curvature, penalty.row_l2_weight
    state = quad.start(V)

    def model_value(V, state):
        return quad.value(V, state) + penalty.value(V)

    iterates, states = [V.copy()], []
    viol, epoch = np.inf, 0
    while epoch < max_epochs:
        epoch += 1
        state, stale = quad.epoch(V, state, lam, r, compiled)
        iterates.append(V.copy())
        states.append(state.copy())
        if len(iterates) == _ANDERSON_EVERY + 1:
            c = _anderson(iterates)
            if c is not None:
                # the state (A V or the residuals) is affine in V and the
                # weights sum to 1: the same combination of the states is the
                # extrapolated point's (no product with the design)
                V_acc = _combine(c, iterates[1:])
                state_acc = _combine(c, states)
                # a decrease beyond rounding (the combined state carries the
                # rounding of the weights c): near the optimum, ties would
                # otherwise be decided by the last bits
                current = model_value(V, state)
                if model_value(V_acc, state_acc) < current - 1e-12 * abs(current):
                    V[...], state = V_acc, state_acc
                    stale = None
            iterates, states = [V.copy()], []
        if stale is not None and stale > tol:
            continue  # the epoch's own (stale) violations say: not yet
        grad = quad.gradient(V, state) + r * V
        viol = float(penalty.feature_violations(V, grad).max(initial=0.0))
        if viol <= tol:
            break
    return epoch, viol, state


class BlockCoordinateDescent(BaseSolver):
    """Block coordinate descent with working sets for row-sparse penalties.

    For a penalty that is a sum over feature rows of ``W`` (L2,1, sparse
    group elastic net: ``separable_by_feature``) and a datafit with one score
    per row (squared and binary logistic losses: ``diagonal_hessian``), on
    ragged and shared designs, dense or sparse X. See the module docstring for
    the method.

    Stopping rule: the max-norm KKT violation (distance of minus the gradient
    to the subdifferential, with the intercepts' gradient) at most
    ``tol_abs``, as every solver of the package, so that an estimator's
    ``tol`` means the same whatever the solver; the duality gap at that point
    is checked in the tests.

    Parameters
    ----------
    max_iter : int, default=1000
        Budget of coordinate-descent epochs over the working sets (all
        working sets and Newton steps together); ``n_iter`` counts them.
    verbose : int, default=0
    min_working_set : int, default=100
        Size of the first working set.
    max_newton : int, default=50
        Newton steps per working set (one suffices for the squared loss).
    use_numba : bool, default=True
        Run the epochs compiled by numba when it is installed (the
        ``skmtl[fast]`` extra); False, or numba absent, runs the same loop in
        NumPy (see ``skmtl.solvers._bcd_kernels``).

    References
    ----------
    M. Massias, A. Gramfort and J. Salmon, "Celer: a fast solver for the Lasso
    with dual extrapolation", ICML 2018.
    Q. Bertrand, Q. Klopfenstein, P.-A. Bannier, G. Gidel and M. Massias,
    "Beyond L1: faster and better sparse models with skglm", NeurIPS 2022.
    """

    name = "bcd"
    _datafit_required_attr = ("value", "gradient", "hessian_diag")
    _penalty_required_attr = (
        "value",
        "gradient",
        "prox",
        "lipschitz",
        "feature_violations",
        "row_l2_weight",
        "row_curvature",
    )

    def __init__(
        self,
        max_iter=1000,
        verbose=0,
        min_working_set=100,
        max_newton=50,
        use_numba=True,
    ):
        super().__init__(max_iter, verbose)
        self.use_numba = use_numba
        self.min_working_set = min_working_set
        self.max_newton = max_newton

    @staticmethod
    def applicable(loss, penalty, W0):
        if not penalty.separable_by_feature:
            return (
                f"{type(penalty).__name__} is not a sum over feature rows "
                "(separable_by_feature); use solver='fista'"
            )
        if not loss.diagonal_hessian or W0.ndim != 2:
            return (
                "block coordinate descent handles one score per row (squared and "
                "binary logistic losses); use solver='fista' for multinomial models"
            )
        return None

    def _kkt(self, loss, penalty, W, S, b=None):
        if b is not None and not np.any(W):
            # the zero model, whose gradient gave the tolerance's scale: its
            # scores armed the design's backward memory, which answers with
            # no product with X^T (TaskDesign.zero_scores)
            S = loss.design.zero_scores(b if loss.fit_intercept else None, W.shape[2:])
        gW, gb = loss.grad_from_scores(S)
        grad = gW + penalty.gradient(W)
        viol = penalty.feature_violations(W, grad)
        kkt = float(viol.max(initial=0.0))
        if loss.fit_intercept:
            kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
        return kkt, viol, grad

    def _kkt_model(self, loss, penalty, W, b, S, solved):
        """:meth:`_kkt` after a working set solved on Grams (the squared loss).

        The model is the loss: the working set's gradient is ``A V - C``,
        which the epochs keep (no product with X), and its intercepts are
        the exact minimisers given ``V`` (their gradient is 0). Only the
        features outside the working set take a product with X^T, restricted
        to their columns when they are few (shared dense X). Returns
        ``(kkt, viol, grad, S)``; ``S`` is computed here when it was left
        out (None) and the features outside need it.
        """
        ws, quad, Q, V = solved
        design = loss.design
        n_features, T = W.shape
        gW = np.empty_like(W)
        gW[ws] = quad.gradient(V, Q)
        outside = np.ones(n_features, dtype=bool)
        outside[ws] = False
        outside = np.flatnonzero(outside)
        gb = np.zeros(T)
        if outside.size:
            if S is None:
                S = loss.scores(W, b)
            X = design.X
            if (
                design.mode == "shared"
                and not sp.issparse(X)
                and 2 * outside.size <= n_features
            ):
                n = design.bounds[1]
                g = loss.datafit.gradient(S).reshape(T, n)
                gb = g.sum(axis=1)
                # (G^T X)^T: the layout OpenBLAS runs fastest on C-ordered
                # columns (see TaskDesign.backward). No centring term
                # (means * gb): gb is 0, the intercepts being the model's
                # exact minimisers (a mutation test dropping it changed no
                # result); gb still enters the KKT check below.
                gW[outside] = (g @ _columns(X, outside)).T
            else:
                full, gb = loss.grad_from_scores(S)
                gW[outside] = full[outside]
        grad = gW + penalty.gradient(W)
        viol = penalty.feature_violations(W, grad)
        kkt = float(viol.max(initial=0.0))
        if loss.fit_intercept:
            kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
        return kkt, viol, grad, S

    def _objective(self, loss, penalty, W, S, solved):
        """The objective at ``W``; from the model when the scores were left out."""
        if S is not None:
            return loss.value_from_scores(S) + penalty.value(W)
        # the model is the loss up to its value at V = 0 (with the best
        # intercepts): an O(n T) evaluation instead of a product with X
        _, quad, Q, V = solved
        b0 = quad.intercepts(np.zeros_like(V))
        S0 = np.repeat(b0, np.diff(loss.design.bounds))
        return loss.value_from_scores(S0) + quad.value(V, Q) + penalty.value(W)

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        n_features = W0.shape[0]
        design, datafit = loss.design, loss.datafit
        W, b = W0.astype(np.float64).copy(), b0.astype(np.float64).copy()
        S = loss.scores(W, b)
        # What a path reuses on the same loss: the rows by Gram group (sparse
        # blocks in CSC) and, for the squared loss whose weights never
        # change, the Gram columns computed so far.
        if memory is not None and memory.get("loss") is loss:
            rows, source = memory["rows"], memory["source"]
        else:
            rows, source = _RowBlocks(design), None
        if loss.is_quadratic and source is None:
            h = datafit.hessian_diag(S)
            source = _GramSource(
                rows, h, h * S - datafit.gradient(S), loss.fit_intercept
            )
        n_epochs, kkt, stalled, n_ws = 0, np.inf, False, 0
        # the last working set's model, when it can give the KKT (Gram form
        # of the squared loss): (ws, model, its state, V)
        solved = None
        while True:
            if solved is None:
                kkt, viol, grad = self._kkt(loss, penalty, W, S, b)
            else:
                kkt, viol, grad, S = self._kkt_model(loss, penalty, W, b, S, solved)
            if self.verbose:
                obj = self._objective(loss, penalty, W, S, solved)
                print(f"[BCD] epoch {n_epochs}: objective {obj:.10g}, KKT {kkt:.3g}")
            if kkt <= tol_abs or n_epochs >= self.max_iter or stalled:
                break
            in_support = np.any(W != 0, axis=1)
            support = np.flatnonzero(in_support)
            # twice the support, four times when the whole last working set
            # became active (a dense solution: one doubling fewer)
            grow = 4 if n_ws and len(support) >= n_ws else 2
            size = min(n_features, max(self.min_working_set, grow * len(support)))
            # Up to twice the support, as celer and skglm: the violating
            # features, then a margin of the zero features nearest to their
            # threshold (largest gradient norm), a tenth of the support. Near
            # the end few features violate, and a working set of twice the
            # support paid every epoch for features that stay at 0
            # (measured: the last working set of n=500, p=5000, T=20 at
            # alpha_max / 100 went from 4774 to about 2700 features).
            n_violating = int(np.count_nonzero(viol[~in_support] > 0))
            margin = -(-len(support) // 10)
            size = min(size, len(support) + n_violating + margin)
            if grow == 4 and 4 * size >= 3 * n_features:
                # a dense solution that will hold most features: all of them
                # now. The quarter left out would cost one more outer step
                # (the scores, X^T on the rest, a working set that adds
                # them) for epochs at most 1.8x cheaper (measured: n=p=2000,
                # T=50 at alpha_max / 100, 100 -> 400 -> 2000 features in
                # 18 epochs, 0.47 s, instead of 100 -> 400 -> 1600 -> 2000
                # in 21, 0.53 s; n=500, p=5000 reaches 54% and is unchanged)
                size = n_features
            n_ws = size
            priority = np.sqrt(np.einsum("jt,jt->j", grad, grad))
            priority[support] = np.inf  # the support always stays in
            ws = np.sort(np.argsort(-priority, kind="stable")[:size])
            # celer / skglm solve the working set to a fraction of the current
            # violation; compiled epochs are cheap next to the outer step's
            # full gradient and Gram columns, so ask for more (measured: half
            # the outer iterations of 0.3 on bench_l21); the floor keeps the
            # last working set below tol_abs
            inner_tol = max(_INNER_FRACTION * kkt, _FINAL_FRACTION * tol_abs)
            outside = np.ones(n_features, dtype=bool)
            outside[ws] = False
            if not np.any(viol[outside] > tol_abs):
                # every violating feature is in: finish on this working set
                inner_tol = _FINAL_FRACTION * tol_abs
            if loss.is_quadratic and not _use_residuals(source, len(ws)):
                # the Grams of the new features now, and the working set in
                # the Grams' order: when it holds every feature seen so far,
                # the model takes the cached Gram without a copy
                source.add(ws)
                ws = ws[np.argsort(source.position[ws], kind="stable")]
            V, b_raw = W[ws], design.intercept_from_centered(W, b)
            V, b_raw, S, epochs, stalled, quad, state = self._solve_working_set(
                loss, rows, source, penalty, V, b_raw, S, ws, inner_tol, n_epochs,
                solved=solved,
            )  # fmt: skip
            n_epochs += epochs
            W = np.zeros_like(W)
            W[ws] = V
            b = design.intercept_to_centered(W, b_raw)
            solved = None if state is None else (ws, quad, state, V)
        objective = self._objective(loss, penalty, W, S, solved)
        memory = {"loss": loss, "rows": rows, "source": source}
        result = SolverResult(W, b, n_epochs, kkt, objective, kkt <= tol_abs, memory)
        reason = "no further decrease (line search)" if stalled else None
        warn_not_converged(
            "BlockCoordinateDescent", result, tol_abs, self.max_iter, reason
        )
        return result

    def _solve_working_set(
        self, loss, rows, source, penalty, V, b_raw, S, ws, tol, n_epochs,
        solved=None,
    ):  # fmt: skip
        """Proximal Newton steps on the working set ``ws`` until its KKT <= tol.

        ``V`` (k, T) and ``b_raw`` (T,) in the raw parametrisation (scores
        ``X_ws V + b_raw``); returns them updated, with the scores, the
        epochs, whether the line search stalled, and for the squared loss on
        Grams the model and its state at ``V`` (else None): the outer loop's
        KKT on the working set. The scores are then None when the working
        set holds every feature (no product with X: nothing outside needs
        them, and the objective comes from the model). ``solved``: the last
        working set's ``(ws, model, state, V)`` on the same Grams, whose
        ``A V`` starts this one's.
        """
        datafit, fit_b = loss.datafit, loss.fit_intercept
        quadratic = loss.is_quadratic
        n_features = loss.design.n_features
        epochs, stalled = 0, False
        cd_tol = tol if quadratic else None
        quad = state = None
        for _ in range(self.max_newton):
            if quadratic:
                # u = h * y whatever the scores (the source's)
                g, u = None, source.u
            else:
                g, h = datafit.gradient(S), datafit.hessian_diag(S)
                source = _GramSource(rows, h, fit_intercept=fit_b)
                u = h * S - g
            residuals = _use_residuals(source, len(ws))
            Model = _ResidualModel if residuals else _GramModel
            quad = Model(source, ws, u, fit_b)
            if quadratic and not residuals and solved is not None:
                quad.previous = (ws, solved[0], solved[2])
            if cd_tol is None:  # inexact Newton: the first steps loosely
                kkt = _raw_kkt(source, penalty, ws, V, g, fit_b)
                cd_tol = max(0.3 * kkt, 0.5 * tol)
            V_new = V.copy()
            budget = max(1, self.max_iter - n_epochs - epochs)
            e, _, state = _cd_epochs(
                quad, penalty, V_new, cd_tol, budget, self.use_numba
            )
            epochs += e
            b_new = quad.intercepts(V_new) if fit_b else b_raw
            if quadratic:
                # the model is the loss: the block steps decreased it
                V, b_raw = V_new, b_new
                if residuals:
                    state = None  # the outer loop takes the full gradient
                else:
                    # A V afresh (the support's columns, k s T): the epochs'
                    # rank-B updates drift by rounding, and the outer loop's
                    # KKT check and objective read it (measured: 2564 epochs
                    # of an ill-conditioned uncentred problem drifted the
                    # gradient by half the tolerance; 12 epochs at n=p=2000
                    # by 1e-14 of it)
                    state = quad.product(V)
                if residuals or len(ws) < n_features:
                    # the scores afresh, from the support's columns only
                    nz = np.flatnonzero(np.any(V != 0, axis=1))
                    S = rows.scores(ws[nz], V[nz], b_raw)
                else:
                    S = None
                # the model is exact and its epochs stopped at tol (or at the
                # budget); the outer loop checks every feature next
                break
            dS = rows.scores(ws, V_new - V, b_new - b_raw)
            f0 = datafit.value(S) + penalty.value(V)
            slope = float(g @ dS) + penalty.value(V_new) - penalty.value(V)

            def evaluate(t, V=V, V_new=V_new, S=S, dS=dS):
                Vt = V + t * (V_new - V)
                return datafit.value(S + t * dS) + penalty.value(Vt), None

            found = armijo_backtracking(evaluate, f0, min(slope, 0.0))
            if found is None:
                stalled = True
                break
            step = found[0]
            V = V + step * (V_new - V)
            b_raw = b_raw + step * (b_new - b_raw)
            S = S + step * dS
            if n_epochs + epochs >= self.max_iter:
                break
            kkt = _raw_kkt(source, penalty, ws, V, datafit.gradient(S), fit_b)
            if kkt <= tol:
                break
            cd_tol = max(0.3 * kkt, 0.5 * tol)
        if not quadratic:
            quad = state = None
        return V, b_raw, S, epochs, stalled, quad, state


def _raw_kkt(source, penalty, ws, V, g, fit_intercept):
    """KKT violation on the working set in the raw parametrisation."""
    gV = source.response(ws, g) + penalty.gradient(V)
    kkt = float(penalty.feature_violations(V, gV).max(initial=0.0))
    if fit_intercept:
        b = source.rows.design.bounds
        gb = np.add.reduceat(g, b[:-1]) if len(g) else np.zeros(0)
        gb[np.diff(b) == 0] = 0.0
        kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
    return kkt
