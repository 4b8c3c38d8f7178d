"""Sphinx configuration of the skmtl documentation site.

Build it with ``make docs`` (offline; warnings are errors, references are
checked in nitpicky mode). The pages in ``docs/*.md`` stay Markdown (MyST);
the API reference is generated from the numpydoc docstrings of every name in
each public subpackage's ``__all__`` (pages written by :func:`write_api_pages`
at every build, so a new public name can never be missing); the gallery runs
the scripts of ``examples/`` with sphinx-gallery.
"""

import importlib
import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# The gallery runs in this process: one BLAS / torch thread keeps the build
# polite on a shared 2-core machine and its run times reproducible.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import skmtl  # noqa: E402

# numpydoc parses the raw class docstring once more for the signature, before
# docstring_for_numpydoc below turns skmtl's own sections (``Tasks and
# normalisation``) into rubrics; the rendered page keeps them.
warnings.filterwarnings("ignore", message="Unknown section", category=UserWarning)

project = "skmtl"
author = "The skmtl developers"
copyright = "2026, The skmtl developers"
version = release = skmtl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]

# ---------------------------------------------------------------- API pages
#: the public subpackages, in the order of the API reference
PUBLIC_MODULES = [
    "skmtl",
    "skmtl.linear_model",
    "skmtl.penalties",
    "skmtl.penalties.base",
    "skmtl.datafits",
    "skmtl.datafits.base",
    "skmtl.solvers",
    "skmtl.solvers.base",
    "skmtl.transfer",
    "skmtl.model_selection",
    "skmtl.metrics",
    "skmtl.pipeline",
    "skmtl.datasets",
    "skmtl.neural",
    "skmtl.base",
    "skmtl.demo",
]


def _home_module(obj):
    """The most specific public module whose ``__all__`` holds ``obj``.

    ``skmtl.MultiTaskRegressor`` is ``skmtl.linear_model.MultiTaskRegressor``:
    one object is described (indexed) once, on its home module's page, and
    listed, not indexed again, on the others (Sphinx warns on a duplicate).
    """
    homes = [
        name
        for name in PUBLIC_MODULES
        if any(
            getattr(importlib.import_module(name), n, None) is obj
            for n in importlib.import_module(name).__all__
        )
    ]
    return max(homes, key=len)


def api_page(module_name):
    """The reST text of the API page of one public module: its ``__all__``."""
    module = importlib.import_module(module_name)
    home = {n: _home_module(getattr(module, n)) for n in module.__all__}
    own = [n for n in module.__all__ if home[n] == module_name]
    alias = [n for n in module.__all__ if home[n] != module_name]
    title = f"``{module_name}``"
    lines = [
        f".. _api-{module_name}:",
        "",
        title,
        "=" * len(title),
        "",
        f".. automodule:: {module_name}",
        "   :no-members:",
        "",
        f".. currentmodule:: {module_name}",
        "",
        ".. autosummary::",
        "   :toctree: generated/",
        "   :template: entry.rst",
        "",
    ]
    lines += [f"   {name}" for name in own]
    if alias:
        lines += [
            "",
            "Also here (documented with their home module):",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "   :template: alias.rst",
            "",
        ]
        lines += [f"   {name}" for name in alias]
    return "\n".join(lines) + "\n"


def write_api_pages(app=None):
    """Write ``docs/api/<module>.rst`` for every public module (and an index).

    Written only when the text changes, so that Sphinx does not rebuild
    unchanged pages.
    """
    api = DOCS / "api"
    api.mkdir(exist_ok=True)
    pages = {f"{name}.rst": api_page(name) for name in PUBLIC_MODULES}
    pages["index.rst"] = "\n".join(
        [
            "API reference",
            "=============",
            "",
            "Every public class, function and constant of skmtl, one page per",
            "subpackage, generated from the numpydoc docstrings. Each",
            "subpackage's ``__all__`` is the list shown.",
            "",
            ".. toctree::",
            "   :maxdepth: 1",
            "",
            *[f"   {name}" for name in PUBLIC_MODULES],
            "",
        ]
    )
    for name, text in pages.items():
        path = api / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)


write_api_pages()

# the API pages by name: Sphinx's list of documents, which autosummary reads
# by default, is the previous build's in an incremental build, and would miss
# the page of a new subpackage
autosummary_generate = [f"api/{name}.rst" for name in PUBLIC_MODULES]
autosummary_imported_members = True
# undocumented public methods are listed too: they are protocol methods that
# the docstrings refer to (TaskWeighting.initialize, CSRBatch.rows)
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "member-order": "bysource",
}
autodoc_typehints = "none"
# numpydoc lists the methods in a table of its own; the autosummary template
# already documents them, so a second list would repeat every method.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
# the docstrings' Examples sections are doctested by pytest already
numpydoc_validation_checks = set()

# Members that scikit-learn adds to every estimator (get_params, set_params,
# set_{fit,predict,score}_request, ...) and torch.nn.Module's hundred methods
# are documented by those projects; listing them here would only repeat them.
_FOREIGN_BASES = ("sklearn.", "torch.")


_NUMPYDOC_SECTIONS = {
    "Parameters", "Returns", "Yields", "Receives", "Other Parameters",
    "Raises", "Warns", "Warnings", "See Also", "Notes", "References",
    "Examples", "Attributes", "Methods",
}  # fmt: skip


def docstring_for_numpydoc(app, what, name, obj, options, lines):
    """Two fixes to docstrings before numpydoc reads them (the sources stay).

    - A section numpydoc does not know (``Tasks and normalisation``) would be
      dropped with a warning; it becomes a rubric of the extended summary.
    - numpydoc writes a parameter's type line as reST, where a fitted
      attribute's name such as ``n_features_in_`` in ``ndarray of shape
      (n_features_in_,)`` is a reference to a missing target: it is quoted.
    """
    for i in range(len(lines) - 1):
        head, rule = lines[i].strip(), lines[i + 1].strip()
        if (
            head
            and head not in _NUMPYDOC_SECTIONS
            and set(rule) == {"-"}
            and len(rule) == len(head)
        ):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i], lines[i + 1] = f"{indent}.. rubric:: {head}", ""
        if _TYPE_LINE.match(lines[i]):
            lines[i] = _ATTRIBUTE_NAME.sub(r"``\1``", lines[i])


_TYPE_LINE = re.compile(r"^\s*\*{0,2}\w+\s:\s")
# a bare name ending in "_" in a type, e.g. the shape "(n_features_in_,)"
_ATTRIBUTE_NAME = re.compile(r"(?<=[(\s])(?<!`)([A-Za-z]\w*_)(?=[,)])")


def _torch_module_members():
    try:
        import torch
    except ImportError:
        return set()
    return set(dir(torch.nn.Module))


_TORCH_MODULE_MEMBERS = _torch_module_members()


def skip_foreign_members(app, what, name, obj, skip, options):
    if name.startswith("set_") and name.endswith("_request"):
        return True
    # ``forward`` of an skmtl torch module without a docstring of its own
    # would show torch's generic ``Module.forward`` text
    if name in _TORCH_MODULE_MEMBERS and getattr(obj, "__doc__", "") is None:
        return True
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.startswith(_FOREIGN_BASES):
        return True
    return None


# ------------------------------------------------------ nitpicky references
# There is no network at build time, so intersphinx (which downloads the
# inventories of numpy, scipy, scikit-learn and torch) cannot be used. The
# docstrings' references to those projects are therefore not linked, and
# these patterns tell nitpicky mode that they are external on purpose. Every
# reference to an skmtl name must resolve: none of these patterns matches one.
_EXTERNAL = r"(numpy|np|scipy|sklearn|torch|torchjd|pandas|pd|joblib|dask|tqdm|cvxpy)"
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL + r"(\..*)?"),
    # Python's own types, spelled as numpydoc types, without intersphinx
    (
        r"py:.*",
        r"(int|float|str|bool|dict|list|tuple|callable|object|None|type|bytes|"
        r"BaseException|Exception|ValueError|TypeError|KeyError|FileNotFoundError|ImportError|"
        r"RuntimeError|NotImplementedError|UserWarning|Path|os\.PathLike|"
        r"pathlib\.Path|collections\.abc\..*|typing\..*)",
    ),
]

# ------------------------------------------------------------------- gallery
# Examples that read the local data files: executed only where the file is
# found (CI and this machine hold ../shared/data), otherwise rendered without
# their output, so that a fresh clone without the data still builds.
_DATA_EXAMPLES = {  # file -> the word after the number: plot_01_school_...
    "school.mat": "school",
    "20news-bydate.tar.gz": "20ng",
}


def _data_found(filename):
    # the folders the loaders search, in their order (private, but ours)
    from skmtl.datasets._base import _candidate_dirs

    return any((folder / filename).exists() for folder in _candidate_dirs())


_missing = [word for f, word in _DATA_EXAMPLES.items() if not _data_found(f)]
if _missing:
    print(f"skmtl docs: data not found, not running the examples {_missing}")
_run = r"/plot_" + (rf"(?!\d+_({'|'.join(_missing)})_)" if _missing else "")

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": _run,
    # examples/ also holds scripts that are not gallery pages: the streaming
    # example reads the whole archive (docs/incremental.md shows it)
    "ignore_pattern": r"__init__\.py|stream_20newsgroups\.py",
    # the reading order: the files are numbered
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "plot_gallery": "True",
    "reset_modules": ("matplotlib", "seaborn"),
    "show_memory": False,
    # a failing example fails the build (its traceback is the error)
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# -------------------------------------------------------------------- MyST
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# ------------------------------------------------------------------- theme
html_theme = "pydata_sphinx_theme"
html_title = f"skmtl {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path = []
html_show_sourcelink = False
html_copy_source = False


def _aliases():
    """``{name: home name}`` for every public name listed away from home."""
    aliases = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            home = _home_module(getattr(module, name))
            if home != module_name:
                aliases[f"{module_name}.{name}"] = f"{home}.{name}"
    return aliases


ALIASES = _aliases()


def resolve_alias(app, env, node, contnode):
    """Link ``skmtl.MultiTaskRegressor`` (and its members) to its home page.

    A re-exported object is indexed once, under its home module (see
    :func:`_home_module`); a reference through another public name, the
    one users write, is sent there instead of being reported missing.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    context = [node.get("py:module"), node.get("py:class")]
    candidates = [target]
    if context[0]:
        candidates.append(f"{context[0]}.{target}")
        if context[1]:
            candidates.append(f"{context[0]}.{context[1]}.{target}")
    for candidate in candidates:
        for alias, home in ALIASES.items():
            if candidate == alias or candidate.startswith(alias + "."):
                new = home + candidate[len(alias) :]
                domain = env.get_domain("py")
                return domain.resolve_xref(
                    env,
                    node["refdoc"],
                    app.builder,
                    node["reftype"],
                    new,
                    node,
                    contnode,
                )
    return None


def setup(app):
    app.connect("missing-reference", resolve_alias)
    app.connect("autodoc-skip-member", skip_foreign_members)
    # before numpydoc's own handler (priority 500)
    app.connect("autodoc-process-docstring", docstring_for_numpydoc, priority=100)
