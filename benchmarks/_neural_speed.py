"""Parts 2 and 3 of ``bench_neural.py``: epoch times, profile and peak memory."""

import cProfile
import io
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _neural_settings import BATCH, HIDDEN, REMOVE, mlp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from skmtl.datasets import fetch_20newsgroups_multitask

try:
    import torch

    from skmtl.neural import MultiTaskNetClassifier
except ImportError:  # pragma: no cover - torch is the "torch" extra
    torch = None

#: the script whose ``--memory-child`` option measures one contender alone
BENCH = str(Path(__file__).with_name("bench_neural.py"))


# ================================================================= speed
def speed_problems(quick, log):
    """[(name, X (CSR), y, tasks or None, note)]: the inputs of the timings."""
    if quick:
        rng = np.random.default_rng(0)
        X = sp.random(400, 2000, density=0.01, format="csr", random_state=0,
                      dtype=np.float64)  # fmt: skip
        y = rng.integers(0, 2, 400)
        tasks = np.repeat(["a", "b"], 200)
        return [("synthetic CSR, 2 tasks", X, y, tasks, "")]
    out = []
    try:
        data = fetch_20newsgroups_multitask(
            "all", one_vs_rest=True, subset="train", remove=REMOVE,
            max_negatives_per_task=1, download_if_missing=False,
        )  # fmt: skip
        # the positives of the 20 tasks: every training document once, its
        # newsgroup as the class (20 classes, one task)
        pos = data.target == 1
        docs, groups = np.asarray(data.data, dtype=object)[pos], data.tasks[pos]
        X = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
        X = X.fit_transform(list(docs))
        out.append(("20NG train, 20 classes, 1 task", X, groups, None, ""))
        pair = fetch_20newsgroups_multitask(
            "comp_vs_rec", remove=REMOVE, download_if_missing=False
        )
        Xp = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
        Xp = Xp.fit_transform(list(pair.data))
        out.append(
            (
                "20NG comp_vs_rec, 4 binary tasks",
                Xp,
                pair.target,
                pair.tasks,
                "MLPClassifier: one binary model on the pooled rows",
            )
        )
    except (FileNotFoundError, OSError) as exc:
        log(f"20 Newsgroups not found ({str(exc).splitlines()[0]}): synthetic CSR")
        rng = np.random.default_rng(0)
        X = sp.random(11314, 50000, density=0.0016, format="csr", random_state=0,
                      dtype=np.float64)  # fmt: skip
        out.append(
            (
                "synthetic CSR like 20NG train, 20 classes, 1 task",
                X,
                rng.integers(0, 20, X.shape[0]),
                None,
                "archive not found",
            )
        )
    return out


def _time_fit(model, X, y, tasks):
    with warnings.catch_warnings():
        # fixed numbers of epochs: the warning that max_epochs was reached is
        # expected and ignored
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        if tasks is None:
            model.fit(X, y)
        else:
            model.fit(X, y, tasks=tasks)
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start


class _Float32:
    """Fit the wrapped estimator on a float32 copy of X (the copy is not timed
    apart: it is a cast of the CSR values only, milliseconds)."""

    def __init__(self, model):
        self.model = model

    def fit(self, X, y):
        self.model.fit(X.astype(np.float32), y)
        return self


def speed_contenders(device):
    """{name: (factory(epochs, n_features) -> estimator, uses tasks)}; all the
    same architecture."""

    def sk(e, p, **kw):
        return mlp(e, 0, batch_size=BATCH, tol=0.0, n_iter_no_change=e + 1, **kw)

    def mtn(e, p, device="cpu", **kw):
        return MultiTaskNetClassifier(
            HIDDEN, batch_size=BATCH, max_epochs=e, tol=0.0, n_iter_no_change=e + 1,
            random_state=0, device=device, **kw,
        )  # fmt: skip

    out = {
        "MLPClassifier": (sk, False),
        # the same model on float32 input (scikit-learn then trains in float32,
        # the network's default precision)
        "MLPClassifier float32": (lambda e, p: _Float32(sk(e, p)), False),
    }
    if torch is None:
        return out
    out["MultiTaskNet cpu"] = (mtn, True)
    # the proposed fix, through the public API: the first layer's weight in
    # the (n_features, units) layout of embedding_bag, and fused Adam
    out["MultiTaskNet cpu, proposed fix"] = (
        lambda e, p: mtn(e, p, encoder=EmbeddingMLP, encoder__n_features=p,
                         optimizer__fused=True),
        True,
    )  # fmt: skip
    if device not in (None, "cpu"):
        out[f"MultiTaskNet {device}"] = (lambda e, p: mtn(e, p, device), True)
    return out


if torch is not None:

    class EmbeddingMLP(torch.nn.Module):
        """``relu(X W + b)`` with ``W`` of shape (n_features, units): the
        default encoder of ``hidden_layer_sizes=(100,)``, the weight stored in
        the layout ``embedding_bag`` reads (no transposed copy per batch)."""

        accepts_sparse = True

        def __init__(self, n_features, units=HIDDEN[0]):
            super().__init__()
            # nn.Linear's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            bound = 1.0 / np.sqrt(n_features)
            self.weight = torch.nn.Parameter(
                torch.empty(n_features, units).uniform_(-bound, bound)
            )
            self.bias = torch.nn.Parameter(torch.empty(units).uniform_(-bound, bound))

        def forward(self, x):
            if hasattr(x, "indptr"):  # a CSRBatch
                out = torch.nn.functional.embedding_bag(
                    x.indices, self.weight, x.indptr, mode="sum",
                    per_sample_weights=x.data, include_last_offset=True,
                )  # fmt: skip
            else:
                out = x @ self.weight
            return torch.relu(out + self.bias)


def run_speed(cfg, problems, device, log):
    """Seconds per epoch: (fit of 1 + k epochs - fit of 1 epoch) / k, best of
    ``speed_repeat``, the contenders interleaved round by round."""
    rows = []
    k = cfg["speed_epochs"]
    for name, X, y, tasks, note in problems:
        contenders = speed_contenders(device)
        best = {c: [np.inf, np.inf] for c in contenders}
        for _ in range(cfg["speed_repeat"]):
            for c, (make, uses_tasks) in contenders.items():
                t = tasks if uses_tasks else None
                for i, epochs in enumerate((1, 1 + k)):
                    seconds = _time_fit(make(epochs, X.shape[1]), X, y, t)
                    best[c][i] = min(best[c][i], seconds)
        n_tasks = 1 if tasks is None else len(np.unique(tasks))
        row = {"problem": name, "n": X.shape[0], "p": X.shape[1], "nnz": X.nnz,
               "n_tasks": n_tasks, "note": note}  # fmt: skip
        for c, (t1, tk) in best.items():
            row[c] = {"epoch": max(tk - t1, 1e-9) / k, "setup": max(t1 - (tk - t1) / k,
                                                                   0.0)}  # fmt: skip
        ref = row["MLPClassifier"]["epoch"]
        for c in best:
            row[c]["ratio"] = row[c]["epoch"] / ref
        log(f"  {name}: " + ", ".join(
            f"{c} {row[c]['epoch']:.3f} s/epoch ({row[c]['ratio']:.2f}x)" for c in best
        ))  # fmt: skip
        rows.append(row)
    return rows


def profile_net(cfg, problem, device="cpu", top=14):
    """cProfile of a network fit (setup + ``profile_epochs`` epochs)."""
    if torch is None:
        return "torch is not installed"
    name, X, y, tasks, _ = problem
    model = MultiTaskNetClassifier(HIDDEN, batch_size=BATCH,
                                   max_epochs=cfg["profile_epochs"], random_state=0,
                                   device=device)  # fmt: skip
    prof = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        prof.enable()
        model.fit(X, y, tasks=tasks)
        prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    head = f"{name}, {cfg['profile_epochs']} epoch(s), top {top} by own time:"
    return head + "\n" + "\n".join(lines[start - 1 : start + top + 1])


def op_breakdown(problem, repeat=20):
    """Per-batch cost of the network's steps on ``problem``'s X (batch of
    ``BATCH`` random rows, first layer of ``HIDDEN[0]`` units, float32): what
    ``skmtl.neural`` does now against a proposed replacement, same results."""
    if torch is None:
        return []
    import torch.nn.functional as F

    _, X, *_ = problem
    X = sp.csr_matrix(X, dtype=np.float32)
    p, h = X.shape[1], HIDDEN[0]
    rows = np.random.default_rng(0).permutation(X.shape[0])[:BATCH]
    gen = torch.Generator().manual_seed(0)
    W = torch.nn.Parameter(torch.randn(h, p, generator=gen) * 0.01)  # (out, in)
    We = torch.nn.Parameter(W.detach().t().contiguous())  # (in, out)

    def to_tensors():
        B = X[rows]
        return (
            torch.as_tensor(B.indptr.astype(np.int64)),
            torch.as_tensor(B.indices.astype(np.int64)),
            torch.as_tensor(B.data),
        )

    ptr, idx, val = to_tensors()

    def bag(weight):
        return F.embedding_bag(idx, weight, ptr, mode="sum", per_sample_weights=val,
                               include_last_offset=True)  # fmt: skip

    def fwd_bwd(param, weight_fn):
        def run():
            param.grad = None
            bag(weight_fn()).relu().sum().backward()

        return run

    def l2_now():
        W.grad = W.grad + 1e-4 * W.detach()

    def l2_new():
        W.grad.add_(W.detach(), alpha=1e-4)

    def adam(**kw):
        P = torch.nn.Parameter(W.detach().clone())
        P.grad = torch.ones_like(P)
        return torch.optim.Adam([P], lr=1e-3, **kw).step

    def ms(fn):
        fn()
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - start) / repeat * 1e3

    W.grad = torch.zeros_like(W)
    return [
        ("CSR rows of the batch -> tensors (scipy slicing)", ms(to_tensors), None, ""),
        ("first layer forward (embedding_bag)", ms(lambda: bag(W.t())),
         ms(lambda: bag(We)), "weight stored as (n_features, units): no transposed "
         "copy of the whole matrix on every batch"),
        ("first layer forward + backward", ms(fwd_bwd(W, lambda: W.t())),
         ms(fwd_bwd(We, lambda: We)), "same"),
        ("L2 gradient `alpha * W` (first layer)", ms(l2_now), ms(l2_new),
         "in place: `p.grad.add_(p.detach(), alpha=alpha)`, or Adam's "
         "`weight_decay` on a param group of the weight matrices"),
        ("Adam step (first layer)", ms(adam()), ms(adam(fused=True)),
         "`torch.optim.Adam(..., fused=True)` (CPU and CUDA since torch 2.4)"),
    ]  # fmt: skip


# ================================================================= memory
def _memory_child(path, contender, epochs):
    """Run in a fresh process: peak RSS before and after one fit on ``path``."""
    data = np.load(path, allow_pickle=True)
    X = sp.csr_matrix((data["data"], data["indices"], data["indptr"]),
                      shape=tuple(data["shape"]))  # fmt: skip
    y = data["y"]
    tasks = data["tasks"] if data["tasks"].shape else None
    if torch is not None:
        torch.set_num_threads(1)
    make, uses_tasks = speed_contenders("cpu")[contender]
    model = make(epochs, X.shape[1])
    before = _vm("VmRSS")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if uses_tasks and tasks is not None:
            model.fit(X, y, tasks=tasks)
        else:
            model.fit(X, y)
    print(f"MAXRSS {before} {_vm('VmHWM')}")  # kilobytes


def _vm(key):
    """VmRSS / VmHWM (peak RSS) of this process in kB. Not getrusage's maxrss:
    on Linux that keeps the parent's peak across fork + exec, so a child
    started by a process holding the corpus would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            return int(next(ln.split()[1] for ln in f if ln.startswith(key + ":")))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_memory(cfg, problem, log):
    name, X, y, tasks, _ = problem
    X = sp.csr_matrix(X, dtype=np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npz")
        np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr,
                 shape=np.array(X.shape), y=y,
                 tasks=np.asarray(tasks if tasks is not None else 0))  # fmt: skip
        for contender in speed_contenders("cpu"):
            proc = subprocess.run(
                [sys.executable, BENCH, "--memory-child", path, contender, "1"],
                capture_output=True, text=True, timeout=600,
                env={**os.environ, "OMP_NUM_THREADS": "1",
                     "OPENBLAS_NUM_THREADS": "1"},
            )  # fmt: skip
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("MAXRSS")]
            if proc.returncode or not line:
                log(f"  memory of {contender} failed: {proc.stderr[-500:]}")
                continue
            before, after = (int(v) * 1024 for v in line[0].split()[1:])
            rows.append({"contender": contender, "before": before, "after": after})
            log(f"  {contender}: peak RSS {before / 2**20:.0f} MiB before the fit, "
                f"{after / 2**20:.0f} MiB after")  # fmt: skip
    csr = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    dense = X.shape[0] * X.shape[1] * 4
    weights = X.shape[1] * HIDDEN[0] * 4
    return {"problem": name, "shape": X.shape, "csr": csr, "dense": dense,
            "weights": weights, "rows": rows}  # fmt: skip
