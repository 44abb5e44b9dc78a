"""Stage generate@<model>: summaries of the evaluation split by base, full or lora."""
import sys
import time
from pathlib import Path

from . import data, params
from .errors import UserError, run
from .files import write_json, write_jsonl, wrote
# the torch engine's model loading and generation, under the names training and the tests call
from .inference.torch_engine import load, ready, summarize  # noqa: F401


def distinct(input_ids) -> list[tuple]:
    """Each distinct prompt once, in first-seen order: DialogSum repeats a test dialogue per reference."""
    return list(dict.fromkeys(tuple(ids) for ids in input_ids))


def main(which: str) -> None:
    p = params.load()
    if which not in data.MODELS:
        raise UserError(f"unknown model {which!r}: choose one of {', '.join(data.MODELS)}.")
    # imported here: training imports this module for summarize() alone and decodes with torch, so the other
    # engines' code is no dependency of the training stages
    from .inference.engines import load_engine

    split = data.load_prepared(p.generate.split)
    engine = load_engine(which, p)

    unique = distinct(split["input_ids"])
    started = time.perf_counter()
    summaries = engine.summarize([list(ids) for ids in unique], progress=True)
    seconds = time.perf_counter() - started

    by_prompt = dict(zip(unique, summaries))
    rows = [{"id": row_id, "prediction": by_prompt[tuple(ids)]} for row_id, ids in zip(split["id"], split["input_ids"])]
    write_jsonl(data.PREDICTIONS / f"{which}.jsonl", rows)
    write_json(Path("metrics") / f"generate_{which}.json", {
        "dialogues": len(unique),
        "generate_s": round(seconds, 3),
        "s_per_dialogue": round(seconds / len(unique), 5),
        "mean_summary_words": round(sum(len(s.split()) for s in summaries) / len(summaries), 3),
        **engine.describe(),  # engine, compute type, threads, device (and the torch engine's precision)
    })
    wrote(data.PREDICTIONS / f"{which}.jsonl", f"metrics/generate_{which}.json")


if __name__ == "__main__":
    run(main, sys.argv[1] if len(sys.argv) > 1 else "")
