"""Analysis of stored study samples: digests per scheme, pair distributions, voting, tolerances.

The result is a plain JSON-able dict (written next to the report) so that the report, the README
figures and the tolerance file all read the same numbers.

Long module: one pass over the stored samples feeds every table; split, the parts would hand
the same intermediate arrays to each other.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.bulk.hamming import pack_digests
from inference.digests import IMAGE_SCHEMES, LANES, Tolerance, digest_image
from inference.study import pairs, stats
from inference.study.store import SampleStore, VariantSamples
from inference.study.variants import ALL_VARIANTS, OTHER_SEED, REFERENCE

SCHEME_MODES = {
    "phash64": "lanes01",
    "phash64+dhash64": "lanes01",
    "phash64+fine64": "lanes01",
    "phash256": "max",
}


def scheme_tolerance(scheme: str, tx: int, ty: int) -> Tolerance:
    """The on-chain tolerance of a point (tx, ty) of a scheme's tolerance family."""
    if SCHEME_MODES[scheme] == "max":
        return Tolerance.of(tx, tx, tx, tx)
    lanes = len(IMAGE_SCHEMES[scheme].lanes)
    return Tolerance.of(tx, ty) if lanes == 2 else Tolerance.of(tx)


def sample_image(pixels: npt.NDArray[np.uint8]) -> Image.Image:
    """The image a verifier digests: Digits-Gen's 64x64 view of a 16x16 sample, else as stored."""
    if pixels.ndim == 2 and pixels.shape == (16, 16):
        from inference.digits.sampling import to_image

        return to_image(pixels)
    return Image.fromarray(np.ascontiguousarray(pixels))


def variant_digests(
    store: SampleStore, variant: str, samples: VariantSamples, scheme: str
) -> npt.NDArray[np.uint64]:
    """Packed digests of a variant's samples under a scheme, cached next to the samples."""
    cache = store.variant_dir(variant) / f"digests-{scheme.replace('+', '_')}.npz"
    probe = np.frombuffer(_scheme_probe(scheme), dtype=np.uint8)
    if cache.is_file():
        with np.load(cache) as cached:
            if (
                np.array_equal(cached["classes"], samples.classes)
                and np.array_equal(cached["seeds"], samples.seeds)
                and np.array_equal(cached["probe"], probe)
            ):
                return np.asarray(cached["packed"], dtype=np.uint64)
    digests = [digest_image(sample_image(p), scheme) for p in samples.images]
    packed = pack_digests(digests)
    np.savez(cache, classes=samples.classes, seeds=samples.seeds, packed=packed, probe=probe)
    return packed


def _scheme_probe(scheme: str) -> bytes:
    """The scheme's digest of a fixed image: a cache made by another digest version differs."""
    ramp = np.add.outer(np.arange(64), 3 * np.arange(64)) % 251
    return digest_image(Image.fromarray(ramp.astype(np.uint8), mode="L"), scheme)


@dataclass(frozen=True)
class Aligned:
    """Every variant restricted to the cells all of them hold, in the same order."""

    variants: list[str]
    classes: npt.NDArray[np.int64]
    seeds: npt.NDArray[np.int64]
    packed: dict[str, npt.NDArray[np.uint64]]

    def subset(self, rows: npt.NDArray[np.bool_]) -> Aligned:
        """The same variants on the selected cells only (a seed half)."""
        return Aligned(
            self.variants,
            self.classes[rows],
            self.seeds[rows],
            {v: p[rows] for v, p in self.packed.items()},
        )


@dataclass(frozen=True)
class Categories:
    """The (x, y) histograms the analysis needs, from one seed split of the pairs."""

    honest: npt.NDArray[np.int64]
    impostors: dict[str, npt.NDArray[np.int64]]
    intra: npt.NDArray[np.int64]
    inter: npt.NDArray[np.int64]


def categories(
    histograms: pairs.PairHistograms, honest: list[str], impostors: list[str], split: int | None
) -> Categories:
    """Honest same-cell pairs, each impostor against every honest variant, and the honest
    variants' same-class (other seed) and other-class pairs, of one split (None: all pairs)."""
    honest_pairs = list(itertools.combinations(honest, 2))
    among_honest = [(h, h) for h in honest] + honest_pairs
    return Categories(
        honest=histograms.select(honest_pairs, pairs.SAME_CELL, split),
        impostors={
            imp: histograms.select([(h, imp) for h in honest], pairs.SAME_CELL, split)
            for imp in impostors
        },
        intra=histograms.select(among_honest, pairs.SAME_CLASS, split),
        inter=histograms.select(among_honest, pairs.OTHER_CLASS, split),
    )


def pair_rates(cats: Categories, tx: int, ty: int) -> dict[str, float]:
    """Per-pair rates of one split at a tolerance point: honest agreement, collisions and the
    detection of each impostor (another seed of the same class included)."""
    intra = stats.agreement_rate(cats.intra, tx, ty)
    return {
        "honest": stats.agreement_rate(cats.honest, tx, ty),
        "intra_class": intra,
        "other_class": stats.agreement_rate(cats.inter, tx, ty),
        **{
            f"detect[{k}]": 1.0 - stats.agreement_rate(h, tx, ty) for k, h in cats.impostors.items()
        },
        f"detect[{OTHER_SEED}]": 1.0 - intra,
    }


def align(samples: dict[str, VariantSamples], packed: dict[str, npt.NDArray[np.uint64]]) -> Aligned:
    keys = {v: s.classes.astype(np.int64) * (1 << 40) + s.seeds for v, s in samples.items()}
    common = sorted(set.intersection(*(set(k.tolist()) for k in keys.values())))
    if not common:
        raise ValueError("the variants share no (class, seed) cell; run the study first")
    wanted = np.asarray(common, dtype=np.int64)
    out: dict[str, npt.NDArray[np.uint64]] = {}
    for variant, key in keys.items():
        position = {k: i for i, k in enumerate(key.tolist())}
        out[variant] = packed[variant][[position[k] for k in wanted.tolist()]]
    return Aligned(list(samples), wanted >> 40, wanted & ((1 << 40) - 1), out)


def _summary(hist: npt.NDArray[np.int64], axis: int) -> dict[str, float]:
    """min / median / p99 / max of one coordinate's marginal distribution."""
    marginal = hist.sum(axis=1 - axis)
    total = int(marginal.sum())
    if total == 0:
        return {}
    cdf = np.cumsum(marginal) / total
    present = np.nonzero(marginal)[0]
    return {
        "pairs": total,
        "min": int(present.min()),
        "median": int(np.searchsorted(cdf, 0.5)),
        "p99": int(np.searchsorted(cdf, 0.99)),
        "max": int(present.max()),
        "mean": float((marginal * np.arange(marginal.size)).sum() / total),
    }


def _lane_distances(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """Row-wise per-lane distances of two aligned (N, 4) arrays."""
    return np.asarray(np.bitwise_count(a ^ b), dtype=np.uint8)


def _triple_rates(
    aligned: Aligned, honest: list[str], impostors: list[str], tolerance: Tolerance
) -> dict[str, Any]:
    """Majority-of-3 and of-5 outcomes counted on real groups of verifiers (no independence)."""
    limits = tolerance.lanes
    result: dict[str, Any] = {}
    digests = {v: aligned.packed[v] for v in honest}
    groups3 = list(itertools.combinations(honest, 3))
    resolved = []
    for group in groups3:
        stacked = np.stack([digests[v] for v in group], axis=1)  # (N, 3, 4)
        distances = np.bitwise_count(stacked[:, :, None, :] ^ stacked[:, None, :, :])
        resolved.append(stats.contract_resolves(stats.agree_matrix(distances, limits)))
    result["honest_majority3"] = float(np.mean(resolved)) if resolved else float("nan")
    result["honest_triples"] = len(resolved) * len(aligned.classes)
    if len(honest) >= 5:
        stacked = np.stack([digests[v] for v in honest[:5]], axis=1)
        distances = np.bitwise_count(stacked[:, :, None, :] ^ stacked[:, None, :, :])
        result["honest_majority5"] = float(
            stats.contract_resolves(stats.agree_matrix(distances, limits)).mean()
        )
    # An impostor's digest is accepted if it agrees with a majority of three honest verifiers.
    for impostor in impostors:
        per_verifier = np.stack(
            [
                stats.agree_matrix(_lane_distances(aligned.packed[impostor], digests[v]), limits)
                for v in honest
            ],
            axis=1,
        )
        accepted = [
            stats.accepted_by_majority(per_verifier[:, list(g)])
            for g in itertools.combinations(range(len(honest)), 3)
        ]
        result[f"accepted_majority3[{impostor}]"] = float(np.mean(accepted))
    # Other seed of the same class: submitted reference image of seed s' for cell (c, s).
    accepted_total, compared = 0, 0
    for digit in np.unique(aligned.classes):
        rows = np.nonzero(aligned.classes == digit)[0]
        submitted = aligned.packed[REFERENCE.name][rows]
        agree = np.stack(
            [
                stats.agree_matrix(
                    np.bitwise_count(digests[v][rows][:, None, :] ^ submitted[None, :, :]), limits
                )
                for v in honest
            ],
            axis=-1,
        )  # (cell, submitted, verifier)
        off_diagonal = ~np.eye(len(rows), dtype=bool)
        for trio in itertools.combinations(range(len(honest)), 3):
            taken = stats.accepted_by_majority(agree[:, :, list(trio)])
            accepted_total += int(taken[off_diagonal].sum())
            compared += int(off_diagonal.sum())
    result[f"accepted_majority3[{OTHER_SEED}]"] = accepted_total / compared if compared else 0.0
    result["other_seed_triples"] = compared
    return result


def _identities(samples: dict[str, VariantSamples], key: str) -> dict[str, Counter[str]]:
    """For one fingerprint key (weights hash, model id): value -> variant -> stored chunks."""
    seen: dict[str, Counter[str]] = {}
    for variant, stored in samples.items():
        for record in stored.provenance:
            fingerprint = record.get("fingerprint")
            if isinstance(fingerprint, dict) and key in fingerprint:
                seen.setdefault(str(fingerprint[key]), Counter())[variant] += 1
    return seen


def analyse_model(store_root: Path, model: str, variants: list[str]) -> dict[str, Any]:
    """Everything the report shows for one model."""
    started = time.perf_counter()
    store = SampleStore(store_root, model)
    samples = {v: store.load(v) for v in variants}
    honest = [v for v in variants if ALL_VARIANTS[v].role in ("reference", "honest")]
    impostors = [v for v in variants if ALL_VARIANTS[v].role == "impostor"]
    result: dict[str, Any] = {
        "model": model,
        "variants": {v: ALL_VARIANTS[v].as_dict() for v in variants},
        "samples": {v: len(s) for v, s in samples.items()},
        "provenance": {v: s.provenance[0] for v, s in samples.items()},
        "generation_seconds": {
            v: sum(float(str(p["seconds"])) for p in s.provenance) for v, s in samples.items()
        },
        "identities": {
            key: {
                value: dict(counts)
                for value, counts in _identities(samples, key).items()  # by variant
            }
            for key in ("weights_sha256", "model_id")
        },
        "schemes": {},
    }
    identical = {}
    reference_images = samples[REFERENCE.name]
    for v in variants:
        if v == REFERENCE.name:
            continue
        other = samples[v]
        position = {
            (c, s): i
            for i, (c, s) in enumerate(
                zip(reference_images.classes.tolist(), reference_images.seeds.tolist(), strict=True)
            )
        }
        cells = list(zip(other.classes.tolist(), other.seeds.tolist(), strict=True))
        mine = [i for i, cell in enumerate(cells) if cell in position]
        theirs = [position[cells[i]] for i in mine]
        same = np.all(
            other.images[mine].reshape(len(mine), -1)
            == reference_images.images[theirs].reshape(len(mine), -1),
            axis=1,
        )
        identical[v] = float(same.mean())
    result["byte_identical_to_reference"] = identical
    comparisons, seconds = 0, 0.0
    for scheme, mode in SCHEME_MODES.items():
        began = time.perf_counter()
        packed = {v: variant_digests(store, v, samples[v], scheme) for v in variants}
        digest_seconds = time.perf_counter() - began
        aligned = align(samples, packed)
        histograms = pairs.all_pairs_histograms(
            variants,
            [packed[v] for v in variants],
            [samples[v].classes.astype(np.int64) for v in variants],
            [samples[v].seeds for v in variants],
            mode,
        )
        comparisons += histograms.comparisons
        seconds += histograms.seconds
        everything = categories(histograms, honest, impostors, None)
        calibration = categories(histograms, honest, impostors, pairs.CALIBRATION)
        held = categories(histograms, honest, impostors, pairs.HELD_OUT)
        # Choose on odd seeds, judge on even ones; a grid without both halves uses all pairs.
        split = bool(calibration.honest.sum() > 0 and held.honest.sum() > 0)
        if not split:
            calibration = held = everything
        two = mode == "lanes01" and len(IMAGE_SCHEMES[scheme].lanes) == 2
        rec = stats.recommend_tolerance(
            calibration.honest,
            [*calibration.impostors.values(), calibration.intra],
            calibration.intra,
            two_coordinates=two,
        )
        tolerance = scheme_tolerance(scheme, rec.tx, rec.ty)
        honest_hist, impostor_hists = everything.honest, everything.impostors
        intra, inter = everything.intra, everything.inter
        distributions = {
            "honest": honest_hist,
            **{f"impostor {k}": h for k, h in impostor_hists.items()},
            f"impostor {OTHER_SEED} (intra-class)": intra,
            "other class": inter,
        }
        sweep = []
        for k in [*range(0, 25), 28, 32, 40, 48]:
            # One threshold k on every lane the scheme uses: the family the ROC is drawn over.
            tx, ty = k, (k if two else 0)
            row = {
                "k": k,
                "tolerance": list(scheme_tolerance(scheme, tx, ty).lanes),
                "honest": stats.agreement_rate(honest_hist, tx, ty),
                "intra_class": stats.agreement_rate(intra, tx, ty),
                "other_class": stats.agreement_rate(inter, tx, ty),
                **{
                    f"detect[{name}]": 1.0 - stats.agreement_rate(h, tx, ty)
                    for name, h in impostor_hists.items()
                },
            }
            row["honest_majority3"] = stats.majority_probability(row["honest"], 3)
            row["intra_class_majority3"] = stats.majority_probability(row["intra_class"], 3)
            row["intra_class_majority5"] = stats.majority_probability(row["intra_class"], 5)
            sweep.append(row)
        at_calibration = pair_rates(calibration, rec.tx, rec.ty)
        held_rates = pair_rates(held, rec.tx, rec.ty)
        held_rows = aligned.seeds % 2 == 0
        if not split or not held_rows.any():
            held_rows = np.ones(len(aligned.seeds), dtype=bool)
        at_rec = {
            **held_rates,
            "honest_majority3_independent": stats.majority_probability(held_rates["honest"], 3),
            "honest_majority5_independent": stats.majority_probability(held_rates["honest"], 5),
            "intra_class_majority3_independent": stats.majority_probability(
                held_rates["intra_class"], 3
            ),
            "intra_class_majority5_independent": stats.majority_probability(
                held_rates["intra_class"], 5
            ),
            **_triple_rates(aligned.subset(held_rows), honest, impostors, tolerance),
        }
        matched_lanes = {
            v: {
                f"lane{lane}": _lane_distances(aligned.packed[REFERENCE.name], aligned.packed[v])[
                    :, lane
                ]
                .astype(int)
                .tolist()
                .count(0)
                / len(aligned.classes)
                for lane in range(LANES)
                if len(IMAGE_SCHEMES[scheme].lanes) > lane
            }
            for v in variants
            if v != REFERENCE.name
        }
        result["schemes"][scheme] = {
            "lanes": list(IMAGE_SCHEMES[scheme].lanes),
            "family": "x = the largest lane distance (one threshold on every lane)"
            if mode == "max"
            else "x = lane 0 distance, y = lane 1 distance",
            "digest_seconds": digest_seconds,
            "comparisons": histograms.comparisons,
            "compare_seconds": histograms.seconds,
            "recommendation": {
                **asdict(rec),
                "tolerance": list(tolerance.lanes),
                "uint32": tolerance.to_uint32(),
            },
            "at_calibration": at_calibration,
            "at_recommended": at_rec,
            "sweep": sweep,
            "summaries": {
                name: {"x": _summary(h, 0), "y": _summary(h, 1) if two else {}}
                for name, h in distributions.items()
            },
            "identical_lane_fraction": matched_lanes,
            "histograms": {name: h.tolist() for name, h in distributions.items()},
        }
    result["comparisons"] = comparisons
    result["compare_seconds"] = seconds
    result["analysis_seconds"] = time.perf_counter() - started
    odd = int((aligned.seeds % 2 == 1).sum())
    result["split"] = {
        "held_out": split,
        "calibration_cells": odd if split else len(aligned.seeds),
        "held_out_cells": len(aligned.seeds) - odd if split else len(aligned.seeds),
    }
    return result
