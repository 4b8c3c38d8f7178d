"""Solvers of the multi-task linear models, their dispatch and path following.

- solvers (all :class:`~skmtl.solvers.base.BaseSolver`): :class:`NewtonCG`,
  :class:`LBFGS`, :class:`FISTA`, :class:`BlockCoordinateDescent` (L2,1),
  the direct :class:`GramSolver` and
  :class:`KernelNewton` (and :func:`solve_gram_system`, the Gram solve from
  given statistics), and :class:`SmoothAuto` and :class:`RowSparseAuto`
  (the ``auto`` rules);
- dispatch: :data:`SOLVERS` (the registry behind the estimators' ``solver``
  parameter), :data:`SOLVER_CONSTRAINTS`, :func:`make_solver` and
  :func:`solve_problem` (strategy and BLAS threads);
- paths: :func:`solve_path` and :func:`absolute_tolerance`;
- strategies: :func:`solve_by_task`, :func:`solve_working_set`.
"""

from ._bcd import BlockCoordinateDescent
from ._direct import GramSolver, KernelNewton, solve_gram_system
from ._dispatch import (
    SOLVER_CONSTRAINTS,
    SOLVERS,
    RowSparseAuto,
    SmoothAuto,
    make_solver,
    solve_problem,
)
from ._fista import FISTA
from ._lbfgs import LBFGS
from ._newton import NewtonCG
from ._path import absolute_tolerance, solve_path
from ._strategies import solve_by_task, solve_working_set
from .base import BaseSolver, SolverResult, check_solver_requirements

__all__ = [
    "BaseSolver",
    "SolverResult",
    "LBFGS",
    "NewtonCG",
    "FISTA",
    "BlockCoordinateDescent",
    "GramSolver",
    "KernelNewton",
    "solve_gram_system",
    "SmoothAuto",
    "RowSparseAuto",
    "SOLVERS",
    "SOLVER_CONSTRAINTS",
    "make_solver",
    "solve_problem",
    "solve_path",
    "absolute_tolerance",
    "check_solver_requirements",
    "solve_by_task",
    "solve_working_set",
]
