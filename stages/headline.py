"""Which numbers are metrics, and which are detail.

`dvc metrics show`, `dvc metrics diff` and `dvc exp show` list every number in a file declared under
`metrics:` in dvc.yaml, so only two small files are: ROUGE of each model in the primary scoring mode, and a
few cost figures per model (at most 40 numbers in all). Everything else the evaluate stage computes goes to
git-tracked detail files (`outs` with `cache: false`) that the report, the page and stages.compare read.
"""
from pathlib import Path

from .files import write_json
from .rouge import KEYS

METRICS = Path("metrics")
ROUGE = METRICS / "rouge.json"                       # metric: {model: {rouge1, rouge2, rougeL, rougeLsum}}
EFFICIENCY = METRICS / "efficiency.json"             # metric: {model: COSTS}
ROUGE_DETAIL = METRICS / "rouge_detail.json"         # every scoring mode, with intervals
ROUGE_PAIRED = METRICS / "rouge_paired.json"         # paired differences, intervals, p-values
EFFICIENCY_DETAIL = METRICS / "efficiency_detail.json"  # every cost figure
# What a person weighs against ROUGE: size of the change, what must be stored, time, memory, decoding speed.
COSTS = ("trainable_params", "stored_bytes", "train_runtime_s", "peak_memory_bytes", "s_per_dialogue")


def rouge_headline(scores: dict, primary: str) -> dict:
    return {model: {key: modes[primary][key] for key in KEYS} for model, modes in scores.items()}


def cost_headline(costs: dict) -> dict:
    return {model: {key: row[key] for key in COSTS if row.get(key) is not None} for model, row in costs.items()}


def write(scores: dict, paired: dict, costs: dict, primary: str) -> None:
    write_json(ROUGE, rouge_headline(scores, primary))
    write_json(EFFICIENCY, cost_headline(costs))
    write_json(ROUGE_DETAIL, scores)
    write_json(ROUGE_PAIRED, paired)
    write_json(EFFICIENCY_DETAIL, costs)
