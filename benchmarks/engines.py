"""Generation speed of the inference engines on one machine, in one run: the notebook recipe, the project's
PyTorch path and CTranslate2, same model, same DialogSum test dialogues, every summary exactly N tokens.

Rows: the notebook recipe (bf16 weights as the course notebook loads them, one dialogue at a time, generate());
the project's torch engine (longest-first batches; fp32, and bf16 where the CPU multiplies it natively);
CTranslate2 in float32 and int8 (and int8_bfloat16 / bfloat16 where this build offers them). Random weights of the
real shape (speed does not depend on weight values) rarely end a summary; a trained model ends them at different
points. So that every path does the same work, the model's generation config sets min_new_tokens = max_new_tokens:
both engines read it (stages/inference/ct2.py), so every summary is exactly N tokens long.

The dialogues are sorted longest first and cut into batches; each batch is a round in which every path runs in
turn (the notebook on a few dialogues spread over the batch), the first path rotating from round to round, so
that other work on a shared machine slows every path alike. Figures are totals over the rounds.

    python benchmarks/engines.py                     # 48 dialogues, flan-t5-base shape: about 4 minutes on 2 cores
    python benchmarks/engines.py --quick             # tiny model, a handful of dialogues: a smoke test
"""
import dataclasses
import random
import shutil
import subprocess
import time

import common
from common import dialogsum, models, torch
from generate import one_at_a_time  # the notebook loop, as benchmarks/generate.py times it

from stages.inference import ct2, decode, engines
from stages.io.errors import UserError
from stages.modeling import hardware


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



def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.set_defaults(threads=2)
    parser.add_argument("--limit", type=int, help="distinct test dialogues (default 48; 4 with --quick)")
    parser.add_argument("--naive-limit", type=int,
                        help="how many of them the one-at-a-time notebook loop times, spread over the length-sorted "
                             "batches (default: all)")
    parser.add_argument("--new-tokens", type=int, default=48, help="every summary's length in tokens")
    parser.add_argument("--batch-size", type=int, default=16, help="the engines' batch size")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    shape = args.shape or ("tiny" if args.quick else "flan-t5-base")
    limit = args.limit or (4 if args.quick else 48)
    new_tokens = 6 if args.quick else args.new_tokens
    p = common.project_params()
    cfg = dataclasses.replace(p.generate, max_new_tokens=new_tokens, num_beams=1, batch_size=args.batch_size)
    device = models.device().type
    record = {"benchmark": "engines", "started": common.now(), "load_average_start": common.load_average(),
              "machine": {**common.machine(), "cpu_detail": cpu_record(), "ctranslate2": ct2.module().__version__},
              "settings": {"shape": shape, "dialogues": limit, "new_tokens": new_tokens, "batch_size": cfg.batch_size,
                           "threads": args.threads, "quick": args.quick, "data": str(args.data)}}

    tokenizer = common.tokenizer_for(args.data, 400 if args.quick else common.SHAPES[shape]["vocab_size"], args.cache)
    test_rows = common.load_rows(args.data)["test"]
    rows = pick_dialogues(test_rows, limit, p.data.seed)
    chosen = {row["dialogue"] for row in rows}
    # the notebook generates every test row, so each dialogue once per reference; the engines generate it once
    record["settings"]["test_rows_per_dialogue"] = round(sum(r["dialogue"] in chosen for r in test_rows) / len(rows), 3)
    d = p.data
    inputs = [list(ids) for ids in dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length,
                                                 d.max_target_length)["input_ids"]]
    prompts = [dialogsum.build_prompt(d.prompt, row["dialogue"]) for row in rows]
    record["settings"]["notebook_dialogues"] = min(args.naive_limit or len(inputs), len(inputs))
    record["settings"]["mean_prompt_tokens"] = round(sum(map(len, inputs)) / len(inputs), 1)

    # The model on disk, as a user's would be: the ctranslate2 engine converts it from there (and caches it).
    folder = args.cache / f"engines-{shape}"
    model = common.make_model(shape)
    model.generation_config.min_new_tokens = new_tokens  # every path writes exactly new_tokens tokens
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    # Every path, loaded once. The notebook loads bf16 weights (from_pretrained(..., torch_dtype=torch.bfloat16)).
    paths = {}  # name -> (summarize(prompt ids, prompt texts), batch size, what the record says about it)
    notebook = decode.ready(model, "bf16")
    paths["notebook recipe (bf16, one at a time)"] = (
        lambda ids, texts: one_at_a_time(notebook, tokenizer, texts, d.max_source_length, new_tokens), 1,
        {"engine": "torch", "compute_type": "bfloat16"})
    precisions = ["fp32"] + (["bf16"] if hardware.native_bf16(hardware.detect())[0] else [])
    for precision in precisions:  # the project's torch engine, in each precision this machine runs natively
        loaded = decode.load(str(folder), precision)
        paths[f"project torch ({precision}, longest-first batches)"] = (
            lambda ids, texts, loaded=loaded: decode.summarize(loaded, tokenizer, ids, cfg, False),
            cfg.batch_size, {"engine": "torch", "compute_type": "bfloat16" if precision == "bf16" else "float32",
                             "forced_length": loaded.generation_config.min_new_tokens == new_tokens})
    # CTranslate2, converted from the folder (cached under --cache), in each compute type this build offers
    ctranslate2 = ct2.module()
    where = ct2.device(device, ctranslate2.get_cuda_device_count())
    offered = set(ctranslate2.get_supported_compute_types(where))
    wanted = ["float32", "int8", "int8_bfloat16", "bfloat16"] if where == "cpu" else \
        ["float32", "bfloat16", "int8_bfloat16", "int8_float16", "float16"]
    record["settings"]["ctranslate2_compute_types_offered"] = sorted(offered)
    chosen_split = ct2.workers(args.threads, cfg.batch_size) if where == "cpu" else (1, 0)
    splits = [chosen_split] + [(n, args.threads // n) for n in range(1, args.threads + 1)
                               if where == "cpu" and args.threads % n == 0 and (n, args.threads // n) != chosen_split]
    record["settings"]["ctranslate2_workers_chosen"] = list(chosen_split)
    for compute_type in [c for c in wanted if c in offered]:
        # the engine's own worker split for every compute type; the other splits for int8, the CPU default
        for split in splits if compute_type == "int8" else splits[:1]:
            started = time.perf_counter()
            try:
                engine = engines.load_ctranslate2(str(folder), dataclasses.replace(cfg, compute_type=compute_type),
                                                  tokenizer, args.cache / "engines", split)
                loading = round(time.perf_counter() - started, 1)
                lengths = [len(r.hypotheses[0]) for r in engine.translator.translate_batch(
                    [tokenizer.convert_ids_to_tokens(ids) for ids in inputs[:2]], **engine.options)]
            except (UserError, RuntimeError) as error:  # e.g. a GPU without the CUDA libraries the build loads
                why = str(error).splitlines()[0]
                record["settings"].setdefault("ctranslate2_not_measured", []).append(f"{compute_type}: {why}")
                print(f"ctranslate2 {compute_type} on {where}: not measured ({why})", flush=True)
                break
            label = (f"{split[0]} worker{'s' if split[0] > 1 else ''} x {split[1]} "
                     f"thread{'s' if split[1] > 1 else ''}, ") if where == "cpu" else ""
            paths[f"ctranslate2 ({compute_type}, {label}longest-first batches)"] = (
                lambda ids, texts, engine=engine: engine.summarize(ids), cfg.batch_size,
                {"engine": "ctranslate2", "compute_type": compute_type, "workers": split[0],
                 "engine_default": split == chosen_split, "convert_or_load_s": loading,
                 "forced_length": lengths == [new_tokens] * 2})

    # Rounds: one longest-first batch of dialogues each, every path in turn (rotating who goes first), so that
    # other work on a shared machine slows every path alike. The notebook times a spread few of each batch.
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    rounds = [order[start:start + cfg.batch_size] for start in range(0, len(order), cfg.batch_size)]
    naive_total = min(args.naive_limit or len(inputs), len(inputs))
    seconds = {name: 0.0 for name in paths}
    counts = {name: 0 for name in paths}
    loads = {name: [] for name in paths}
    texts = {name: {} for name in paths}
    per_round = []
    for name, (summarize, _, _) in paths.items():  # warm-up: first calls allocate and pick kernels
        summarize([inputs[order[0]]], [prompts[order[0]]])
    for number, chunk in enumerate(rounds):
        share = max(1, round(naive_total * len(chunk) / len(inputs)))
        spread = chunk[::max(1, len(chunk) // share)][:share]
        names = list(paths)[number % len(paths):] + list(paths)[:number % len(paths)]
        timing = {}
        for name in names:
            summarize, batch_size, _ = paths[name]
            items = spread if batch_size == 1 else chunk
            started = time.perf_counter()
            out = summarize([inputs[i] for i in items], [prompts[i] for i in items])
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            took = time.perf_counter() - started
            seconds[name] += took
            counts[name] += len(items)
            loads[name].append(common.load_average()[0])
            texts[name].update(zip(items, out))
            timing[name] = round(len(items) / took, 3)
        per_round.append(timing)
        print(f"round {number + 1}/{len(rounds)}, load {common.load_average()}: "
              + "; ".join(f"{name} {value}" for name, value in timing.items()) + " dialogues/s", flush=True)

    runs = [{"path": name, "batch_size": batch_size, "dialogues": counts[name], "seconds": round(seconds[name], 3),
             "dialogues_per_s": round(counts[name] / seconds[name], 3),
             "tokens_per_s": round(counts[name] * new_tokens / seconds[name], 1),
             "load_average_1min": [min(loads[name]), max(loads[name])], **extra}
            for name, (_, batch_size, extra) in paths.items()]
    texts = {name: [found[i] for i in sorted(found)] for name, found in texts.items()}
    record["per_round_dialogues_per_s"] = per_round
    record["runs"] = runs
    record["figures"] = figures(runs, texts, record["settings"]["test_rows_per_dialogue"])
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    cpu = record["machine"]["cpu_detail"]
    common.print_table(f"Generation, {len(inputs)} DialogSum test dialogues, {new_tokens} tokens each, {shape} shape, "
                       f"{args.threads} threads; {cpu['model_name']} (avx512_bf16 {cpu['avx512_bf16']}, amx_bf16 "
                       f"{cpu['amx_bf16']}), {record['finished']}", runs,
                       ["path", "batch_size", "dialogues", "dialogues_per_s", "tokens_per_s", "seconds"])
    f = record["figures"]
    print(f"\nbest project torch ({f['best_torch']}) vs the notebook recipe: {f['torch_vs_notebook']}x")
    if f["best_ctranslate2"]:
        print(f"best CTranslate2 ({f['best_ctranslate2']}) vs best project torch: {f['ctranslate2_vs_torch']}x; vs "
              f"the notebook recipe: {f['ctranslate2_vs_notebook']}x (dialogues/s and tokens/s alike: every summary "
              f"is {new_tokens} tokens); per test row served, as the notebook generates every row "
              f"({record['settings']['test_rows_per_dialogue']} per dialogue): "
              f"{f['ctranslate2_vs_notebook_per_test_row']}x")
    print(f"fp32 CTranslate2 and fp32 torch wrote the same summary for {f['same_fp32_summaries']} dialogues")
    if device == "cpu":
        print("GPU: not measured (no GPU on this machine)")
    common.write_result(args.out / f"engines_{device}{'_quick' if args.quick else ''}.json", record)


def figures(runs: list[dict], texts: dict, rows_per_dialogue: float) -> dict:
    # the engines as a user gets them: CTranslate2 with its own worker split
    def best(engine):
        found = [r for r in runs if r["engine"] == engine and r["batch_size"] > 1 and r.get("engine_default", True)]
        return max(found, key=lambda r: r["dialogues_per_s"]) if found else None

    torch_best, ct2_best, notebook = best("torch"), best("ctranslate2"), runs[0]
    fp32 = [texts[r["path"]] for r in runs if r["batch_size"] > 1 and r["compute_type"] == "float32"
            and r.get("engine_default", True)]
    same = sum(a == b for a, b in zip(*fp32)) if len(fp32) == 2 else None
    result = {"best_torch": torch_best["path"], "torch_vs_notebook": round(
        torch_best["dialogues_per_s"] / notebook["dialogues_per_s"], 2), "best_ctranslate2": None,
        "same_fp32_summaries": f"{same} of {len(fp32[0])}" if same is not None else None}
    if ct2_best:
        result.update({
            "best_ctranslate2": ct2_best["path"],
            "ctranslate2_vs_torch": round(ct2_best["dialogues_per_s"] / torch_best["dialogues_per_s"], 2),
            "ctranslate2_vs_notebook": round(ct2_best["dialogues_per_s"] / notebook["dialogues_per_s"], 2),
            "ctranslate2_vs_notebook_per_test_row": round(
                ct2_best["dialogues_per_s"] * rows_per_dialogue / notebook["dialogues_per_s"], 2)})
    return result


if __name__ == "__main__":
    main()
