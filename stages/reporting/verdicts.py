"""What the results allow one to say in words, the same in the report, the summaries page and stages.compare:
which model writes one summary for most dialogues, which baseline is the better one, and whether each model
beats it. Plain text; each reader escapes it for its own format."""
from ..scoring.baselines import NAMES as BASELINES
from ..scoring.rouge import KEYS
from .report import TITLES

# Degenerate output: one summary for more than half of the dialogues, or distinct summaries for at most a tenth
# of them (a handful of strings rotated). Either way the ROUGE is that of a few fixed strings, not of summaries.
MOST = 0.5
FEW = 0.10
DECIDING = "rougeL"  # which baseline is the better one: the higher ROUGE-L in the primary mode


def degenerate(counts: dict | None) -> bool:
    """Whether `counts` (scoring.diversity.count) show degenerate output; two dialogues at least to tell."""
    if not counts or counts.get("dialogues", 0) < 2:
        return False
    return counts["most_common_share"] > MOST or counts["distinct_summaries"] <= FEW * counts["dialogues"]


def degenerate_note(name: str, counts: dict) -> str:
    """`name` writes one summary for most dialogues, in words with the counts; "" where it does not."""
    if not degenerate(counts):
        return ""
    n, distinct, share = counts["dialogues"], counts["distinct_summaries"], counts["most_common_share"]
    what = "an empty summary" if counts.get("empty_share", 0) >= share else "one summary"
    said = (f"{name} writes {what} for most dialogues ({share:.0%} of {n})" if share > MOST else
            f"{name} writes only {distinct} different summaries for {n} dialogues")
    return (f"{said}: {distinct} distinct summar{'y' if distinct == 1 else 'ies'} in all. It ignores its input; its "
            "ROUGE is what those few strings share with the references, not a measure of summarizing.")


def caveat(name: str, counts: dict | None) -> str:
    """A short clause for a verdict naming `name` the higher: '' unless its output is degenerate."""
    return f"but {name} writes one summary for most dialogues" if degenerate(counts) else ""


def better_baseline(scores: dict, mode: str) -> str | None:
    """The baseline with the higher ROUGE-L in `mode` (lead3 on a tie): the one each model is tested against, so
    that beating "the baselines" means beating the stronger of them. None where no baseline was scored."""
    present = [name for name in BASELINES if name in scores]
    if not present:
        return None
    return max(present, key=lambda name: (scores[name][mode][DECIDING], -present.index(name)))


def standing(model: str, baseline: str, values: dict, level: float, counts: dict | None = None) -> str:
    """Whether `model` beats `baseline`, from the Holm-adjusted p of their paired differences (`values`: one mode
    of rouge_paired.json's `<model>_vs_<baseline>`): beats it only where it is significantly higher on all four
    ROUGE variants; otherwise it "does not beat" it, with what the tests found."""
    higher = [TITLES[k] for k in KEYS if values[k + "_p_holm"] < level and values[k + "_diff"] > 0]
    lower = [TITLES[k] for k in KEYS if values[k + "_p_holm"] < level and values[k + "_diff"] < 0]
    if len(higher) == len(KEYS):
        text = f"{model} beats the better baseline, {baseline}, on all four ROUGE variants (p (Holm) < {level:g})"
        clause = caveat(model, counts)
        return text + (f", {clause}." if clause else ".")
    if lower:
        found = f"{baseline} is significantly higher on {', '.join(lower)}"
    else:
        found = f"no significant difference on {', '.join(TITLES[k] for k in KEYS if TITLES[k] not in higher)}"
    if higher:
        found += f" (significantly higher on {', '.join(higher)} only)"
    size = f"{TITLES[DECIDING]} {model} − {baseline} {values[DECIDING + '_diff']:+.4f}"
    return f"{model} does not beat the better baseline, {baseline}: {found} ({size})."


def notes(models, scores: dict, paired: dict, outputs: dict, mode: str, level: float) -> list[str]:
    """What a reader must know before any table, in order: each model (or baseline) with degenerate output, and
    whether each model beats the better baseline (from `paired`'s `<model>_vs_<baseline>` in `mode`)."""
    lines = [degenerate_note(name, counts) for name, counts in outputs.items()]
    baseline = better_baseline(scores, mode)
    for model in models:
        values = paired.get(f"{model}_vs_{baseline}", {}).get(mode)
        if baseline and values:
            lines.append(standing(model, baseline, values, level, outputs.get(model)))
    return [line for line in lines if line]
