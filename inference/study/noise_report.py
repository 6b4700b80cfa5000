"""The noise section of the study report: each design's ROC and figures per model and noise level.

Reads only the analysis of the stored per-sample digests (``inference.study.accuracy``) and writes
``NOISE.md`` with one ROC figure per model, and the same section between markers in
``REPORT.md`` (replaced on every run, so the rest of the report is kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from inference.study.accuracy import TARGETS
from inference.study.noise import CONDITIONS, IMPOSTOR_NAMES, TARGET_NOISE

START = "<!-- noise section: written by `genoracle study accuracy` -->"
END = "<!-- end of the noise section -->"


def _pct(value: float) -> str:
    if value != value:
        return "-"
    return f"{100 * value:.2f} %" if value < 1 else "100 %"


def plot_roc(name: str, result: dict[str, Any], folder: Path, eps: float = TARGET_NOISE) -> str:
    """False slashes (1 - honest pair acceptance) against the impostors' mean escape rate
    (another seed left out: lane 0 catches it), per design, sweeping the graded lanes' threshold
    at one noise level."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for design, entry in result["designs"].items():
        figures = entry["noise"].get(f"{eps:g}")
        if figures is None:
            continue
        xs = [max(1e-4, 1 - p["honest_pair_accept"]) for p in figures["roc"]]
        ys = [max(1e-4, 1 - p["mean_detected"]) for p in figures["roc"]]
        ax.plot(xs, ys, marker=".", label=design)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(1 - TARGETS["honest_pair"], color="grey", linestyle=":")
    ax.axhline(1 - TARGETS["detected"], color="grey", linestyle=":")
    ax.set_xlabel("honest pairs rejected (false slash), held-out seeds")
    ax.set_ylabel("cheaper computations accepted (mean)")
    ax.set_title(f"{name}, noise {eps:g}: graded threshold swept", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    file = f"{name}-noise-roc.png"
    fig.savefig(folder / file, dpi=90)
    plt.close(fig)
    return file


def _figures_table(result: dict[str, Any], design: str) -> list[str]:
    impostors = [n for n in IMPOSTOR_NAMES]
    head = "| noise | tolerance | honest pair | honest maj-of-3 | " + " | ".join(impostors) + " |"
    lines = [head, "|" + "---|" * (4 + len(impostors))]
    for eps, f in result["designs"][design]["noise"].items():
        detected = [_pct(f["detected"].get(n, float("nan"))) for n in impostors]
        lines.append(
            f"| {eps} | {'/'.join(map(str, f['tolerance']))} | {_pct(f['honest_pair_accept'])} "
            f"({f['honest_pairs']}) | {_pct(f['honest_majority3_accept'])} "
            f"({f['honest_triples']}) | " + " | ".join(detected) + " |"
        )
    return lines


def section(
    results: dict[str, dict[str, Any]], chosen: str, folder: Path, notes: list[str]
) -> list[str]:
    """The markdown of the noise section (figures are written into `folder`)."""
    lines = [
        "## Honest hardware noise and cheaper computations",
        "",
        "Honest hardware is modelled as relative Gaussian noise multiplied into the denoiser's "
        "output at every step (`out * (1 + eps * z)`, z from a generator of its own per sample "
        "and replica); four independent replicas per level are four honest verifiers (6 pairs, 4 "
        "real triples per cell). Impostors: "
        + "; ".join(
            f"`{c.name}` ({c.description})" for c in CONDITIONS.values() if c.role == "impostor"
        )
        + "; `other-seed` (another seed's reference image of the same class). Each tolerance is "
        f"the largest honest lane distance on the odd seeds plus 2 bits (the graded lanes share "
        f"one threshold); every figure below is measured on the even seeds. Targets at noise "
        f"{TARGET_NOISE:g}: honest pair >= {_pct(TARGETS['honest_pair'])}, majority of 3 >= "
        f"{100 * TARGETS['honest_majority3']:.2f} %, every impostor detected (its pairs with "
        f"honest replicas disagree) >= {_pct(TARGETS['detected'])}. `boundary_noise` is the "
        "largest modelled noise at which a design still meets all three (measured rates). "
        "Counts matter: 0 failures in 600 held-out pairs bounds the failure rate below 0.5 % "
        "(95 %, rule of three), not 0.1 %, and 400 triples cannot show 99.99 %: the honest "
        "figures here are what was measured, not a proof of the targets.",
        "",
        *(line for note in notes for line in (note, "")),
        "The design is chosen by its held-out figures at noise 1e-3 summed over the models that ran"
        " the impostors: targets met, then the number of impostors detected >= 99 %, then their "
        "mean detection, then honest majority-of-3 acceptance.",
        "",
    ]
    for name, result in results.items():
        roc = plot_roc(name, result, folder)
        lines += [f"### {name} ({result['cells']} cells)", "", f"![{name} ROC]({roc})", ""]
        lines += [
            "| design | boundary noise | at 1e-3: floor | detected >= 99 % | mean detection |"
            " weakest detection | honest maj-of-3 |",
            "|---|---|---|---|---|---|---|",
        ]
        for design, entry in result["designs"].items():
            f = entry["noise"].get(f"{TARGET_NOISE:g}")
            if f is None:
                continue
            detected = f["detected"]
            weakest = min(detected.items(), key=lambda kv: kv[1], default=("-", float("nan")))
            mean = sum(detected.values()) / len(detected) if detected else float("nan")
            lines.append(
                f"| {design}{' (chosen)' if design == chosen else ''} | "
                f"{entry['boundary_noise']:g} | {'/'.join(map(str, f['tolerance']))} | "
                f"{sum(v >= TARGETS['detected'] for v in detected.values())} of {len(detected)} | "
                f"{_pct(mean)} | {_pct(weakest[1])} ({weakest[0]}) | "
                f"{_pct(f['honest_majority3_accept'])} |"
            )
        lines += ["", f"The chosen design `{chosen}` per noise level:", ""]
        lines += _figures_table(result, chosen)
        bounds = result["designs"][chosen]["boundary_by_impostor"]
        lines += [
            "",
            "Largest modelled noise at which each impostor is still detected >= 99 % (0: not even"
            " at 1e-4): " + ", ".join(f"{k} {v:g}" for k, v in bounds.items()) + ".",
            "",
            "Share of 8-bit values that differ from the noise-free reference (what any digest of"
            " the image can see at best):",
            "",
            "| samples | p1 | median | p99 | max |",
            "|---|---|---|---|---|",
        ]
        for label, q in result.get("changed_values", {}).items():
            lines.append(
                f"| {label} | {_pct(q['p1'])} | {_pct(q['p50'])} | {_pct(q['p99'])} | "
                f"{_pct(q['max'])} |"
            )
        lines.append("")
    return lines


def write_noise_report(
    results: dict[str, dict[str, Any]], chosen: str, folder: Path, notes: list[str]
) -> Path:
    """Write NOISE.md and refresh the noise section of REPORT.md (if there is one)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = section(results, chosen, folder, notes)
    path = folder / "NOISE.md"
    path.write_text("# Noise study\n\n" + "\n".join(body) + "\n")
    report = folder / "REPORT.md"
    if report.is_file():
        text = report.read_text()
        block = "\n".join([START, *body, END])
        if START in text and END in text:
            text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        report.write_text(text)
    return path
