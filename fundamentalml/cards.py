"""Model cards of the shipped models, written from the manifest (``weights/manifest.json``) and the registry.

One card per shipped model: what it is, its intended use and what it is not for, the data it was trained on
with that data's licence, how it was made (command, commit, profile, seed, versions, machine, wall time), its
test metrics (and the seed spread where the manifest records other seeds), its limitations and its licence.
Nothing on a card is typed per model: every number and provenance field comes from the manifest entry, every
name from the model's registry entry, and the prose from tables keyed by dataset and by metric (never by a
model's name, which only :mod:`fundamentalml.registry` branches on).

``model_cards()`` returns the cards as Markdown; the book's *Model cards* page shows them, and
``python -c "from fundamentalml.cards import model_cards; print(model_cards())"`` prints them.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Any, Mapping

from . import registry
from .files import portable  # noqa: F401  (re-exported: the cards and their tests use it)
from .runs import manifest as read_manifest
from .tables import markdown_table

# Licences of what the repository holds (the files at the repository's root and weights/README.md say the same).
CODE_LICENCE = "MIT"
PROSE_LICENCE = "CC BY 4.0"
WEIGHTS_LICENCE = "CC BY-SA 4.0"
WEIGHTS_LICENCE_WHY = (
    "ShareAlike, because MNIST, which most of the models learnt from, is distributed under CC BY-SA 3.0 and "
    "trained weights may be adaptations of their training data; the same licence is used for every shipped "
    "file so that one rule covers them all."
)


@dataclass(frozen=True)
class DatasetTerms:
    """Where a training set comes from and under which terms it may be used."""

    title: str
    what: str
    source: str
    licence: str
    citation: str


DATASET_TERMS: dict[str, DatasetTerms] = {
    "mnist": DatasetTerms(
        title="MNIST",
        what="70,000 handwritten digits (0-9), 28×28 grey-scale: 60,000 training and 10,000 test images",
        source="Yann LeCun, Corinna Cortes and Christopher J. C. Burges, http://yann.lecun.com/exdb/mnist/ "
               "(fetched through torchvision)",
        licence="Creative Commons Attribution-ShareAlike 3.0 (CC BY-SA 3.0), as its authors distribute it",
        citation="LeCun, Bottou, Bengio and Haffner (1998), Gradient-based learning applied to document recognition",
    ),
    "fashion-mnist": DatasetTerms(
        title="Fashion-MNIST",
        what="70,000 28×28 grey-scale images of clothing in 10 classes",
        source="Zalando Research, https://github.com/zalandoresearch/fashion-mnist",
        licence="MIT",
        citation="Xiao, Rasul and Vollgraf (2017), Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms",
    ),
    "cifar10": DatasetTerms(
        title="CIFAR-10",
        what="60,000 32×32 colour photographs in 10 classes (50,000 training, 10,000 test), a labelled subset "
             "of the 80 Million Tiny Images collection",
        source="Alex Krizhevsky, Vinod Nair and Geoffrey Hinton, https://www.cs.toronto.edu/~kriz/cifar.html",
        licence="no licence is granted by its authors; they ask that the technical report be cited when it is "
                "used. The photographs were collected from the web and their copyrights stay with their owners, "
                "so the set (and what is learnt from it) is for research and teaching",
        citation="Krizhevsky (2009), Learning multiple layers of features from tiny images, technical report, "
                 "University of Toronto",
    ),
}

# What a headline metric means and how to read it (keyed by the metric, not by the model).
METRIC_MEANING: dict[str, str] = {
    "neg_elbo": "negative evidence lower bound on the test set, in nats per image (lower is better; an upper "
                "bound on the negative log-likelihood, not the likelihood itself)",
    "accuracy": "share of the test images classified correctly",
    "conditioning_accuracy": "share of generated images that the reference classifier reads as the digit that "
                             "was asked for",
    "frechet_distance": "Fréchet distance between generated and test images in the feature space named on the "
                        "card (lower is better)",
}

# Limitations that follow from the kind of evidence a metric gives (keyed by metric).
METRIC_LIMITS: dict[str, str] = {
    "neg_elbo": "The −ELBO bounds the likelihood; it does not measure how good samples look, and the samples of a "
                "VAE with a Bernoulli decoder are blurry by construction.",
    "accuracy": "An accuracy on MNIST's test set says nothing about other handwriting, other scans or other "
                "image sizes.",
    "conditioning_accuracy": "Conditioning accuracy is read by one classifier trained on the same data: images "
                             "that fool it count as correct, and it does not measure quality or diversity alone.",
    "frechet_distance": "This Fréchet distance is computed in the feature space named on the card, not in "
                        "Inception's: it is not comparable with published FID numbers, only between the "
                        "course's own models.",
}

GENERAL_LIMITS = (
    "One training run per seed, on the machine named above: the numbers carry seed noise (where other seeds "
    "are recorded, their spread is given) and the wall time is that machine's.",
    "Weights stored in float16 were kept so only where that moved the headline metric by less than the "
    "package's tolerance: the stored file's own metrics (`metrics_as_stored` in the manifest) are within it.",
    "Small images of one narrow domain: nothing here generalises to other kinds of images.",
)

NOT_FOR = (
    "any decision about a person, or recognising people or their handwriting;",
    "generating images passed off as real, or as anything but the output of a small teaching model;",
    "benchmark claims beyond the course (the metrics are the course's own, with their limits below).",
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"`` or ``"1 h 05 min"``."""
    minutes = round(seconds / 60)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _text(value: Any) -> str:
    """A free-text manifest field as Markdown text: ``$`` escaped (the book reads ``$...$`` as maths)."""
    return str(value).replace("$", "\\$")


def _first_line(doc: str | None) -> str:
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    return text.rstrip(".")


def _scalar_metrics(metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in sorted(metrics.items()) if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _seed_spread(entry: Mapping[str, Any], key: str) -> str | None:
    values = [entry.get("metrics", {}).get(key)]
    values += [s.get("metrics", {}).get(key) for s in entry.get("seeds", []) or [] if isinstance(s, Mapping)]
    values = [float(v) for v in values if isinstance(v, (int, float))]
    if len(values) < 2:
        return None
    return (f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g} (mean ± standard deviation over "
            f"{len(values)} seeds)")


def model_card(name: str, entry: Mapping[str, Any]) -> str:
    """The Markdown model card of the shipped model ``name`` from its manifest ``entry``.

    Raises ``KeyError`` when ``name`` is not a registered model and ``ValueError`` when the entry lacks what a
    card must state (the file, its sha256, the metrics, the command and commit that made it).
    """
    missing = [k for k in ("file", "sha256", "metrics", "command", "commit", "profile", "seed") if k not in entry]
    if missing:
        raise ValueError(f"The manifest entry of {name} lacks {missing}: a card cannot say how the model was made. "
                         f"Rebuild the manifest with python -m fundamentalml reproduce.")
    spec = registry.get(name)
    dataset = (entry.get("data_identity") or {}).get("dataset") or spec.dataset
    if dataset not in DATASET_TERMS:
        raise ValueError(f"No licence terms are recorded for dataset {dataset!r} (model {name}); add them to "
                         f"fundamentalml.cards.DATASET_TERMS.")
    terms = DATASET_TERMS[dataset]
    headline = entry.get("headline", spec.headline)
    metrics = entry["metrics"]
    lines = [
        f"## {spec.title} (`{name}`)",
        "",
        f"**What it is.** {_first_line(spec.model_class.__doc__)} (`{entry.get('model_class', spec.model_class.__name__)}`, "
        f"{_fmt(int(entry['parameters'])) + ' parameters' if isinstance(entry.get('parameters'), int) else 'parameters not recorded'}); "
        f"shown in the book's chapter `book/{spec.chapter}.md`. Load it with `fundamentalml.pretrained(\"{name}\")`, "
        f"which checks the file's sha256 against the manifest.",
        "",
        f"**Intended use.** Teaching and study: reproducing, inspecting and extending the chapter's figures and "
        f"numbers; a baseline to compare your own training runs against. **Not for:** " + " ".join(NOT_FOR),
        "",
        f"**Training data.** {terms.title}: {terms.what}. Source: {terms.source}. Licence: {terms.licence}. "
        f"Cite: {terms.citation}.",
    ]
    if entry.get("data"):
        lines.append(f"As used here: {_text(entry['data'])}.")
    note = (entry.get("data_identity") or {}).get("note")
    if note:
        lines.append(_text(note))
    budget = entry.get("budget") or {}
    lines += [
        "",
        "**How it was made.** "
        f"`{entry['command']}` at commit `{str(entry['commit'])[:12]}`, profile `{entry['profile']}`, seed "
        f"{entry['seed']}" + (f", {budget['epochs']} epochs of batch {budget['batch_size']} at learning rate "
                             f"{budget['lr']:g}, precision `{budget.get('precision')}`" if budget else "")
        + f"; torch {entry.get('torch', '?')}, Lightning {entry.get('lightning', '?')}, Python "
        f"{entry.get('python', '?')}; on {entry.get('machine', 'an unrecorded machine')}"
        + (f", {_duration(float(entry['train_time_s']))} of training" if isinstance(entry.get("train_time_s"), (int, float)) else "")
        + f". Stored as {entry.get('dtype', '?')}, {_fmt(int(entry.get('bytes', 0)))} bytes, sha256 "
        f"`{entry['sha256'][:16]}…`. Remake it with `{entry.get('reproduce', 'python -m fundamentalml reproduce')}`; "
        f"check it with `python -m fundamentalml verify`.",
    ]
    if entry.get("note"):
        lines.append(f"Note recorded with it: {_text(entry['note'])}")
    rows = [["**" + key + "** (headline)" if key == headline else key, _fmt(value)] for key, value in _scalar_metrics(metrics)]
    if isinstance(metrics.get("feature_space"), str):
        rows.append(["feature space", metrics["feature_space"]])
    lines += ["", "**Test metrics** (measured right after training, on the whole test set):", "",
              markdown_table(["metric", "value"], rows), ""]
    meaning = METRIC_MEANING.get(headline)
    if meaning:
        lines.append(f"The headline, `{headline}`, is the {meaning}.")
    spread = _seed_spread(entry, headline)
    if spread:
        lines.append(f"Across seeds: {spread}.")
    limits = [METRIC_LIMITS[headline]] if headline in METRIC_LIMITS else []
    lines += ["", "**Limitations.**", ""] + [f"- {text}" for text in (*limits, *GENERAL_LIMITS)]
    lines += ["", f"**Licence.** The weights: {WEIGHTS_LICENCE}. The code that made them: {CODE_LICENCE}.", ""]
    return "\n".join(lines)


def model_cards(manifest: Mapping[str, Any] | None = None) -> str:
    """The cards of every shipped model in the manifest (default: the installed package's), in registry order."""
    data = read_manifest() if manifest is None else manifest
    entries = data.get("models", {})
    order = [n for n in registry.MODEL_NAMES if n in entries] + sorted(set(entries) - set(registry.MODEL_NAMES))
    if not order:
        return "No model is shipped with this installation of the package."
    head = (f"{len(order)} trained models ship with the package. Their weights are licensed under "
            f"{WEIGHTS_LICENCE}: {WEIGHTS_LICENCE_WHY}")
    costs = ("## What training costs\n\nEach shipped model's `full` run, and the same run at the other precision or on "
             "another kind of machine (a CPU with AMX, a GPU) where one was measured (`python -m fundamentalml costs "
             "--runs FOLDER` records it, with the bf16 quality check: the headline metric within the registry's "
             "`precision` tolerance of the fp32 run's on the same kind of machine). `python -m fundamentalml costs` "
             "prints this table.\n\n" + cost_table(data))
    return "\n\n".join([head, *(model_card(name, entries[name]) for name in order), costs])


def cost_table(manifest: Mapping[str, Any] | None = None) -> str:
    """What training each shipped model at ``full`` costs, as a Markdown table: wall time by precision on a CPU (the
    shipped run and every run recorded with ``python -m fundamentalml costs``), and on a CPU with AMX and on a GPU
    when one was measured, and whether bf16 kept the headline metric within the registry's ``precision`` tolerance
    of the fp32 run's on the same kind of machine (a device's own check where it has one, else the reference
    CPU's, decides the precisions that count towards that device's whole-course sum).

    Times are the median epoch times the epochs (the whole run when no epoch times were kept); the load average
    (15 minutes, at the end of the run) says how busy the machine was, where it was recorded, and a cost's note
    is a numbered footnote. bf16 / fp32 is given only where both loads are known.
    """
    from .shipping import cost_key, median_epoch_seconds

    entries = (read_manifest() if manifest is None else manifest).get("models", {})
    rows, machines, notes, fastest, fastest_amx = [], {"cpu": set(), "amx": set()}, [], {}, {}
    for name in (n for n in registry.MODEL_NAMES if n in entries):
        entry, spec = entries[name], registry.get(name)
        epochs = spec.budget("full").epochs
        shipped = {"precision": (entry.get("budget") or {}).get("precision"), "train_time_s": entry.get("train_time_s"),
                   "median_epoch_s": median_epoch_seconds(entry), "machine": entry.get("machine")}
        costs = {cost_key(shipped): shipped, **(entry.get("costs") or {})}
        for device in machines:
            machines[device] |= {str(c.get("machine")) for k, c in costs.items() if k.startswith(f"{device} ")}

        def seconds(cost: Mapping[str, Any] | None) -> float | None:
            if not cost:
                return None
            return cost["median_epoch_s"] * epochs if cost.get("median_epoch_s") else cost.get("train_time_s")

        def cell(cost: Mapping[str, Any] | None) -> str:
            total = seconds(cost)
            if total is None:
                return "not measured"
            load = cost.get("load_average")
            note = cost.get("note") or ("" if load else "the shipped run's own time; its machine's load was not recorded")
            if note and note not in notes:
                notes.append(note)
            return (_duration(float(total)) + (f" (load {load[-1]:.1f})" if load else "")
                    + (f" [{notes.index(note) + 1}]" if note else ""))

        fp32, bf16 = costs.get("cpu 32-true"), costs.get("cpu bf16-mixed")
        # A ratio only between two times whose machine load is known: otherwise it may measure the load.
        comparable = fp32 and bf16 and fp32.get("load_average") and bf16.get("load_average")
        ratio = f"{seconds(bf16) / seconds(fp32):.2f}" if comparable and seconds(fp32) and seconds(bf16) else ""
        check = next((c for k, c in costs.items() if k.startswith("cpu ") and "holds" in c), None)
        # A recorded run's difference is its metric minus the shipped run's; the column is bf16 minus fp32, so an
        # fp32 run recorded beside a shipped bf16 one (the DCGAN's) turns the sign round.
        sign = 1.0 if check is None or check.get("precision") != "32-true" else -1.0
        verdict = "" if check is None else (f"{'holds' if check['holds'] else 'does not hold'} "
                                            f"({_difference(spec.headline, sign * check['headline']['difference'])})")
        def checked(cost: Mapping[str, Any]) -> str:
            """A recorded run's own precision check on a device other than the reference CPU, in the column's
            convention (bf16 minus fp32)."""
            if "holds" not in cost:
                return ""
            head = cost["headline"]
            difference = head.get("precision_difference", head.get("difference", 0.0))
            difference *= -1.0 if cost.get("precision") == "32-true" else 1.0
            return f", bf16 quality {'holds' if cost['holds'] else 'does not hold'} ({_difference(spec.headline, difference)})"

        amx, gpu = ([f"{p.split()[1]}: {cell(c)}{checked(c)}" for p, c in sorted(costs.items()) if p.startswith(f"{device} ")]
                    for device in ("amx", "gpu"))
        title = spec.title + (f" (shipped run: {shipped['precision']})" if shipped["precision"] != "32-true" else "")
        rows.append([title, str(epochs), cell(fp32), cell(bf16), ratio, verdict, "; ".join(amx) or "not measured",
                     "; ".join(gpu) or "not measured"])
        # The fastest time on a device whose quality holds: the shipped run's precision is the reference; the other
        # counts where its quality check passed: the device's own check where it has one (a same-machine pair),
        # else the reference CPU's.
        for device, best in (("cpu", fastest), ("amx", fastest_amx)):
            def allowed(cost: Mapping[str, Any], device: str = device) -> bool:
                if cost["precision"] == shipped["precision"]:
                    return True
                own = costs.get(f"{device} {cost['precision']}", {})
                check = own if "holds" in own else costs.get(f"cpu {cost['precision']}", {})
                return bool(check.get("holds"))

            holding = [(seconds(c), c["precision"]) for key, c in costs.items()
                       if key.startswith(f"{device} ") and seconds(c) and allowed(c)]
            best[spec.title] = min(holding) if holding else None
    table = markdown_table(["model", "epochs", "CPU, fp32", "CPU, bf16", "bf16 / fp32", "bf16 quality", "CPU with AMX",
                            "GPU"], rows)
    amx_line = ""
    if machines["amx"]:
        amx_line = "\n\nCPU with AMX: " + "; ".join(sorted(machines["amx"])) + ". " + _whole_course(fastest_amx, "the CPU with AMX")
    return ("**What a `full` run costs, by precision and device** (bf16 quality: the bf16 run's headline metric minus "
            "the fp32 run's, same seed)\n\n" + table + "\n\nCPU: " + "; ".join(sorted(machines["cpu"])) + ".\n\n"
            + _whole_course(fastest) + amx_line + "".join(f"\n\n[{i}] {note}" for i, note in enumerate(notes, 1)))


def _whole_course(fastest: Mapping[str, tuple[float, str] | None], device: str = "the CPU") -> str:
    """A sentence: training every model above in turn on ``device``, each at its fastest precision that holds quality
    (``fastest``: title -> (seconds, precision), or ``None`` where no time is recorded on that device)."""
    missing = [title for title, best in fastest.items() if best is None]
    if missing or not fastest:
        return (f"Retraining them all in turn on {device}: not known, since no time on it is recorded for "
                + (", ".join(missing) or "any model") + ".")
    by_precision: dict[str, list[str]] = {}
    for title, (_, precision) in fastest.items():  # type: ignore[misc]
        by_precision.setdefault(precision, []).append(title)
    short = {"32-true": "fp32", "bf16-mixed": "bf16"}
    how = "; ".join(f"{short.get(precision, precision)} for {', '.join(titles)}"
                    for precision, titles in sorted(by_precision.items()))
    total = sum(best[0] for best in fastest.values() if best)
    return (f"Retraining all {len(fastest)} in turn on {device}, each at the fastest precision that holds its quality "
            f"({how}): **{_duration(total)}** of training, the sum of those times (`reproduce` also evaluates "
            "each model as it ships it).")


def _difference(headline: str, value: float) -> str:
    """A change of a headline metric in its own units: nats of -ELBO, points of accuracy, else the number."""
    if headline == "neg_elbo":
        return f"{value:+.3f} nats"
    if headline.endswith("accuracy"):
        return f"{value * 100:+.2f} points"
    return f"{value:+.3g}"


_MACHINE_PATH = re.compile(r"(?<![\w.$])(?:/(?:home|Users|root|tmp|work|mnt|srv|opt|var|scratch)/|[A-Za-z]:\\)")


def machine_paths(manifest: Mapping[str, Any] | None = None) -> list[str]:
    """Every string in the manifest that holds an absolute path of the machine that made it (``[]`` is right)."""
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
        elif isinstance(value, str) and _MACHINE_PATH.search(value):
            found.append(f"{where}: {value}")

    walk(read_manifest() if manifest is None else manifest, "manifest")
    return found


