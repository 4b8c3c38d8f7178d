"""Collection rules for the whole repository (tests, doctests of skmtl and docs).

The neural wing needs torch, an optional dependency: without it, its modules
and its documentation page are not collected (their tests skip through
``pytest.importorskip``), so that ``pytest`` passes on an install without the
``torch`` extra. CI installs torch and runs all of them.
"""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob += [
        "skmtl/neural/*",
        "docs/neural.md",
        "docs/neural_transfer.md",
    ]
