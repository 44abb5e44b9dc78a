"""Stage generate@<model>: summaries of the evaluation split by base, full or lora."""
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import data, hardware, modeling, params
from .errors import UserError, run
from .files import write_json, write_jsonl, wrote


def load(which: str, precision: str):
    """The model to generate with; a LoRA adapter is merged into its base for plain-speed decoding."""
    if which == "base":
        model = modeling.load_model(modeling.BASE)
    elif which == "full":
        model = modeling.load_model(modeling.FULL)
    elif which == "lora":
        model = modeling.load_adapter(modeling.load_model(modeling.BASE)).merge_and_unload()
    else:
        raise UserError(f"unknown model {which!r}: choose one of {', '.join(data.MODELS)}.")
    return ready(model, precision)


def ready(model, precision: str):
    """On the device, in the precision asked for, in eval mode. Merge adapters before this (in fp32), so that
    bf16 rounding happens once, after the merge."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return model.to(device=modeling.device(), dtype=dtype).eval()


@torch.inference_mode()
def summarize(model, tokenizer, inputs: list[list[int]], cfg, progress=True) -> list[str]:
    """Greedy or beam summaries of tokenized prompts, longest first in batches (least padding)."""
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    outputs = [""] * len(inputs)
    # disable=None: a bar on a terminal, none in a log file (stages/logs.py)
    with tqdm(total=len(inputs), desc="generate", unit="dialogue", disable=None if progress else True) as bar:
        for start in range(0, len(order), cfg.batch_size):
            chunk = order[start:start + cfg.batch_size]
            batch = tokenizer.pad({"input_ids": [inputs[i] for i in chunk]}, return_tensors="pt").to(model.device)
            generated = model.generate(**batch, max_new_tokens=cfg.max_new_tokens, num_beams=cfg.num_beams,
                                       do_sample=False)
            for i, text in zip(chunk, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                outputs[i] = text.strip()
            bar.update(len(chunk))
    return outputs


def distinct(input_ids) -> list[tuple]:
    """Each distinct prompt once, in first-seen order: DialogSum repeats a test dialogue per reference."""
    return list(dict.fromkeys(tuple(ids) for ids in input_ids))


def main(which: str) -> None:
    p = params.load()
    if which not in data.MODELS:
        raise UserError(f"unknown model {which!r}: choose one of {', '.join(data.MODELS)}.")
    precision = modeling.resolve_precision(p.generate.precision)
    split = data.load_prepared(p.generate.split)
    tokenizer = modeling.load_tokenizer()
    model = load(which, precision)

    unique = distinct(split["input_ids"])
    started = time.perf_counter()
    summaries = summarize(model, tokenizer, [list(ids) for ids in unique], p.generate)
    seconds = time.perf_counter() - started

    by_prompt = dict(zip(unique, summaries))
    rows = [{"id": row_id, "prediction": by_prompt[tuple(ids)]} for row_id, ids in zip(split["id"], split["input_ids"])]
    write_jsonl(data.PREDICTIONS / f"{which}.jsonl", rows)
    write_json(Path("metrics") / f"generate_{which}.json", {
        "dialogues": len(unique),
        "generate_s": round(seconds, 3),
        "s_per_dialogue": round(seconds / len(unique), 5),
        "mean_summary_words": round(sum(len(s.split()) for s in summaries) / len(summaries), 3),
        **hardware.decision(p.generate.precision).record(),
    })
    wrote(data.PREDICTIONS / f"{which}.jsonl", f"metrics/generate_{which}.json")


if __name__ == "__main__":
    run(main, sys.argv[1] if len(sys.argv) > 1 else "")
