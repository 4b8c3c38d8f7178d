"""What every benchmark report says about the machine and the code it ran on.

One description for every script (``bench_core``, ``bench_structure``,
``bench_neural``, the transfer benchmarks): the CPU, the load average, the BLAS
libraries and their threads, the versions, and the git commit of this
checkout (``+dirty`` when tracked files have uncommitted changes), so that two
results files can be compared line by line.
"""

import os
import platform
import subprocess
from pathlib import Path

__all__ = ["cpu_name", "git_commit", "load_average", "machine"]


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def load_average():
    """The 1, 5 and 15 minute load averages, as one string ("?" where unknown)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return " ".join(x if isinstance(x, str) else f"{x:.2f}" for x in load)


def git_commit():
    """Short commit of this checkout, with ``+dirty`` for uncommitted changes.

    Untracked files do not count (a results folder being written is one).
    """
    root = Path(__file__).resolve().parents[1]
    try:
        head, status = (
            subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
            for args in (["rev-parse", "--short", "HEAD"], ["status", "--porcelain"])
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode:
        return "unknown"
    dirty = any(ln and not ln.startswith("??") for ln in status.stdout.splitlines())
    return head.stdout.strip() + ("+dirty" if dirty else "")


def machine(user_apis=("blas",), **versions):
    """The machine and the code, as the reports print them.

    Parameters
    ----------
    user_apis : tuple of str, default=("blas",)
        The threadpoolctl ``user_api`` values whose libraries are listed
        (``("blas", "openmp")`` for the torch benchmarks).
    **versions : str
        Further packages and their versions (``cvxpy="1.6"``), listed after
        scikit-learn and before skmtl, in the order given.

    Returns
    -------
    dict
        ``cpu`` (model name and ``nproc``), ``load`` (1, 5, 15 minutes),
        ``blas`` (each library, its version and threads), ``versions`` and
        ``commit``.
    """
    import numpy as np
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import skmtl

    blas = ", ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") in user_apis
    )
    listed = [
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"scikit-learn {sklearn.__version__}",
        *(f"{name} {version}" for name, version in versions.items()),
        f"skmtl {skmtl.__version__}",
    ]
    return {
        "cpu": f"{cpu_name()}, nproc={os.cpu_count()}",
        "load": load_average(),
        "blas": blas or "-",
        "versions": ", ".join(listed),
        "commit": git_commit(),
    }
