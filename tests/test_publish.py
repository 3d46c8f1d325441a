"""Publishing the course: the Pages workflow, links derived from the repository that builds, installs that work,
licences and model cards. Fast checks on files (no book build; the built site's links are checked in
test_book.py)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO

sys.path.insert(0, str(REPO / "book" / "_ext"))
import fml_book  # noqa: E402

WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def _workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _envs(node) -> list[dict]:
    """Every ``env:`` mapping anywhere in the workflow (workflow, job and step level)."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("env"), dict):
            found.append(node["env"])
        for value in node.values():
            found += _envs(value)
    elif isinstance(node, list):
        for value in node:
            found += _envs(value)
    return found


# ------------------------------------------------------------------------------------------------ 1. Pages


def test_pages_workflow_builds_the_shipped_book() -> None:
    flow = _workflow()
    for env in _envs(flow):
        assert "FUNDAMENTALML_PROFILE" not in env, f"the Pages build must show the shipped models, not train: {env}"
    text = WORKFLOW.read_text()
    assert not re.search(r"FUNDAMENTALML_PROFILE\s*[:=]", text), "a step sets a training profile"
    assert not re.search(r"--profile\b", text)
    build = flow["jobs"]["build"]
    runs = [s.get("run", "") for s in build["steps"]]
    assert any(r.strip() == "jupyter-book build ." for r in runs), "README's build command"


def test_pull_requests_build_but_never_deploy() -> None:
    flow = _workflow()
    assert "pull_request" in flow["on"] and "push" in flow["on"]
    jobs = flow["jobs"]
    for name, job in jobs.items():
        if any("deploy-pages" in str(s.get("uses", "")) for s in job.get("steps", [])):
            assert "github.event_name != 'pull_request'" in str(job.get("if", "")), f"{name} deploys on pull requests"
            assert job.get("permissions", {}).get("pages") == "write"
    build = jobs["build"]
    assert "if" not in build, "pull requests must build"
    for step in build["steps"]:
        uses, run = str(step.get("uses", "")), str(step.get("run", ""))
        if "configure-pages" in uses or "upload-pages-artifact" in uses or "git push" in run:
            assert "github.event_name != 'pull_request'" in str(step.get("if", "")), f"{step} runs on pull requests"
    assert any("actions/configure-pages@" in str(s.get("uses", "")) for s in build["steps"])
    assert flow["permissions"] == {"contents": "read"}, "the workflow's default token reads only"


def test_readme_says_how_to_publish_a_fork() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Publish your fork", 1)[1].split("\n## ", 1)[0]
    assert "Settings → Pages" in section and "GitHub Actions" in section
    assert "GITHUB_REPOSITORY" in section


# ------------------------------------------------------------------------------------------------ 2. repository


def test_site_repository_comes_from_github_actions_else_the_setting(tmp_path: Path) -> None:
    config = fml_book.read_book_config(REPO)
    setting = fml_book.repository(config)
    assert fml_book.site_repository(config, env={}) == setting
    sha = "0123456789abcdef0123456789abcdef01234567"
    env = {"GITHUB_REPOSITORY": "someone/fork", "GITHUB_SHA": sha}
    assert fml_book.site_repository(config, env=env) == ("https://github.com/someone/fork", sha)
    pinned = "fedcba9876543210fedcba9876543210fedcba98"
    assert fml_book.site_repository(config, env={**env, "FUNDAMENTALML_LAUNCH_REF": pinned})[1] == pinned
    # Outside Actions (GITHUB_SHA unset), the checkout's commit; outside a git checkout, the setting's branch.
    head = fml_book.git_commit(REPO)
    expected = head or setting[1]
    assert fml_book.site_repository(config, env={"GITHUB_REPOSITORY": "someone/fork"}) == ("https://github.com/someone/fork", expected)
    assert fml_book.site_repository(config, env={"GITHUB_REPOSITORY": "someone/fork"}, root=tmp_path)[1] in (setting[1], expected)
    with pytest.raises(ValueError, match="OWNER/NAME"):
        fml_book.site_repository(config, env={"GITHUB_REPOSITORY": "https://github.com/someone/fork"})
    links = fml_book.launch_urls("https://github.com/someone/fork", sha, "book/vae.ipynb")
    assert links["colab"] == f"https://colab.research.google.com/github/someone/fork/blob/{sha}/book/vae.ipynb"
    assert links["binder"].startswith(f"https://mybinder.org/v2/gh/someone/fork/{sha}?")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_pin_commits_twins_that_install_the_commit_built(tmp_path: Path) -> None:
    """``pin`` writes a commit on top of HEAD whose twins install from that HEAD, and leaves the checkout alone."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    (root / "book").mkdir(parents=True)
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/ch\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    head = (REPO / "book" / "vae.md").read_text().split("\n# ", 1)[0] + "\n"
    (root / "book" / "ch.md").write_text(head + "# A chapter\n\n```{code-cell} ipython3\n"
                                         + fml_book.INSTALL_BEGIN + "\n" + fml_book.INSTALL_END + "\n```\n\nText.\n")
    fml_book.sync(root)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "base")
    base = _git(root, "rev-parse", "HEAD")
    committed_twin = (root / "book" / "ch.ipynb").read_text()

    env = {"GITHUB_REPOSITORY": "someone/fork", "GITHUB_SHA": base, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    launch = fml_book.pin(root, env=env)
    assert re.fullmatch(r"[0-9a-f]{40}", launch) and launch != base
    assert _git(root, "rev-parse", f"{launch}^") == base
    assert _git(root, "diff", "--name-only", base, launch).splitlines() == ["book/ch.ipynb"]
    twin = json.loads(_git(root, "show", f"{launch}:book/ch.ipynb"))
    setup = "".join(next(c for c in twin["cells"] if c["cell_type"] == "code")["source"])
    assert f'"fundamentalml @ git+https://github.com/someone/fork@{base}"' in setup
    assert "remove-cell" in next(c for c in twin["cells"] if c["cell_type"] == "code")["metadata"]["tags"]
    # The checkout, its index and its branch are untouched.
    assert _git(root, "status", "--porcelain") == ""
    assert _git(root, "rev-parse", "HEAD") == base
    assert (root / "book" / "ch.ipynb").read_text() == committed_twin


URL = re.compile(r"https?://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?(?=[/\s\"')`>\]@]|$)")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split()
    keep = (".md", ".py", ".ipynb", ".yml", ".yaml", ".cff", ".toml", ".txt", ".cfg", ".js", ".css", "")
    return [REPO / p for p in out if Path(p).suffix in keep and (REPO / p).is_file()
            and not p.startswith(("book/_vendor/", "tests/"))]  # tests name addresses on purpose


def test_the_repository_address_is_written_only_from_the_setting() -> None:
    """The course's own address appears only where ``_config.yml``'s setting writes it (install cells, the
    clone line, CITATION.cff) and in the setting; a clone command never names a repository by hand."""
    url, _ = fml_book.repository(fml_book.read_book_config(REPO))
    owner_name = url.split("github.com/", 1)[1]
    allowed = {"_config.yml", *fml_book.URL_LINES}
    offenders = []
    for path in _tracked_text_files():
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(errors="replace")
        if rel in {md.relative_to(REPO).as_posix() for md in fml_book.chapter_files(REPO)} | {
                md.with_suffix(".ipynb").relative_to(REPO).as_posix() for md in fml_book.chapter_files(REPO)}:
            # the install cells (in a twin, its lines are JSON strings between the same two markers)
            text = re.sub(r"(?s)# --- fundamentalml set-up.*?# --- end of set-up ---", "", text)
        if rel not in allowed and (owner_name in text):
            offenders.append(f"{rel}: names {url}")
        for line in text.splitlines():
            if "git clone" in line and URL.search(line) and rel not in fml_book.URL_LINES:
                offenders.append(f"{rel}: a clone command with a typed address: {line.strip()}")
    assert not offenders, "write {{ repository_url }} (book pages) or let sync write it:\n" + "\n".join(offenders)
    assert "{{ repository_url }} fundamentalml" in (REPO / "book" / "exercises.md").read_text()


def test_source_read_fills_in_the_address_outside_notebooks() -> None:
    class App:
        class config:  # noqa: N801
            html_theme_options = {"repository_url": "https://github.com/someone/fork"}

    page = ["---\nshort_title: X\n---\n\n```\n!git clone --depth 1 {{ repository_url }} fundamentalml\n```\n"]
    fml_book._on_source_read(App, "book/exercises", page)
    assert "git clone --depth 1 https://github.com/someone/fork fundamentalml" in page[0]
    notebook = ["---\nkernelspec:\n  name: python3\n---\n\n{{ repository_url }}\n"]
    before = notebook[0]
    fml_book._on_source_read(App, "book/vae", notebook)
    assert notebook[0] == before, "a notebook's text is what the execution cache hashes: left alone"


def test_set_up_cell_is_removed_on_the_site_and_kept_in_the_twins() -> None:
    for md in fml_book.chapter_files(REPO):
        cells = fml_book.notebook_cells(md)
        setup = next(c for c in cells if c[0] == "code")
        assert fml_book.INSTALL_BEGIN in setup[1] and "remove-cell" in setup[2], md.name
        twin = next(c for c in fml_book.notebook_cells(md.with_suffix(".ipynb")) if c[0] == "code")
        assert twin == setup


# ------------------------------------------------------------------------------------------------ 3. installs


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirement_names(reqs: list[str]) -> set[str]:
    from packaging.requirements import Requirement

    return {Requirement(r).name.lower().replace("_", "-") for r in reqs}


def _closure(names: set[str]) -> set[str]:
    """``names`` and everything the installed distributions of them require (markers evaluated here)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in dist.requires or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r.name)
    return seen


def _imports(path: Path) -> set[str]:
    """Top-level modules a Python file or a chapter's code cells import (anywhere, also inside functions)."""
    if path.suffix == ".md":
        code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", path.read_text(), flags=re.S))
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!", ":")))
    else:
        code = path.read_text()
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_book_extra_covers_every_import_of_the_build() -> None:
    """Every module that the book's extensions, the package and the chapters import is installed by
    ``pip install ".[book]"``: in the standard library, or a distribution in the closure of the package's
    dependencies plus its ``book`` extra."""
    project = _pyproject()["project"]
    wanted = _requirement_names(project["dependencies"]) | _requirement_names(project["optional-dependencies"]["book"])
    closure = _closure(wanted)
    providers = importlib.metadata.packages_distributions()
    sources = [*(REPO / "book" / "_ext").glob("*.py"), *(REPO / "fundamentalml").rglob("*.py"), *fml_book.chapter_files(REPO)]

    def programs(src: Path) -> set[str]:
        """What a file starts as a program rather than imports: ``python -m MODULE`` in a subprocess."""
        text = src.read_text() if src.suffix == ".py" else ""
        return set(re.findall(r'"-m",\s*"(\w+)"', text))

    local = {"fundamentalml", "fml_book", "fml_live", "__future__"}
    optional = {"google"}  # google.colab: only inside Colab, behind a check
    missing = {}
    for src in sources:
        # (the package's own grader, fundamentalml/exercises, is checked like the rest: chapters run it)
        for module in (_imports(src) | programs(src)) - local - optional - set(sys.stdlib_module_names):
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
            if not dists & closure:
                missing.setdefault(module, []).append(src.relative_to(REPO).as_posix())
    assert not missing, f"imported but not installed by .[book]: {missing}"
    assert "onnxruntime" in _requirement_names(project["optional-dependencies"]["book"])


def test_dependency_floors() -> None:
    from packaging.requirements import Requirement

    deps = {Requirement(r).name: Requirement(r) for r in _pyproject()["project"]["dependencies"]}
    assert "2.4.1" not in deps["torch"].specifier and "2.5.0" in deps["torch"].specifier, \
        "checkpoints.py needs torch.serialization.safe_globals (torch 2.5)"
    assert "7.6.0" in deps["ipywidgets"].specifier and "7.5.0" not in deps["ipywidgets"].specifier, \
        "Colab ships ipywidgets 7: the package must not upgrade it"
    assert hasattr(__import__("torch").serialization, "safe_globals")
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def test_package_data_and_licence_files_exist() -> None:
    project = _pyproject()
    for package, patterns in project["tool"]["setuptools"]["package-data"].items():
        folder = REPO / Path(*package.split("."))
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"pyproject packages {package}/{pattern}, which matches no file"
    for name in project["project"]["license-files"]:
        assert (REPO / name).is_file(), name
    assert "MIT License" in (REPO / "LICENSE").read_text()
    assert "CC BY 4.0" in (REPO / "LICENSE-CONTENT.md").read_text()
    weights = (REPO / "fundamentalml" / "weights" / "README.md").read_text()
    assert "CC BY-SA 4.0" in weights and "MNIST" in weights and "CIFAR-10" in weights
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["title"] and cff["authors"]
    assert cff["repository-code"] == fml_book.repository(fml_book.read_book_config(REPO))[0]


# ------------------------------------------------------------------------------------------------ 4. cards


def test_every_shipped_model_has_a_card_from_the_manifest() -> None:
    from fundamentalml import cards, registry
    from fundamentalml.runs import manifest

    data = manifest()
    assert data["models"], "no shipped model"
    text = cards.model_cards(data)
    for name, entry in data["models"].items():
        card = cards.model_card(name, entry)
        assert card.startswith(f"## ") and f"(`{name}`)" in card and card in text
        for part in ("**Intended use.**", "**Not for:**", "**Training data.**", "Licence:", "**How it was made.**",
                     "**Test metrics**", "**Limitations.**", "**Licence.**"):
            assert part in card, (name, part)
        assert entry["command"] in card and entry["sha256"][:16] in card
        headline = entry.get("headline", registry.get(name).headline)
        assert f"**{headline}** (headline)" in card
        assert cards._fmt(entry["metrics"][headline]) in card
        dataset = entry["data_identity"]["dataset"]
        assert cards.DATASET_TERMS[dataset].licence in card
    # A changed number in the manifest changes the card: nothing is typed.
    name = next(iter(data["models"]))
    entry = json.loads(json.dumps(data["models"][name]))
    headline = entry.get("headline", registry.get(name).headline)
    entry["metrics"][headline] = 1234.5678
    assert "1,234.5678" in cards.model_card(name, entry)


def test_cards_refuse_entries_that_cannot_say_how_a_model_was_made() -> None:
    from fundamentalml import cards
    from fundamentalml.runs import manifest

    name, entry = next(iter(manifest()["models"].items()))
    broken = {k: v for k, v in entry.items() if k != "command"}
    with pytest.raises(ValueError, match="command"):
        cards.model_card(name, broken)
    unknown = json.loads(json.dumps(entry))
    unknown["data_identity"]["dataset"] = "imagenet"
    with pytest.raises(ValueError, match="imagenet"):
        cards.model_card(name, unknown)


def test_manifest_holds_no_machine_paths() -> None:
    from fundamentalml import cards

    assert cards.machine_paths() == []
    assert cards.machine_paths({"models": {"x": {"command": "train --out /home/me/runs"}}}) == ["manifest.models.x.command: train --out /home/me/runs"]
    assert cards.machine_paths({"models": {"x": {"data": "from $FUNDAMENTALML_DATA/MNIST/raw", "c": "--out runs/full"}}}) == []
    made_here = {"models": {"x": {"command": "python -m fundamentalml train x --out /work/runs-judges --seed 0",
                                  "data": "mnist train split from /home/me/data/MNIST/raw",
                                  "seeds": [{"source": "cifar10 test split from /srv/d/cifar10/test.npz (a copy)"}]}}}
    assert len(cards.machine_paths(made_here)) == 3
    fixed = cards.portable(made_here)
    assert cards.machine_paths(fixed) == []
    assert fixed["models"]["x"]["command"] == "python -m fundamentalml train x --out runs/judges --seed 0"
    assert fixed["models"]["x"]["seeds"][0]["source"] == "cifar10 test split from $FUNDAMENTALML_DATA/cifar10/test.npz (a copy)"
    # reproduce's own command, as a recorded cost keeps it: its data and weights folders given whole
    command = "python -m fundamentalml reproduce --out /tmp/r/runs --weights_dir /tmp/r/weights --data_dir /work/shared/data"
    assert len(cards.machine_paths({"c": command})) == 1
    assert cards.portable(command) == ("python -m fundamentalml reproduce --out runs/runs --weights_dir weights "
                                       "--data_dir $FUNDAMENTALML_DATA")


def test_model_cards_page_is_written_from_the_manifest_at_build_time(tmp_path: Path) -> None:
    """The page holds ``{{ model_cards }}``; the build fills it in from a separate process (the build itself
    imports neither torch nor the package), cached on the manifest's and the card code's bytes."""
    from fundamentalml.cards import model_cards

    pages = [p.relative_to(REPO).as_posix() for p in fml_book.toc_files(REPO)]
    assert "book/models.md" in pages and fml_book.CARDS_TOKEN in (REPO / "book" / "models.md").read_text()
    assert "kernelspec" not in fml_book.front_matter(REPO / "book" / "models.md"), "a plain page, not a chapter"
    cache = tmp_path / ".fundamentalml"  # where the build keeps it: beside the site
    text = fml_book.model_cards_text(cache)
    assert text.strip() == model_cards().strip()
    cached = cache / f"model-cards-{fml_book.cards_key()}.md"
    assert cached.read_text() == text
    cached.write_text("from the cache")
    assert fml_book.model_cards_text(cache) == "from the cache"
    assert "\\$FUNDAMENTALML_DATA" in text, "a $ in the manifest must not open maths on the page"

    class App:
        outdir = str(tmp_path / "html")

        class env:  # noqa: N801
            pass

    page = ["# Model cards\n\n{{ model_cards }}\n"]
    fml_book._on_cards_source_read(App, "book/models", page)
    assert page[0] == "# Model cards\n\nfrom the cache\n"
    assert App.env.fml_cards_key == fml_book.cards_key()


# ------------------------------------------------------------------------------------------------ 5. site


def test_figures_carry_alt_text_written_from_what_they_show() -> None:
    """Each figure says what it shows (titles, axes, curves with their values, panels), drawn into its PNG,
    and the book's extension reads it back from the image file."""
    import base64

    import numpy as np
    from IPython.core.interactiveshell import InteractiveShell

    from fundamentalml import alt_text, plots

    histories = {"MLP VAE": {"epoch": [1, 2, 3], "train_loss": [150.0, 120.0, 110.0]},
                 "CNN VAE": {"epoch": [1, 2, 3], "train_loss": [140.0, 115.0, 104.25]}}
    fig = plots.plot_loss_curves(histories, title="-ELBO per epoch")
    text = alt_text.describe_figure(fig)
    for part in ("-ELBO per epoch", "against epoch", "MLP VAE", "CNN VAE", "from 150 at 1 to 110 at 3", "104.2"):
        assert part in text, (part, text)
    grids = plots.plot_sample_grids({"MLP VAE": np.random.rand(8, 1, 28, 28), "CNN VAE": np.random.rand(8, 1, 28, 28)}, ncols=4)
    text = alt_text.describe_figure(grids)
    assert "2 panels of images" in text and "'MLP VAE'" in text and "'CNN VAE'" in text and "grey-scale image" in text
    confusion = plots.plot_confusion_matrices({"cVAE": np.eye(10)})
    assert "diagonal mean 1" in alt_text.describe_figure(confusion)
    assert alt_text.describe_figure(alt_text.set_alt_text(grids, "Sixteen  digits.")) == "Sixteen digits."
    with pytest.raises(ValueError, match="non-empty"):
        alt_text.set_alt_text(grids, " ")

    shell = InteractiveShell.instance()
    assert alt_text.describe_figures(shell)
    data, metadata = shell.display_formatter.format(fig)
    png = base64.b64decode(data["image/png"])
    assert metadata["image/png"]["alt"] == alt_text.describe_figure(fig)
    assert fml_book.png_description(png) == alt_text.describe_figure(fig)
    assert fml_book.png_description(b"not a png") is None
    import matplotlib.pyplot as plt

    plt.close("all")


def test_figures_drawn_in_a_kernel_carry_alt_text(tmp_path: Path) -> None:
    """In a real kernel, where the inline backend loads only with the first figure and registers its own PNG
    formatter then: after the set-up cell's describe_figures(), a figure's PNG output still carries its alt text."""
    import base64
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from fundamentalml.alt_text import describe_figures\ndescribe_figures()"),
                nbformat.v4.new_code_cell("from fundamentalml import plots\n"
                                          "fig = plots.plot_loss_curves({'A': {'epoch': [1, 2], 'train_loss': [3.0, 2.0]}}, title='T')")]
    env = dict(os.environ)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    saved = dict(os.environ)
    try:
        os.environ.pop("MPLBACKEND", None)
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    png = [o for o in nb.cells[1].outputs if "image/png" in o.get("data", {})]
    assert len(png) == 1
    alt = png[0]["metadata"]["image/png"]["alt"]
    assert alt.startswith("Figure. 'T': line plot") and "from 3 at 1 to 2 at 2" in alt
    assert fml_book.png_description(base64.b64decode(png[0]["data"]["image/png"])) == alt


def test_the_build_puts_a_pngs_description_into_the_img_alt(tmp_path: Path) -> None:
    import io

    from docutils import nodes
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("Description", "Two curves: −ELBO falls from 150 to 104.")
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fig.png").write_bytes(buffer.getvalue())
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.md").write_text("x")
    doctree = nodes.document(None, None)
    # as MyST-NB writes the uri, as Sphinx's image collector rewrites it, one with alt text, one without a file
    described, collected = nodes.image(uri="/out/fig.png"), nodes.image(uri="out/fig.png")
    typed, missing = nodes.image(uri="/out/fig.png", alt="typed"), nodes.image(uri="/out/none.png")
    doctree += [described, collected, typed, missing]

    class App:
        srcdir = str(tmp_path)

        class env:  # noqa: N801
            docname = "page"

            @staticmethod
            def doc2path(name):
                return str(tmp_path / "book" / f"{name}.md")  # a page in a folder, like the chapters

    fml_book._on_doctree_read(App, doctree)
    assert described["alt"] == collected["alt"] == "Two curves: −ELBO falls from 150 to 104."
    assert typed["alt"] == "typed"
    assert "alt" not in missing


def test_chapters_set_up_cell_turns_alt_text_on() -> None:
    cell = fml_book.install_cell(*fml_book.repository(fml_book.read_book_config(REPO)))
    assert "describe_figures()" in cell


def test_live_panel_colours_come_from_the_theme() -> None:
    css = (REPO / "book" / "_static" / "fml-live.css").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for decl in re.findall(r"(?:^|[;{\s])((?:background|color|border)[\w-]*\s*:[^;}]*)", css):
        colours = re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(|\b(?:white|black|gray|grey)\b", decl)
        if colours:
            assert re.search(r"var\(--pst-color-[\w-]+,\s*#[0-9a-fA-F]{3,8}\)", decl), f"a fixed colour: {decl.strip()}"
    for html_file in ("fundamentalml/widgets.py",):
        for colour in re.findall(r"color:\s*#[0-9a-fA-F]{3,6}", (REPO / html_file).read_text()):
            pytest.fail(f"{html_file}: a fixed text colour in the stand-ins' HTML ({colour}); use var(--pst-color-...)")


def test_intro_says_what_kaggle_and_colab_need() -> None:
    intro = (REPO / "book" / "intro.md").read_text()
    assert "Internet" in intro and "verified" in intro, "Kaggle needs Internet on, which needs a verified account"
    assert "Change runtime type → GPU* and on Kaggle" not in intro, "the default path only evaluates: no GPU needed"
    assert "only to\ntrain" in intro or "only to train" in intro


# ------------------------------------------------------------------------------------------------ 6. README


def test_readme_first_command_names_python_venv_and_windows() -> None:
    readme = (REPO / "README.md").read_text()
    first = readme.split("## Set up and run", 1)[1].split("\n## ", 1)[0]
    assert "Python 3.11" in first and "3.10+" not in readme
    assert "python3-venv" in first and "apt-get install" in first
    assert re.search(r"(?m)^py -3\.11 -m venv \.venv; \.venv\\Scripts\\pip install -r requirements\.txt", first)
    ci_python = re.search(r'python-version:\s*"([\d.]+)"', WORKFLOW.read_text()).group(1)
    assert f"Python {ci_python}" in first and (REPO / "binder" / "runtime.txt").read_text().strip() == f"python-{ci_python}"
