"""Which solver runs, on which strategy, with how many BLAS threads.

Everything an estimator needs to turn ``solver="auto"`` (or a name) and a
bound penalty into a run: the registry of solvers and the constraints of the
estimators' solver parameters, the ``auto`` rule (:class:`SmoothAuto` for
smooth penalties, FISTA otherwise), the strategy (one problem per task for a
penalty ``separable_by_task``, working sets of features for one
``separable_by_feature``) and the BLAS threads of the package's thread
policy (:mod:`skmtl._threads`), decided once per problem by
:func:`blas_work`. Estimators, the
cross-validated estimators and distillation all call :func:`solve_problem`
(through :func:`skmtl.solvers.solve_path`).
"""

from functools import partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions

from .._threads import blas_threads
from ._bcd import BlockCoordinateDescent
from ._bcd_kernels import have_numba
from ._direct import GramSolver, KernelNewton
from ._fista import FISTA
from ._lbfgs import LBFGS
from ._newton import NewtonCG
from ._strategies import solve_by_task, solve_working_set
from .base import BaseSolver, check_solver_requirements

__all__ = [
    "RowSparseAuto",
    "SOLVERS",
    "SOLVER_CONSTRAINTS",
    "SmoothAuto",
    "blas_work",
    "make_solver",
    "solve_problem",
]

#: the solvers an estimator's ``solver`` parameter names
SOLVERS = {
    "newton-cg": NewtonCG,
    "lbfgs": LBFGS,
    "fista": FISTA,
    "gram": GramSolver,
    "kernel": KernelNewton,
    "bcd": BlockCoordinateDescent,
}

#: constraints of the solver parameters, shared by every estimator that
#: builds a core model (one place to edit when a solver is added)
SOLVER_CONSTRAINTS = {
    "solver": [StrOptions({"auto", *SOLVERS})],
    "tol": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
}

#: working sets of features only pay beyond this many features
_WORKING_SET_MIN_FEATURES = 50


class SmoothAuto(BaseSolver):
    """Default for smooth penalties: a direct solver where it pays, else Newton-CG.

    Chosen per problem (so per task for uncoupled tasks) from rough operation
    counts, measured against Newton-CG on this package's benchmarks:

    - :class:`GramSolver` (squared loss, few features): per task the Gram
      matrix (``n_t p^2``) and its eigendecomposition (about ``9 p^3``), against
      some 200 passes over the data (``200 n_t p``) for an iterative solve;
    - :class:`KernelNewton` (fewer rows than coefficients): a Cholesky
      factorisation of ``n^3 / 3`` per Newton step against Newton-CG's
      products with ``p * T`` coefficients.

    With ``path=True`` (a path over alphas or penalty settings, as in the
    cross-validated estimators) what the direct solvers factorise once is
    shared by every point and their warm starts are better, so they are
    chosen more often: Gram whenever it applies, the kernel up to
    ``n^3 <= 900 p T`` instead of ``100 p T``.
    """

    name = "auto"
    _datafit_required_attr = NewtonCG._datafit_required_attr
    _penalty_required_attr = NewtonCG._penalty_required_attr
    _requires_smooth = True

    def __init__(self, max_iter=100, verbose=0, path=False):
        super().__init__(max_iter, verbose)
        self.path = path

    def choose(self, loss, penalty, W0):
        """The solver class for this problem."""
        design = loss.design
        n, p, T = design.n_rows, design.n_features, design.n_tasks
        if GramSolver.applicable(loss, penalty, W0) is None and (
            self.path or 9 * p * p <= max(200 - p, 0) * n / T
        ):
            return GramSolver
        kernel_factor = 900 if self.path else 100
        if (
            2 * n <= p * T
            and float(n) ** 3 <= kernel_factor * p * T
            and KernelNewton.applicable(loss, penalty, W0) is None
        ):
            return KernelNewton
        return NewtonCG

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        solver = self.choose(loss, penalty, W0)(self.max_iter, self.verbose)
        return solver.solve(loss, penalty, W0, b0, tol_abs, memory=memory)


class RowSparseAuto(BaseSolver):
    """Default for row-sparse penalties (L2,1): block coordinate descent or FISTA.

    Chosen per problem from ``benchmarks/bench_l21.py`` (results in
    ``benchmarks/results/l21.md`` and ``l21_auto.md``, one BLAS thread):

    - :class:`BlockCoordinateDescent` for the squared loss when its compiled
      epochs are available (numba): 0.44-0.62x scikit-learn's
      MultiTaskLasso at equal duality gap on shared designs (FISTA:
      0.58-2.7x), 0.09x FISTA's time on School (139 ragged tasks), on par
      with FISTA on well-conditioned ragged tasks; since its chunked epochs
      and tighter working sets, 0.23-0.57x MultiTaskLasso on the L2,1 rows of
      ``benchmarks/bench_core.py`` (alpha_max / 10 and / 100);
    - FISTA (on working sets of features) otherwise: for the logistic loss
      the per-task Grams of each Newton step cost more than FISTA's products
      (2.4x slower on 10 dense ragged tasks, 10x on sparse ones), and without
      numba the NumPy epochs take 1.9-3.6x FISTA's time except on School.
      On the 20 one-vs-rest 20 Newsgroups tasks (TF-IDF, 173,762 features)
      at alpha_max / 10, FISTA with its growing step takes 360 iterations,
      7.6 s, as BCD's 40 epochs (7.7 s). A hand-over from FISTA to BCD on
      slow working sets was tried (it took that fit from 79 s to 18 s with
      the earlier fixed-step FISTA) and removed: with the growing step it
      never triggered on the benchmarks.
    """

    name = "auto"
    _datafit_required_attr = FISTA._datafit_required_attr
    _penalty_required_attr = FISTA._penalty_required_attr
    _requires_smooth = False

    def choose(self, loss, penalty, W0):
        """The solver class for this problem."""
        if not loss.is_quadratic or not have_numba():
            return FISTA
        try:
            check_solver_requirements(BlockCoordinateDescent(), loss, penalty, W0)
        except (AttributeError, ValueError):
            return FISTA
        return BlockCoordinateDescent

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        Solver = self.choose(loss, penalty, W0)
        solver = Solver(max_iter=self.max_iter, verbose=self.verbose)
        if Solver is FISTA and loss.design.n_features > _WORKING_SET_MIN_FEATURES:
            return solve_working_set(solver, loss, penalty, W0, b0, tol_abs)
        return solver.solve(loss, penalty, W0, b0, tol_abs, memory=memory)


def make_solver(solver, penalty, *, max_iter=1000, verbose=0, on_path=False):
    """The solver object for a ``solver`` parameter and a bound penalty.

    ``"auto"`` is :class:`SmoothAuto` for a smooth penalty,
    :class:`RowSparseAuto` for a row-sparse one (``separable_by_feature``)
    and FISTA otherwise; a name is looked up in :data:`SOLVERS` (a ``ValueError`` names
    the known ones); a :class:`~skmtl.solvers.base.BaseSolver` instance is
    used as given.
    """
    if isinstance(solver, BaseSolver):
        return solver
    if solver == "auto":
        if penalty.is_smooth:
            return SmoothAuto(max_iter, verbose, path=on_path)
        if penalty.separable_by_feature:
            return RowSparseAuto(max_iter=max_iter, verbose=verbose)
        return FISTA(max_iter=max_iter, verbose=verbose)
    try:
        cls = SOLVERS[solver]
    except (KeyError, TypeError):
        raise ValueError(
            f"solver={solver!r} is not one of {['auto', *SOLVERS]}."
        ) from None
    return cls(max_iter=max_iter, verbose=verbose)


def blas_work(solver, loss, penalty, W0, per_task=False):
    """Multiply-adds of the largest BLAS operation of a solve (the policy's input).

    The largest product of the loss' design
    (:meth:`~skmtl._design.TaskDesign.product_work`; with ``per_task`` that of
    the largest task alone), or the factorisation of the direct solver that
    will run: per-task Gram matrices (``n_t p^2`` for dense X) and their
    eigendecompositions (``p^3``) for :class:`GramSolver`, the row kernel
    (``n^2 p``) and its Cholesky factorisation (``n^3 / 3``) for
    :class:`KernelNewton`. See :mod:`skmtl._threads` for the policy.
    """
    design = loss.design
    n_outputs = int(np.prod(W0.shape[2:], dtype=np.int64))
    if per_task and design.n_tasks > 1:
        t = int(np.argmax(np.diff(design.bounds)))
        loss, W0 = loss.restrict(t), W0[:, t : t + 1]
        design = loss.design
    work = design.product_work(n_outputs)
    if isinstance(solver, SmoothAuto):
        cls = solver.choose(loss, penalty, W0)
    else:
        cls = type(solver)
    n, p = float(design.n_rows), float(design.n_features)
    dense = not sp.issparse(design.X_sorted)
    if issubclass(cls, GramSolver):
        block = float(np.diff(design.bounds).max(initial=0))
        work = max(work, p**3 + dense * block * p * p)
    elif issubclass(cls, KernelNewton):
        work = max(work, n**3 / 3 + dense * n * n * p)
    return work


def solve_problem(
    loss,
    penalty,
    W0,
    b0,
    tol_abs,
    *,
    solver="auto",
    max_iter=1000,
    verbose=0,
    memory=None,
    on_path=False,
):
    """Solve one problem with the right solver, strategy and BLAS threads.

    Parameters
    ----------
    loss : SmoothLoss
    penalty : bound penalty
    W0 : ndarray of shape (n_features, n_tasks[, n_classes])
    b0 : ndarray of shape (n_tasks[, n_classes])
        Start (intercepts in the loss' centred parametrisation).
    tol_abs : float
        Absolute KKT tolerance.
    solver : str or BaseSolver, default="auto"
    max_iter, verbose : int
    memory : object, default=None
        ``memory`` of the previous point of a path.
    on_path : bool, default=False
        Part of a path (the ``auto`` rule then favours the direct solvers).

    Returns
    -------
    result : SolverResult
    """
    solver = make_solver(
        solver, penalty, max_iter=max_iter, verbose=verbose, on_path=on_path
    )
    design = loss.design
    per_task = penalty.separable_by_task and design.n_tasks > 1
    if per_task:
        # No coupling: one small problem per task beats one large one.
        strategy = partial(solve_by_task, solver)
    elif isinstance(solver, (BlockCoordinateDescent, RowSparseAuto)):
        strategy = solver.solve  # they grow their own working sets
    elif penalty.separable_by_feature and design.n_features > _WORKING_SET_MIN_FEATURES:
        # Sparse solutions: solve on working sets of features.
        strategy = partial(solve_working_set, solver)
    else:
        strategy = solver.solve
    # One BLAS thread unless the solve's largest operation is large (the
    # package's thread policy, skmtl._threads): small products and the
    # solvers' vector operations run far slower on threads of a busy machine.
    with blas_threads(blas_work(solver, loss, penalty, W0, per_task)):
        return strategy(loss, penalty, W0, b0, tol_abs, memory=memory)
