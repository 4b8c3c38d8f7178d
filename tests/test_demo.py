"""The README's main command runs, on School when present and on synthetic data."""

import io
from pathlib import Path

import pytest

from skmtl import demo

SCHOOL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "school.mat"


def test_demo_synthetic_runs_and_coupling_helps():
    out = io.StringIO()
    scores = demo.run(synthetic=True, n_splits=1, out=out)
    text = out.getvalue()
    assert "synthetic" in text and "overall" in text
    assert set(scores) == {"independent", "pooled", "mean", "graph", "l21"}
    # related tasks: sharing beats ignoring the tasks
    assert max(scores["mean"], scores["l21"]) > scores["pooled"]


@pytest.mark.skipif(not SCHOOL.exists(), reason=f"School data not found at {SCHOOL}")
def test_demo_school_coupled_models_beat_independent():
    out = io.StringIO()
    scores = demo.run(str(SCHOOL), n_splits=2, out=out)
    assert "School" in out.getvalue()
    # published shape of the result: coupling helps on School
    # (Evgeniou & Pontil 2004; Argyriou et al. 2008)
    assert scores["mean"] > scores["independent"] + 0.02
    assert scores["graph"] > scores["independent"] + 0.02


def test_demo_cli_main(capsys, tmp_path):
    plot = tmp_path / "demo.png"
    assert demo.main(["--synthetic", "--splits", "1", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "Per-task explained variance" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert plot.stat().st_size > 0
