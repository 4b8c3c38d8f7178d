"""Every Python snippet of the README runs on its own, as a first-time user runs it."""

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_snippets():
    assert SNIPPETS


@pytest.mark.parametrize("code", SNIPPETS, ids=lambda c: c.splitlines()[0][:40])
def test_readme_snippet_runs_on_its_own(code, capsys):
    if "skmtl.neural" in code and importlib.util.find_spec("torch") is None:
        pytest.skip("this snippet needs torch (the 'torch' extra)")
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
