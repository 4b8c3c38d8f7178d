"""Collection rules for the whole repository (tests, doctests of skmtl and docs).

The neural wing needs torch, an optional dependency: without it, its modules
and its documentation page are not collected (their tests skip through
``pytest.importorskip``), so that ``pytest`` passes on an install without the
``torch`` extra. CI installs torch and runs all of them.
"""

import importlib.util

# The documentation site's configuration and what `make docs` generates (the
# gallery's copies of examples/*.py would run on import) are not tests.
collect_ignore = ["docs/conf.py"]
collect_ignore_glob = ["docs/_build/*", "docs/api/*", "docs/auto_examples/*"]
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob += [
        "skmtl/neural/*",
        "docs/neural.md",
        "docs/neural_transfer.md",
    ]
