"""The code on the page: listings come from the package's current source, every listing a chapter asks for
exists, shape walk-throughs are measured, and the plain loop trains exactly like the package's run path."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from fundamentalml.listings import SourceNotFound, shape_table, shape_walk, show_source
from fundamentalml.loops import curves_agree, plain_losses, plain_training_loop, run_path_losses
from fundamentalml.models import ConvVAE, MLPVAE
from fundamentalml.models.dcgan import GAN, gan_update
from fundamentalml.models.vae import VAE, reparameterize

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("vae", "dcgan", "conditional")


# ------------------------------------------------------------------------------------------ listings


def test_listing_is_the_files_own_lines() -> None:
    listing = show_source(reparameterize)
    assert listing.path == "fundamentalml/models/vae.py"
    file_lines = (ROOT / listing.path).read_text().splitlines()
    assert listing.code.splitlines() == file_lines[listing.first_line - 1:listing.last_line]
    assert listing.code.startswith("def reparameterize(")
    assert listing.caption == f"fundamentalml/models/vae.py, lines {listing.first_line}\u2013{listing.last_line}"


def test_methods_are_dedented_and_keep_their_decorators() -> None:
    listing = show_source(VAE.sample)
    assert listing.code.startswith("@evaluating\ndef sample(")
    _, first = inspect.getsourcelines(inspect.unwrap(VAE.sample))
    assert listing.first_line == first


def test_a_string_names_the_same_object() -> None:
    assert show_source("fundamentalml.models.vae:VAE.batch_loss") == show_source(VAE.batch_loss)


@pytest.mark.parametrize("target, words", [
    ("fundamentalml.models.vae:reparametrise", "renamed or moved"),
    ("fundamentalml.models.nowhere:VAE", "no module"),
    ("fundamentalml.models.vae", "package.module:Qual.name"),
    (nn.Linear, "outside the fundamentalml package"),
    (len, "no Python source"),
])
def test_a_missing_or_foreign_object_is_a_clear_error(target: object, words: str) -> None:
    with pytest.raises(SourceNotFound, match=re.escape(words)):
        show_source(target)


def test_markers_cut_a_listing_and_a_vanished_marker_is_an_error() -> None:
    part = show_source(gan_update, start="d_loss = ", end="opt_d.step()")
    assert part.code.splitlines()[0].startswith("d_loss = ")
    assert part.code.splitlines()[-1] == "opt_d.step()"
    assert part.last_line - part.first_line == len(part.code.splitlines()) - 1
    with pytest.raises(SourceNotFound, match="no line containing"):
        show_source(GAN.update_batch, start="this line is not there")


def test_html_and_text_views_show_the_code_and_where_it_lives() -> None:
    listing = show_source(reparameterize)
    page = listing._repr_html_()
    assert "fundamentalml/models/vae.py" in page and "reparameterize" in page and "<pre" in page
    text = str(listing)
    assert text.splitlines()[0] == f"# {listing.caption}"
    assert text.splitlines()[1].startswith(f"{listing.first_line}  def reparameterize")


def _shown_targets(chapter: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``show_source(...)`` call of a chapter, as a ``module:qualname`` string plus its keyword markers,
    resolved through the chapter's own ``from ... import ...`` lines."""
    code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", (ROOT / "book" / f"{chapter}.md").read_text(), re.S))
    code = "\n".join(  # cell options out; IPython magics (the set-up cell's %pip) become `pass`
        re.sub(r"^(\s*)%.*", r"\1pass", line) for line in code.splitlines() if not line.startswith(":"))
    tree = ast.parse(code)
    where: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                where[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "show_source":
            target = ast.unparse(node.args[0])
            head, _, rest = target.partition(".")
            assert head in where, f"{chapter}.md shows {target}, imported from nowhere in the chapter"
            calls.append((where[head] + (f".{rest}" if rest else ""),
                          {k.arg: ast.literal_eval(k.value) for k in node.keywords}))
    return calls


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_listing_a_chapter_shows_exists(chapter: str) -> None:
    """Renaming or moving a shown function, or changing the line a marker points at, fails here (and the build)."""
    targets = _shown_targets(chapter)
    assert len(targets) >= 6, f"{chapter}.md shows only {len(targets)} listings"
    for target, markers in targets:
        listing = show_source(target, **markers)
        assert listing.path.startswith("fundamentalml/")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_twins_show_the_same_listings(chapter: str) -> None:
    """The .ipynb twin (Colab, Kaggle, Binder) runs the same show_source cells as the page."""
    import json

    twin = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in twin["cells"] if c["cell_type"] == "code")
    md_calls = re.findall(r"show_source\([^\n]*\)", (ROOT / "book" / f"{chapter}.md").read_text())
    assert md_calls and re.findall(r"show_source\([^\n]*\)", code) == md_calls


def test_the_chapters_show_what_the_issue_lists() -> None:
    shown = {c: {t for t, _ in _shown_targets(c)} for c in CHAPTERS}
    assert {"fundamentalml.models.vae:reparameterize", "fundamentalml.models.vae:vae_loss",
            "fundamentalml.models.vae:VAE.batch_loss", "fundamentalml.models.vae:VAE.sample",
            "fundamentalml.loops:plain_training_loop", "fundamentalml.loops:vae_step",
            "fundamentalml.models:MLPVAE", "fundamentalml.models:ConvVAE"} <= shown["vae"]
    assert {"fundamentalml.models.dcgan:GAN.update_batch", "fundamentalml.models.dcgan:gan_update",
            "fundamentalml.models.dcgan:init_dcgan_weights",
            "fundamentalml.models.dcgan:GAN.sample", "fundamentalml.models:DCGAN"} <= shown["dcgan"]
    assert {"fundamentalml.models.conditional:_Conditional.generate",
            "fundamentalml.models.conditional:ConditionalGAN.generate_from",
            "fundamentalml.models.conditional:ConditionalGAN.discriminate",
            "fundamentalml.models.conditional:ConditionalVAE.batch_loss"} <= shown["conditional"]


# ------------------------------------------------------------------------------------------ shapes


def test_shape_walk_measures_every_layer_in_order() -> None:
    steps = shape_walk(ConvVAE().eval(), torch.rand(3, 1, 28, 28))
    names = [s.name for s in steps]
    assert names[0] == "input" and steps[0].shape == (3, 1, 28, 28)
    assert names.index("encoder.6") < names.index("fc_mu") < names.index("decoder.0")
    by_name = {s.name: s for s in steps}
    assert by_name["encoder.2"].shape == (3, 64, 7, 7)
    assert by_name["decoder.5"].shape == (3, 1, 28, 28)
    assert sum(s.parameters for s in steps) == sum(p.numel() for p in ConvVAE().parameters())


def test_shape_table_names_layers_and_refuses_notes_for_layers_that_did_not_run() -> None:
    steps = shape_walk(MLPVAE().eval(), torch.rand(2, 1, 28, 28), input_is="two digits")
    table = shape_table(steps, notes={"fc_mu": "the mean of q(z | x)"})
    assert "| `fc_mu` |" in table and "q(z \\| x)" in table and "| two digits |" in table
    assert all(line.count("|") - line.count("\\|") == 6 for line in table.splitlines())
    with pytest.raises(KeyError, match="did not run"):
        shape_table(steps, notes={"encoder.9": "no such layer"})
    with pytest.raises(TypeError):
        shape_walk(MLPVAE(), "not a tensor")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ the plain loop


def test_plain_loop_trains_and_refuses_bad_steps() -> None:
    torch.manual_seed(0)
    model = MLPVAE(hidden_dims=(32,), latent_dim=4)
    batch = (torch.rand(16, 1, 28, 28), torch.zeros(16, dtype=torch.long))
    losses = plain_training_loop(model, [batch], steps=12)  # one batch, re-read: 12 passes
    assert len(losses) == 12 and losses[-1] < losses[0]
    assert not model.training
    with pytest.raises(ValueError, match="positive int"):
        plain_losses("vae-mlp", steps=0)


def test_plain_loop_matches_the_run_path_step_for_step() -> None:
    """Same seed, same batches, same optimiser: the bare loop and the package's Lightning run give the same
    loss at every step (the VAE chapter plots both)."""
    plain = plain_losses("vae-mlp", steps=25, seed=3)
    lightning = run_path_losses("vae-mlp", steps=25, seed=3)
    assert len(plain) == len(lightning) == 25
    assert curves_agree(plain, lightning) < 1e-5
    assert plain[-1] < plain[0]
    other_seed = plain_losses("vae-mlp", steps=25, seed=4)
    assert curves_agree(plain, other_seed) > 1e-3  # the comparison can fail
