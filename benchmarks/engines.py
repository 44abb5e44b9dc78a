"""Generation speed of the inference engines on one machine, in one run: the notebook recipe, the project's
PyTorch path and CTranslate2, same model, same DialogSum test dialogues, every summary exactly N tokens.

Rows: the notebook recipe (bf16 weights as the course notebook loads them, one dialogue at a time, generate());
the project's torch engine (longest-first batches; fp32, and bf16 where the CPU multiplies it natively);
CTranslate2 in float32 and int8 (and int8_bfloat16 / bfloat16 where this build offers them). Random weights of the
real shape (speed does not depend on weight values) rarely end a summary; a trained model ends them at different
points. So that every path does the same work, the model's generation config sets min_new_tokens = max_new_tokens:
both engines read it (stages/inference/ct2.py), so every summary is exactly N tokens long.

    python benchmarks/engines.py --limit 48          # flan-t5-base shape on the CPU: about 6 minutes on 2 cores
    python benchmarks/engines.py --quick             # tiny model, a handful of dialogues: a smoke test
"""
import dataclasses
import random
import shutil
import subprocess
import time

import common
from common import data, modeling, torch
from generate import one_at_a_time  # the notebook loop, as benchmarks/generate.py times it

from stages import hardware
from stages.inference import ct2, engines, torch_engine


def cpu_record() -> dict:
    """lscpu's model name and the flags that decide bf16 and int8 speed."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name")), None)
    flags = hardware.cpu_flags() or frozenset()
    return {"model_name": name, **{flag: flag in flags for flag in ("avx512_bf16", "amx_bf16", "amx_tile",
                                                                    "amx_int8", "avx512_vnni", "avx512f")}}


def pick_dialogues(rows: list[dict], limit: int, seed: int) -> list[dict]:
    """One test row for each of `limit` distinct dialogues chosen at random (seeded)."""
    first = {}
    for row in rows:
        first.setdefault(row["dialogue"], row)
    chosen = random.Random(seed).sample(sorted(first), min(limit, len(first)))
    return [first[text] for text in chosen]


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.set_defaults(threads=2)
    parser.add_argument("--limit", type=int, help="distinct test dialogues (default 48; 4 with --quick)")
    parser.add_argument("--naive-limit", type=int,
                        help="how many of them the one-at-a-time notebook loop times (default: all)")
    parser.add_argument("--new-tokens", type=int, default=48, help="every summary's length in tokens")
    parser.add_argument("--batch-size", type=int, default=16, help="the engines' batch size")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    shape = args.shape or ("tiny" if args.quick else "flan-t5-base")
    limit = args.limit or (4 if args.quick else 48)
    new_tokens = 6 if args.quick else args.new_tokens
    p = common.project_params()
    cfg = dataclasses.replace(p.generate, max_new_tokens=new_tokens, num_beams=1, batch_size=args.batch_size)
    device = modeling.device().type
    record = {"benchmark": "engines", "started": common.now(), "load_average_start": common.load_average(),
              "machine": {**common.machine(), "cpu_detail": cpu_record(), "ctranslate2": ct2.module().__version__},
              "settings": {"shape": shape, "dialogues": limit, "new_tokens": new_tokens, "batch_size": cfg.batch_size,
                           "threads": args.threads, "quick": args.quick, "data": str(args.data)}}

    tokenizer = common.tokenizer_for(args.data, 400 if args.quick else common.SHAPES[shape]["vocab_size"], args.cache)
    rows = pick_dialogues(common.load_rows(args.data)["test"], limit, p.data.seed)
    d = p.data
    inputs = [list(ids) for ids in data.tokenize(rows, tokenizer, d.prompt, d.max_source_length,
                                                 d.max_target_length)["input_ids"]]
    prompts = [data.build_prompt(d.prompt, row["dialogue"]) for row in rows]
    naive = prompts[:args.naive_limit or len(prompts)]
    record["settings"]["notebook_dialogues"] = len(naive)
    record["settings"]["mean_prompt_tokens"] = round(sum(map(len, inputs)) / len(inputs), 1)

    # The model on disk, as a user's would be: the ctranslate2 engine converts it from there (and caches it).
    folder = args.cache / f"engines-{shape}"
    model = common.make_model(shape)
    model.generation_config.min_new_tokens = new_tokens  # every path writes exactly new_tokens tokens
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    runs, texts = [], {}

    def measure(name: str, summarize, items, batch_size: int, extra: dict) -> None:
        summarize(items[:1])  # warm-up: first-call allocations and kernel choice are not the steady state
        started = time.perf_counter()
        out = summarize(items)
        seconds = time.perf_counter() - started
        texts[name] = out
        runs.append({"path": name, "batch_size": batch_size, "dialogues": len(items), "seconds": round(seconds, 3),
                     "dialogues_per_s": round(len(items) / seconds, 3),
                     "tokens_per_s": round(len(items) * new_tokens / seconds, 1),
                     "load_average": common.load_average(), **extra})
        print(f"{name}: {len(items) / seconds:.3f} dialogues/s, {len(items) * new_tokens / seconds:.1f} tokens/s "
              f"({seconds:.1f} s), load {common.load_average()}", flush=True)

    # 1. The notebook: bf16 weights (from_pretrained(..., torch_dtype=torch.bfloat16)), one dialogue at a time.
    notebook = model.to(device=modeling.device(), dtype=torch.bfloat16).eval()
    measure("notebook recipe (bf16, one at a time)", lambda items: one_at_a_time(
        notebook, tokenizer, items, d.max_source_length, new_tokens), naive, 1, {"engine": "torch",
                                                                                 "compute_type": "bfloat16"})
    del notebook, model

    # 2. The project's torch engine, in each precision this machine runs natively.
    precisions = ["fp32"] + (["bf16"] if hardware.native_bf16(hardware.detect())[0] else [])
    for precision in precisions:
        loaded = torch_engine.load(str(folder), precision)
        forced = loaded.generation_config.min_new_tokens == new_tokens
        measure(f"project torch ({precision}, longest-first batches)",
                lambda items: torch_engine.summarize(loaded, tokenizer, items, cfg, False), inputs, cfg.batch_size,
                {"engine": "torch", "compute_type": "bfloat16" if precision == "bf16" else "float32",
                 "forced_length": forced})
        del loaded

    # 3. CTranslate2, converted from the folder (cached under --cache), in each compute type this build offers.
    ctranslate2 = ct2.module()
    where = ct2.device(device, ctranslate2.get_cuda_device_count())
    offered = set(ctranslate2.get_supported_compute_types(where))
    wanted = ["float32", "int8", "int8_bfloat16", "bfloat16"] if where == "cpu" else \
        ["float32", "bfloat16", "int8_bfloat16", "int8_float16", "float16"]
    record["settings"]["ctranslate2_compute_types_offered"] = sorted(offered)
    for compute_type in [c for c in wanted if c in offered]:
        started = time.perf_counter()
        engine = engines.load_ctranslate2(str(folder), dataclasses.replace(cfg, compute_type=compute_type),
                                          tokenizer, args.cache / "engines")
        loading = round(time.perf_counter() - started, 1)
        lengths = [len(r.hypotheses[0]) for r in engine.translator.translate_batch(
            [tokenizer.convert_ids_to_tokens(ids) for ids in inputs[:2]], **engine.options)]
        measure(f"ctranslate2 ({compute_type}, longest-first batches)", engine.summarize, inputs, cfg.batch_size,
                {"engine": "ctranslate2", "compute_type": compute_type, "convert_or_load_s": loading,
                 "forced_length": lengths == [new_tokens] * 2})
        del engine

    record["runs"] = runs
    record["figures"] = figures(runs, texts)
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    cpu = record["machine"]["cpu_detail"]
    common.print_table(f"Generation, {len(inputs)} DialogSum test dialogues, {new_tokens} tokens each, {shape} shape, "
                       f"{args.threads} threads; {cpu['model_name']} (avx512_bf16 {cpu['avx512_bf16']}, amx_bf16 "
                       f"{cpu['amx_bf16']}), {record['finished']}", runs,
                       ["path", "batch_size", "dialogues", "dialogues_per_s", "tokens_per_s", "seconds"])
    f = record["figures"]
    print(f"\nbest CTranslate2 ({f['best_ctranslate2']}) vs best project torch ({f['best_torch']}): "
          f"{f['ctranslate2_vs_torch']}x; vs the notebook recipe: {f['ctranslate2_vs_notebook']}x "
          f"(dialogues/s and tokens/s alike: every summary is {new_tokens} tokens)")
    print(f"fp32 CTranslate2 and fp32 torch wrote the same summary for {f['same_fp32_summaries']} dialogues")
    if device == "cpu":
        print("GPU: not measured (no GPU on this machine)")
    common.write_result(args.out / f"engines_{device}{'_quick' if args.quick else ''}.json", record)


def figures(runs: list[dict], texts: dict) -> dict:
    best = lambda engine: max((r for r in runs if r["engine"] == engine and r["batch_size"] > 1),
                              key=lambda r: r["dialogues_per_s"])
    torch_best, ct2_best, notebook = best("torch"), best("ctranslate2"), runs[0]
    fp32 = [texts[r["path"]] for r in runs if r["batch_size"] > 1 and r["compute_type"] == "float32"]
    same = sum(a == b for a, b in zip(*fp32)) if len(fp32) == 2 else None
    return {"best_torch": torch_best["path"], "best_ctranslate2": ct2_best["path"],
            "ctranslate2_vs_torch": round(ct2_best["dialogues_per_s"] / torch_best["dialogues_per_s"], 2),
            "ctranslate2_vs_notebook": round(ct2_best["dialogues_per_s"] / notebook["dialogues_per_s"], 2),
            "same_fp32_summaries": f"{same} of {len(fp32[0])}" if same is not None else None}


if __name__ == "__main__":
    main()
