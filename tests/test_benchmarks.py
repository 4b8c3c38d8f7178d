"""Smoke tests of the benchmark scripts: they run, on tiny sizes, and report.

Benchmarks that nobody runs rot; these keep ``benchmarks/`` importable and
working against the current API without measuring anything.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import ARCHIVE

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    path = BENCH_DIR / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_core_quick(tmp_path, monkeypatch):
    bench = _load("bench_core")
    # Hide matplotlib: the report must not need it (and the test stays fast).
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rows = bench.main(
        quick=True, out_dir=tmp_path, peers=("sklearn",), issue_rows=False
    )["peers"]

    l21 = [f"l21 n={n} p={p} T={T}" for n, p, T in bench.QUICK["l21"]]
    logistic = [r["problem"] for r in rows if r["problem"].startswith("logistic")]
    assert len(set(logistic)) == len(bench.QUICK["logistic"])
    settings = ["default tol", f"gap <= {bench.TARGET_GAP:g}"]
    expected = {(p, s, "sklearn MultiTaskLasso") for p in l21 for s in settings}
    expected |= {
        (p, s, "sklearn LogisticRegression loop") for p in logistic for s in settings
    }
    # skglm was not requested: one row per L2,1 problem says so
    expected |= {(p, "-", "skglm MultiTaskLasso") for p in l21}
    assert {(r["problem"], r["setting"], r["peer"]) for r in rows} == expected

    for row in rows:
        if row["setting"] == "-":
            assert "ratio" not in row
            assert row["note"]
            continue
        assert row["skmtl_s"] > 0 and row["peer_s"] > 0
        assert row["ratio"] == pytest.approx(row["skmtl_s"] / row["peer_s"])
        # both sides solve the same problem: tiny objective gaps
        assert row["skmtl_gap"] < 1e-3 and row["peer_gap"] < 1e-3
        if row["setting"] != "default tol":
            assert "did not reach" not in row["note"]

    report = (tmp_path / "core.md").read_text()
    assert "bench_core.main(quick=True)" in report
    assert "matplotlib is not installed" in report
    assert not (tmp_path / "core.png").exists()
    for problem, _setting, peer in expected:
        assert problem in report and peer in report


def test_bench_core_skglm_rows(monkeypatch):
    pytest.importorskip("skglm", reason="skglm is an optional peer")
    bench = _load("bench_core")
    # One L2,1 problem only: skglm compiles with numba on its first fit (seconds).
    tiny = dict(bench.QUICK, l21=bench.QUICK["l21"][:1], logistic=[])
    monkeypatch.setattr(bench, "QUICK", tiny)
    rows = bench.main(quick=True, out_dir=None, issue_rows=False)["peers"]
    peers = {r["peer"] for r in rows}
    assert peers == {"sklearn MultiTaskLasso", "skglm MultiTaskLasso"}
    assert all(r["skmtl_gap"] < 1e-3 and r["peer_gap"] < 1e-3 for r in rows)


def test_bench_core_issue_rows_quick(tmp_path, monkeypatch):
    bench = _load("bench_core")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    tiny = dict(
        bench.QUICK,
        l21=bench.QUICK["l21"][:1],
        l21_ratios=[0.1, 0.01],
        logistic=[(3, 300, 20, 60)],
    )
    monkeypatch.setattr(bench, "QUICK", tiny)
    out = bench.main(quick=True, out_dir=tmp_path, peers=("sklearn",))
    summary = out["summary"]
    # every line of the issue's table, in its order, none failed
    assert len(summary) == 13
    for row in summary:
        assert not row["now"].startswith("failed"), row
        assert row["goal"] and row["before"] and row["met"] in ("yes", "no")
    measures = [r["measure"] for r in summary]
    assert measures[0].startswith("independent logistic")
    assert "data passes" in measures[6] and "growth" in measures[8]
    assert "share their rows" in measures[11]
    report = (tmp_path / "core.md").read_text()
    assert "Issue #17" in report and "goal" in report
    assert "fitted exponent" in report and "data passes" in report
    for row in summary:
        assert row["measure"] in report


def test_bench_core_only_l21_peers(tmp_path, monkeypatch):
    bench = _load("bench_core")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    tiny = dict(bench.QUICK, l21=bench.QUICK["l21"][:1], l21_ratios=[0.1, 0.01])
    monkeypatch.setattr(bench, "QUICK", tiny)
    with pytest.raises(ValueError, match="no step"):
        bench.main(quick=True, peers=("sklearn",), only={"L21 peers", "nope"})
    out = bench.main(
        quick=True, out_dir=tmp_path, peers=("sklearn",), only={"L21 peers"}
    )
    # the L2,1 rows at both ratios, no logistic rows, no other issue step
    problems = {r["problem"] for r in out["peers"]}
    n, p, T = tiny["l21"][0]
    assert problems == {
        f"l21 n={n} p={p} T={T}",
        f"l21 n={n} p={p} T={T} alpha=0.01 max",
    }
    measures = [r["measure"] for r in out["summary"]]
    assert len(measures) == 2 and all(m.startswith("L2,1 shared X") for m in measures)
    assert all(r["now"].endswith("x") for r in out["summary"])
    assert "L2,1 shared X" in (tmp_path / "core.md").read_text()


def test_core_limits_pass_counter():
    bench = _load("bench_core")
    limits = bench.limits
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = (X @ rng.normal(size=(3, 4)) > 0).astype(int)
    from skmtl import MultiTaskClassifier

    with limits.count_passes(X.shape) as passes:
        model = MultiTaskClassifier(penalty="mean").fit(X, Y)
    # at least the centring, the tolerance and one gradient per iteration
    assert passes["calls"] >= model.n_iter_ + 2
    # each product with the shared X is one pass
    assert passes["passes"] == pytest.approx(passes["calls"])
    assert limits.fitted_exponent([1, 2, 4, 8], [3, 6, 12, 24]) == pytest.approx(1)


def test_bench_cv_quick(tmp_path):
    rows = _load("bench_cv").main(quick=True, out_dir=tmp_path)
    assert len(rows) == 2
    assert all(r["same_choice"] for r in rows)
    assert (tmp_path / "cv.md").read_text().count("| synthetic") == 2


def test_bench_transfer_quick(tmp_path):
    bench = _load("bench_transfer")
    results = bench.main(quick=True, out_dir=tmp_path)
    assert set(results) == {("synthetic", 0.1), ("synthetic", 0.2)}
    required = set(bench.BASELINES) | {
        m for m in bench.TRANSFER if m not in bench.OPTIONAL
    }
    for draws in results.values():
        assert len(draws) == 2
        for draw in draws:
            assert draw["folds"] >= 2  # 15 and 30 labelled target rows: CV ran
            methods = {k for k, v in draw.items() if isinstance(v, dict)}
            assert required <= methods
            assert not any(m.startswith("ADAPT") for m in methods)  # quick: no TF
            for m in methods:
                assert "error" not in draw[m], (m, draw[m])
                assert 0.0 <= draw[m]["acc"] <= 1.0 and draw[m]["time"] > 0

    report = (tmp_path / "transfer.md").read_text()
    assert "bench_transfer.main(quick=True" in report
    assert "ADAPT: not run" in report
    assert "Partial results" not in report
    assert "## synthetic" in report and "## Summary" in report
    assert "cells where its mean accuracy" in report
    for m in required:
        assert f"| {m}" in report
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "transfer.png").stat().st_size > 0


def test_bench_transfer_unstratified(tmp_path):
    # --unstratified: a plain random draw of the labelled target rows
    bench = _load("bench_transfer")
    methods = ["target-only", "SelfTraining (NaiveBayes)"]
    results = bench.main(
        quick=True, out_dir=tmp_path, draws=2, fractions=(0.1,), methods=methods,
        stratify=False,
    )  # fmt: skip
    for draw in results[("synthetic", 0.1)]:
        assert {m for m in methods if "acc" in draw[m]} == set(methods)
    assert "NOT stratified" in (tmp_path / "transfer.md").read_text()


def test_bench_transfer_goal_verdict():
    # the goal section of the report: the fixed method must beat every peer
    # on every split at 1% and have a mean error <= GOAL_ERROR over six splits
    bench = _load("bench_transfer")
    fixed, frac = bench.FIXED_METHOD, bench.GOAL_FRACTION
    splits = [f"s{i}" for i in range(6)]

    def summary(fixed_acc, peer_acc):
        return {
            (s, frac): {
                "cells": {
                    fixed: {"mean": fixed_acc},
                    "ADAPT CORAL": {"mean": peer_acc[i]},
                    "skada CORAL": {"mean": 0.5},
                    "JointTransfer": {"mean": 0.9},
                }
            }
            for i, s in enumerate(splits)
        }

    met = "\n".join(bench.goal_lines(summary(0.94, [0.9] * 6), splits))
    assert "Goal **met**" in met and "**0.060**" in met
    lost = "\n".join(bench.goal_lines(summary(0.94, [0.9] * 5 + [0.95]), splits))
    assert "Goal **not met**" in lost and "beats every peer on 5 of 6" in lost
    high = "\n".join(bench.goal_lines(summary(0.92, [0.9] * 6), splits))
    assert "Goal **not met**" in high and "**0.080**" in high
    partial = "\n".join(bench.goal_lines(summary(0.94, [0.9] * 6), splits[:3]))
    assert "not all six splits ran" in partial
    assert bench.goal_lines({}, splits) == []


def test_bench_lbfgs_quick(tmp_path):
    bench = _load("bench_lbfgs")
    from skmtl.solvers import SOLVERS

    registered = dict(SOLVERS)
    results = bench.main(quick=True, out_dir=tmp_path)
    # the variants were swapped in and out of the registry the estimators read
    assert SOLVERS == registered

    assert len(results) == 1  # the quick L2,1 problem is not smooth: left out
    (result,) = results
    assert result["chosen"] == result["ref_chosen"]
    rows = {row["variant"]: row for row in result["rows"]}
    assert set(rows) == {"hand", "scipy"}
    for row in rows.values():
        assert row["t"] > 0 and row["solves"] > 0 and row["iters"] > 0
        assert row["same_choice"] and row["unconverged"] == 0 and row["warn"] == 0
        assert row["memory"] == 0  # LBFGS no longer carries curvature
        assert row["gap"][0] < 1e-5  # both near the tight Newton-CG reference
    # the k-th solve of each variant is the same problem
    assert rows["hand"]["solves"] == rows["scipy"]["solves"]
    assert rows["scipy"]["obj_diff"] < 1e-5
    assert len(result["singles"]) == 2
    for single in result["singles"]:
        assert single["t_hand"] > 0 and single["t_scipy"] > 0
        assert single["warn"] == (0, 0)

    report = (tmp_path / "lbfgs.md").read_text()
    assert "bench_lbfgs.py --quick" in report
    assert "| synthetic logistic, mean |" in report
    assert "## Summary (CV paths)" in report
    assert "| **all problems (sum of times)** |" in report
    # the measurement that decided to drop the memory stays in every report
    assert "## Decision run (commit 3bbe257, before the refactor)" in report
    assert "| **all problems (sum of times)** | **0.81** | **1.17** | **0.69** |" in (
        report
    )
    assert "nomem" not in report.split("## Decision run")[0]


def test_bench_structure_quick(tmp_path):
    pytest.importorskip("cvxpy", reason="cvxpy (the speed peer) is not installed")
    bench = _load("bench_structure")
    out = bench.main(quick=True, out_dir=tmp_path)

    # every coupling of this checkout side by side with the four baselines
    structural = [n for n in bench.STRUCTURAL if n not in out["missing"]]
    assert "TraceNorm" in structural
    assert out["names"][:4] == ["independent", "pooled", "mean", "graph"]
    assert len(out["names"]) == 4 + len(structural)
    assert set(out["accuracy"]) == {"synthetic regression", "synthetic classification"}
    for res in out["accuracy"].values():
        for name in out["names"]:
            entry = res[name]
            assert len(entry["score"]) == 2 and all(t > 0 for t in entry["time"])
            assert all(np.isfinite(entry["score"]))
        assert set(res["trace"]["chosen"][0]) == {"alpha", "penalty__l1_ratio"}
        assert all(0 <= r for r in res["trace"]["rank"])
    assert all(0 <= s <= 1 for s in out["accuracy"]["synthetic classification"]
               ["pooled"]["score"])  # fmt: skip

    # speed: both losses, both series, the same objective reached by both
    speed = out["speed"]
    assert {(r["kind"], r["series"]) for r in speed} == {
        (k, s) for k in ("squared", "logistic") for s in ("T", "n")
    }
    for row in speed:
        assert row["solver"] in ("Clarabel", "SCS"), row["cvxpy_errors"]
        assert row["skmtl_s"] > 0 and row["cvxpy_s"] > 0
        assert row["ratio"] == pytest.approx(row["cvxpy_s"] / row["skmtl_s"])
        assert row["skmtl_gap"] <= bench.TARGET_GAP
        assert abs(row["cvxpy_gap"]) < 1e-4

    # part 3: every structural penalty of this checkout, both losses
    penalties = {r["penalty"] for r in out["penalties"]}
    assert {"trace", "relationship", "clustered"} <= penalties
    assert {(r["penalty"], r["kind"]) for r in out["penalties"]} == {
        (p, k) for p in penalties for k in ("squared", "logistic")
    }
    for row in out["penalties"]:
        assert row["solver"] in ("Clarabel", "SCS"), row["cvxpy_errors"]
        assert row["skmtl_gap"] <= bench.TARGET_GAP
        assert abs(row["cvxpy_gap"]) < 1e-4

    # its cost growth: the two-part penalties over both series
    growth = out["penalty_growth"]
    assert {(r["penalty"], r["series"]) for r in growth} == {
        ("dirty", "T"),
        ("dirty", "n"),
    }
    assert all(r["skmtl_gap"] <= bench.TARGET_GAP for r in growth)

    report = (tmp_path / "structure.md").read_text()
    assert "bench_structure.main(quick=True)" in report
    assert "### Cost growth of the two-part penalties" in report
    assert "## 1. Accuracy" in report and "## 2. Speed" in report
    assert "## 3. Speed: every structural penalty" in report
    # part 3 alone replaces part 3 of the report and keeps parts 1-2
    again = bench.main(quick=True, out_dir=tmp_path, only_penalties=True)
    assert len(again["penalties"]) == len(out["penalties"])
    spliced = (tmp_path / "structure.md").read_text()
    assert spliced.count("## 3. Speed") == 1 and "## 1. Accuracy" in spliced
    assert "only_penalties=True" in spliced
    assert "| trace |" in report and "| pooled |" in report
    assert "mutar" in report
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "structure.png").stat().st_size > 0


def test_bench_neural_quick(tmp_path):
    pytest.importorskip("torch", reason="skmtl.neural needs torch")
    bench = _load("bench_neural")
    out = bench.main(quick=True, out_dir=tmp_path)

    # every weighting of the network next to the linear and MLP baselines
    (key,) = out["accuracy"]
    res = out["accuracy"][key]
    names = [n for n in res if n != "_meta"]
    assert [f"net {w}" for w in bench.WEIGHTINGS] == names[-len(bench.WEIGHTINGS) :]
    assert set(bench.BASELINE.values()) <= set(names)
    for name in names:
        entry = res[name]
        assert entry["acc"].shape == (2, 3)  # 2 draws, 3 tasks
        assert ((0 <= entry["acc"]) & (entry["acc"] <= 1)).all()
        assert entry["neg"].dtype == bool and all(t > 0 for t in entry["time"])
    assert not res["linear independent"]["neg"].any()  # its own baseline

    # speed: both contenders timed, ratios against MLPClassifier
    (row,) = out["speed"]
    for contender in ("MLPClassifier", "MultiTaskNet cpu"):
        assert row[contender]["epoch"] > 0
    assert row["MLPClassifier"]["ratio"] == pytest.approx(1.0)
    assert [op[0] for op in out["ops"]][0].startswith("CSR rows")
    # memory: measured in a child process for every contender
    assert len(out["memory"]["rows"]) == len(bench.speed_contenders("cpu"))
    assert all(r["after"] > 0 for r in out["memory"]["rows"])

    report = (tmp_path / "neural.md").read_text()
    assert "bench_neural.main(quick=True)" in report
    for part in ("## 1. Accuracy", "## 2. Speed", "## 3. Peak memory"):
        assert part in report
    assert "| net cagrad |" in report and "| MLP pooled |" in report


def test_bench_neural_refuses_missing_cuda():
    torch = pytest.importorskip("torch", reason="skmtl.neural needs torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    bench = _load("bench_neural")
    with pytest.raises(SystemExit, match="no CUDA"):
        bench.main(quick=True, accuracy=False, device="cuda")


def test_bench_neural_transfer_quick(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the neural benchmark needs torch")
    bench = _load("bench_neural_transfer")
    # Hide matplotlib: the report must not need it (and the test stays fast).
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import torch

    threads = torch.get_num_threads()
    results = bench.main(quick=True, out_dir=tmp_path)
    assert torch.get_num_threads() == threads  # one thread inside, restored after

    assert set(results) == set(bench.QUICK["K"])
    for k, draws in results.items():
        assert len(draws) == bench.QUICK["draws"]
        for draw in draws:
            assert draw["n_train"] == 5 * k
            for m in bench.METHODS:
                assert 0.0 <= draw[m]["acc"] <= 1.0 and draw[m]["time"] > 0
            assert draw["L2-SP"]["alpha"] in bench.L2SP_GRID
            assert set(draw["L2-SP"]["cv"]) == set(bench.L2SP_GRID)
    # a draw is a function of its seed: k rows of each target class
    y = np.repeat(bench.TARGET_CLASSES, 10)
    rows = bench.draw_rows(y, 3, 0)
    assert np.array_equal(rows, bench.draw_rows(y, 3, 0))
    assert np.array_equal(np.bincount(y[rows])[5:], [3] * 5)
    assert not np.array_equal(rows, bench.draw_rows(y, 3, 1))

    report = (tmp_path / "neural_transfer.md").read_text()
    assert "bench_neural_transfer.main(quick=True)" in report
    assert "matplotlib is not installed" in report
    assert not (tmp_path / "neural_transfer.png").exists()
    for m in bench.METHODS:
        assert f"| {m} |" in report


def test_bench_neural_transfer_20ng_quick(tmp_path):
    pytest.importorskip("torch", reason="the neural benchmark needs torch")
    bench = _load("bench_neural_transfer_20ng")
    results, distilled = bench.main(quick=True, out_dir=tmp_path)

    assert set(results) == {("synthetic", 0.1)}
    for draws in results.values():
        assert len(draws) == 1
        for draw in draws:
            assert draw["folds"] >= 2  # 15 labelled target rows: CV ran
            for m in bench.LINEAR + bench.NEURAL:
                assert "error" not in draw[m], (m, draw[m])
                assert 0.0 <= draw[m]["acc"] <= 1.0 and draw[m]["time"] > 0
            for m, grid in bench.GRIDS.items():
                for k, v in draw[m]["params"].items():
                    assert v in grid[k]
    ((key, rows),) = distilled.items()
    assert key == ("distill", "synthetic", 0.1)
    for m in bench.DISTILL_ROWS:
        assert "error" not in rows[0][m], (m, rows[0][m])
        assert 0.0 <= rows[0][m]["acc"] <= 1.0

    report = (tmp_path / "neural_transfer_20ng.md").read_text()
    assert "bench_neural_transfer_20ng.main(quick=True" in report
    assert "Partial results" not in report
    assert "## synthetic" in report and "## Distillation" in report
    for m in bench.LINEAR + bench.NEURAL + bench.DISTILL_ROWS:
        assert f"| {m} |" in report


@pytest.mark.skipif(not ARCHIVE.is_file(), reason="needs the 20 Newsgroups archive")
def test_bench_mean_intercept_one_draw(tmp_path):
    # one draw (the full run uses 10): the six models run and are reported
    bench = _load("bench_mean_intercept")
    acc = bench.main(["--seeds", "200", "--out", str(tmp_path)])
    assert acc
    report = (tmp_path / "mean_intercept.md").read_text()
    assert "bench_mean_intercept.py" in report


def test_bench_distill_20ng_quick(tmp_path):
    pytest.importorskip("torch", reason="the distillation benchmark needs torch")
    bench = _load("bench_distill_20ng")
    res = bench.main(quick=True, out_dir=tmp_path)

    assert 0.0 <= res["teacher"]["acc"] <= 1.0
    for name in bench.STUDENTS:
        assert 0.0 <= res["ceilings"][name]["acc"] <= 1.0
    assert len(res["draws"]) == 1
    for m in bench.row_names():
        cell = res["draws"][0][m]
        assert "error" not in cell, (m, cell)
        assert 0.0 <= cell["acc"] <= 1.0 and cell["time"] > 0

    report = (tmp_path / "distill_20ng.md").read_text()
    assert "bench_distill_20ng.main(quick=True" in report
    for m in bench.row_names():
        assert f"| {m} |" in report


@pytest.mark.skipif(not ARCHIVE.is_file(), reason="needs the 20 Newsgroups archive")
def test_bench_defaults_quick(tmp_path):
    bench = _load("bench_defaults")
    rows = bench.main(quick=True, out_dir=tmp_path)
    methods = {r[2] for r in rows}
    assert methods == {
        "default (alpha=0.01)",
        "alpha = 1/n_task",
        "tuned (CV estimator)",
        "oracle (best alpha on test)",
    }
    # the oracle is the best of the grid on the test rows: no method beats it
    # at a grid alpha (0.01 is one of the quick grid's)
    by_cell = {}
    for data, setting, method, mean, _ in rows:
        by_cell.setdefault((data, setting), {})[method] = mean
    for cell in by_cell.values():
        assert cell["oracle (best alpha on test)"] >= cell["default (alpha=0.01)"]
    assert "| School (R^2) | mean |" in (tmp_path / "defaults.md").read_text()


def test_bench_incremental_quick(tmp_path):
    pytest.importorskip("dask_ml")
    bench = _load("bench_incremental")
    rows, (diff, seconds) = bench.main(quick=True, out_dir=tmp_path, isolate=False)
    cfg = bench.QUICK
    expected = sum(
        len(cfg[k]["rows"]) * len(cfg[k]["chunks"]) * (2 if k == "regressor" else 3)
        for k in ("regressor", "classifier")
    )
    assert len(rows) == expected
    for r in rows:
        assert r["seconds"] > 0 and r["peak_mib"] > 0
        if r["mode"] == "stream":
            # the regressor's stream is exact; the classifier's is close
            assert r["gap"] < (1e-6 if r["kind"] == "regressor" else 0.2)
    assert diff < 1e-10
    report = (tmp_path / "incremental.md").read_text()
    assert "peak RSS" in report and "dask-ml Incremental" in report


def test_bench_l21_quick(tmp_path):
    bench = _load("bench_l21")
    rows = bench.main(quick=True, out_dir=tmp_path, peers=("sklearn",))
    shared = [r for r in rows if "vs_sklearn" in r]
    contenders = {"skmtl bcd", "skmtl fista", "sklearn MultiTaskLasso"}
    assert len(shared) == len(bench.QUICK_SIZES) * len(bench.FRACTIONS) * 3
    assert {r["contender"] for r in shared} == contenders
    for row in shared:
        # every contender timed at the same duality gap
        assert "note" not in row
        assert 0 <= row["gap"] <= bench.TARGET_GAP
    search = [r for r in rows if "vs_mean" in r]
    assert {r["contender"] for r in search} == {"l21 bcd", "l21 fista", "mean coupling"}
    assert all(r["not_converged"] == 0 for r in search)
    auto = [r for r in rows if "vs_fista" in r]
    assert {r["contender"] for r in auto} == {
        "bcd (numba)",
        "bcd (NumPy epochs)",
        "fista",
    }
    report = (tmp_path / "l21.md").read_text()
    assert "python benchmarks/bench_l21.py --quick" in report


def test_bench_newton_quick(tmp_path, monkeypatch):
    bench = _load("bench_newton")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rows = bench.main(quick=True, out_dir=tmp_path)
    sweep = [r for r in rows if r["measure"] == "sweep"]
    assert {r["T"] for r in sweep} == set(bench.QUICK["sweep_T"])
    assert all(r["kkt_ok"] and r["passes"] > 0 for r in sweep)
    # the preconditioner takes fewer CG steps than plain CG on every problem
    for T in bench.QUICK["sweep_T"]:
        for coupling in ("mean", "graph chain"):
            cg = {
                r["solver"]: r["cg_mean"]
                for r in sweep
                if r["T"] == T and r["coupling"] == coupling
            }
            assert cg[bench.PRE] < cg[bench.PLAIN]
    many = {r["coupling"] for r in rows if r["measure"] == "many tasks"}
    assert many == {"independent", "mean", "graph chain"}
    assert len(bench.summary(rows)) == 4
    assert "bench_newton.main(quick=True)" in (tmp_path / "newton.md").read_text()


@pytest.mark.skipif(not ARCHIVE.is_file(), reason="needs the 20 Newsgroups archive")
def test_bench_structure_convergence_small():
    # one alpha, one mixing strength, a short budget: every fit runs and reports
    bench = _load("bench_structure_convergence")
    rows = bench.run(alphas=(1e-2,), penalties=("dirty", "rmtl"), mixes=(1.0,),
                     max_iter=20, log=lambda *args: None)  # fmt: skip
    assert [r["penalty"] for r in rows] == ["dirty", "rmtl"]
    for r in rows:
        assert 1 <= r["n_iter"] <= 20 and r["objective"] > 0
        assert r["warnings"] == int(r["kkt"] > r["tol"])
        assert 0.0 <= r["accuracy"] <= 1.0
