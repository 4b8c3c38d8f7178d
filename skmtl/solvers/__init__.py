"""Solvers of the multi-task linear models."""

from ._direct import GramSolver, KernelNewton, SmoothAuto
from ._fista import FISTA
from ._lbfgs import LBFGS
from ._newton import NewtonCG
from .base import check_solver_requirements, solve_by_task, solve_working_set

__all__ = [
    "LBFGS",
    "NewtonCG",
    "FISTA",
    "GramSolver",
    "KernelNewton",
    "SmoothAuto",
    "check_solver_requirements",
    "solve_by_task",
    "solve_working_set",
]
