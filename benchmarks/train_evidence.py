"""What issue 13's evidence costs (benchmarks/train.py --evidence): gradient checkpointing on and off, and the
validation summaries + ROUGE each evaluation adds, projected onto an epoch of DialogSum's train split."""
import dataclasses
import math
import time

import common
from common import dialogsum, torch
from train_worker import run_fresh


def evidence(args) -> dict:
    """What issue 13's evidence costs: gradient checkpointing (peak memory vs speed, full and LoRA) and the
    validation summaries + ROUGE each evaluation adds, projected onto an epoch of DialogSum's train split."""
    from stages.training import selection

    p = common.project_params()
    base = dict(data=str(args.data), cache=str(args.cache), vocab_size=args.vocab_size, shape=args.shape,
                samples=args.samples, naive_samples=args.naive_samples, subset="all", batch_size=args.batch_size,
                recipe="project", threads=args.threads)
    runs = []
    for method in ("full", "lora"):
        for checkpointing in (False, True):
            setting = {**base, "method": method, "gradient_checkpointing": checkpointing}
            print(f"{method}, gradient checkpointing {checkpointing} ...", flush=True)
            runs.append({**run_fresh(setting, args.timeout, fresh=not args.quick), "load_average": common.load_average()})
            print(f"    {runs[-1]['samples_per_s']} samples/s, peak {runs[-1]['peak_memory_bytes'] / 2**20:.0f} MiB",
                  flush=True)
    figures = {}
    for method in ("full", "lora"):
        off, on = (next(r for r in runs if r["method"] == method and r["gradient_checkpointing"] is c)
                   for c in (False, True))
        figures[f"{method}_checkpointing_peak_memory_ratio"] = round(on["peak_memory_bytes"] / off["peak_memory_bytes"], 3)
        figures[f"{method}_checkpointing_saved_bytes"] = off["peak_memory_bytes"] - on["peak_memory_bytes"]
        figures[f"{method}_checkpointing_speed_ratio"] = round(on["samples_per_s"] / off["samples_per_s"], 3)

    # Validation summaries: random weights rarely stop, so each summary is forced to the mean reference length
    # (a trained model writes about that much): the work a trained model's evaluation does.
    d, cfg = p.data, p.train_full
    tokenizer = common.tokenizer_for(args.data, args.vocab_size, args.cache)
    split = dialogsum.tokenize(common.load_rows(args.data)["validation"], tokenizer, d.prompt, d.max_source_length,
                          d.max_target_length)
    timed_count = args.validation_dialogues or cfg.rouge_samples
    validation = selection.ValidationRouge(split, tokenizer, p.generate, timed_count, cfg.seed)
    forced = round(sum(len(split["labels"][g[0]]) for g in validation.groups) / len(validation))
    validation.decoding = dataclasses.replace(p.generate, max_new_tokens=forced)
    model = common.make_model(args.shape)
    model.generation_config.min_new_tokens = forced
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    validation(model, "fp32")
    seconds = time.perf_counter() - started
    per_evaluation = seconds / len(validation) * (cfg.rouge_samples or len(set(split["dialogue"])))
    steps = math.ceil(12460 / (cfg.batch_size * cfg.gradient_accumulation_steps))  # optimizer steps per epoch
    evaluations = steps // cfg.eval_steps + (steps % cfg.eval_steps > 0)  # plus the final one
    full_off = next(r for r in runs if r["method"] == "full" and not r["gradient_checkpointing"])
    epoch_s = 12460 / full_off["samples_per_s"]
    figures.update({
        "validation_dialogues_timed": len(validation), "validation_forced_new_tokens": forced,
        "validation_s_per_dialogue": round(seconds / len(validation), 3),
        "validation_s_per_evaluation": round(per_evaluation, 1),
        "rouge_samples": cfg.rouge_samples, "evaluations_per_epoch": evaluations,
        "validation_s_per_epoch": round(per_evaluation * evaluations, 1),
        "full_training_epoch_s": round(epoch_s, 1),
        "validation_share_of_epoch": round(per_evaluation * evaluations / epoch_s, 4),
    })
    return {"runs": runs, "figures": figures}
