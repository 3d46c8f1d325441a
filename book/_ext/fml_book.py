"""The book's own Sphinx extension: execution-cache freshness, launch links, badges and chapter twins.

Loaded by Jupyter Book through ``_config.yml`` (``sphinx.local_extensions``). What it does at build time:

1. **Cache freshness.** jupyter-cache matches a notebook by a hash of its code cells (and kernelspec) only,
   so on its own it would serve outputs computed by an older package, another profile or other data. Before
   anything is read, every chapter gets a *fingerprint*: a hash of the package code chapters run (its
   modules as syntax trees without docstrings or comments; the CLI, the benchmark and what only they import
   left out) and of every other package file byte for byte (the shipped weights in
   ``fundamentalml/weights/``), the profile the chapters show (``fundamentalml.identity.book_profile``), and
   the identity of each dataset the chapter declares in its front matter (``fundamentalml: {datasets: [...]}``;
   ``fundamentalml.identity.dataset_identity``: paths, sizes and mtimes of the files the loaders would read,
   or ``absent``). It only reads and hashes files, through the package's torch-free ``fundamentalml.identity``
   (the one module of the package the build process imports), which keeps a cached rebuild quick. The
   execution cache is keyed on them: jupyter-cache gets one folder per key (``_build/.jupyter_cache/<key>/``,
   ``cache_key``), so changed code, profile or data means a new, empty folder and every chapter executes again
   (Sphinx re-reads them because MyST-NB's ``nb_execution_cache_path`` changed); the folders of other keys are
   deleted. Nothing changed means nothing is re-read or executed. No record of the cache is ever edited.
2. **A damaged cache** (unreadable database, missing version file, a database written by another
   jupyter-cache version, a record whose notebook is gone) is reported and removed; every chapter is then
   re-read and executed, so no page keeps outputs the cache can no longer vouch for.
   (Checkpoints need nothing here: ``runs.get_run`` keys them on ``identity.code_fingerprint``.)
3. **Report.** At the end it prints ``fundamentalml-book: N notebook(s) executed ...`` (and writes
   ``_build/.fundamentalml/last-build.json``); tests assert on that count.
4. **Launch links.** Adds Kaggle to the header's rocket menu (the theme provides Binder and Colab) and
   defines the ``{{ launch_table }}`` substitution (badges per chapter). The repository and the commit they
   open are derived, not typed (``site_repository``): in GitHub Actions from ``GITHUB_REPOSITORY`` and the
   commit being built (``$FUNDAMENTALML_LAUNCH_REF``, the commit ``pin`` made, else ``GITHUB_SHA``), so a
   fork's site opens the fork; elsewhere from ``_config.yml`` (``repository.url`` / ``repository.branch``).
   ``{{ repository_url }}`` in a page that is not a notebook (also inside code blocks, the clone commands)
   becomes the same address.

As a script it keeps the chapters' first cell and their ``.ipynb`` twins in sync with ``_config.yml``::

    python book/_ext/fml_book.py sync    # rewrite install cells, exercise cells, twins and the clone lines
    python book/_ext/fml_book.py check   # exit 1 (and say what differs) when anything is out of sync
    python book/_ext/fml_book.py pin     # (the Pages workflow) commit the twins pinned to the commit built,
                                         # on top of it, without touching the checkout; print that commit
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fundamentalml import identity  # torch-free: the package's paths, environment names, code and data identities

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAPTER_DIR = "book"
DEFAULT_DATASETS = ("mnist",)
INSTALL_BEGIN = "# --- fundamentalml set-up (generated from _config.yml by book/_ext/fml_book.py sync) ---"
INSTALL_END = "# --- end of set-up ---"
REPORT_PREFIX = "fundamentalml-book:"
HEAVY_MODULES = ("torch",)  # what the build process must not import (it costs seconds)
LIGHT_MODULES = ("fundamentalml", "fundamentalml.identity", "fundamentalml.tables")  # torch-free: the build may import them


# ============================================================================================ settings


def read_book_config(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Return ``_config.yml`` as a dict."""
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text()) or {}


def repository(config: dict[str, Any]) -> tuple[str, str]:
    """The repository's address and branch (or tag): the one setting every link and install cell uses."""
    repo = config.get("repository", {}) or {}
    url = str(repo.get("url", "")).rstrip("/")
    branch = str(repo.get("branch", "main"))
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"_config.yml repository.url must be https://github.com/OWNER/NAME, got {url!r}.")
    return url, branch


# ============================================================================================ the published repository
#
# The committed files (install cells, twins, clone lines) use ``_config.yml``'s setting. A site built by GitHub
# Actions links to the repository that built it instead: ``GITHUB_REPOSITORY`` names it and the commit being
# built pins every launch link (and, through ``pin``, the install cell of the notebooks those links open).

REPOSITORY_ENV = "GITHUB_REPOSITORY"
SHA_ENV = "GITHUB_SHA"
LAUNCH_REF_ENV = identity.LAUNCH_REF_ENV
LAUNCH_BRANCH = "launch"  # where the Pages workflow publishes the pinned notebooks
_OWNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


def git_commit(root: Path = REPO_ROOT) -> str | None:
    """The commit checked out at ``root`` (``git rev-parse HEAD``), or ``None`` outside a git checkout."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else None


def site_repository(config: dict[str, Any], env: dict[str, str] | None = None, root: Path = REPO_ROOT) -> tuple[str, str]:
    """The repository address and the ref (commit, branch or tag) the built site's links open.

    With ``GITHUB_REPOSITORY`` set (GitHub Actions sets it; set it yourself to preview a fork's site): that
    repository, at ``$FUNDAMENTALML_LAUNCH_REF`` (the commit ``pin`` made), else ``GITHUB_SHA``, else the
    checkout's ``git rev-parse HEAD``, else ``_config.yml``'s branch. Without it: ``_config.yml``'s setting.
    """
    env = os.environ if env is None else env
    url, branch = repository(config)
    name = env.get(REPOSITORY_ENV, "").strip()
    if not name:
        return url, branch
    if not _OWNER_NAME.fullmatch(name):
        raise ValueError(f"${REPOSITORY_ENV} must be OWNER/NAME (as GitHub Actions sets it), got {name!r}.")
    ref = env.get(LAUNCH_REF_ENV, "").strip() or env.get(SHA_ENV, "").strip() or git_commit(root) or branch
    return f"https://github.com/{name}", ref  # Colab, Kaggle and Binder open github.com repositories only


def launch_urls(repo_url: str, branch: str, path: str) -> dict[str, str]:
    """Colab, Kaggle and Binder links that open ``path`` (relative to the repository root) at ``branch``."""
    owner_name = repo_url.split("github.com/", 1)[1]
    blob = f"{repo_url}/blob/{branch}/{path}"
    return {
        "colab": f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/{path}",
        "kaggle": f"https://kaggle.com/kernels/welcome?src={quote(blob, safe=':/')}",
        "binder": f"https://mybinder.org/v2/gh/{owner_name}/{branch}?urlpath=lab/tree/{path}",
    }


# ============================================================================================ chapters


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def front_matter(md_path: Path) -> dict[str, Any]:
    """The YAML front matter of a MyST file ({} when it has none)."""
    import yaml

    m = _FRONT_MATTER.match(md_path.read_text())
    return (yaml.safe_load(m.group(1)) or {}) if m else {}


def toc_files(root: Path = REPO_ROOT) -> list[Path]:
    """Every page ``_toc.yml`` lists (root, chapters, parts, sections), in order, as paths to their sources."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text()) or {}
    found: list[Path] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    path = root / node[key]
                    found.append(path if path.suffix else path.with_suffix(".md"))
            for value in node.values():
                if isinstance(value, (list, dict)):
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(toc)
    return found


def chapter_files(root: Path = REPO_ROOT) -> list[Path]:
    """Every executable chapter of the book: a page in ``_toc.yml`` that is a MyST notebook (front matter
    with a kernelspec) in ``book/``. Drafts not yet in the table of contents are left alone."""
    return [
        p for p in toc_files(root)
        if p.suffix == ".md" and p.parent == root / CHAPTER_DIR and p.is_file() and "kernelspec" in front_matter(p)
    ]


def chapter_datasets(md_path: Path) -> list[str]:
    """The datasets a chapter reads, from its front matter ``fundamentalml: {datasets: [...]}``."""
    meta = front_matter(md_path).get("fundamentalml", {}) or {}
    datasets = list(meta.get("datasets", DEFAULT_DATASETS))
    unknown = sorted(set(datasets) - set(identity.KNOWN_DATASETS))
    if unknown:
        raise ValueError(f"{md_path.name}: unknown dataset(s) {unknown} in front matter; known: {identity.KNOWN_DATASETS}.")
    return datasets


# ============================================================================================ fingerprints
#
# Everything here reads files and hashes them; nothing imports torch or the package beyond its torch-free
# ``identity`` module (importing torch alone took seconds and made every cached rebuild slow). What a
# chapter's outputs depend on, and so what its fingerprint covers:
#
# * the package code the kernel runs: every ``fundamentalml/**/*.py`` except the entry points no chapter
#   runs (``NOT_RUN_BY_CHAPTERS``) and the modules only they import (``chapter_modules``), each hashed as its
#   syntax tree without docstrings, so editing a docstring or a comment executes nothing again;
# * every other file of the package byte for byte, above all the shipped weights in ``fundamentalml/weights/``;
# * the profile the chapters show: ``identity.book_profile()`` (``$FUNDAMENTALML_PROFILE``, else shipped);
# * the identity of each dataset the chapter declares: ``identity.dataset_identity`` (paths, sizes and mtimes
#   of the files the package's loaders would read, from the layout they read it by), or ``absent``.

# The package's entry points that no chapter runs: the command line and the benchmark. They, and the modules
# only they import (``shipping.py``, say), are left out of the fingerprint, unless a chapter names one (an
# import, ``python -m fundamentalml``, a ``!fundamentalml`` shell line) or a module that stays in imports it.
NOT_RUN_BY_CHAPTERS = ("__main__.py", "cli.py")
WEIGHTS_DIR = identity.WEIGHTS_DIR.name  # "weights": the shipped weights, hashed byte for byte


def _mentioned_modules(chapter_texts: list[str]) -> set[str]:
    """Package files (relative paths) that chapters name in their code cells: imports, ``-m``, shell commands."""
    found: set[str] = set()
    for text in chapter_texts:
        if "```{code-cell}" in text:  # a MyST chapter: only its code runs; prose may quote any command
            text = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.S))
        for dotted in re.findall(r"\bfundamentalml((?:\.\w+)+)", text):
            parts = dotted.strip(".").split(".")
            for i in range(1, len(parts) + 1):
                found.update({"/".join(parts[:i]) + ".py", "/".join(parts[:i]) + "/__init__.py"})
        for names in re.findall(r"\bfrom\s+fundamentalml\s+import\s+\(?([\w\s,]+)", text):
            found.update(n.strip() + ".py" for n in names.split(",") if n.strip())
        if re.search(r"-m\s+fundamentalml\b(?!\.)", text) or re.search(r"(?m)^\s*!\s*fundamentalml\b", text):
            found.update({"__main__.py", "cli.py"})
    return found


def package_parts(folder: Path | None = None, chapter_texts: list[str] | None = None) -> dict[str, bytes]:
    """What the fingerprint hashes of the package: relative path -> the bytes that stand for the file.

    ``.py`` files become their docstring-free syntax tree (``identity.normalised_source``), except the
    modules no chapter runs (``chapter_modules``). Every other file (the weights and manifest in ``weights/``,
    any data file) is taken byte for byte.
    """
    folder = folder or identity.PACKAGE_DIR
    modules = {rel: facts for rel, facts in identity.module_facts(folder).items() if rel.split("/")[0] != WEIGHTS_DIR}
    parts = {rel: modules[rel][0] if rel in modules else path.read_bytes()
             for rel, path in identity.package_files(folder).items()}
    imports = {rel: set(facts[1]) for rel, facts in modules.items()}
    return {rel: parts[rel] for rel in sorted(chapter_modules(set(parts), imports, chapter_texts))}


def chapter_modules(files: set[str], imports: dict[str, set[str]], chapter_texts: list[str] | None) -> set[str]:
    """The files of ``files`` that chapters may run: all but the entry points no chapter runs
    (``NOT_RUN_BY_CHAPTERS``) and the modules only those import; then whatever a chapter names, and
    everything a module that stays in imports (statically, anywhere in it), is brought back.

    Without ``chapter_texts`` any module but the entry points may be what a chapter imports, so only the
    entry points (that nothing kept imports) are left out.
    """
    importers: dict[str, set[str]] = {f: set() for f in files}
    for module, targets in imports.items():
        for target in targets:
            if target in importers and target != module:
                importers[target].add(module)
    if chapter_texts is None:
        named = files - set(NOT_RUN_BY_CHAPTERS)
    else:
        named = _mentioned_modules(chapter_texts) & files
    left_out = {f for f in NOT_RUN_BY_CHAPTERS if f in files} - named
    while True:
        more = {f for f in files - left_out - named  # (a package's __init__ runs with any of its modules)
                if f in imports and not f.endswith("__init__.py") and importers[f] and importers[f] <= left_out}
        if not more:
            break
        left_out |= more
    kept = files - left_out  # and a module that stays in brings back what it imports
    return (kept - set(imports)) | identity.import_closure(kept, imports)


def package_hash(folder: Path | None = None, chapter_texts: list[str] | None = None) -> str:
    """A hash of the package as chapters run it (see ``package_parts``), not its version string."""
    h = hashlib.sha256()
    for rel, data in package_parts(folder, chapter_texts).items():
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def _digest(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def chapter_fingerprints(chapters: list[Path], root: Path = REPO_ROOT) -> dict[str, dict[str, Any]]:
    """Fingerprint of each chapter, keyed by its path relative to the book's root (``book/vae.md``).

    Relative keys keep a cache valid when the checkout moves (another CI runner path, a copied tree).
    """
    pkg = package_hash(identity.PACKAGE_DIR, [md.read_text() for md in chapters])
    profile = identity.book_profile()
    identities: dict[str, str] = {}
    result = {}
    for md in chapters:
        datasets = chapter_datasets(md)
        for name in datasets:
            if name not in identities:
                identities[name] = identity.dataset_identity(name)
        parts = {"package": pkg, "profile": profile, "data": {n: identities[n] for n in datasets}}
        result[md.resolve().relative_to(root.resolve()).as_posix()] = {"fingerprint": _digest(parts), **parts}
    return result


# ============================================================================================ the cache
#
# jupyter-cache matches a notebook by its code cells and kernelspec only. Rather than editing its records, the
# build gives it one folder per fingerprint: ``<cache>/<key>/``, where the key (``cache_key``) covers the package
# code chapters run, the profile and the data of every chapter. A changed key is a new, empty folder (MyST-NB's
# ``nb_execution_cache_path`` points there), so every chapter executes again; and because that setting is one
# Sphinx re-reads documents for, a changed key also makes Sphinx read every chapter again. The folders of other
# keys are deleted, so the cache holds one set of outputs.

CACHE_KEY_RE = re.compile(r"[0-9a-f]{16}")
OLD_LAYOUT = ("global.db", "__version__.txt", "executed", "fundamentalml-fingerprints.json")  # before keyed folders


def cache_key(fingerprints: dict[str, dict[str, Any]]) -> str:
    """The execution cache's folder name: a hash of the package code chapters run and the profile (from
    ``chapter_fingerprints``), and of the identity of every dataset the package reads, taken now.

    Every dataset, not only those the chapters declare, so that the key does not depend on which chapters the
    table of contents lists (a build of one chapter finds the outputs of a build of all of them).
    """
    return _digest({"package": sorted({fp["package"] for fp in fingerprints.values()}),
                    "profile": sorted({fp["profile"] for fp in fingerprints.values()}),
                    "data": {name: identity.dataset_identity(name) for name in identity.KNOWN_DATASETS}})


def inspect_cache(path: Path) -> str | None:
    """Return why the jupyter-cache at ``path`` cannot be trusted, or ``None`` when it is sound (or absent)."""
    import jupyter_cache
    from jupyter_cache import get_cache

    if not path.exists():
        return None
    db = path / "global.db"
    version_file = path / "__version__.txt"
    if not db.exists():
        return "it has files but no database (global.db)" if any(path.iterdir()) else None
    if not version_file.exists():
        return "it has no __version__.txt, so its format is unknown"
    found = version_file.read_text().strip()
    if found.split(".")[:2] != jupyter_cache.__version__.split(".")[:2]:
        return f"it was written by jupyter-cache {found}, and this is {jupyter_cache.__version__}"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            status = con.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            return f"its database fails SQLite's check ({status})"
        cache = get_cache(str(path))
        records = cache.list_cache_records()
        cache.list_project_records()
        for record in records:
            if not (path / "executed" / record.hashkey / "base.ipynb").is_file():
                return f"record {record.pk} ({record.uri}) has lost its executed notebook"
    except Exception as exc:  # noqa: BLE001 -- any failure to read it means the same thing
        return f"its database cannot be read ({type(exc).__name__}: {str(exc)[:160]})"
    return None


def cache_records(path: Path) -> list[tuple[int, str, str]]:
    """``(pk, uri, created)`` of every record in a sound cache ([] when there is none)."""
    from jupyter_cache import get_cache

    if not (path / "global.db").exists():
        return []
    return [(r.pk, r.uri, str(r.created)) for r in get_cache(str(path)).list_cache_records()]


def prepare_cache(base: Path, key: str, log) -> tuple[Path, bool]:
    """The cache folder for ``key`` under ``base``, after deleting the folders of other keys (and a cache of the
    layout before keyed folders); a damaged one is reported and deleted. Returns ``(folder, whether it was reset)``.
    """
    folder = base / key
    if base.is_dir():
        for entry in base.iterdir():
            if entry != folder and (CACHE_KEY_RE.fullmatch(entry.name) or entry.name in OLD_LAYOUT):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    problem = inspect_cache(folder)
    if problem is not None:
        log(f"The execution cache at {folder} cannot be trusted: {problem}. Deleting it and starting clean: every "
            f"chapter executes again.")
        shutil.rmtree(folder, ignore_errors=True)
    return folder, problem is not None


def rekey_cache(base: Path, key: str, new_key: str) -> bool:
    """Move the cache of ``key`` to ``new_key`` (when that has none yet); ``True`` when it moved.

    For a build in which every chapter executed while its data changed (a chapter downloaded its dataset): the
    outputs were computed from the files now there, so the next build, whose key sees them, must find them.
    """
    if new_key == key or not (base / key).is_dir() or (base / new_key).exists():
        return False
    os.replace(base / key, base / new_key)
    return True


# ============================================================================================ Sphinx hooks


def _logger():
    from sphinx.util import logging

    return logging.getLogger("fml_book")


def _on_config_inited(app, config) -> None:
    """Point the theme's launch buttons at the derived repository and ref (``site_repository``) and define
    the ``{{ launch_table }}`` substitution from them."""
    options = dict(config.html_theme_options or {})
    setting = {"repository": {"url": options.get("repository_url", ""), "branch": options.get("repository_branch", "main")}}
    try:
        url, branch = site_repository(setting, root=Path(app.srcdir))
    except ValueError as exc:
        from sphinx.errors import ConfigError

        raise ConfigError(str(exc)) from exc
    options.update(repository_url=url, repository_branch=branch)
    config.html_theme_options = options
    subs = dict(getattr(config, "myst_substitutions", {}) or {})
    subs["launch_table"] = launch_table(Path(app.srcdir), url, branch)
    subs["repository_url"] = url
    subs["repository_branch"] = branch
    config.myst_substitutions = subs
    # pydata-sphinx-theme logs a console error when no colour mode is set; choose one.
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")
    config.html_context = context


def _on_source_read(app, docname, source) -> None:
    """``{{ repository_url }}`` in a page that is not a notebook becomes the derived address everywhere, also
    inside code blocks (the clone commands), where MyST substitutions do not reach. Notebook chapters are left
    alone: their code is what the execution cache hashes."""
    token = "{{ repository_url }}"
    head = _FRONT_MATTER.match(source[0])
    if token not in source[0] or (head and re.search(r"(?m)^kernelspec:", head.group(1))):
        return
    source[0] = source[0].replace(token, app.config.html_theme_options.get("repository_url", ""))


# ============================================================================================ alt text
#
# Every figure a chapter draws carries its alt text inside the PNG (a ``Description`` text chunk, written by
# ``fundamentalml.alt_text`` when the figure is drawn). The build reads it from the image file MyST-NB wrote and
# puts it into the ``<img alt="...">`` (MyST-NB itself takes an image's alt text only from cell metadata).

PNG_ALT_KEY = b"Description"


def png_description(data: bytes) -> str | None:
    """The ``Description`` text chunk of a PNG (``tEXt``, or ``iTXt`` for text beyond Latin-1), else ``None``."""
    import struct
    import zlib

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        key, _, rest = body.partition(b"\0")
        if kind == b"tEXt" and key == PNG_ALT_KEY:
            return rest.decode("latin-1")
        if kind == b"iTXt" and key == PNG_ALT_KEY and len(rest) >= 2:
            compressed, rest = rest[0], rest[2:]
            _language, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            return (zlib.decompress(text) if compressed else text).decode("utf-8")
        if kind == b"IEND":
            break
    return None


def _on_doctree_read(app, doctree) -> None:
    """Give each image without alt text the description its PNG carries."""
    from docutils import nodes

    srcdir = Path(app.srcdir)
    docdir = Path(app.env.doc2path(app.env.docname)).parent
    for node in doctree.findall(nodes.image):
        uri = str(node.get("uri", ""))
        if node.get("alt") or not uri.lower().endswith(".png") or "://" in uri:
            continue
        # MyST-NB writes "/<path from the source folder>"; Sphinx's image collector rewrites it to the path from
        # the source folder without the slash, and a page's own images are relative to the page.
        found = [p for p in (srcdir / uri.lstrip("/"), docdir / uri) if p.is_file()]
        if not found:
            continue
        try:
            alt = png_description(found[0].read_bytes())
        except OSError:
            continue
        if alt:
            node["alt"] = alt


# ============================================================================================ model cards
#
# The *Model cards* page (``book/models.md``) is a plain page, not a notebook: the build writes the cards into
# it where it says ``{{ model_cards }}``, from ``fundamentalml.cards.model_cards()`` run in a separate process
# (the build process never imports torch or the package). The text is cached on the manifest's and the card
# code's bytes, so a rebuild runs nothing unless one of them changed, and then the page is read again.

CARDS_PAGE = "book/models"
CARDS_TOKEN = "{{ model_cards }}"
CARDS_SOURCES = ("weights/manifest.json", "cards.py", "registry.py", "shipping.py", "tables.py")


def cards_key(folder: Path | None = None) -> str:
    """A hash of what the model cards are written from: the manifest and the code that writes them."""
    folder = folder or identity.PACKAGE_DIR
    h = hashlib.sha256()
    for rel in CARDS_SOURCES:
        path = folder / rel
        h.update(rel.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"absent"))
    return h.hexdigest()[:16]


def model_cards_text(cache: Path, folder: Path | None = None) -> str:
    """The cards' Markdown, from ``cache`` when the manifest and card code are unchanged, else written now."""
    import subprocess

    folder = folder or identity.PACKAGE_DIR
    key = cards_key(folder)
    cached = cache / f"model-cards-{key}.md"
    if cached.is_file():
        return cached.read_text()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, "-c", "from fundamentalml.cards import model_cards; print(model_cards())"],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"writing the model cards failed:\n{proc.stdout}\n{proc.stderr}")
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("model-cards-*.md"):
        old.unlink()
    cached.write_text(proc.stdout)
    return proc.stdout


def _cards_cache(app) -> Path:
    return Path(app.outdir).parent / ".fundamentalml"


def _on_cards_source_read(app, docname, source) -> None:
    """Write the model cards into their page."""
    if docname == CARDS_PAGE and CARDS_TOKEN in source[0]:
        source[0] = source[0].replace(CARDS_TOKEN, model_cards_text(_cards_cache(app)))
        app.env.fml_cards_key = cards_key()


def _on_cards_outdated(app, env, added, changed, removed) -> list[str]:
    """Read the cards' page again when the manifest or the card code changed since it was read."""
    if CARDS_PAGE in env.found_docs and CARDS_PAGE not in added | changed \
            and getattr(env, "fml_cards_key", None) != cards_key():
        return [CARDS_PAGE]
    return []


def launch_table(root: Path, url: str, branch: str) -> str:
    """A Markdown table: one row per chapter twin, with Colab, Kaggle and Binder badges."""
    from fundamentalml.tables import markdown_table  # the package's one table formatter (torch-free)

    rows = []
    for md in chapter_files(root):
        twin = md.with_suffix(".ipynb")
        if not twin.exists():
            continue
        title = front_matter(md).get("short_title") or md.stem
        links = launch_urls(url, branch, twin.relative_to(root).as_posix())
        rows.append([f"[{title}]({md.stem}.md)", f"[![Open in Colab](images/badge-colab.svg)]({links['colab']})",
                     f"[![Open in Kaggle](images/badge-kaggle.svg)]({links['kaggle']})",
                     f"[![Launch Binder](images/badge-binder.svg)]({links['binder']})"])
    return markdown_table(["chapter", "Colab", "Kaggle", "Binder"], rows)


def _on_config_inited_cache(app, config) -> None:
    """Key the execution cache on the chapters' fingerprints (``cache_key``): point MyST-NB's cache at the
    key's folder before Sphinx compares this configuration with the last build's (so a new key re-reads every
    chapter), delete the folders of other keys, and remember the state for the later hooks."""
    log = _logger()
    root = Path(app.srcdir)
    started = time.perf_counter()
    fingerprints = chapter_fingerprints(chapter_files(root), root)
    key = cache_key(fingerprints)
    fingerprint_seconds = round(time.perf_counter() - started, 3)
    # Kernels inherit this process's environment; a non-interactive MPLBACKEND (Agg) there would stop
    # the inline backend from putting any figure into the pages.
    os.environ.pop("MPLBACKEND", None)
    configured = config["nb_execution_cache_path"] if "nb_execution_cache_path" in config else ""
    base = Path(configured or Path(app.outdir).parent / ".jupyter_cache").resolve()
    cache_path, reset = prepare_cache(base, key, lambda msg: log.warning(msg, type="fml_book", subtype="cache"))
    config.nb_execution_cache_path = str(cache_path)
    records = set(cache_records(cache_path))
    app.fml_state = {
        "cache_base": base,
        "cache_key": key,
        "cache_path": cache_path,
        "reset": reset,
        "records_before": records,
        "fingerprints": fingerprints,
        "fingerprint_seconds": fingerprint_seconds,
    }
    profiles = sorted({fp["profile"] for fp in fingerprints.values()})
    log.info(
        f"{REPORT_PREFIX} profile {', '.join(profiles) or '-'}; package {next(iter(fingerprints.values()))['package'] if fingerprints else '-'}; "
        f"execution cache {key} ({len(records)} record(s); fingerprints took {fingerprint_seconds:.2f} s)"
        + (" (cache was reset)" if reset else "")
    )


def _on_env_get_outdated(app, env, added, changed, removed) -> list[str]:
    """After a damaged cache was reset, re-read every chapter (so it executes); a new cache key needs nothing
    here (the changed ``nb_execution_cache_path`` makes Sphinx re-read everything)."""
    state = getattr(app, "fml_state", None)
    if not state or not state["reset"]:
        return []
    out = []
    for docname in env.found_docs:
        if docname in added or docname in changed:
            continue
        try:
            source = Path(env.doc2path(docname)).resolve().relative_to(Path(app.srcdir).resolve()).as_posix()
        except ValueError:
            continue
        if source in state["fingerprints"]:
            out.append(docname)
    return out


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated identical scripts: sphinx-thebe's inline config is added twice, and the second copy
    re-declares ``const THEBE_JS_URL``, which every browser reports as an error."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (str(script), tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    """Add Kaggle to the rocket menu, beside the theme's Binder and Colab, for pages with a twin."""
    try:
        source = Path(app.env.doc2path(pagename))
    except Exception:  # noqa: BLE001 -- generated pages (search, genindex) have no source
        return
    twin = source.with_suffix(".ipynb")
    if not twin.exists():
        return
    url = app.config.html_theme_options.get("repository_url", "")
    branch = app.config.html_theme_options.get("repository_branch", "main")
    rel = twin.resolve().relative_to(Path(app.srcdir).resolve()).as_posix()
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            group["buttons"].append(
                {
                    "type": "link",
                    "text": "Kaggle",
                    "tooltip": "Launch on Kaggle",
                    "icon": "fab fa-kaggle",
                    "url": launch_urls(url, branch, rel)["kaggle"],
                }
            )


def _on_build_finished(app, exception) -> None:
    """Print how many notebooks this build executed (new cache records) and how many came from the cache."""
    state = getattr(app, "fml_state", None)
    if exception is not None or not state:
        return
    cache_path = state["cache_path"]
    try:
        now = set(cache_records(cache_path))
    except Exception:  # noqa: BLE001
        now = set()
    new = sorted(now - state["records_before"])
    root = Path(app.srcdir).resolve()

    def rel(uri: str) -> str:
        try:
            return Path(uri).resolve().relative_to(root).as_posix()
        except ValueError:
            return uri

    executed = [rel(uri) for _, uri, _ in new]
    if set(executed) >= set(state["fingerprints"]):  # every chapter ran now: key its outputs by the data now there
        rekey_cache(state["cache_base"], state["cache_key"], cache_key(state["fingerprints"]))
    report = {
        "executed": len(executed),
        "executed_notebooks": executed,
        "chapters": len(state["fingerprints"]),
        "profile": sorted({fp["profile"] for fp in state["fingerprints"].values()}),
        "cache_reset": state["reset"],
        "fingerprint_seconds": state["fingerprint_seconds"],
        # The build process itself never needs these (kernels are other processes); a test asserts [].
        "imported_in_build_process": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY_MODULES
                                            or (m.split(".")[0] == "fundamentalml" and m not in LIGHT_MODULES)),
    }
    out = Path(app.outdir).parent / ".fundamentalml"
    out.mkdir(parents=True, exist_ok=True)
    (out / "last-build.json").write_text(json.dumps(report, indent=2))
    _logger().info(
        f"{REPORT_PREFIX} {len(executed)} notebook(s) executed"
        + (f" ({', '.join(executed)})" if executed else "")
        + f"; {len(state['fingerprints']) - len(executed)} chapter(s) served from the cache or unchanged."
    )


def setup(app) -> dict[str, Any]:
    """Register the hooks (Sphinx entry point)."""
    app.connect("config-inited", _on_config_inited)
    app.connect("config-inited", _on_config_inited_cache)
    app.connect("env-get-outdated", _on_env_get_outdated)
    app.connect("source-read", _on_source_read)
    app.connect("doctree-read", _on_doctree_read)
    app.connect("source-read", _on_cards_source_read)
    app.connect("env-get-outdated", _on_cards_outdated)
    app.connect("html-page-context", _on_html_page_context, priority=600)  # after the theme's launch buttons
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _on_build_finished)
    app.connect("config-inited", _no_score_history)
    return {"version": "1.0", "parallel_read_safe": False, "parallel_write_safe": True}


# ============================================================================================ twins


def install_cell(repo_url: str, branch: str) -> str:
    """The source of every chapter's first code cell: install the package only where it is missing.

    ``branch``: a branch, tag or commit; the Pages workflow's ``pin`` passes the commit the site was built from.
    """
    spec = f"fundamentalml @ git+{repo_url}@{branch}"
    shown = f"commit {branch[:12]}" if re.fullmatch(r"[0-9a-f]{40}", branch) else branch
    return "\n".join(
        [
            INSTALL_BEGIN,
            "# Installs the course package only where this kernel lacks it (Colab, Kaggle, a fresh environment).",
            "# Torch stays as it is: the package asks for torch>=2.5, which Colab and Kaggle already have.",
            "import importlib, importlib.util, sys",
            'if importlib.util.find_spec("fundamentalml") is None:',
            f'    print("Installing fundamentalml from {repo_url} ({shown}), about a minute ...")',
            f'    %pip install --quiet "{spec}"',
            "    importlib.invalidate_caches()",
            '    print("Installed fundamentalml.")',
            "else:",
            '    print("fundamentalml is already installed here: nothing to do.")',
            "from fundamentalml.alt_text import describe_figures",
            "describe_figures()  # every figure below carries alt text: what it shows, written from the figure",
            'if "google.colab" in sys.modules:  # Colab: its custom widget manager draws the widgets',
            "    from google.colab import output",
            "    output.enable_custom_widget_manager()",
            INSTALL_END,
        ]
    )


_INSTALL_RE = re.compile(re.escape(INSTALL_BEGIN) + r".*?" + re.escape(INSTALL_END), re.S)
# The install cell's fence and options: the site removes the cell (it is for Colab, Kaggle and fresh kernels;
# its output would open every page), the twins keep it with the tag.
SETUP_TAGS = ("remove-cell",)
_SETUP_HEAD_RE = re.compile(r"```\{code-cell\}[^\n]*\n(?::[^\n]*\n)*(?=" + re.escape(INSTALL_BEGIN) + ")")


def setup_cell_head() -> str:
    """The fence line and options of the set-up cell: hidden on the site (``SETUP_TAGS``)."""
    return "```{code-cell} ipython3\n:tags: [" + ", ".join(SETUP_TAGS) + "]\n"


def synced_markdown(md_text: str, cell: str) -> str:
    """``md_text`` with its install cell replaced by ``cell`` (the markers must already be there) and the
    cell's options set to ``setup_cell_head()``."""
    if not _INSTALL_RE.search(md_text):
        raise ValueError(f"no install cell (a code cell starting with {INSTALL_BEGIN!r}) found")
    text = _INSTALL_RE.sub(lambda _m: cell, md_text, count=1)
    return _SETUP_HEAD_RE.sub(lambda _m: setup_cell_head(), text, count=1)


def twin_text(md_path: Path) -> str:
    """The ``.ipynb`` twin of a MyST chapter as jupytext writes it (no outputs)."""
    import jupytext

    nb = jupytext.read(md_path, fmt="md:myst")
    return jupytext.writes(nb, fmt="ipynb")


def notebook_cells(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(type, source, tags)`` of every cell of a notebook or MyST file: what a twin must agree on.

    Compared instead of the files' bytes, so a newer jupytext that formats JSON differently is no mismatch.
    """
    import jupytext

    nb = jupytext.read(path, fmt="md:myst" if path.suffix == ".md" else None)
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def twin_matches(md_path: Path) -> bool:
    """``True`` when the ``.ipynb`` beside ``md_path`` exists and holds the same cells."""
    twin = md_path.with_suffix(".ipynb")
    return twin.exists() and notebook_cells(twin) == notebook_cells(md_path)


# Files outside the book that name the repository, and the lines sync writes in them from ``_config.yml``
# (book pages write ``{{ repository_url }}`` instead; the build fills it in). A test fails on any other copy.
URL_LINES = {
    "exercises/README.md": re.compile(r"(?m)^(!git clone --depth 1 )(\S+)( fundamentalml)$"),
    "CITATION.cff": re.compile(r'(?m)^(repository-code: ")([^"]*)(")$'),
}


def synced_url_lines(root: Path, url: str, write: bool) -> list[str]:
    """Rewrite the repository's address in ``URL_LINES``; return what was (or would be) changed."""
    changed = []
    for rel, pattern in URL_LINES.items():
        path = root / rel
        if not path.is_file():
            continue
        text = path.read_text()
        if not pattern.search(text):
            raise ValueError(f"{rel}: no line matching {pattern.pattern!r} to write the repository's address into")
        new = pattern.sub(lambda m: m.group(1) + url + m.group(3), text)
        if new != text:
            changed.append(f"{rel}: the repository's address differs from _config.yml's")
            if write:
                path.write_text(new)
    return changed


def sync(root: Path = REPO_ROOT, write: bool = True) -> list[str]:
    """Bring install cells, twins and the address lines (``URL_LINES``) in line with ``_config.yml``; return
    what was (or would be) changed."""
    url, branch = repository(read_book_config(root))
    cell = install_cell(url, branch)
    changed = synced_url_lines(root, url, write)
    for md in chapter_files(root):
        text = md.read_text()
        new = synced_markdown(text, cell)
        if new != text:
            changed.append(f"{md.relative_to(root)}: install cell differs from _config.yml's repository")
            if write:
                md.write_text(new)
        changed += synced_exercise_cells(md, new, root, write)  # its last section: the exercises, as cells
        twin = md.with_suffix(".ipynb")
        if new != text or not twin_matches(md):
            changed.append(f"{twin.relative_to(root)}: differs from {md.name}")
            if write:
                twin.write_text(twin_text(md))
    return changed


def pinned_twin_text(md_path: Path, cell: str) -> str:
    """The ``.ipynb`` twin of a chapter with ``cell`` as its install cell (the chapter's file is not changed)."""
    import jupytext

    nb = jupytext.reads(synced_markdown(md_path.read_text(), cell), fmt="md:myst")
    return jupytext.writes(nb, fmt="ipynb")


def _git(root: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    import subprocess

    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, input=stdin,
                          env={**os.environ, **(env or {})}, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def pin(root: Path = REPO_ROOT, env: dict[str, str] | None = None) -> str:
    """Commit, on top of the commit being built, the chapters' twins with an install cell pinned to it; return
    the new commit's id.

    The notebooks Colab and Kaggle open then install the package from exactly the commit the site shows.
    The repository is ``site_repository``'s (``GITHUB_REPOSITORY``), the commit ``GITHUB_SHA`` or ``HEAD``.
    Only git objects are written (a private index, ``git commit-tree``): the checkout, its index and its
    branches stay as they are. The Pages workflow pushes the commit to the ``launch`` branch.
    """
    import tempfile

    env = dict(os.environ if env is None else env)
    base = env.get(SHA_ENV, "").strip() or git_commit(root)
    if not base:
        raise RuntimeError(f"{root} is not a git checkout with a commit, and ${SHA_ENV} is not set: nothing to pin to.")
    env.pop(LAUNCH_REF_ENV, None)
    env[SHA_ENV] = base
    url, _ = site_repository(read_book_config(root), env, root)
    cell = install_cell(url, base)
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(root, "read-tree", base, env=index)
        for md in chapter_files(root):
            rel = md.with_suffix(".ipynb").relative_to(root).as_posix()
            blob = _git(root, "hash-object", "-w", "--stdin", stdin=pinned_twin_text(md, cell))
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=index)
        tree = _git(root, "write-tree", env=index)
    message = (f"Notebooks pinned to {base}\n\nThe chapters' twins of {base} with an install cell that installs "
               f"fundamentalml from {url} at that commit (book/_ext/fml_book.py pin).\n")
    return _git(root, "commit-tree", tree, "-p", base, "-m", message)


# ============================================================================================ exercise cells

# Each chapter ends with its exercises as cells, generated from the learner's file ``exercises/<chapter>.py``
# (the stubs, exactly) and the catalogue of the grader (``EXERCISES`` in fundamentalml/exercises/_grading.py,
# read as a syntax tree: nothing is imported), between these two lines. ``sync`` writes them, ``check`` fails
# when they differ.
EXERCISES_BEGIN = "<!-- fundamentalml exercises: generated from exercises/{chapter}.py by book/_ext/fml_book.py sync -->"
EXERCISES_END = "<!-- end of the generated exercises -->"
EXERCISE_STUBS_DIR = "exercises"
EXERCISE_CATALOGUE = "fundamentalml/exercises/_grading.py"
# The grade cells are not run by the book build (each starts a grading process, about 10 s of CPU): only the
# course's first exercise's, on its stub, shows what a report looks like.
GRADE_SKIP_TAGS = ("skip-execution",)
EXECUTED_GRADE_CELL = 1  # the number of the exercise whose grade cell the build runs
SCORE_HISTORY_ENV = identity.SCORE_HISTORY_ENV  # "0": graded runs are not added to the learner's history
STARS = {1: "★", 2: "★★", 3: "★★★"}


def exercise_catalogue(root: Path = REPO_ROOT) -> list[tuple[int, str, tuple[str, ...], int]]:
    """``(number, key, functions, level)`` of every graded exercise, in the grader's order (rising difficulty),
    read from the ``EXERCISES`` list of the grader's catalogue without importing it."""
    tree = ast.parse((root / EXERCISE_CATALOGUE).read_text())
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "EXERCISES" and isinstance(node.value, ast.List):
            out = []
            for number, call in enumerate(node.value.elts, start=1):
                key, functions, level = (ast.literal_eval(a) for a in call.args[:3])
                out.append((number, key, tuple(functions), level))
            return out
    raise ValueError(f"{EXERCISE_CATALOGUE}: no EXERCISES list found")


def _code_cell(source: str, tags: tuple[str, ...] = ()) -> str:
    head = "```{code-cell} ipython3\n" + (":tags: [" + ", ".join(tags) + "]\n" if tags else "")
    return head + source.rstrip("\n") + "\n```"


def exercise_section(chapter: str, root: Path = REPO_ROOT) -> str | None:
    """The generated exercise cells of ``chapter`` (markers included), or None when it has no exercise file.

    First a cell with the imports of ``exercises/<chapter>.py`` and ``grade``; then, per exercise of the chapter
    in the grader's order, a heading, a cell holding its stub(s) exactly as in the file, and a cell that grades
    it (``grade(name, ...)``).
    """
    stub_path = root / EXERCISE_STUBS_DIR / f"{chapter}.py"
    if not stub_path.is_file() or not (root / EXERCISE_CATALOGUE).is_file():
        return None
    text = stub_path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    imports = [ast.get_source_segment(text, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
               and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    parts = [EXERCISES_BEGIN.format(chapter=chapter), "",
             _code_cell("\n".join(["from fundamentalml.exercises import grade", *imports]))]
    for number, key, names, level in exercise_catalogue(root):
        if key.split(".")[0] != chapter:
            continue
        missing = [n for n in names if n not in functions]
        if missing:
            raise ValueError(f"{stub_path.relative_to(root)}: no {', '.join(missing)} for exercise {key}")
        stubs = []
        for name in names:
            node = functions[name]
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            stubs.append("\n".join(lines[start - 1:node.end_lineno]))
        title = " / ".join(f"`{n}`" for n in names)
        parts += ["", f"### Exercise {number} ({STARS[level]}): {title}", "", _code_cell("\n\n\n".join(stubs)), "",
                  _code_cell(f"grade({', '.join(names)})", () if number == EXECUTED_GRADE_CELL else GRADE_SKIP_TAGS)]
    parts += ["", EXERCISES_END]
    return "\n".join(parts)


_EXERCISES_RE = re.compile(r"<!-- fundamentalml exercises: generated from exercises/(?P<chapter>[\w-]+)\.py by "
                           r"book/_ext/fml_book\.py sync -->.*?" + re.escape(EXERCISES_END), re.S)


def synced_exercises(md_text: str, chapter: str, root: Path = REPO_ROOT) -> str:
    """``md_text`` with its generated exercise cells rewritten from ``exercises/<chapter>.py``.

    A chapter with an exercise file must hold the two marker lines (its "Exercises" section places them); a
    chapter without one is left as it is.
    """
    section = exercise_section(chapter, root)
    if section is None:
        return md_text
    if not _EXERCISES_RE.search(md_text):
        raise ValueError(f"book/{chapter}.md: no generated exercise cells (the line "
                         f"{EXERCISES_BEGIN.format(chapter=chapter)!r} ... {EXERCISES_END!r}) in its Exercises section")
    return _EXERCISES_RE.sub(lambda _m: section, md_text, count=1)


def _no_score_history(app, config) -> None:
    """The grade cell the build runs is no learner's attempt: keep it out of the score history of whoever
    builds the book (the kernels inherit this process's environment)."""
    os.environ[SCORE_HISTORY_ENV] = "0"


def synced_exercise_cells(md: Path, text: str, root: Path, write: bool) -> list[str]:
    """Bring ``md``'s exercise cells (its current text is ``text``) in line with ``exercises/``; return what
    was (or would be) changed."""
    new = synced_exercises(text, md.stem, root)
    if new == text:
        return []
    if write:
        md.write_text(new)
    return [f"{md.relative_to(root)}: exercise cells differ from {EXERCISE_STUBS_DIR}/{md.stem}.py"]


def main(argv: list[str] | None = None) -> int:
    """``sync``, ``check`` or ``pin`` (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["pin"]:
        print(pin())
        return 0
    if args not in (["sync"], ["check"]):
        print(__doc__.split("As a script")[1].strip(), file=sys.stderr)
        return 2
    changes = sync(write=args[0] == "sync")
    for line in changes:
        print(("updated " if args[0] == "sync" else "out of sync: ") + line)
    if args[0] == "check" and changes:
        print("Run: python book/_ext/fml_book.py sync", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
