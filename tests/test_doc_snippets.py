"""Every ```python block of docs/*.md runs on its own, as a user copies it.

``pytest docs/`` doctests each page as one file, so a block may silently use
names defined by an earlier block of the same page. Here each block runs alone
in a fresh namespace: blocks with ``>>>`` prompts as doctests (same checker and
option flags as the page doctests, from setup.cfg), other blocks with ``exec``.
"""

import doctest
import importlib.util
import re
from pathlib import Path

import pytest
from _pytest.doctest import _get_checker, get_optionflags

from .conftest import ARCHIVE, SHARED_DATA

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", flags=re.S | re.M)
SCHOOL = SHARED_DATA / "school.mat"
# Names whose presence in a block means it reads a data file, and that file.
DATA_USES = {
    "fetch_20newsgroups": ARCHIVE,
    "compare_newsgroups": ARCHIVE,
    "load_school": SCHOOL,
}


def _blocks():
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        for index, match in enumerate(FENCE.finditer(text)):
            line = text.count("\n", 0, match.start(1)) + 1
            yield page, index, line, match.group(1)


BLOCKS = list(_blocks())


HAS_TORCH = importlib.util.find_spec("torch") is not None


def _param(page, index, line, code):
    marks = [
        pytest.mark.skipif(
            not HAS_TORCH,
            reason=f"{page.name} block {index} needs torch (the 'torch' extra)",
        )
        for _ in [None]
        if "skmtl.neural" in code or "import torch" in code or '"torch"' in code
    ] + [
        pytest.mark.skipif(
            not path.is_file(),
            reason=f"{page.name} block {index} needs {path.name}, not found at {path}",
        )
        for name, path in DATA_USES.items()
        if name in code
    ]
    return pytest.param(
        page, line, code, id=f"{page.stem}-{index}-line{line}", marks=marks
    )


def test_docs_have_snippets():
    assert len(BLOCKS) > 20


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.stem)
def test_every_doctest_example_is_in_a_python_block(page):
    """A ``>>>`` example outside a ```python block would escape the tests below."""
    parser = doctest.DocTestParser()
    text = page.read_text()
    in_blocks = sum(len(parser.get_examples(m.group(1))) for m in FENCE.finditer(text))
    assert len(parser.get_examples(text)) == in_blocks


@pytest.mark.parametrize("page, line, code", [_param(*b) for b in BLOCKS])
def test_doc_snippet_runs_on_its_own(page, line, code, pytestconfig, data_home):
    name = f"{page.name}:{line}"
    globs = {"__name__": "__doc_snippet__"}
    if ">>>" not in code:
        exec(compile(code, name, "exec"), globs)
        return
    test = doctest.DocTestParser().get_doctest(code, globs, name, str(page), line - 1)
    runner = doctest.DocTestRunner(
        checker=_get_checker(), optionflags=get_optionflags(pytestconfig)
    )
    report = []
    result = runner.run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)
