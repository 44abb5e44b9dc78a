"""metrics/report.md: the notebooks' comparison table with intervals and measured costs, the paired tests,
and example dialogues with every model's summary beside the human ones. Text from the data (dialogues,
references, summaries, ids) is shown as literal text in any CommonMark viewer: never HTML, a heading or a link."""
import html
import re
from pathlib import Path

import numpy as np

from ..io.files import write_json
from ..scoring.baselines import NAMES as BASELINES, WHAT as BASELINE_TEXT
from ..scoring.rouge import KEYS, MODES
from ..scoring.stats import alpha

TITLES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}
MODE_TEXT = {
    "mean_ref": "mean over each dialogue's references, then over dialogues (DialogSum paper)",
    "max_ref": "best reference per dialogue (multi-reference max)",
    "flat": "each (dialogue, reference) row on its own (course notebooks)",
}
PRIMARY = "mean_ref"


def choose_examples(per_dialogue: dict[str, np.ndarray], pair: tuple[str, str], count=3) -> list[tuple[int, str]]:
    """Distinct dialogues, chosen by their scores alone (deterministic): the most typical one, and those
    where the first model of `pair` beats the second most, and the other way round."""
    mean = np.mean([values for values in per_dialogue.values()], axis=0)
    gap = per_dialogue[pair[0]] - per_dialogue[pair[1]]
    median = np.argsort(mean, kind="stable")
    candidates = [(int(median[len(median) // 2]), "typical: median ROUGE-L over the models")]
    # a "most ahead" label only where that model is ahead at all: on a tie everywhere it would be false
    if gap.max() > 0:
        candidates.append((int(np.argmax(gap)), f"{pair[0]} ahead of {pair[1]} the most (ROUGE-L)"))
    if gap.min() < 0:
        candidates.append((int(np.argmin(gap)), f"{pair[1]} ahead of {pair[0]} the most (ROUGE-L)"))
    chosen, seen = [], set()
    for index, why in candidates + [(int(i), "next in test order") for i in range(len(mean))]:
        if index not in seen and len(chosen) < count:
            chosen.append((index, why))
            seen.add(index)
    return chosen


def _interval(scores: dict, key: str) -> str:
    return f"{scores[key]:.4f} [{scores[key + '_low']:.4f}, {scores[key + '_high']:.4f}]"


def _count(value) -> str:
    return "—" if value is None else f"{value:,}"


def _bytes(value) -> str:
    if value is None:
        return "—"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def _seconds(value) -> str:
    if value is None:
        return "—"
    return f"{value / 60:.1f} min" if value >= 120 else f"{value:.1f} s"


def _number(value, digits) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _memory(row: dict) -> str:
    if row.get("peak_memory_bytes") is None:
        return "—"
    kind = {"cuda_max_allocated": "GPU", "cpu_peak_rss": "CPU RSS"}.get(row.get("peak_memory_kind"), "")
    text = f"{_bytes(row['peak_memory_bytes'])} {kind}".strip()
    if row.get("peak_memory_reserved_bytes") is not None:
        text += f" ({_bytes(row['peak_memory_reserved_bytes'])} reserved)"
    if (row.get("peak_memory_ranks") or 1) > 1:
        text += f", max of {row['peak_memory_ranks']} processes"
    return text


# Markdown's inline syntax (code, emphasis, links, GFM strikethrough, GitHub's $math$) and the table cell
# separator, escaped wherever they occur; `<`, `>` and `&` become entities, so no HTML tag, comment or entity comes
# from the data. Unescaped, "$5 or $10" in a dialogue would be typeset by GitHub as math.
_INLINE = re.compile(r"[\\`*_\[\]|~$]")
# What starts a block at the beginning of a line: a heading, a list item, a setext underline or thematic break.
_BLOCK = re.compile(r"^(#{1,6}(?=[ \t]|$)|[-+=])|^(\d{1,9})(?=[.)])")


def literal(text) -> str:
    """One line of data as Markdown that shows exactly that text."""
    text = html.escape(" ".join(str(text).splitlines()), quote=False)
    return _INLINE.sub(lambda found: "\\" + found.group(0), text)


def _line(line: str) -> str:
    """A line of a multi-line text: its indentation dropped (4 spaces would make a code block)."""
    return _BLOCK.sub(lambda found: f"\\{found.group(1)}" if found.group(1) else f"{found.group(2)}\\",
                      literal(line.lstrip()))


def _quote(text: str) -> str:
    if not text.strip():
        return "*(empty)*"
    return "<br>".join(_line(line) for line in text.strip().splitlines())


def main_table(scores: dict, costs: dict, outputs: dict | None = None) -> list[str]:
    """ROUGE with intervals and the main costs per model, then the baselines' ROUGE; the last column says how many
    different summaries each wrote (`outputs`: scoring.diversity.count per source)."""
    lines = ["| model | " + " | ".join(TITLES[k] for k in KEYS) + " | mean summary words | trainable params | "
             "stored size | training time (optimizer steps) | training peak memory | distinct summaries |",
             "|---" * (len(KEYS) + 7) + "|"]
    for model, modes in scores.items():
        row = costs.get(model, {})
        name = f"{literal(model)} (baseline)" if model in BASELINES else literal(model)
        words = ((outputs or {}).get(model) or {}).get("mean_words")  # beside ROUGE: length moves ROUGE
        cells = [_interval(modes[PRIMARY], k) for k in KEYS] + [_number(words, 1),
            _trainable(row), _bytes(row.get("stored_bytes")), _seconds(row.get("train_runtime_s")), _memory(row),
            _distinct((outputs or {}).get(model))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _distinct(counts: dict | None) -> str:
    if not counts:
        return "—"
    text = f"{counts['distinct_summaries']:,} of {counts['dialogues']:,}"
    return text + (f", {counts['empty_share']:.0%} empty" if counts.get("empty_share") else "")


def cost_table(costs: dict) -> list[str]:
    lines = ["| model | trainable params | total params | stored size | training time (optimizer steps) | samples/s "
             "| tokens/s | validation time | checkpoint writes | training peak memory | generation s/dialogue | "
             "generated by | mean summary words |", "|---" * 13 + "|"]
    for model, row in costs.items():
        cells = [_trainable(row), _count(row.get("total_params")), _bytes(row.get("stored_bytes")),
                 _seconds(row.get("train_runtime_s")), _number(row.get("train_samples_per_s"), 1),
                 _number(row.get("train_tokens_per_s"), 0), _seconds(row.get("eval_runtime_s")),
                 _seconds(row.get("checkpoint_s")), _memory(row), _number(row.get("s_per_dialogue"), 3),
                 literal(_engine(row)), _number(row.get("mean_summary_words"), 1)]
        lines.append(f"| {literal(model)} | " + " | ".join(cells) + " |")
    return lines


def _engine(row: dict) -> str:
    """The inference engine and its compute type (generate.engine, generate.compute_type or precision)."""
    return " ".join(str(row[k]) for k in ("engine", "compute_type") if row.get(k)) or "—"


def _trainable(row: dict) -> str:
    text = _count(row.get("trainable_params"))
    if row.get("trainable_percent") is not None:
        text += f" ({row['trainable_percent']:.2f}%)"
    return text


def modes_table(scores: dict) -> list[str]:
    lines = ["| model | mode | " + " | ".join(TITLES[k] for k in KEYS) + " |", "|---" * (len(KEYS) + 2) + "|"]
    for mode in MODES:
        for model, modes in scores.items():
            cells = [_interval(modes[mode], k) for k in KEYS]
            lines.append(f"| {literal(model)} | {mode} | " + " | ".join(cells) + " |")
    return lines


def verdict(values: dict, key: str, name: str, level: float) -> str | None:
    """'<model> higher' where the Holm-adjusted p is below `level`, else None: the only place the report
    decides. The interval never decides: it comes from another resampling (dialogues drawn with replacement,
    not signs flipped) and is not corrected for the other comparisons, so it can exclude 0 where the test
    does not reject; two rules could contradict each other, one cannot."""
    if values[key + "_p_holm"] >= level:
        return None
    first, second = name.split("_vs_")
    return f"{first if values[key + '_diff'] > 0 else second} higher"


def caveated(values: dict, key: str, name: str, level: float, caveats: dict | None = None) -> str | None:
    """verdict() with the caveat of the model it calls higher where that model's output is degenerate: a verdict
    never calls such a model higher without saying so."""
    found = verdict(values, key, name, level)
    clause = (caveats or {}).get(found.removesuffix(" higher")) if found else ""
    return f"{found}, {clause}" if clause else found


def paired_table(paired: dict, level: float, caveats: dict | None = None) -> list[str]:
    lines = ["| comparison | metric | difference | interval (size estimate) | p | p (Holm) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for name, modes in paired.items():
        for key in KEYS:
            values = modes[PRIMARY]
            found = caveated(values, key, name, level, caveats)
            lines.append(f"| {literal(name.replace('_vs_', ' − '))} | {TITLES[key]} | {values[key + '_diff']:+.4f} | "
                         f"[{values[key + '_low']:+.4f}, {values[key + '_high']:+.4f}] | {values[key + '_p']:.4f} | "
                         f"{values[key + '_p_holm']:.4f} | "
                         f"{f'significant: {found}' if found else 'not significant'} |")
    return lines


def family_text(paired: dict) -> str:
    """What the family of comparisons is: '24 comparisons: 6 pairs (3 model pairs, and each of 3 models against
    the better baseline, lead3) × 4 ROUGE variants'."""
    against = [name.split("_vs_")[1] for name in paired if name.split("_vs_")[1] in BASELINES]
    size = f"{len(paired) * len(KEYS)} comparisons: "
    if not against:
        return size + f"{len(paired)} model pairs × {len(KEYS)} ROUGE variants"
    return size + (f"{len(paired)} pairs ({len(paired) - len(against)} model pairs, and each of {len(against)} models "
                   f"against the better baseline, {against[0]}) × {len(KEYS)} ROUGE variants")


def paired_section(paired: dict, setup: dict) -> list[str]:
    """The paired tests with what they allow one to conclude: the family is every pair x ROUGE variant of the
    primary mode (6 x 4 = 24 comparisons: the model pairs and each model against the better baseline),
    corrected by Holm at the level that goes with the intervals."""
    level = alpha(setup["confidence"])
    caveats = setup.get("caveats")
    family = len(paired) * len(KEYS)
    found = [f"{name.replace('_vs_', ' − ')} {TITLES[key]} ({caveated(modes[PRIMARY], key, name, level, caveats)})"
             for name, modes in paired.items() for key in KEYS if verdict(modes[PRIMARY], key, name, level)]
    summary = (f"Significant after Holm's correction (p (Holm) < {level:g}): {'; '.join(found)}. The rest is not."
               if found else f"None of the {family} differences is significant after Holm's correction "
                             f"(p (Holm) < {level:g}).")
    return [
        f"## Paired differences ({PRIMARY})", "",
        f"{family_text(paired)}, scored `{PRIMARY}`. Each "
        f"has the difference of means (first − second) on the same dialogues; p, the two-sided p-value of a paired "
        f"sign-flip permutation test (every sign flip when there are at most {setup['resamples']}, else "
        f"{setup['resamples']} random ones); and p (Holm), p after Holm's correction for these {family} "
        f"comparisons. A difference is called significant only where p (Holm) < {level:g} (1 − the intervals' "
        f"confidence): then the chance that any of the {family} verdicts is a false alarm is at most {level:g}. "
        f"The interval is the {setup['confidence']:.0%} paired bootstrap interval of the difference over "
        f"dialogues, an estimate of its size: it is not the test and is not corrected for the {family} "
        "comparisons, so it can exclude 0 where the difference is not significant. The other scoring modes "
        "(metrics/rouge_paired.json) are descriptive: nothing is concluded from them. Every dialogue's "
        "summaries and scores are in metrics/summaries.html.", "",
        summary, "",
        *paired_table(paired, level, caveats),
    ]


def example_block(number: int, why: str, example: dict) -> list[str]:
    models = list(example["predictions"])
    lines = [f"### Example {number}: {literal(example['id'])} ({literal(why)})", "",
             "<details><summary>dialogue</summary>", "",
             _quote(example["dialogue"]).replace("<br>", "  \n"), "", "</details>", "",
             "| source | summary |", "|---|---|"]
    for k, reference in enumerate(example["references"], start=1):
        lines.append(f"| human {k} | {_quote(reference)} |")
    for model in models:
        lines.append(f"| {literal(model)} (ROUGE-L {example['rougeL'][model]:.3f}) | "
                     f"{_quote(example['predictions'][model])} |")
    return lines + [""]


def notes_section(notes: list[str]) -> list[str]:
    """What to know before reading any number: degenerate output, and whether each model beats the baselines."""
    if not notes:
        return []
    return ["## Read this first", "", *[f"- {literal(note)}" for note in notes], ""]


def baselines_text(scores: dict) -> list[str]:
    shown = [name for name in BASELINES if name in scores]
    if not shown:
        return []
    return [" ".join(f"`{name}`: {BASELINE_TEXT[name]}," for name in shown).rstrip(",") + ", copied verbatim (a "
            "turn is a line of the dialogue): the extractive baselines of dialogue summarization (SAMSum, Gliwa "
            "et al. 2019). They cost no model; a model that does not beat them has not learnt to summarize. "
            "Distinct summaries: how many different summaries each wrote for the dialogues.", ""]


def render(scores: dict, paired: dict, costs: dict, examples: list[tuple[str, dict]], setup: dict) -> str:
    """The whole report as Markdown; `setup` says what was scored and how the intervals were drawn."""
    lines = [
        "# Evaluation report", "",
        *[f"{literal(line)}  " for line in setup.get("run", [])], "",
        f"Split `{setup['split']}`: {setup['dialogues']} dialogues, {setup['rows']} (dialogue, reference) rows. "
        f"ROUGE F-measures with stemming (rouge_score), ROUGE-Lsum on sentence-split text. Intervals: "
        f"{setup['confidence']:.0%} percentile bootstrap over dialogues, {setup['resamples']} resamples, "
        f"seed {setup['seed']}.", "",
        *notes_section(setup.get("notes", [])),
        "## Quality and cost", "",
        f"ROUGE scored `{PRIMARY}`: {MODE_TEXT[PRIMARY]}; the other modes follow below.", "",
        *main_table(scores, costs, setup.get("outputs")), "",
        *baselines_text(scores),
        "## Measured cost", "",
        *cost_table(costs), "",
        "Training time counts the optimizer steps alone (fetching each step's batches, forward, backward, the "
        "update), summed over any resumes; samples/s and tokens/s are the rows and non-padding tokens actually fed, "
        "divided by it. Validation time (validation loss, and generating and scoring validation summaries) and "
        "checkpoint writes (resume checkpoints and best-weights copies: a whole model for full, an adapter for "
        "LoRA) are measured beside it, not in it, so full and LoRA compare on the same work. Peak memory is the GPU's max allocated by torch (and the "
        "max its caching allocator reserved), or the process's peak RSS on CPU; the maximum over the processes "
        "of a multi-process run. The stored size is what must be kept: the whole model for base and full, "
        "only the adapter for LoRA (which also needs the base model). Total params of LoRA include the adapter. "
        "Generation time is the generate stage's per distinct dialogue, by the engine and compute type named "
        "(params generate.engine: torch, or ctranslate2 with generate.compute_type).",
        "",
        "## All scoring modes", "",
        *[f"- `{mode}`: {MODE_TEXT[mode]}" for mode in MODES], "",
        *modes_table(scores), "",
        *paired_section(paired, setup), "",
        "## Examples", "",
    ]
    for number, (why, example) in enumerate(examples, start=1):
        lines += example_block(number, why, example)
    return "\n".join(lines).rstrip() + "\n"


# Which numbers are metrics, and which are detail.
#
# `dvc metrics show`, `dvc metrics diff` and `dvc exp show` list every number in a file declared under
# `metrics:` in dvc.yaml, so only two small files are: ROUGE of each model in the primary scoring mode (and
# ROUGE-1 of each baseline), and a few cost figures per model (at most 40 numbers in all). Everything else the evaluate stage computes goes to
# git-tracked detail files (`outs` with `cache: false`) that the report, the page and stages.compare read.
METRICS = Path("metrics")
ROUGE = METRICS / "rouge.json"                       # metric: {model: {rouge1, ..., rougeLsum}, baseline: {rouge1}}
EFFICIENCY = METRICS / "efficiency.json"             # metric: {model: COSTS}
ROUGE_DETAIL = METRICS / "rouge_detail.json"         # every scoring mode, with intervals; models and baselines
ROUGE_PAIRED = METRICS / "rouge_paired.json"         # paired differences (models, each vs the better baseline)
EFFICIENCY_DETAIL = METRICS / "efficiency_detail.json"  # every cost figure
# What a person weighs against ROUGE: size of the change, what must be stored, time, memory, decoding speed.
COSTS = ("trainable_params", "stored_bytes", "train_runtime_s", "peak_memory_bytes", "s_per_dialogue")


def rouge_headline(scores: dict, primary: str) -> dict:
    """Every ROUGE variant of each model, and the one a person looks at first, ROUGE-1, of each baseline."""
    return {model: {key: modes[primary][key] for key in (("rouge1",) if model in BASELINES else KEYS)}
            for model, modes in scores.items()}


def cost_headline(costs: dict) -> dict:
    return {model: {key: row[key] for key in COSTS if row.get(key) is not None} for model, row in costs.items()}


def write(scores: dict, paired: dict, costs: dict, primary: str) -> None:
    write_json(ROUGE, rouge_headline(scores, primary))
    write_json(EFFICIENCY, cost_headline(costs))
    write_json(ROUGE_DETAIL, scores)
    write_json(ROUGE_PAIRED, paired)
    write_json(EFFICIENCY_DETAIL, costs)
