"""The book: it builds with the shipped models, its cache stays fresh, its pages work in a browser, its links and
notebook twins are right, and a chapter's first cell installs the package without touching torch.

Builds run in temporary copies of the checkout (``PYTHONPATH`` points at the copy, so the build and its kernels
import the copy's package). One session-wide build (plus a rebuild) is shared by the page, link and browser
tests; the cache test continues from a copy of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from html import unescape
from urllib.parse import unquote

import pytest

from helpers import copy_repository

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "book" / "_ext"))
import fml_book  # noqa: E402  (the book's own extension, also a small library)

# Builds take minutes on 2 cores; the session build is charged to whichever test first asks for it.
pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Jupyter Book 1 declares this constant in two scripts on every page; harmless, and the only message allowed.
ALLOWED_CONSOLE = ("THEBE_JS_URL",)


# --------------------------------------------------------------------------------------------- helpers


def copy_checkout(dest: Path) -> Path:
    """Copy the checkout's files (tracked and untracked, not ignored) to ``dest``: the copier in tests/helpers.py."""
    return copy_repository(REPO, dest)


def keep_one_chapter(root: Path) -> Path:
    """Cut the copy's table of contents down to the introduction, the first chapter and the references.

    The cache tests need one notebook, not the whole book: each of their builds then executes one chapter.
    """
    first = fml_book.chapter_files(root)[0].relative_to(root).with_suffix("").as_posix()
    pages = [p.relative_to(root).with_suffix("").as_posix() for p in fml_book.toc_files(root)]
    rest = [p for p in pages[1:] if p == first or (root / (p + ".md")).is_file() and "kernelspec" not in fml_book.front_matter(root / (p + ".md"))]
    toc = "format: jb-book\nroot: " + pages[0] + "\nchapters:\n" + "".join(f"  - file: {p}\n" for p in rest)
    (root / "_toc.yml").write_text(toc)
    assert [p.relative_to(root).with_suffix("").as_posix() for p in fml_book.chapter_files(root)] == [first]
    return root


@dataclass
class Build:
    returncode: int
    output: str
    executed: int
    executed_notebooks: list[str]

    @property
    def warnings(self) -> list[str]:
        """Sphinx warnings (lines with 'WARNING:'); kernel start-up chatter on stderr is not one."""
        return [line for line in self.output.splitlines() if "WARNING:" in line]


def build_book(root: Path, cache_home: Path, profile: str | None = None, extra_env: dict[str, str] | None = None) -> Build:
    """Run README's build command (``jupyter-book build .``) in ``root``; parse the executed-notebook report.

    ``profile=None`` builds what readers see: the shipped models; a profile name trains at that profile.
    """
    # GitHub Actions' GITHUB_REPOSITORY and GITHUB_SHA would point the links at the repository running the tests;
    # these builds link to _config.yml's setting (a test below builds a fork's site on purpose).
    env = {k: v for k, v in os.environ.items() if k not in (
        "MPLBACKEND", "FUNDAMENTALML_PROFILE", "GITHUB_REPOSITORY", "GITHUB_SHA", "FUNDAMENTALML_LAUNCH_REF")}
    if profile is not None:
        env["FUNDAMENTALML_PROFILE"] = profile
    env.update(
        FUNDAMENTALML_OFFLINE="1",
        PYTHONPATH=str(root),
        XDG_CACHE_HOME=str(cache_home),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra_env or {})
    report_file = root / "_build" / ".fundamentalml" / "last-build.json"
    report_file.unlink(missing_ok=True)
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run(
        [str(jb), "build", "."], cwd=root, env=env, capture_output=True, text=True, timeout=1800
    )
    output = proc.stdout + proc.stderr
    match = re.search(r"fundamentalml-book: (\d+) notebook\(s\) executed", output)
    executed = int(match.group(1)) if match else -1
    notebooks = json.loads(report_file.read_text())["executed_notebooks"] if report_file.exists() else []
    return Build(proc.returncode, output, executed, notebooks)


def describe(build: Build) -> str:
    return f"exit {build.returncode}, executed {build.executed}\n" + build.output[-4000:]


@dataclass
class BookSite:
    root: Path
    cache_home: Path
    first: Build
    second: Build

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> BookSite:
    """The book built once from a fresh copy with the shipped models, then rebuilt with nothing changed."""
    root = copy_checkout(tmp_path_factory.mktemp("book") / "checkout")
    cache_home = tmp_path_factory.getbasetemp() / "xdg-cache"
    first = build_book(root, cache_home)
    second = build_book(root, cache_home) if first.returncode == 0 else first
    return BookSite(root, cache_home, first, second)


def chapters() -> list[Path]:
    return fml_book.chapter_files(REPO)


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def launch_links(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text())
    return [h for h in parser.hrefs if any(s in h for s in ("colab.research.google.com", "kaggle.com", "mybinder.org"))]


def check_launch_link(url: str) -> str:
    """Assert that a launch link names the configured repository and branch and an existing file; return the file."""
    repo_url, branch = fml_book.repository(fml_book.read_book_config(REPO))
    owner_name = repo_url.split("github.com/", 1)[1]
    url = unquote(url)
    if "colab.research.google.com" in url:
        m = re.fullmatch(rf"https://colab\.research\.google\.com/github/{re.escape(owner_name)}/blob/{re.escape(branch)}/(.+)", url)
    elif "kaggle.com" in url:
        m = re.fullmatch(rf"https://kaggle\.com/kernels/welcome\?src={re.escape(repo_url)}/blob/{re.escape(branch)}/(.+)", url)
    else:
        m = re.fullmatch(rf"https://mybinder\.org/v2/gh/{re.escape(owner_name)}/{re.escape(branch)}\?urlpath=(?:lab/)?tree/(.+)", url)
    assert m, f"{url} does not open {repo_url} at {branch}"
    path = m.group(1)
    assert (REPO / path).is_file(), f"{url} opens {path}, which is not in the checkout"
    if "mybinder.org" not in url:
        assert path.endswith(".ipynb"), f"Colab and Kaggle need a notebook, {url} opens {path}"
    return path


# --------------------------------------------------------------------------------------------- the build


def test_build_is_clean_and_a_rebuild_executes_nothing(book: BookSite) -> None:
    first, second = book.first, book.second
    assert first.returncode == 0, describe(first)
    assert first.executed == len(chapters()), describe(first)
    assert "Executing notebook failed" not in first.output
    assert first.warnings == [], "\n".join(first.warnings)
    assert second.returncode == 0, describe(second)
    assert second.executed == 0, describe(second)
    assert (book.html / "index.html").is_file()


def test_chapter_pages_say_how_they_were_computed(book: BookSite) -> None:
    for md in chapters():
        page = (book.html / md.relative_to(REPO)).with_suffix(".html").read_text()
        assert "How this page was computed" in page and "shipped weights" in page
        assert "Nothing trains while this page is built" in page and "trained while this page was built" not in page
        assert "data:image/png;base64," in page or "<img" in page
        # no dead widget: no live view is rendered, and every widget the notebook displayed has its stand-in
        assert "application/vnd.jupyter.widget-view+json" not in page
        executed = book.root / "_build" / "jupyter_execute" / md.relative_to(REPO).with_suffix(".ipynb")
        nb = json.loads(executed.read_text())
        widget_outputs = sum(
            "application/vnd.jupyter.widget-view+json" in o.get("data", {})
            for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
        )
        assert page.count('class="fml-standin"') == widget_outputs, md.name
        # nothing is loaded from a CDN (the site works offline); URLs inside inline scripts are not loads
        assert re.findall(r'<script[^>]*\ssrc="(?:https?:)?//[^"]*"', page) == []
        assert re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="(?:https?:)?//[^"]*"', page) == []


def test_chapters_show_the_packages_source_on_the_site(book: BookSite) -> None:
    """Each listing a chapter asks for is on the built page, highlighted, under its file and line numbers, and
    those lines are the file's lines now (a listing cannot drift from the code)."""
    from fundamentalml.listings import show_source

    for md in chapters():
        page = (book.html / md.relative_to(REPO)).with_suffix(".html").read_text()
        shown = re.findall(r'<figure class="fml-source"[^>]*aria-label="source of ([^"]+)"', page)
        if md.stem not in ("vae", "dcgan", "conditional"):
            continue
        assert len(shown) >= 6, f"{md.name}: only {len(shown)} listings on the page"
        captions = re.findall(r"&middot; (fundamentalml/[\w/]+\.py), lines (\d+)\u2013(\d+)</figcaption>", page)
        assert len(captions) == len(shown), md.name
        for path, first, last in captions:
            lines = (REPO / path).read_text().splitlines()[int(first) - 1:int(last)]
            assert lines and any(line.strip() for line in lines), f"{md.name}: {path} {first}-{last}"
        assert "fundamentalml.models.vae.reparameterize" in page or md.stem != "vae"
        assert "fundamentalml.models.dcgan.gan_update" in page or md.stem != "dcgan"
        assert show_source("fundamentalml.models.vae:VAE.batch_loss").caption.split(",")[0] == "fundamentalml/models/vae.py"


def test_every_launch_link_opens_a_file_of_the_configured_repository(book: BookSite) -> None:
    seen: dict[str, set[str]] = {}
    for page in html_pages(book.html):
        for url in launch_links(page):
            check_launch_link(url)
            seen.setdefault(page.relative_to(book.html).as_posix(), set()).add(url.split("/")[2])
    for md in chapters():
        name = md.relative_to(REPO).with_suffix(".html").as_posix()
        assert seen.get(name) == {"colab.research.google.com", "kaggle.com", "mybinder.org"}, (name, seen)


def test_figures_have_alt_text_and_the_set_up_cell_is_not_on_the_site(book: BookSite) -> None:
    """Every figure of a chapter carries alt text saying what it shows (from its PNG, written with the figure),
    and no page shows the set-up cell or its output."""
    images = 0
    for md in chapters():
        page = (book.html / md.relative_to(REPO)).with_suffix(".html").read_text()
        assert fml_book.INSTALL_BEGIN not in page and "already installed here" not in page, md.name
        for tag in re.findall(r"<img [^>]*>", page):
            src = re.search(r'src="([^"]+)"', tag).group(1)
            if "_images/" not in src or not src.endswith(".png"):
                continue  # badges and icons have their own alt text
            images += 1
            alt = unescape(re.search(r'alt="([^"]*)"', tag).group(1))
            assert alt.startswith("Figure") and len(alt) > 30 and not alt.endswith(".png"), f"{md.name}: {tag[:200]}"
    assert images >= len(chapters())


def test_a_forks_site_links_to_the_fork_at_the_commit_built(book: BookSite, tmp_path: Path) -> None:
    """Built by GitHub Actions in a fork (GITHUB_REPOSITORY, and the commit of the pinned notebooks), every launch
    link, badge and clone command names the fork at that commit; nothing executes again."""
    root = tmp_path / "fork"
    shutil.copytree(book.root, root, symlinks=True)
    sha = "0123456789abcdef0123456789abcdef01234567"
    build = build_book(root, book.cache_home, extra_env={"GITHUB_REPOSITORY": "someone/fork", "FUNDAMENTALML_LAUNCH_REF": sha})
    assert build.returncode == 0 and build.executed == 0, describe(build)
    html = root / "_build" / "html"
    found = 0
    for page in html_pages(html):
        for url in launch_links(page):
            found += 1
            url = unquote(url)
            assert "someone/fork" in url and sha in url and "fundamentalml/fundamentalml" not in url, url
    assert found >= 3 * len(chapters())
    exercises = (html / "book" / "exercises.html").read_text()
    assert "git clone --depth 1 https://github.com/someone/fork fundamentalml" in unescape(re.sub(r"<[^>]+>", "", exercises))


def test_cell_errors_fail_the_build(book: BookSite, tmp_path: Path) -> None:
    """A chapter whose cell raises must fail the build (no page with a traceback in it)."""
    root = keep_one_chapter(Path(shutil.copytree(book.root, tmp_path / "broken", ignore=shutil.ignore_patterns("_build"))))
    md = fml_book.chapter_files(root)[0]
    text = md.read_text()
    broken = fml_book.synced_markdown(text, fml_book.INSTALL_BEGIN + "\nraise RuntimeError('boom')\n" + fml_book.INSTALL_END)
    md.write_text(broken)
    build = build_book(root, book.cache_home)
    assert build.returncode != 0, describe(build)
    assert not (root / "_build" / "html" / md.relative_to(root).with_suffix(".html")).exists()


# --------------------------------------------------------------------------------------------- browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_page_works_in_chromium(book: BookSite) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    shots = book.root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    chapter_pages = {md.relative_to(REPO).with_suffix(".html").as_posix() for md in chapters()}
    with serve(book.html) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:120]}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url[:120]}"))
            for html in html_pages(book.html):
                rel = html.relative_to(book.html).as_posix()
                problems.clear()
                redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', html.read_text())
                if redirect:  # the root index.html only forwards to the first page
                    page.goto(f"{base}{rel}")
                    page.wait_for_url(f"**/{redirect.group(1)}")
                    page.screenshot(path=str(shots / (rel.replace("/", "_") + ".png")))
                    continue
                page.goto(f"{base}{rel}", wait_until="load")
                page.wait_for_load_state("networkidle")
                broken = page.evaluate(
                    """async () => {
                        const imgs = [...document.images];
                        imgs.forEach(i => { i.loading = 'eager'; });
                        await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
                        return imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.src.slice(0, 100));
                    }"""
                )
                assert broken == [], f"{rel}: images that did not load: {broken}"
                if rel in chapter_pages:
                    _check_launch_menu(page, rel)
                    _check_standins(page, rel)
                page.screenshot(path=str(shots / (rel.replace("/", "_") + ".png")), full_page=True)
                real = [m for m in problems if not any(a in m for a in ALLOWED_CONSOLE)]
                assert real == [], f"{rel}: {real}"
            browser.close()
    assert len(list(shots.glob("*.png"))) == len(html_pages(book.html))


def _check_launch_menu(page, rel: str) -> None:
    """Open the rocket menu and check its Binder, Colab and Kaggle links."""
    page.click(".dropdown-launch-buttons button")
    links = page.locator(".dropdown-launch-buttons .dropdown-menu a")
    links.first.wait_for(state="visible")
    found = {}
    for i in range(links.count()):
        link = links.nth(i)
        assert link.is_visible(), f"{rel}: launch link {i} hidden after opening the menu"
        found[link.inner_text().strip()] = link.get_attribute("href")
    assert {"Binder", "Colab", "Kaggle"} <= set(found), f"{rel}: rocket menu has {sorted(found)}"
    for url in found.values():
        check_launch_link(url)
    page.keyboard.press("Escape")


def _check_standins(page, rel: str) -> None:
    """Every widget stand-in on the page is visible and responds to its buttons and slider."""
    standins = page.locator(".fml-standin")  # how many there must be: test_chapter_pages_say_how_they_were_computed
    for i in range(standins.count()):
        box = standins.nth(i)
        box.scroll_into_view_if_needed()
        assert box.is_visible(), f"{rel}: stand-in {i} is not visible"

        def shown() -> list[str]:
            return box.evaluate("b => [...b.querySelectorAll('img[data-key]')].filter(i => i.style.display !== 'none').map(i => i.dataset.key)")

        assert len(shown()) == 1
        slider = box.locator("input[type=range]")
        slider.evaluate("s => { s.value = 0; s.dispatchEvent(new Event('input', {bubbles: true})); }")
        assert shown() == ["0/0"], f"{rel}: the slider does not change the frame"
        radios = box.locator("input[type=radio]")
        if radios.count() > 1:
            radios.nth(1).check()
            assert shown() == ["1/0"], f"{rel}: the model buttons do not change the frame"


# --------------------------------------------------------------------------------------------- live panels


LIVE_LOADS = ("onnxruntime-web/", "_static/fml-live/")  # what only an opened panel may fetch (runtime, models)


@contextmanager
def serve(site: Path):
    """Serve ``site`` on a free local port; yield its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _canvas_images(locator) -> "np.ndarray":
    """The images on a panel's canvas, read back from its pixels: ``(n, C, H, W)`` in [0, 1] (C = 1 for grey)."""
    import numpy as np

    got = locator.evaluate(
        "c => ({w: c.width, h: c.height, px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"
    )
    rgb = np.asarray(got["px"], dtype=np.float32).reshape(got["h"], got["w"], 4)[..., :3] / 255
    h = got["h"]
    n = got["w"] // h
    images = rgb.reshape(h, n, h, 3).transpose(1, 3, 0, 2)  # (n, 3, H, W): square images side by side
    grey = np.allclose(images[:, 0], images[:, 1]) and np.allclose(images[:, 0], images[:, 2])
    return images[:, :1] if grey else images


def _wait_drawn(panel, canvas: str, before: int) -> None:
    panel.page.wait_for_function(
        "([p, sel, n]) => Number(p.querySelector(sel).dataset.draws || 0) > n && !p.fmlPanel.busy "
        "|| p.querySelector('.fml-live-status').dataset.state === 'error'",
        arg=[panel.element_handle(), canvas, before], timeout=120_000,
    )
    status = panel.locator(".fml-live-status")
    assert status.get_attribute("data-state") == "ready", status.inner_text()


def _draws(panel, canvas: str) -> int:
    return int(panel.locator(canvas).get_attribute("data-draws") or 0)


def _check_js_paths_follow_the_package(page) -> None:
    """The page's lerp/slerp give the codes of fundamentalml.models.latent (random, opposite, parallel codes)."""
    import torch

    from fundamentalml.models.latent import interpolate_latents

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, generator=gen, dtype=torch.float64), torch.randn(20, generator=gen, dtype=torch.float64)
    for za, zb in ((a, b), (a, -a), (a, 3 * a), (a, -2 * a + 1e-9)):
        for method in ("linear", "slerp"):
            want = interpolate_latents(za, zb, 11, method)
            got = page.evaluate(
                "([a, b, m]) => Array.from({length: 11}, (_, k) => Array.from(fmlLive.interpolate(a, b, k / 10, m)))",
                [za.tolist(), zb.tolist(), method],
            )
            assert torch.allclose(torch.tensor(got, dtype=torch.float64), want, atol=1e-5), (method, za[:3], zb[:3])


def need_chromium_and_a_built_book(book: BookSite) -> None:
    """Skip (or, on CI, fail) without Debian's chromium; fail when the book did not build."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    assert book.first.returncode == 0, describe(book.first)


def test_live_panels_run_the_shipped_models_in_chromium(book: BookSite) -> None:
    """Every live panel opens, loads only from the site, draws new samples on each click, slides between two
    codes, and (conditional chapter) draws the digit asked for, as the reference classifier reads it."""
    need_chromium_and_a_built_book(book)
    import numpy as np
    import torch
    from playwright.sync_api import sync_playwright

    from fundamentalml.registry import JUDGE
    from fundamentalml.runs import pretrained

    judge = pretrained(JUDGE).model.eval()
    shots = book.root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    panels_seen: dict[str, int] = {}
    with serve(book.html) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        for md in chapters():
            rel = md.relative_to(REPO).with_suffix(".html").as_posix()
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            sizes: dict[str, int] = {}
            problems: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: sizes.__setitem__(r.url, int(r.headers.get("content-length", 0))))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.goto(base + rel, wait_until="load")
            page.wait_for_load_state("networkidle")
            panels = page.locator("details.fml-live:not([data-mode^=draw])")  # draw panels: test_draw_panels_in_chromium
            panels_seen[rel] = panels.count()
            assert not [u for u in requests if any(s in u for s in LIVE_LOADS) and not u.endswith("models.json")], \
                f"{rel}: the runtime or a model loaded before any panel was opened"
            if panels.count():
                _check_js_paths_follow_the_package(page)
            for i in range(panels.count()):
                panel = panels.nth(i)
                panel.scroll_into_view_if_needed()
                assert panel.is_visible(), f"{rel}: live panel {i} stays hidden with scripts on"
                assert "MB" in panel.locator(".fml-live-size").inner_text(), f"{rel}: the panel does not say its size"
                loaded_before = set(sizes)
                panel.locator("summary").click()
                _wait_drawn(panel, ".fml-live-samples", 0)
                open_ms = float(panel.get_attribute("data-last-ms"))
                opened = {u: n for u, n in sizes.items() if u not in loaded_before}
                first = _canvas_images(panel.locator(".fml-live-samples"))
                assert first.std() > 0.05, f"{rel}: the samples canvas is blank after opening"
                # two clicks: two new sets of samples, each different from the one before
                seen = [first]
                timings = []
                for _ in range(2):
                    n = _draws(panel, ".fml-live-samples")
                    panel.locator("button.fml-live-sample").click()
                    _wait_drawn(panel, ".fml-live-samples", n)
                    timings.append(float(panel.get_attribute("data-last-ms")))
                    seen.append(_canvas_images(panel.locator(".fml-live-samples")))
                    assert np.abs(seen[-1] - seen[-2]).max() > 0.2, f"{rel}: a click drew the same samples again"
                mode = panel.get_attribute("data-mode")
                entry = {"mode": mode, "opened_bytes": sum(opened.values()), "opened_files": {u.split("/")[-1]: n for u, n in opened.items()},
                         "open_to_image_ms": open_ms, "click_to_image_ms": timings}
                if mode == "latent":
                    entry["path"] = _check_latent_slider(panel, rel)
                else:
                    entry["accuracy"] = _check_conditional_digits(panel, rel, judge)
                panel.screenshot(path=str(shots / f"live-{md.stem}-{i}.png"))
                report[f"{rel}#{i}"] = entry
            off_site = [u for u in requests if not u.startswith((base, "data:", "blob:"))]
            assert off_site == [], f"{rel}: requests left the site: {off_site[:5]}"
            real = [m for m in problems if not any(a in m for a in ALLOWED_CONSOLE)]
            assert real == [], f"{rel}: {real}"
            page.close()
        _check_fallbacks(browser, base)
        browser.close()
    assert all(panels_seen.values()) and sum(panels_seen.values()) >= 3, panels_seen
    (book.root / "_build" / "live-report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def _check_fallbacks(browser, base: str) -> None:
    """Scripts off: no live panel shows, the stand-ins do. Runtime missing: the panel says so, the stand-ins work."""
    rel = next(md for md in chapters() if md.stem == "vae").relative_to(REPO).with_suffix(".html").as_posix()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base + rel, wait_until="load")
    assert page.locator(".fml-standin").first.is_visible()
    assert page.locator("details.fml-live").count() >= 1 and not page.locator("details.fml-live").first.is_visible()
    context.close()
    page = browser.new_page()
    page.route("**/onnxruntime-web/**", lambda route: route.abort())
    page.goto(base + rel, wait_until="load")
    panel = page.locator("details.fml-live").first
    panel.locator("summary").click()
    status = panel.locator(".fml-live-status")
    page.wait_for_function("s => s.dataset.state === 'error'", arg=status.element_handle(), timeout=60_000)
    assert "pre-rendered" in status.inner_text()
    _check_standins(page, rel)
    page.close()


def _check_latent_slider(panel, rel: str) -> dict:
    """The mix slider: 0 draws the start code, 1 the end code, and half-way the two paths differ."""
    import numpy as np

    path = panel.locator(".fml-live-path")

    def set_mix(value: int) -> "np.ndarray":
        n = _draws(panel, ".fml-live-path")
        panel.locator("input.fml-live-mix").evaluate(
            f"s => {{ s.value = {value}; s.dispatchEvent(new Event('input', {{bubbles: true}})); }}"
        )
        _wait_drawn(panel, ".fml-live-path", n)
        return _canvas_images(path)

    def choose_path(method: str) -> "np.ndarray":
        n = _draws(panel, ".fml-live-path")
        panel.locator(f"[aria-label=path] input[value={method}]").check()
        _wait_drawn(panel, ".fml-live-path", n)
        return _canvas_images(path)

    start = set_mix(0)
    assert np.abs(start[1] - start[0]).max() <= 1 / 255, f"{rel}: at mix 0 the middle image is not the start code's"
    end = set_mix(100)
    assert np.abs(end[1] - end[2]).max() <= 1 / 255, f"{rel}: at mix 1 the middle image is not the end code's"
    assert np.abs(end[1] - start[1]).max() > 0.2, f"{rel}: the start and end codes draw the same image"
    # new end points: two codes from the prior (nearly orthogonal in 20 or 100 dimensions, so the paths part)
    n = _draws(panel, ".fml-live-path")
    panel.locator("button.fml-live-ends").click()
    _wait_drawn(panel, ".fml-live-path", n)
    assert np.abs(_canvas_images(path)[0] - end[0]).max() > 0.2, f"{rel}: new end points kept the old start"
    half_linear = set_mix(50)
    half_slerp = choose_path("slerp")
    assert np.abs(half_slerp[1] - half_linear[1]).max() > 0.02, f"{rel}: slerp and lerp draw the same half-way image"
    choose_path("linear")
    return {"half_way_difference_slerp_vs_linear": float(np.abs(half_slerp[1] - half_linear[1]).max())}


def _check_conditional_digits(panel, rel: str, judge) -> dict:
    """For each model and digit: the reference classifier reads the samples on the canvas as that digit, mostly."""
    import torch

    models = panel.locator("[aria-label=model] input")
    accuracy = {}
    for m in range(max(1, models.count())):
        if models.count() and not models.nth(m).is_checked():
            n = _draws(panel, ".fml-live-samples")
            models.nth(m).check()
            _wait_drawn(panel, ".fml-live-samples", n)
        name = models.nth(m).get_attribute("value") if models.count() else "model"
        right = []
        for digit in range(10):
            n = _draws(panel, ".fml-live-samples")
            radio = panel.locator(f"[aria-label=digit] input[value='{digit}']")
            if radio.is_checked():  # already chosen: a click draws anew
                panel.locator("button.fml-live-sample").click()
            else:
                radio.check()
            _wait_drawn(panel, ".fml-live-samples", n)
            images = torch.from_numpy(_canvas_images(panel.locator(".fml-live-samples")))
            assert images.shape[1:] == (1, 28, 28), images.shape
            read = judge.predict(images).tolist()
            right.append(sum(r == digit for r in read) / len(read))
            assert right[-1] > 0.5, f"{rel}: {name} asked for {digit}, the classifier read {read}"
        accuracy[name] = sum(right) / len(right)
        assert accuracy[name] >= 0.9, f"{rel}: {name}: the classifier reads the chosen digit in only {accuracy[name]:.0%}"
    return accuracy


# --------------------------------------------------------------------------------------------- draw a digit


def _runs(panel) -> int:
    return int(panel.get_attribute("data-runs") or 0)


def _wait_run(panel, before: int) -> dict:
    """Wait until the panel finished a run after ``before``; return what it computed (``fmlPanel.last``)."""
    panel.page.wait_for_function(
        "([p, n]) => Number(p.dataset.runs || 0) > n && !p.fmlPanel.busy "
        "|| p.querySelector('.fml-live-status').dataset.state === 'error'",
        arg=[panel.element_handle(), before], timeout=120_000,
    )
    status = panel.locator(".fml-live-status")
    assert status.get_attribute("data-state") == "ready", status.inner_text()
    return panel.evaluate("p => p.fmlPanel.last")


def _draw(panel, strokes, pointer: str) -> None:
    """Draw ``strokes`` (pad pixels) on the pad: real mouse input, or pen/touch pointer events dispatched."""
    pad = panel.locator("canvas.fml-draw-pad")
    box = pad.bounding_box()
    page = panel.page
    for stroke in strokes:
        pts = [(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280) for x, y in stroke]
        if pointer == "mouse":
            page.mouse.move(*pts[0])
            page.mouse.down()
            for x, y in pts[1:]:
                page.mouse.move(x, y, steps=3)
            page.mouse.up()
        else:
            pad.evaluate(
                """(c, [pts, kind]) => {
                    const ev = (type, [x, y]) => c.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y,
                        pointerType: kind, pointerId: 7, isPrimary: true, bubbles: true, cancelable: true, buttons: 1}));
                    ev('pointerdown', pts[0]); pts.slice(1).forEach(p => ev('pointermove', p)); ev('pointerup', pts[pts.length - 1]);
                }""",
                [[list(p) for p in pts], pointer],
            )


def _open_draw_panel(page, mode: str, requests: list[str]):
    panel = page.locator(f"details.fml-live[data-mode={mode}]")
    assert panel.count() == 1, f"{mode}: {panel.count()} panels"
    panel.scroll_into_view_if_needed()
    assert panel.is_visible() and "MB" in panel.locator(".fml-live-size").inner_text()
    assert not [u for u in requests if any(s in u for s in LIVE_LOADS) and not u.endswith("models.json")], \
        f"{mode}: the runtime or a model loaded before the panel was opened"
    panel.locator("summary").click()
    page.wait_for_function("p => ['ready', 'error'].includes(p.querySelector('.fml-live-status').dataset.state)",
                           arg=panel.element_handle(), timeout=120_000)
    assert panel.locator(".fml-live-status").get_attribute("data-state") == "ready", panel.locator(".fml-live-status").inner_text()
    return panel


def test_draw_panels_in_chromium(book: BookSite) -> None:
    """Draw a digit: pointer input (mouse, pen, touch) gives drawing.py's preprocessing of the same strokes, the
    page's reconstructions and ELBO terms are torch's, the 2-D warm-up places the drawing as its exported encoder
    does, the buttons work from the keyboard, and the cVAE's ten decodes of test digits read as the ten digits."""
    need_chromium_and_a_built_book(book)
    import numpy as np
    import onnxruntime as ort
    import torch
    from playwright.sync_api import sync_playwright

    from fundamentalml import drawing
    from fundamentalml.registry import JUDGE
    from fundamentalml.runs import pretrained

    judge = pretrained(JUDGE).model.eval()
    site = book.html / "_static" / "fml-live"
    manifest = json.loads((site / "models.json").read_text())
    assert manifest["warmup"]["encoder"]["max_abs_difference"] < 1e-4
    digits = np.frombuffer((site / manifest["digits"]["file"]).read_bytes(), dtype=np.uint8).reshape(10, 28, 28)
    shots = book.root / "_build" / "draw-screenshots"  # not screenshots/: test_every_page_works counts those
    shots.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    seven = [[(80, 60), (200, 60), (120, 240)], [(110, 150), (180, 150)]]
    four = [[(200, 30), (180, 150), (270, 150)], [(250, 60), (240, 275)]]
    with serve(book.html) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        for stem, mode in (("vae", "draw"), ("conditional", "draw-conditional")):
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            requests: list[str] = []
            sizes: dict[str, int] = {}
            problems: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: sizes.__setitem__(r.url, int(r.headers.get("content-length", 0))))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.goto(base + f"book/{stem}.html", wait_until="load")
            page.wait_for_load_state("networkidle")
            before = set(sizes)
            panel = _open_draw_panel(page, mode, requests)
            opened = {u.split("/")[-1]: n for u, n in sizes.items() if u not in before}
            entry = {"opened_bytes": sum(opened.values()), "opened_files": opened}
            if mode == "draw":
                for strokes, pointer in ((seven, "mouse"), (four, "pen"), (seven, "touch")):
                    panel.locator("button.fml-draw-clear").click()
                    n = _runs(panel)
                    _draw(panel, strokes, pointer)
                    last = _wait_run(panel, n)  # every stroke's run is requested before _draw returns: this is the last
                    got = panel.evaluate("p => p.fmlPanel.strokes")
                    assert len(got) == len(strokes) and all(abs(a[0][0] - b[0][0]) < 1.5 for a, b in zip(got, strokes)), (pointer, got)
                    want = drawing.preprocess(drawing.rasterise(got))
                    image = np.asarray(last["image"], np.float32).reshape(28, 28)
                    assert np.abs(image - want).max() < 1e-6, f"{pointer}: the page's preprocessing differs from drawing.py's"
                    preview = _canvas_images(panel.locator("canvas.fml-draw-preview"))[0, 0]
                    assert np.abs(preview - want).max() <= 1 / 255 + 1e-6
                    x = torch.from_numpy(image)[None, None]
                    for name in ("vae-mlp", "vae-cnn"):
                        model = pretrained(name).model.eval()
                        recon = model.reconstruct(x)
                        page_recon = torch.tensor(last["models"][name]["recon"]).reshape(1, 1, 28, 28)
                        diff = float((page_recon - recon).abs().max())
                        assert diff < 1e-4, f"{name}: the page's reconstruction differs from torch's by {diff:.2g}"
                        with torch.no_grad():
                            mu, logvar = model.encode(x)
                        bce, kl = drawing.elbo_terms(image, recon.numpy(), mu.numpy(), logvar.numpy())
                        assert last["models"][name]["bce"] == pytest.approx(bce, rel=1e-4)
                        assert last["models"][name]["kl"] == pytest.approx(kl, rel=1e-4, abs=1e-3)
                        terms = panel.locator(f".fml-draw-terms[data-model={name}]").inner_text()
                        assert f"{bce:.1f} nats" in terms and f"KL {kl:.1f}" in terms, terms
                        entry.setdefault("max_recon_difference", {})[name] = max(diff, entry.get("max_recon_difference", {}).get(name, 0))
                    warm = ort.InferenceSession(str(site / manifest["warmup"]["encoder"]["file"]), providers=["CPUExecutionProvider"])
                    w_mu = warm.run(["mu"], {"image": image[None, None]})[0][0]
                    assert np.abs(np.asarray(last["warmup"]) - w_mu).max() < 1e-4
                    assert "your drawing" in panel.locator("canvas.fml-draw-plane").get_attribute("aria-label")
                panel.screenshot(path=str(shots / "draw-vae.png"))
                panel.screenshot(path=str(shots / "draw-vae-seven.png"))
                # keyboard: tab to a "load a test 3" button and press Enter; the same path from the pad on
                n = _runs(panel)
                panel.locator("button[data-digit='3']").focus()
                page.keyboard.press("Enter")
                last = _wait_run(panel, n)
                want = drawing.preprocess(drawing.from_digit(digits[3]))
                assert np.abs(np.asarray(last["image"], np.float32).reshape(28, 28) - want).max() < 1e-6
                panel.screenshot(path=str(shots / "draw-vae-test3.png"))
                panel.locator("button.fml-draw-clear").click()
                assert panel.evaluate("p => p.fmlPanel.last") is None
                assert "Cleared" in panel.locator(".fml-live-status").inner_text()
            else:
                assert "no encoder" in panel.locator(".fml-draw-note").inner_text()
                right = []
                for d in range(10):  # every test digit, through the pad's path, by keyboard
                    n = _runs(panel)
                    panel.locator(f"button[data-digit='{d}']").focus()
                    page.keyboard.press("Enter")
                    last = _wait_run(panel, n)
                    assert last["label"] == d
                    ten = torch.from_numpy(_canvas_images(panel.locator("canvas.fml-draw-ten")))
                    assert ten.shape == (10, 1, 28, 28)
                    read = judge.predict(ten).tolist()
                    right += [r == k for k, r in enumerate(read)]
                entry["read_as_the_ten_digits"] = sum(right) / len(right)
                assert entry["read_as_the_ten_digits"] >= 0.9, entry
                # a drawn 7, its label picked with the keyboard: the page's ten decodes are torch's
                panel.locator("button.fml-draw-clear").click()
                panel.locator("[aria-label='the digit you drew'] input[value='7']").check()
                n = _runs(panel)
                _draw(panel, [seven[0]], "mouse")
                last = _wait_run(panel, n)
                cvae = pretrained("cvae").model.eval()
                x = torch.tensor(last["image"]).reshape(1, 1, 28, 28)
                with torch.no_grad():
                    mu, _ = cvae.encode(x, torch.tensor([7]))
                    want = cvae.live_decode(mu.expand(10, -1), torch.eye(10))
                diff = float((torch.tensor(last["outputs"]).reshape(10, 1, 28, 28) - want).abs().max())
                assert last["label"] == 7 and diff < 1e-4, diff
                entry["max_ten_difference"] = diff
                panel.screenshot(path=str(shots / "draw-conditional.png"))
                panel.screenshot(path=str(shots / "draw-conditional-seven.png"))
            off_site = [u for u in requests if not u.startswith((base, "data:", "blob:"))]
            assert off_site == [], off_site[:5]
            real = [m for m in problems if not any(a in m for a in ALLOWED_CONSOLE)]
            assert real == [], real
            report[stem] = entry
            page.close()
        # scripts off: the draw panels stay hidden, their pre-rendered stand-ins show
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(base + "book/conditional.html", wait_until="load")
        assert not page.locator("details.fml-live[data-mode=draw-conditional]").is_visible()
        assert page.locator(".fml-draw-standin").is_visible()
        context.close()
        browser.close()
    (book.root / "_build" / "draw-report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


# --------------------------------------------------------------------------------------------- cache freshness


def test_cache_follows_package_profile_and_recovers_from_damage(book: BookSite, tmp_path: Path) -> None:
    assert book.first.returncode == 0, describe(book.first)
    # A moved checkout keeps its cache (fingerprints use relative paths); one chapter keeps each build short.
    root = keep_one_chapter(Path(shutil.copytree(book.root, tmp_path / "moved")))
    chapter = fml_book.chapter_files(root)[0]
    page_path = root / "_build" / "html" / chapter.relative_to(root).with_suffix(".html")
    n = 1

    build = build_book(root, book.cache_home)
    assert (build.returncode, build.executed) == (0, 0), describe(build)
    report = json.loads((root / "_build" / ".fundamentalml" / "last-build.json").read_text())
    assert report["imported_in_build_process"] == [], report  # fingerprints read files; no torch, no package

    # 0. edits no chapter can see: a docstring and a comment in a module it runs, the command line's code
    plots = root / "fundamentalml" / "plots.py"
    text = plots.read_text()
    assert text.startswith('"""')
    plots.write_text('"""(A docstring edit.) ' + text[3:] + "\n# a comment at the end\n")
    cli = root / "fundamentalml" / "cli.py"
    cli.write_text(cli.read_text() + "\n\ndef _not_run_by_chapters():\n    return 1\n")
    build = build_book(root, book.cache_home)
    assert (build.returncode, build.executed) == (0, 0), describe(build)

    # 1. change the body of a package function the chapter calls
    text = plots.read_text()
    edited = text.replace("    if x not in AXIS_LABELS:", "    histories = dict(histories)\n    if x not in AXIS_LABELS:", 1)
    assert edited != text
    plots.write_text(edited)
    build = build_book(root, book.cache_home)
    assert (build.returncode, build.executed) == (0, n), describe(build)
    assert build.executed_notebooks == [chapter.relative_to(root).as_posix()]

    # 2. change the profile: from the shipped models to training at smoke (the "train it yourself" path)
    build = build_book(root, book.cache_home, profile="smoke")
    assert (build.returncode, build.executed) == (0, n), describe(build)
    page = page_path.read_text()
    assert "profile <code>smoke</code>" in page and "trained while this page was built" in page

    # 3. damage the cache database: the build says so, starts clean and executes everything again
    # (one folder per cache key: the folders of earlier keys were deleted)
    folders = [p for p in (root / "_build" / ".jupyter_cache").iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    db = folders[0] / "global.db"
    assert db.is_file()
    db.write_bytes(b"this is not a SQLite database" * 100)
    build = build_book(root, book.cache_home, profile="smoke")
    assert build.returncode == 0, describe(build)
    assert "cannot be trusted" in build.output and "starting clean" in build.output
    assert build.executed == n, describe(build)

    # 4. and nothing changed since: nothing executes
    build = build_book(root, book.cache_home, profile="smoke")
    assert (build.returncode, build.executed) == (0, 0), describe(build)


def test_inspect_cache_names_each_kind_of_damage(tmp_path: Path) -> None:
    assert fml_book.inspect_cache(tmp_path / "absent") is None
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "global.db").write_bytes(b"garbage")
    assert "__version__" in fml_book.inspect_cache(cache)
    (cache / "__version__.txt").write_text("0.4.0")
    assert "written by jupyter-cache 0.4.0" in fml_book.inspect_cache(cache)
    import jupyter_cache

    (cache / "__version__.txt").write_text(jupyter_cache.__version__)
    assert "database" in fml_book.inspect_cache(cache)


# --------------------------------------------------------------------------------------------- twins and install


def test_twins_and_install_cells_match_config() -> None:
    assert fml_book.sync(REPO, write=False) == []
    url, branch = fml_book.repository(fml_book.read_book_config(REPO))
    for md in chapters():
        assert fml_book.twin_matches(md), f"{md.name}: run python book/_ext/fml_book.py sync"
        first_code = next(src for kind, src, _ in fml_book.notebook_cells(md) if kind == "code")
        assert first_code == fml_book.install_cell(url, branch)
        assert f'%pip install --quiet "fundamentalml @ git+{url}@{branch}"' in first_code


def test_twin_executes_in_a_fresh_kernel_outside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    for md in chapters():
        nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
        workdir = tmp_path / md.stem
        workdir.mkdir()
        NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{md.name}: no figure"
        assert "already installed here: nothing to do" in "".join(o.get("text", "") for o in nb.cells[1].outputs)


def test_install_cell_installs_the_package_and_leaves_torch_alone(tmp_path: Path) -> None:
    """In a fresh venv that already has torch: the cell installs fundamentalml; run again, it does nothing."""
    url, branch = fml_book.repository(fml_book.read_book_config(REPO))
    cell = fml_book.install_cell(url, branch)
    # The install source, pointed at (a copy of) the local checkout instead of GitHub.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT.md"):  # what pyproject.toml names
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "fundamentalml", src / "fundamentalml", ignore=shutil.ignore_patterns("__pycache__"))
    local_cell = cell.replace(f"git+{url}@{branch}", src.as_uri())
    assert local_cell != cell

    # A fresh venv whose torch (and the other dependencies) come from this environment, minus fundamentalml.
    site = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir()))
    base = tmp_path / "preinstalled"
    base.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("fundamentalml", "__editable__")) and not entry.name.endswith(".pth"):
            (base / entry.name).symlink_to(entry)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    venv_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    (venv_site / "preinstalled.pth").write_text(str(base) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND")}
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    probe = "import importlib.util, json, torch; s = importlib.util.find_spec('fundamentalml'); print(json.dumps([s.origin if s else None, torch.__version__, torch.__file__]))"

    def run(code: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)

    before = json.loads(run(probe).stdout)
    assert before[0] is None, "fundamentalml must be missing before the cell runs"
    cell_file = tmp_path / "cell.py"
    cell_file.write_text(local_cell)
    run_cell = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "r = InteractiveShell.instance().run_cell(open(sys.argv[1]).read())\nsys.exit(0 if r.success else 1)\n"
    )
    first = run(run_cell, str(cell_file))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Installing fundamentalml" in first.stdout and "Installed fundamentalml." in first.stdout
    after = json.loads(run(probe).stdout)
    assert after[0] is not None and Path(after[0]).is_relative_to(venv_site), after
    assert after[1:] == before[1:], "torch changed"
    assert not (venv_site / "torch").exists(), "torch was reinstalled into the venv"
    listing = sorted(p.name for p in venv_site.iterdir())

    second = run(run_cell, str(cell_file))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already installed here: nothing to do" in second.stdout
    assert sorted(p.name for p in venv_site.iterdir()) == listing
