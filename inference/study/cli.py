"""`genoracle study`: train Digits-Gen, run the collision and noise studies, write their reports.

Long module: one click group whose commands are thin wrappers over the study's modules; split,
each file would repeat the group's options and imports."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from inference.home import genoracle_home
from inference.specs import MAX_GUIDANCE, SCHEDULERS
from inference.study.drivers import MODEL_VARIANTS, STUDY_MODELS
from inference.study.variants import Variant, resolve_variants


def variants_for(model: str, names: str) -> list[Variant]:
    """The requested variants that the model can run (tiny-sd has no bf16 path, for one)."""
    allowed = MODEL_VARIANTS[model]
    return [v for v in resolve_variants(names) if v.name in allowed]


def default_store() -> Path:
    """The study's sample store, under the genoracle home (inference/home.py)."""
    return genoracle_home() / "study"


@click.group("study")
def study() -> None:
    """Reproduce the paper's collision experiment and calibrate tolerances."""


@study.command("train-digits")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the weights (default: <genoracle home>/study/digits-retrain).",
)
@click.option("--threads", type=int, default=None, help="Thread count (default: as shipped).")
@click.option("--steps", type=int, default=None, help="Training steps (default: as shipped).")
@click.option(
    "--install",
    is_flag=True,
    help="Replace the shipped weights and training record with the result.",
)
def train_digits(
    output: Path | None, threads: int | None, steps: int | None, install: bool
) -> None:
    """Retrain Digits-Gen and compare its sha256 with the shipped weights."""
    import dataclasses

    import torch
    from safetensors.torch import load_file
    from tqdm import tqdm

    from inference.digits import shipped as builtin
    from inference.digits.train import TrainingConfig, save_weights, train

    record = builtin.training_record()
    config = TrainingConfig(**record["config"])
    if threads is not None:
        config = dataclasses.replace(config, threads=threads)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    target = output or default_store() / "digits-retrain" / builtin.WEIGHTS_FILE
    started = time.monotonic()
    with tqdm(total=config.steps, desc="training Digits-Gen", unit="step") as bar:

        def advance(step: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")

        weights = train(config, advance)
    digest = save_weights(weights, target)
    seconds = time.monotonic() - started
    shipped = record["files"][builtin.WEIGHTS_FILE]
    click.echo(f"trained in {seconds:.0f} s -> {target}\nsha256 {digest}")
    shipped_path = builtin.WEIGHTS_DIR / builtin.WEIGHTS_FILE
    if digest == shipped:
        click.echo("identical to the shipped weights (byte for byte)")
    elif shipped_path.is_file():
        reference = load_file(str(shipped_path))
        worst = max(float((weights[k] - reference[k]).abs().max()) for k in reference)
        click.echo(
            f"differs from the shipped weights ({shipped}); largest |dw| = {worst:.3g} "
            f"(shipped: {record['runtime']['threads']} threads, "
            f"{record['runtime']['cpu_capability']}; this run: {config.threads} threads, "
            f"{torch.backends.cpu.get_cpu_capability()})"
        )
    if install:
        import diffusers
        import sklearn

        builtin.WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
        shipped_path.write_bytes(target.read_bytes())
        new_record = {
            "files": {builtin.WEIGHTS_FILE: digest},
            "config": dataclasses.asdict(config),
            "data": record["data"],
            "runtime": {
                "torch": torch.__version__,
                "diffusers": diffusers.__version__,
                "scikit-learn": sklearn.__version__,
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "threads": config.threads,
            },
            "seconds": round(seconds),
        }
        (builtin.WEIGHTS_DIR / builtin.TRAINING_RECORD).write_text(
            json.dumps(new_record, indent=2, sort_keys=True) + "\n"
        )
        click.echo(f"installed into {builtin.WEIGHTS_DIR}")
    elif digest != shipped:
        raise SystemExit(1)


@study.command("run")
@click.option("--model", type=click.Choice(STUDY_MODELS), default="digits", show_default=True)
@click.option("--classes", default="0-9", show_default=True, help="Class indices, e.g. 0-9.")
@click.option("--seeds", default="1-300", show_default=True, help="Seeds, e.g. 1-300.")
@click.option(
    "--variants",
    default="all",
    show_default=True,
    help="all, honest, impostors or variant names, comma-separated.",
)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    default=None,
    help="Sample store (default: <genoracle home>/study).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Variants generated at once (one worker process each).",
)
def run(model: str, classes: str, seeds: str, variants: str, store: Path | None, jobs: int) -> None:
    """Generate the grid under every variant (only what the store does not hold yet)."""
    from inference.study.sweep import parse_range, run_study

    try:
        chosen = variants_for(model, variants)
        class_list, seed_list = parse_range(classes), parse_range(seeds)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    root = store or default_store()
    started = time.monotonic()
    for outcome in run_study(root, model, chosen, class_list, seed_list, jobs=jobs):
        click.echo(
            f"{model}/{outcome.variant}: {outcome.generated} generated, "
            f"{outcome.requested - outcome.generated} already stored"
        )
    click.echo(f"done in {time.monotonic() - started:.0f} s; samples under {root / model}")


@study.command("report")
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Choice(STUDY_MODELS),
    default=("digits",),
    show_default=True,
)
@click.option("--variants", default="all", show_default=True)
@click.option("--store", type=click.Path(path_type=Path), default=None)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("reports/study"), show_default=True
)
@click.option(
    "--llm-results",
    type=click.Path(path_type=Path, exists=True),
    multiple=True,
    help="Results of `genoracle study llm` to include (repeatable).",
)
@click.option(
    "--training-results",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Output of `genoracle study train-check` to include.",
)
@click.option("--note", multiple=True, help="A remark printed at the top of the report.")
@click.option(
    "--keep-scheme",
    multiple=True,
    metavar="MODEL=SCHEME",
    help="Record only the tolerance of SCHEME for MODEL instead of switching it to the best.",
)
@click.option(
    "--write-tolerances/--no-write-tolerances",
    default=False,
    help="Record the recommended tolerances in inference/tolerances.json.",
)
@click.option(
    "--run-started",
    type=int,
    default=None,
    help="Unix time at which the whole study run began (the report states its duration).",
)
@click.option(
    "--run-load", default=None, help="Load average when the study run began (for the record)."
)
def report(
    models: tuple[str, ...],
    variants: str,
    store: Path | None,
    out: Path,
    llm_results: tuple[Path, ...],
    training_results: Path | None,
    note: tuple[str, ...],
    keep_scheme: tuple[str, ...],
    write_tolerances: bool,
    run_started: int | None,
    run_load: str | None,
) -> None:
    """Analyse stored samples and write the markdown report, figures and results JSON."""
    from inference.study.analysis import analyse_model
    from inference.study.calibration import record_tolerances
    from inference.study.report import write_report

    results = []
    for model in models:
        click.echo(f"analysing {model} ...")
        names = [v.name for v in variants_for(model, variants)]
        results.append(analyse_model(store or default_store(), model, names))
    llm = None
    if llm_results:
        parts = [json.loads(p.read_text()) for p in llm_results]
        llm = {"rows": [row for part in parts for row in part["rows"]], "parts": parts}
    training = json.loads(training_results.read_text()) if training_results else None
    run = None
    if run_started is not None:
        load_now = Path("/proc/loadavg")
        run = {
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run_started)),
            "elapsed": time.time() - run_started,
            "load_before": run_load or "unknown",
            "load_after": " ".join(load_now.read_text().split()[:3])
            if load_now.is_file()
            else "unknown",
        }
    path = write_report(results, out, llm, training=training, notes=note, run=run)
    total = sum(r["comparisons"] for r in results)
    click.echo(f"{total:,} comparisons; report: {path}")
    kept = dict(item.split("=", 1) for item in keep_scheme if "=" in item)
    if write_tolerances:
        for result in results:
            entry = record_tolerances(result, source=str(path), scheme=kept.get(result["model"]))
            click.echo(f"{result['model']}: {entry}")


@study.command("llm")
@click.option(
    "--model",
    "models",
    multiple=True,
    default=("smollm2-135m", "tiny-llama"),
    show_default=True,
    help="Built-in text models to study.",
)
@click.option(
    "--prompts",
    "prompt_count",
    type=click.IntRange(1, 50),
    default=50,
    show_default=True,
    help="How many of the 50 fixed prompts to use.",
)
@click.option("--max-new-tokens", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/study/llm-results.json"),
    show_default=True,
)
@click.option(
    "--variants",
    default="all",
    show_default=True,
    help="all, or comma-separated names of the honest LLM variants.",
)
def llm(
    models: tuple[str, ...], prompt_count: int, max_new_tokens: int, out: Path, variants: str
) -> None:
    """LLM consensus over honest variants x (greedy, beam 2, beam 4)."""
    from inference.study.llm import LLM_VARIANTS, PROMPTS, run_llm_study

    known = {v.name: v for v in LLM_VARIANTS}
    names = [n.strip() for n in variants.split(",") if n.strip()]
    if variants == "all":
        names = list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown LLM variant(s) {unknown}; known: {', '.join(known)}")
    chosen = [known["reference"], *(known[n] for n in names if n != "reference")]
    started = time.monotonic()
    result = run_llm_study(
        models,
        prompts=PROMPTS[:prompt_count],
        max_new_tokens=max_new_tokens,
        variants=chosen,
        cache_dir=default_store() / "llm",
    )
    result["seconds"] = round(time.monotonic() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["rows"]:
        click.echo(
            f"{row['model']:>14} {row['decoding']:>7}: consensus {100 * row['consensus']:.1f} % "
            f"over {row['prompts']} prompts x {row['variants']} variants; smallest top-1/top-2 "
            f"logit margin {row['min_margin']:.4g}"
        )
    click.echo(f"written {out} in {result['seconds']:.0f} s")


@study.command("train-check")
@click.option("--steps", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/study/training-reproducibility.json"),
    show_default=True,
)
def train_check(steps: int, out: Path) -> None:
    """Train twice at 2 threads and once at 1 thread; compare the weights' bytes and values."""
    import dataclasses
    import tempfile

    import torch

    from inference.digits import shipped
    from inference.digits.train import TrainingConfig, save_weights, train

    base = dataclasses.replace(TrainingConfig(**shipped.training_record()["config"]), steps=steps)
    runs = {"2 threads (a)": 2, "2 threads (b)": 2, "1 thread": 1}
    weights: dict[str, dict[str, torch.Tensor]] = {}
    hashes: dict[str, str] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, threads in runs.items():
            began = time.monotonic()
            weights[label] = train(dataclasses.replace(base, threads=threads))
            seconds[label] = round(time.monotonic() - began, 1)
            hashes[label] = save_weights(weights[label], Path(folder) / f"{threads}-{len(hashes)}")
            click.echo(f"{label}: sha256 {hashes[label]} ({seconds[label]} s)")

    def largest_difference(a: str, b: str) -> float:
        return max(float((weights[a][k] - weights[b][k]).abs().max()) for k in weights[a])

    result = {
        "steps": steps,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "sha256": hashes,
        "seconds": seconds,
        "same_threads_identical": hashes["2 threads (a)"] == hashes["2 threads (b)"],
        "threads_1_vs_2_identical": hashes["1 thread"] == hashes["2 threads (a)"],
        "threads_1_vs_2_max_abs_weight_difference": largest_difference("1 thread", "2 threads (a)"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    click.echo(json.dumps(result))


def _setting(text: str) -> tuple[int, int | None]:
    size, _, steps = text.partition("x")
    try:
        return int(size), int(steps)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not SIZExSTEPS, e.g. 128x20") from None


@study.command("noise")
@click.option("--model", type=click.Choice(STUDY_MODELS), default="digits", show_default=True)
@click.option("--classes", default="0-9", show_default=True)
@click.option("--seeds", default="1-20", show_default=True)
@click.option(
    "--setting",
    default=None,
    help="SIZExSTEPS of the reference (default: the model's own, 64x50 for Digits-Gen, whose "
    "size is fixed, and 64x10 for tiny-sd).",
)
@click.option(
    "--scheduler",
    type=click.Choice(SCHEDULERS),
    default="default",
    show_default=True,
    help="The scheduler every condition runs (an impostor's own scheduler aside; Digits-Gen: "
    "ddim, euler or dpm++); another than the default adds its name to the setting's folder.",
)
@click.option(
    "--guidance",
    type=click.FloatRange(0.0, MAX_GUIDANCE),
    default=7.5,
    show_default=True,
    help="tiny-sd: the classifier-free guidance scale; another than the input's default adds "
    "-guidance<G> to the setting's folder.",
)
@click.option(
    "--conditions",
    default="all",
    show_default=True,
    help="all, honest (the reference and the noisy replicas) or condition names, comma-separated.",
)
@click.option("--store", type=click.Path(path_type=Path), default=None)
def noise(
    model: str,
    classes: str,
    seeds: str,
    setting: str | None,
    scheduler: str,
    guidance: float,
    conditions: str,
    store: Path | None,
) -> None:
    """Generate the noise study's conditions (noisy honest replicas and impostors)."""
    from inference.digits.sampling import SCHEDULERS as DIGITS_SCHEDULERS
    from inference.study.noise import (
        CONDITIONS,
        DEFAULT_GUIDANCE,
        DEFAULT_SCHEDULER,
        run_noise_study,
    )
    from inference.study.sweep import parse_range

    size, steps = _setting(setting) if setting else (64, None)
    if model == "digits" and size != 64:
        raise click.BadParameter(
            f"Digits-Gen draws 64x64 images, not {size}", param_hint="--setting"
        )
    if model == "digits" and guidance != DEFAULT_GUIDANCE:
        raise click.BadParameter("Digits-Gen has no guidance", param_hint="--guidance")
    if model == "digits" and scheduler not in (DEFAULT_SCHEDULER, *DIGITS_SCHEDULERS):
        raise click.BadParameter(
            f"Digits-Gen samples with {', '.join(DIGITS_SCHEDULERS)}, not {scheduler!r}",
            param_hint="--scheduler",
        )
    if conditions == "all":
        chosen = list(CONDITIONS.values())
    elif conditions == "honest":
        chosen = [c for c in CONDITIONS.values() if c.role != "impostor"]
    else:
        names = [n.strip() for n in conditions.split(",") if n.strip()]
        unknown = [n for n in names if n not in CONDITIONS]
        if unknown:
            raise click.BadParameter(f"unknown condition(s) {unknown}; known: {list(CONDITIONS)}")
        chosen = [CONDITIONS[n] for n in names]
    try:
        class_list, seed_list = parse_range(classes), parse_range(seeds)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc

    def progress(name: str, count: int, seconds: float) -> None:
        click.echo(f"{model}/{name}: {count} generated in {seconds:.0f} s")

    folder = run_noise_study(
        store or default_store(),
        model,
        class_list,
        seed_list,
        conditions=chosen,
        size=size,
        steps=steps,
        scheduler=scheduler,
        guidance=guidance,
        progress=progress,
    )
    click.echo(f"samples under {folder}")


def read_notes(path: Path) -> list[str]:
    """The paragraphs of a notes file: blank lines separate them, line breaks inside one are
    joined by spaces (the report writes each paragraph as one line)."""
    paragraphs = [" ".join(p.split()) for p in path.read_text().split("\n\n")]
    return [p for p in paragraphs if p]


@study.command("accuracy")
@click.option(
    "--setting",
    "settings",
    multiple=True,
    default=("digits", "tiny-sd-64px-10steps"),
    show_default=True,
    help="Stored noise-study settings to analyse (folders under STORE/noise).",
)
@click.option("--store", type=click.Path(path_type=Path), default=None)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("reports/study"), show_default=True
)
@click.option(
    "--from-digests",
    is_flag=True,
    help="Recompute every figure from the per-sample digests in OUT (no samples needed; "
    "without it, a setting whose samples are gone uses its stored digests too).",
)
@click.option("--note", multiple=True, help="A paragraph for the noise section.")
@click.option(
    "--notes-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Paragraphs for the noise section (separated by blank lines), before any --note.",
)
@click.option(
    "--write-tolerances/--no-write-tolerances",
    default=False,
    help="Record the chosen scheme and each model's floor in inference/tolerances.json.",
)
@click.option(
    "--write-input-tolerance/--no-write-input-tolerance",
    default=False,
    help="Derive each model's guidance/scheduler rule from its corners among the settings, "
    "judge it on the held-out seeds and record it in inference/tolerances.json.",
)
@click.option(
    "--noise",
    "floor_noise",
    type=click.Choice(["0.0001", "0.001", "0.003"]),
    default="0.001",
    show_default=True,
    help="The modelled noise level whose honest floor the tolerances are set to.",
)
def accuracy(
    settings: tuple[str, ...],
    store: Path | None,
    out: Path,
    from_digests: bool,
    note: tuple[str, ...],
    notes_file: Path | None,
    write_tolerances: bool,
    write_input_tolerance: bool,
    floor_noise: str,
) -> None:
    """Digest the noise study under every candidate design, choose one, write the noise section."""
    from inference.study.accuracy import analyse_digests, best_design, digest_setting
    from inference.study.calibration import record_noise_tolerances
    from inference.study.input_calibration import is_plain_setting
    from inference.study.noise_report import write_noise_report

    root = store or default_store()
    results = {}
    for name in settings:
        digests = out / "noise" / f"{name}-digests.npz"
        samples = root / "noise" / name
        if not from_digests and samples.is_dir():
            click.echo(f"digesting {name} ...")
            digest_setting(samples, digests)
        elif not digests.is_file():
            raise click.ClickException(
                f"{name}: no samples under {samples} and no stored digests {digests}; generate "
                f"them with `genoracle study noise`"
            )
        results[name] = analyse_digests(digests)
    # Only the models' own settings that ran the impostors rank the designs (the others check
    # a floor; a guidance or scheduler corner is judged under the design, it does not choose it).
    scored = [
        r
        for setting, r in results.items()
        if is_plain_setting(setting)
        and any(
            name != "other-seed"
            for entry in r["designs"].values()
            for figures in entry["noise"].values()
            for name in figures["detected"]
        )
    ]
    chosen = best_design(scored or list(results.values()))
    (out / "noise").mkdir(parents=True, exist_ok=True)
    (out / "noise" / "results.json").write_text(
        json.dumps({"chosen": chosen, "settings": results}, indent=1, sort_keys=True) + "\n"
    )
    notes = [*(read_notes(notes_file) if notes_file else []), *note]
    path = write_noise_report(results, chosen, out, notes)
    click.echo(f"chosen design: {chosen}; report: {path}")
    if write_tolerances:
        try:
            written = record_noise_tolerances(
                results, chosen, source=str(path), noise=float(floor_noise)
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        for model, entry in written.items():
            click.echo(f"{model}: {entry['scheme']} {entry['default_tolerance']}")
    if write_input_tolerance:
        from inference.study.input_calibration import (
            models_with_corners,
            record_input_tolerance,
            weakest_corner,
        )

        for model in models_with_corners(results):
            try:
                rule = record_input_tolerance(
                    results,
                    chosen,
                    digests_dir=out / "noise",
                    model=model,
                    noise=float(floor_noise),
                )
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            bands = ", ".join(
                f"<= {b['up_to']:g}: {'/'.join(map(str, b['tolerance']))}"
                for b in rule["guidance_bands"]
            )
            setting, pair, majority = weakest_corner(rule, float(floor_noise))
            click.echo(
                f"{model} input rule: guidance {bands}; scheduler extra {rule['scheduler_extra']}"
            )
            click.echo(
                f"  weakest corner held out: {setting} pair {pair:.4f}, "
                f"majority of 3 {majority:.4f}"
            )


@study.command("audit")
@click.option("--quick", is_flag=True, help="The benchmark's small grid instead of the full one.")
@click.option("--no-costs", is_flag=True, help="Skip the compute measurement.")
@click.option(
    "--costs-only",
    is_flag=True,
    help="Measure the compute only and replace the costs in an existing --out file.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/study/audit-results.json"),
    show_default=True,
)
@click.option(
    "--records",
    type=click.Path(path_type=Path),
    default=Path("reports/study/audit-records.json.gz"),
    show_default=True,
    help="The raw per-step and per-lane distances (gzipped JSON), for --from-records.",
)
@click.option(
    "--from-records",
    is_flag=True,
    help="Re-analyse --records into --out (keeping its costs) instead of running anything.",
)
@click.option(
    "--text-only",
    "text_model",
    default=None,
    metavar="MODEL",
    help="Only the text part, for this model (no costs, no diffusion), with the plan's prompts.",
)
@click.option(
    "--image-only",
    is_flag=True,
    help="Only the diffusion part (no costs, no text).",
)
def audit(
    quick: bool,
    no_costs: bool,
    costs_only: bool,
    out: Path,
    records: Path,
    from_records: bool,
    text_model: str | None,
    image_only: bool,
) -> None:
    """The audited mode: honest step recomputation and prefill under modelled noise, the sketch
    tolerance and logit margin, impostor detection against the challenge size, compute cost."""
    import dataclasses
    import gzip

    from inference.study.audit import FULL, QUICK, analyse_records, run_audit_study
    from inference.study.audit_report import figures, tables

    out.parent.mkdir(parents=True, exist_ok=True)

    def keep(partial: dict[str, object]) -> None:
        out.with_suffix(".partial.json").write_text(json.dumps(partial, indent=1, sort_keys=True))

    def keep_records(raw: dict[str, object]) -> None:
        records.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(records, "wt") as handle:
            json.dump(raw, handle, separators=(",", ":"), sort_keys=True)

    plan = QUICK if quick else FULL
    if text_model is not None:
        plan = dataclasses.replace(plan, diffusion=(), text_model=text_model)
        no_costs = True
    if image_only:
        plan = dataclasses.replace(plan, prompts=0)
        no_costs = True
    if from_records:
        if not records.is_file():
            raise click.UsageError(f"--from-records reads {records}, which does not exist")
        with gzip.open(records, "rt") as handle:
            raw = json.load(handle)
        results = json.loads(out.read_text()) if out.is_file() else {"costs": {}}
        results.update(analyse_records(raw))
        results["plan"] = raw.get("plan", results.get("plan"))
        results["seconds"] = raw.get("seconds", results.get("seconds"))
    elif costs_only:
        if not out.is_file():
            raise click.UsageError(f"--costs-only updates {out}, which does not exist yet")
        results = json.loads(out.read_text())
        fresh = run_audit_study(plan, lambda line: click.echo(line, err=True), only_costs=True)
        results["costs"] = fresh["costs"]
    else:
        results = run_audit_study(
            plan,
            lambda line: click.echo(line, err=True),
            costs=not no_costs,
            checkpoint=keep,
            keep_records=keep_records,
        )
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    click.echo("\n".join(tables(results)))
    click.echo(json.dumps({"bench": "audit", **figures(results)}, sort_keys=True))
    click.echo(f"results in {out} ({results['seconds']} s)")


@study.command("audit-inputs")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/study/audit-inputs.json"),
    show_default=True,
)
@click.option("--seeds", type=int, default=4, show_default=True)
def audit_inputs(out: Path, seeds: int) -> None:
    """Whether tiny-sd's audit tolerance holds over guidance, size and steps: the largest honest
    lane distance per input corner (noise of its own per member, and an auditor on other
    convolution code)."""
    from inference.study.audit_inputs import run_audit_inputs

    results = run_audit_inputs(lambda line: click.echo(line, err=True), seeds=seeds)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    click.echo(f"| size | steps | guidance | largest honest lane (T = {results['tolerance']}) |")
    click.echo("|---|---|---|---|")
    for row in results["corners"]:
        mark = "" if row["within_tolerance"] else " (over T)"
        click.echo(
            f"| {row['size']} | {row['steps']} | {row['guidance']:g} | "
            f"{row['largest_lane']}{mark} |"
        )
    click.echo(f"results in {out} ({results['seconds']} s)")


@study.command("training")
@click.option(
    "--plan",
    "plan_name",
    type=click.Choice(["full", "bench", "quick"]),
    default="full",
    show_default=True,
    help="full: 3 tasks x 5 rounds x 10 steps (~10 min); quick: 1 task x 2 rounds x 2 steps.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/study/training-results.json"),
    show_default=True,
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    default=Path("reports/study/TRAINING.md"),
    show_default=True,
)
@click.option("--from-results", is_flag=True, help="Re-analyse --out instead of training.")
@click.option("--note", multiple=True, help="A remark recorded with the results and the report.")
def training(
    plan_name: str, out: Path, report_path: Path, from_results: bool, note: tuple[str, ...]
) -> None:
    """Verifiable fine-tuning: honest drift with and without synchronisation every round, the
    calibrated round tolerance and each impostor's detection per round."""
    from inference.study.training import PLANS, run_training_study
    from inference.study.training_report import analyse, figures, markdown, tables

    if from_results:
        results = json.loads(out.read_text())
    else:
        results = run_training_study(PLANS[plan_name], lambda line: click.echo(line, err=True))
    results["notes"] = [*results.get("notes", []), *note]
    analysis = analyse(results)
    results["analysis"] = analysis
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(markdown(results, analysis))
    click.echo("\n".join(tables(results, analysis)))
    click.echo(json.dumps({"bench": "training", **figures(results, analysis)}, sort_keys=True))
    click.echo(f"results in {out}, report in {report_path} ({results['seconds']} s)")
