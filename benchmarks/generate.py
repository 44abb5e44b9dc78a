"""Generation throughput: the generate stage's summarize() (length-sorted batches, each dialogue once) vs the
notebook recipe (one dialogue at a time, every test row), same model, dialogues and max_new_tokens.

Random weights rarely emit </s>, and a trained model stops at different points; so that both paths do the
same work, every summary is forced to exactly max_new_tokens tokens (min_new_tokens = max_new_tokens).

    python benchmarks/generate.py            # a few minutes on 2 CPU cores
    python benchmarks/generate.py --quick    # tiny model, a handful of dialogues: a smoke test
"""
import dataclasses
import random
import time

import common
from common import dialogsum, models, torch

from stages.inference import decode


def pick_test_rows(rows: list[dict], dialogues: int, seed: int) -> list[dict]:
    """All test rows (one per reference) of `dialogues` distinct dialogues chosen at random."""
    distinct = list(dict.fromkeys(row["dialogue"] for row in rows))
    keep = set(random.Random(seed).sample(distinct, min(dialogues, len(distinct))))
    return [row for row in rows if row["dialogue"] in keep]


@torch.inference_mode()
def one_at_a_time(model, tokenizer, prompts: list[str], max_source: int, max_new_tokens: int) -> list[str]:
    """The notebook loop: tokenize one prompt, generate, decode, next."""
    outputs = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", max_length=max_source, truncation=True).input_ids
        generated = model.generate(input_ids=ids.to(model.device), max_new_tokens=max_new_tokens, do_sample=False)
        outputs.append(tokenizer.decode(generated[0], skip_special_tokens=True))
    return outputs


@torch.inference_mode()
def unsorted_batches(model, tokenizer, inputs: list[list[int]], cfg) -> None:
    """Batched like the stage, but in the data's order: what sorting by length saves."""
    for start in range(0, len(inputs), cfg.batch_size):
        batch = tokenizer.pad({"input_ids": inputs[start:start + cfg.batch_size]}, return_tensors="pt").to(model.device)
        model.generate(**batch, max_new_tokens=cfg.max_new_tokens, num_beams=cfg.num_beams, do_sample=False)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--naive-dialogues", type=int,
                        help="how many of them the one-at-a-time loop times, chosen at random (its cost per "
                             "dialogue does not depend on the others); default: all on GPU, 32 on CPU")
    parser.add_argument("--dialogues", type=int, help="distinct test dialogues (each has three test rows)")
    parser.add_argument("--max-new-tokens", type=int, help="default: params.yaml generate.max_new_tokens")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=(8, 16), help="besides params.yaml's")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    p = common.project_params()
    shape = args.shape or common.default_shape(args.quick)
    cpu = models.device().type == "cpu"
    # Enough dialogues that length-sorted batches are like the real 500-dialogue split's.
    count = args.dialogues or (4 if args.quick else 128 if cpu else 500)
    naive_count = min(count, args.naive_dialogues or (32 if cpu and not args.quick else count))
    cfg = dataclasses.replace(p.generate, max_new_tokens=args.max_new_tokens or (8 if args.quick else
                                                                                 p.generate.max_new_tokens))
    if args.quick:
        cfg = dataclasses.replace(cfg, batch_size=2)
        args.batch_sizes = (1,)
    vocab_size = 400 if args.quick else common.SHAPES[shape]["vocab_size"]
    record = {"benchmark": "generate", "started": common.now(), "load_average_start": common.load_average(),
              "machine": common.machine(), "settings": {"shape": shape, "dialogues": count,
                                                        "naive_dialogues": naive_count, "quick": args.quick,
                                                        "threads": args.threads, "data": str(args.data),
                                                        "generate": dataclasses.asdict(cfg),
                                                        "forced_new_tokens": cfg.max_new_tokens}}

    tokenizer = common.tokenizer_for(args.data, vocab_size, args.cache)
    rows = pick_test_rows(common.load_rows(args.data)["test"], count, p.data.seed)
    d = p.data
    split = dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length, d.max_target_length)
    unique = [list(ids) for ids in decode.distinct(split["input_ids"])]  # as the stage does
    prompts = [dialogsum.build_prompt(d.prompt, dialogue) for dialogue in dict.fromkeys(split["dialogue"])]
    precision = models.resolve_precision(cfg.precision)
    record["settings"]["precision_used"] = precision  # auto: bf16 weights on CPUs with native bf16
    model = common.make_model(shape).to(device=models.device(),
                                        dtype=torch.bfloat16 if precision == "bf16" else torch.float32).eval()
    model.generation_config.min_new_tokens = cfg.max_new_tokens  # same work for every path (see above)

    decode.summarize(model, tokenizer, unique[:2], dataclasses.replace(cfg, batch_size=2), progress=False)  # warm-up
    runs = []

    def record_run(name, batch_size, seconds, dialogues, rows_served):
        runs.append({"path": name, "batch_size": batch_size, "seconds": round(seconds, 3), "dialogues": dialogues,
                     "dialogues_per_s": round(dialogues / seconds, 3), "rows_served": rows_served,
                     "rows_per_s": round(rows_served / seconds, 3), "load_average": common.load_average()})
        print(f"{name}, batch {batch_size}: {dialogues / seconds:.3f} dialogues/s ({seconds:.1f} s), "
              f"load {common.load_average()}", flush=True)

    # The notebook generates every test row, so each dialogue three times: one generation serves one row.
    naive_prompts = random.Random(p.data.seed).sample(prompts, naive_count)
    seconds = timed(one_at_a_time, model, tokenizer, naive_prompts, d.max_source_length, cfg.max_new_tokens)
    record_run("one at a time (notebook)", 1, seconds, len(naive_prompts), len(naive_prompts))
    seconds = timed(decode.summarize, model, tokenizer, unique, cfg, False)
    record_run("project summarize (sorted batches, each dialogue once)", cfg.batch_size, seconds, len(unique), len(rows))
    for size in args.batch_sizes:
        if size == cfg.batch_size:
            continue
        seconds = timed(decode.summarize, model, tokenizer, unique, dataclasses.replace(cfg, batch_size=size), False)
        record_run("project summarize", size, seconds, len(unique), len(rows))
    small = min(args.batch_sizes)
    seconds = timed(unsorted_batches, model, tokenizer, unique, dataclasses.replace(cfg, batch_size=small))
    record_run("batched in data order (not length-sorted)", small, seconds, len(unique), len(rows))

    naive, project = runs[0], runs[1]
    record["runs"] = runs
    record["figures"] = {
        "naive_dialogues_per_s": naive["dialogues_per_s"],
        "project_dialogues_per_s": project["dialogues_per_s"],
        "speedup": round(project["dialogues_per_s"] / naive["dialogues_per_s"], 2),
        # Each distinct test dialogue generated once serves its three references' rows.
        "speedup_rows_with_dedup": round(project["rows_per_s"] / naive["rows_per_s"], 2),
        "sorting_speedup_at_batch_%d" % small: round(
            next(r for r in runs if r["path"] == "project summarize" and r["batch_size"] == small)["dialogues_per_s"]
            / runs[-1]["dialogues_per_s"], 3) if small != cfg.batch_size else None,
        "mean_source_tokens": round(sum(len(ids) for ids in unique) / len(unique), 1),
    }
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    common.print_table("Generation, same dialogues, %d new tokens each" % cfg.max_new_tokens, runs,
                       ["path", "batch_size", "dialogues_per_s", "rows_per_s", "seconds"])
    f = record["figures"]
    print(f"project {f['project_dialogues_per_s']} vs one at a time {f['naive_dialogues_per_s']} dialogues/s = "
          f"{f['speedup']}x; per test row (each dialogue generated once): {f['speedup_rows_with_dedup']}x")
    common.write_result(args.out / f"generate_{record['machine']['device']}{'_quick' if args.quick else ''}.json",
                        record)


if __name__ == "__main__":
    main()
