"""Smoke runs of the scripts in examples/ on tiny sizes."""

import importlib.util
from pathlib import Path

import pytest

from .conftest import ARCHIVE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"needs {ARCHIVE}")
def test_stream_20newsgroups_runs():
    example = _load("stream_20newsgroups")
    results = example.main(ARCHIVE, chunk=40, buffer=100, per_group=20)
    assert list(results) == [
        "stream, archive order",
        "stream, shuffle buffer",
        "fit on all rows",
    ]
    for name, (accuracy, seconds) in results.items():
        assert len(accuracy) == 4 and seconds > 0
        assert all(0 <= a <= 1 for a in accuracy.values())
        if name != "stream, archive order":
            # 20 posts per newsgroup, mixed: comp and rec already separate
            assert sum(accuracy.values()) / 4 > 0.7
