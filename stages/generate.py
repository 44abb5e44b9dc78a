"""Stage generate@<model>: summaries of the evaluation split by base, full or lora."""
import sys
import time
from pathlib import Path

from .data import dialogsum
from .inference import decode
from .inference.engines import load_engine
from .inference.machine import machine as where_timed
from .io import stage
from .scoring import diversity
from .io.errors import UserError, run
from .io.files import write_json, write_jsonl, wrote


def main(which: str) -> None:
    stage.command_line(f"generate@{which}")  # --help, before `which` is checked
    if which not in dialogsum.MODELS:
        raise UserError(f"unknown model {which!r}: choose one of {', '.join(dialogsum.MODELS)}.")
    p = stage.start(f"generate@{which}")
    split = dialogsum.load_prepared(p.generate.split)
    # One summary per dialogue, given to each of its reference rows: rows are grouped by id (stages/data/dialogsum.py),
    # so a stray space in one row's copy of the dialogue cannot give it a summary of its own.
    ids, prompts = list(split["id"]), list(split["input_ids"])
    groups = dialogsum.group(ids, split["dialogue"], f"the {p.generate.split} split in {dialogsum.PREPARED}")
    firsts = [prompts[rows[0]] for rows in groups]
    engine = load_engine(which, p)

    unique = decode.distinct(firsts)  # each distinct prompt generated once
    where = engine.describe()
    machine = where_timed(where.get("device", "cpu"))  # the load before the timed work, not during it
    started = time.perf_counter()
    summaries = engine.summarize([list(prompt) for prompt in unique], progress=True)
    seconds = time.perf_counter() - started

    by_prompt = dict(zip(unique, summaries))
    predictions = [""] * len(ids)
    for rows, prompt in zip(groups, firsts):
        for row in rows:
            predictions[row] = by_prompt[tuple(prompt)]
    rows = [{"id": row_id, "prediction": text} for row_id, text in zip(ids, predictions)]
    counts = diversity.count(summaries)  # a model that writes one summary for every dialogue ignores its input
    record = {
        "dialogues": len(unique),
        "distinct_summaries": counts["distinct_summaries"],
        "most_common_share": counts["most_common_share"],
        "empty_share": counts["empty_share"],
        "generate_s": round(seconds, 3),
        "s_per_dialogue": round(seconds / len(unique), 5),
        "mean_summary_words": round(sum(len(s.split()) for s in summaries) / len(summaries), 3),
        **where,  # engine, compute type, threads, device (and the torch engine's precision)
        **machine,  # CPU model and count, GPU name, load average: whether two timings compare
    }
    with stage.writing():
        write_jsonl(dialogsum.PREDICTIONS / f"{which}.jsonl", rows)
        write_json(Path("metrics") / f"generate_{which}.json", record)
    wrote(dialogsum.PREDICTIONS / f"{which}.jsonl", f"metrics/generate_{which}.json")


if __name__ == "__main__":
    run(main, sys.argv[1] if len(sys.argv) > 1 else "")
