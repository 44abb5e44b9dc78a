"""The model card (README.md): Hub metadata and text built from a run's record (stages/shipping/record.py).

Every number on the card is a value from the run's files, printed as the file holds it, so a test can check
each one. The card ends with a signature (signature.py): publishing refuses to overwrite a card edited by hand
without --force, and carries its Notes section into every new card. The Use section is usage.py's; the
Limitations, Licence and Provenance sections are terms.py's.
"""
from huggingface_hub import EvalResult, ModelCardData

from ..io.errors import UserError
from ..reporting import report, verdicts
from ..reporting.report import MODE_TEXT, PRIMARY, TITLES
from ..scoring.rouge import KEYS, MODES
from ..scoring.stats import alpha
from . import signature, terms, usage
from .record import MODELS, Record, built
from .licence import data_license, data_name
from .subjects import METRICS_OF, Subject, num, scored_on

OTHER = {"full": "lora", "lora": "full"}
NAMES = {"base": "zero-shot base model", "full": "full fine-tuning", "lora": "LoRA", "lead3": "lead-3 baseline",
         "longest3": "longest-3 baseline"}  # the baselines: rouge_paired.json tests each model against one


def metadata(record: Record, subject: Subject) -> ModelCardData:
    """The YAML block: what the Hub indexes (base model, data, licence, task, ROUGE on the test split)."""
    model = METRICS_OF[subject.kind]
    g = record.params.generate
    results = [EvalResult(
        task_type="summarization", task_name="Summarization",
        dataset_type=subject.dataset.id or data_name(record.sources),  # data of one's own: its name
        dataset_name=scored_on(record, model), dataset_split=g.split, dataset_revision=subject.dataset.revision,
        metric_type="rouge", metric_name=f"{TITLES[key]} ({PRIMARY})", metric_config=key,
        metric_value=record.rouge[model][key],
        metric_args={"scoring": PRIMARY, "use_stemmer": True, "dialogues": record.generate[model]["dialogues"],
                     **{k: v for k, v in usage.generate_kwargs(g).items() if k != "do_sample"}},
    ) for key in KEYS]
    dialogsum = ["dialogsum"] if data_name(record.sources) == "DialogSum" else []
    tags = ["summarization", "dialogue-summarization", *dialogsum, "t5", "dvc"]
    if model == "lora":
        tags += ["lora", "peft"] if subject.kind == "adapter" else ["lora", "merged-lora"]
    return ModelCardData(
        language="en", license=data_license(record.sources),  # the data's, carried to what is trained on it
        library_name="peft" if subject.kind == "adapter" else "transformers", base_model=subject.base.id,
        datasets=[subject.dataset.id] if subject.dataset.id else None, pipeline_tag="summarization", tags=tags,
        model_name=subject.repo_id, eval_results=results,
        # a merged adapter is a fine-tune of its base (the Hub's "merge" is a merge of several models)
        base_model_relation=None if subject.base.id is None else
        {"full": "finetune", "adapter": "adapter", "merged": "finetune"}[subject.kind])


def render(record: Record, subject: Subject, notes: str = "") -> str:
    """The whole README.md, signed; `notes` is the Notes section's text kept from an earlier card."""
    try:
        data = metadata(record, subject)
        body = "\n".join([
            f"# {subject.repo_id.split('/')[-1]}", "",
            *_what(record, subject), "",
            *report.notes_section(_notes(record)),
            "## Results", "", *_results(record, subject), "",
            "## Training", "", *_training(record, subject), "",
            "## Cost and hardware", "", *_cost(record, subject), "",
            "## Use", "", *usage.section(record, subject), "",
            "## Limitations", "", *terms.limitations(record, subject), "",
            "## Licence", "", *terms.licence(record, subject), "",
            "## Provenance", "", *terms.provenance(record, subject), "",
            "## Notes", "", signature.NOTES_START, signature.NOTES_END, "",
        ])
    except KeyError as error:  # a metrics file from an older version of a stage
        raise UserError(f"the run's metrics lack {error} (written by an older version of the pipeline): rerun the "
                        "stages with `dvc repro -f`, commit, then publish.") from None
    metadata_yaml = data.to_yaml()
    signature.check_unforged(f"{metadata_yaml}\n{body}")
    body = body.replace(f"{signature.NOTES_START}\n{signature.NOTES_END}",
                        f"{signature.NOTES_START}\n{notes.strip(chr(10))}\n{signature.NOTES_END}"
                        if notes.strip() else f"{signature.NOTES_START}\n{signature.NOTES_END}")
    return signature.sign(f"---\n{metadata_yaml}\n---\n\n{body}")


def _base_name(subject: Subject) -> str:
    base = subject.base
    if base.id is None:
        return "a T5 built from random weights"
    if base.declared and not base.verified:
        return f"`{base.id}` (as the publisher declared it; not verified)"
    return f"`{base.id}`"


def _model_phrase(record: Record, subject: Subject) -> str:
    lora = record.params.lora
    targets = lora.target_modules if isinstance(lora.target_modules, str) else ", ".join(lora.target_modules)
    adapter = f"a LoRA adapter (r {num(lora.r)}, alpha {num(lora.alpha)}, on {targets})"
    base = _base_name(subject)
    return {"full": f"{base} with every weight fine-tuned",
            "adapter": f"{adapter} for {base}; load it on that base model",
            "merged": f"{base} with {adapter} merged into its weights: a standalone model"}[subject.kind]


def _origin(record: Record, subject: Subject) -> list[str]:
    """The card's first line where the base model was never pretrained: what it is, and its size."""
    scratch = built(record.sources)
    if scratch is None:
        return []
    base = subject.base
    hub = ("" if base.id is None else f", which is `{base.id}` on the Hub" if base.verified or not base.declared
           else f", declared by the publisher to be `{base.id}` on the Hub (not verified)")
    return [f"**The base model is not a pretrained model: it is a T5 of {num(scratch['parameters'])} parameters "
            f"built from random weights** (stages/scratch, seed {num(scratch['seed'])}{hub}). It knew no language "
            "before this run's training: what this model does, it learned from the training data alone.", ""]


def _what(record: Record, subject: Subject) -> list[str]:
    return [*_origin(record, subject),
            f"Summarizes English dialogues. This is {_model_phrase(record, subject)}, trained on "
            f"{data_name(record.sources)}{f' (`{subject.dataset.id}`)' if subject.dataset.id else ''} by a "
            "reproducible DVC pipeline. Everything below comes from that run's "
            "files (metrics, params.yaml, dvc.lock, data/sources.json), not typed by hand."]


def _outputs(record: Record) -> dict:
    """How many different summaries each model wrote (metrics/generate_<model>.json), as the report reads them."""
    return {m: record.generate[m] for m in MODELS if "distinct_summaries" in record.generate[m]}


def _notes(record: Record) -> list[str]:
    """The report's "Read this first": degenerate output, and whether each model beats the better baseline."""
    level = alpha(record.params.evaluate.confidence)
    return verdicts.notes(MODELS, record.detail, record.paired, _outputs(record), PRIMARY, level)


def _paired(record: Record) -> list[str]:
    """The paired tests as metrics/report.md shows them (report.paired_section: Holm-adjusted p, the verdicts and
    their wording), under the card's own heading."""
    e = record.params.evaluate
    outputs = _outputs(record)
    setup = {"confidence": e.confidence, "resamples": e.resamples,
             "caveats": {m: verdicts.caveat(m, counts) for m, counts in outputs.items()}}
    section = report.paired_section(record.paired, setup)
    return [f"### {section[0].removeprefix('## ')}", *section[1:]]


def _rouge_row(name: str, scores: dict) -> str:
    return f"| {name} | " + " | ".join(
        f"{num(scores[k])} [{num(scores[k + '_low'])}, {num(scores[k + '_high'])}]" for k in KEYS) + " |"


def _results(record: Record, subject: Subject) -> list[str]:
    model = METRICS_OF[subject.kind]
    e = record.params.evaluate
    head = "| model | " + " | ".join(TITLES[k] for k in KEYS) + " |"
    rule = "|---" * (len(KEYS) + 1) + "|"
    order = [model, OTHER[model], "base", *(b for b in ("lead3", "longest3") if b in record.detail)]
    lines = [
        f"ROUGE F-measures on {scored_on(record, model)}. Scoring "
        f"protocol `{PRIMARY}`: {MODE_TEXT[PRIMARY]}; rouge_score with stemming, ROUGE-Lsum over one sentence per "
        f"line. In brackets: the percentile bootstrap interval over dialogues at confidence {num(e.confidence)} "
        f"({num(e.resamples)} resamples, seed {num(e.seed)}). Summaries decoded {usage.decoding(record, model)}.", "",
        head, rule, *[_rouge_row(("**this model**: " if m == model else "") + _name(record, m),
                                 record.detail[m][PRIMARY]) for m in order], "",
    ]
    if subject.kind == "merged":
        lines += ["The pipeline scored the adapter merged into the base model in fp32, which is this model.", ""]
    lines += [*_paired(record)]
    lines += ["", "This model in the other scoring modes:", "", "| mode | " + " | ".join(TITLES[k] for k in KEYS) + " |",
              rule]
    for mode in MODES:
        if mode != PRIMARY:
            lines.append(_rouge_row(f"`{mode}`: {MODE_TEXT[mode]}", record.detail[model][mode]))
    return lines


def _name(record: Record, model: str) -> str:
    if model == "base" and built(record.sources):
        return "base model before training (random weights)"
    return NAMES[model]


def _training(record: Record, subject: Subject) -> list[str]:
    model = METRICS_OF[subject.kind]
    t, d = getattr(record.params, f"train_{model}"), record.params.data
    run = record.train[model]
    length = (f"max_steps {num(t.max_steps)}" if t.max_steps > 0 else f"epochs {num(t.epochs)}")
    lines = [
        f"- stage `train_{model}` ({NAMES[model]}): {length}, learning_rate {num(t.learning_rate)}, batch_size "
        f"{num(t.batch_size)}, gradient_accumulation_steps {num(t.gradient_accumulation_steps)}, warmup_ratio "
        f"{num(t.warmup_ratio)}, weight_decay {num(t.weight_decay)}, seed {num(t.seed)}, precision `{run['precision']}`"
        f" (asked: `{t.precision}`)",
        f"- ran {num(run['optimizer_steps'])} optimizer steps ({num(run['epochs'])} epochs, {num(run['train_tokens'])} "
        f"target tokens); final training loss {num(run['train_loss_final'])}, validation loss {num(run['eval_loss'])}",
        f"- checkpoint kept: step {num(run['selected_step'])}, chosen by `{run['selected_by']}` (select_metric "
        f"`{t.select_metric}`){'; stopped early' if run.get('stopped_early') else ''}",
    ]
    if model == "lora":
        lora = record.params.lora
        lines.append(f"- LoRA: r {num(lora.r)}, alpha {num(lora.alpha)}, dropout {num(lora.dropout)}, target_modules "
                     f"`{lora.target_modules}`, use_dora `{lora.use_dora}`, use_rslora `{lora.use_rslora}`, "
                     f"loraplus_lr_ratio `{lora.loraplus_lr_ratio}`")
    samples = ", ".join(f"{split} {'all' if getattr(d, f'max_{split}_samples') is None else num(getattr(d, f'max_{split}_samples'))}"
                        for split in ("train", "validation", "test"))
    lines += [f"- data: dialogues per split: {samples}; max_source_length {num(d.max_source_length)}, "
              f"max_target_length {num(d.max_target_length)} tokens", "",
              "The prompt (the dialogue replaces `{dialogue}`):", "", "```python", f"PROMPT = {d.prompt!r}", "```"]
    return lines


def _cost(record: Record, subject: Subject) -> list[str]:
    model = METRICS_OF[subject.kind]
    run, cost, gen = record.train[model], record.costs[model], record.generate[model]
    memory = {"cuda_max_allocated": "GPU memory allocated by torch", "cpu_peak_rss": "peak resident memory of the "
              "process"}.get(run.get("peak_memory_kind"), run.get("peak_memory_kind", "peak memory"))
    lines = [
        f"- trainable parameters {num(cost['trainable_params'])} of {num(cost['total_params'])} "
        f"({num(cost['trainable_percent'])} percent)",
        f"- training: {num(run['train_runtime_s'])} s on `{run['device']}` in `{run['precision']}`, "
        f"{num(run['processes'])} process(es), {num(run['train_samples_per_s'])} samples/s; {memory}: "
        f"{num(run['peak_memory_bytes'])} bytes",
        f"- stored: {num(cost['stored_bytes'])} bytes" + (" (the adapter alone; it needs the base model)"
                                                           if model == "lora" else ""),
        f"- generation: {num(gen['s_per_dialogue'])} s per dialogue on `{gen['device']}` {usage.engine_words(gen)}, "
        f"batch_size {num(record.params.generate.batch_size)}; mean summary {num(gen['mean_summary_words'])} words",
    ]
    return lines


