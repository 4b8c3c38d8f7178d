"""The documentation site, as a reader sees it (``make docs`` builds it).

- every public module (one with an ``__all__``) has an API page, and every
  name of its ``__all__`` a generated page in the built site;
- every internal link and image of the built HTML resolves (file and anchor);
- the front page and a gallery page render in headless Chromium.

The checks of the built site skip when ``docs/_build/html`` is absent (a
fresh clone: ``make test`` runs before ``make docs``) or older than the
sources; ``make docs`` runs this file after each build.
"""

import importlib
import pkgutil
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import skmtl

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"
CONF = DOCS / "conf.py"


def _public_modules():
    """The modules of docs/conf.py's ``PUBLIC_MODULES`` (read, not imported:
    conf.py writes the API pages when imported)."""
    text = CONF.read_text()
    block = re.search(r"PUBLIC_MODULES = \[(.*?)\]", text, flags=re.S).group(1)
    return re.findall(r'"([\w.]+)"', block)


def _built_and_fresh():
    # `make docs` touches this stamp after each successful build
    stamp = HTML / ".built"
    if not stamp.is_file():
        return False, f"the site is not built ({stamp} absent): run `make docs`"
    built = stamp.stat().st_mtime
    sources = [*ROOT.glob("skmtl/**/*.py"), *DOCS.glob("*.md"), CONF]
    sources += list((ROOT / "examples").glob("*.py"))
    newer = [p for p in sources if p.stat().st_mtime > built]
    if newer:
        return False, f"the built site is older than {newer[0]}: run `make docs`"
    return True, ""


BUILT, WHY_NOT = _built_and_fresh()
needs_site = pytest.mark.skipif(not BUILT, reason=WHY_NOT)


def test_every_public_module_has_an_api_page():
    """A new public module (any module of skmtl with an ``__all__``) must be
    added to the API reference's list."""
    listed = set(_public_modules())
    missing = []
    for info in pkgutil.walk_packages(skmtl.__path__, "skmtl."):
        name = info.name
        if name in listed or any(p.startswith("_") for p in name.split(".")):
            continue
        if name.startswith("skmtl.neural."):
            continue  # needs torch; its modules are private
        if hasattr(importlib.import_module(name), "__all__"):
            missing.append(name)
    assert not missing, f"add {missing} to PUBLIC_MODULES in docs/conf.py"


def _page(module, name):
    return HTML / "api" / "generated" / f"{module}.{name}.html"


@needs_site
@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_name_has_a_page(module_name):
    if module_name == "skmtl.neural":
        pytest.importorskip("torch")
    module = importlib.import_module(module_name)
    listing = (HTML / "api" / f"{module_name}.html").read_text()
    missing = [n for n in module.__all__ if not _page(module_name, n).is_file()]
    assert not missing, f"no API page for {module_name}.{missing}"
    for name in module.__all__:
        # the module's page links to it, and the page documents the object
        assert f'href="generated/{module_name}.{name}.html' in listing, name
        page = _page(module_name, name).read_text()
        assert f">{name}<" in page or f'id="{module_name}.{name}"' in page, name


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "link", "script", "source"):
                self.refs.append((tag, attrs[key]))


def _parse(path, cache={}):  # noqa: B006 (a cache per process, on purpose)
    if path not in cache:
        parser = _Links()
        parser.feed(path.read_text(errors="replace"))
        cache[path] = parser
    return cache[path]


@needs_site
def test_internal_links_and_images_resolve():
    # the pages (not the theme's template files copied under _static/)
    pages = sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts)
    assert len(pages) > 50
    broken = []
    for page in pages:
        for tag, ref in _parse(page).refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith(("//", "mailto:", "data:")):
                continue  # external: nothing to check offline
            target = (
                (page.parent / unquote(parts.path)).resolve() if parts.path else page
            )
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(HTML)}: <{tag}> {ref}")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target).ids:
                    broken.append(f"{page.relative_to(HTML)}: <{tag}> {ref} (anchor)")
    assert not broken, "\n".join(broken[:30])


@needs_site
def test_gallery_pages_show_their_plots():
    gallery = sorted((HTML / "auto_examples").glob("plot_*.html"))
    assert len(gallery) >= 9
    # docs/conf.py runs the examples that read a data file only where it is
    # found (the others are rendered without output)
    from skmtl.datasets._base import _candidate_dirs

    data = {"school": "school.mat", "20ng": "20news-bydate.tar.gz"}
    for page in gallery:
        needs = [f for w, f in data.items() if re.match(rf"plot_\d+_{w}_", page.name)]
        if any(not any((d / f).exists() for d in _candidate_dirs()) for f in needs):
            continue
        images = [r for t, r in _parse(page).refs if t == "img" and "sphx_glr" in r]
        assert images, f"{page.name} shows no plot"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@needs_site
@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed")
@pytest.mark.parametrize(
    "page", ["index.html", "auto_examples/plot_01_school_multitask.html"]
)
def test_page_renders_in_chromium(page, tmp_path):
    """A screenshot of the page is not blank: the theme's CSS and the
    page's images loaded."""
    image = pytest.importorskip("matplotlib.image")
    if not (HTML / page).is_file():
        pytest.skip(f"{page} not built (its data file was not found)")
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1600",
            f"--screenshot={shot}",
            (HTML / page).as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    # a rendered page has text and figures: many distinct grey levels, and
    # neither all white nor all one colour
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05
    assert len(set((grey * 255).astype(int).ravel().tolist())) > 50
