"""fp32 vs bf16 on this machine, side by side in one run: training (the project's trainer, full fine-tuning and
LoRA, bf16 = autocast) and greedy generation (the generate stage's summarize, bf16 = bf16 weights), each figure
with its model FLOPs utilization (MFU) against this machine's matmul peak in that dtype, measured here first.

Runs alternate fp32, bf16, fp32, bf16, ... so that load from other work on a shared machine hits both alike;
each figure keeps the load average beside it and the figures give the median and the spread (min, max) over
the repeats. The speedup is the ratio of medians; also given per pair of neighbouring runs (min, max).

    python benchmarks/precision.py            # ~10 minutes on 2 CPU cores
    python benchmarks/precision.py --quick    # tiny model, a handful of dialogues: a smoke test
"""
import dataclasses
import statistics
import time

import common
import flops
import train_worker
from common import dialogsum, torch

from stages.inference import decode
from stages.modeling import hardware

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "n": len(values)}


def generation_flops(config, inputs: list[list[int]], batch_size: int, new_tokens: int) -> int:
    """summarize() batches longest first and pads each batch to its longest prompt."""
    lengths = sorted((len(ids) for ids in inputs), reverse=True)
    return sum(flops.greedy_generation(config, len(lengths[i:i + batch_size]), lengths[i], new_tokens)
               for i in range(0, len(lengths), batch_size))


def peaks(args) -> dict:
    size, seconds = (256, 0.2) if args.quick else (2048, 2.0)
    return {name: {**flops.matmul_peak(dtype, size, seconds), "load_average": common.load_average()}
            for name, dtype in DTYPES.items()}


def training_runs(args, precisions) -> list[dict]:
    base = dict(data=str(args.data), cache=str(args.cache), vocab_size=args.vocab_size, shape=args.shape,
                samples=args.samples, naive_samples=args.samples, subset="all", batch_size=args.batch_size,
                recipe="project", threads=args.threads)
    runs = []
    for repeat in range(args.repeats):
        for method in ("full", "lora"):
            for precision in precisions:
                setting = {**base, "method": method, "precision": precision}
                print(f"train {method} {precision}, repeat {repeat + 1}/{args.repeats} ...", flush=True)
                result = train_worker.run_fresh(setting, args.timeout, fresh=not args.quick)
                runs.append({"repeat": repeat, **result, "load_average": common.load_average()})
                print(f"    {result['steady_samples_per_s'] or result['samples_per_s']} samples/s, "
                      f"load {common.load_average()}", flush=True)
    return runs


def generation_runs(args, precisions) -> tuple[list[dict], dict]:
    p = common.project_params()
    d = p.data
    cfg = dataclasses.replace(p.generate, max_new_tokens=args.max_new_tokens, batch_size=args.generate_batch)
    tokenizer = common.tokenizer_for(args.data, args.vocab_size, args.cache)
    rows = common.load_rows(args.data)["test"]
    first = list({row["dialogue"]: row for row in reversed(rows)}.values())[::-1][:args.dialogues]  # distinct
    split = dialogsum.tokenize(first, tokenizer, d.prompt, d.max_source_length, d.max_target_length)
    inputs = [list(ids) for ids in split["input_ids"]]
    base = common.make_model(args.shape)
    model_flops = generation_flops(base.config, inputs, cfg.batch_size, cfg.max_new_tokens)
    models = {}
    for precision in precisions:
        models[precision] = common.make_model(args.shape).to(DTYPES[precision]).eval()
        models[precision].generation_config.min_new_tokens = cfg.max_new_tokens  # every path the same work
        decode.summarize(models[precision], tokenizer, inputs[:2], dataclasses.replace(cfg, batch_size=2), False)
    runs = []
    for repeat in range(args.repeats):
        for precision in precisions:
            started = time.perf_counter()
            decode.summarize(models[precision], tokenizer, inputs, cfg, progress=False)
            seconds = time.perf_counter() - started
            runs.append({"repeat": repeat, "precision": precision, "seconds": round(seconds, 3),
                         "dialogues": len(inputs), "dialogues_per_s": round(len(inputs) / seconds, 4),
                         "model_flops_per_s": round(model_flops / seconds), "load_average": common.load_average()})
            print(f"generate {precision}, repeat {repeat + 1}: {len(inputs) / seconds:.3f} dialogues/s, "
                  f"load {common.load_average()}", flush=True)
    settings = {"dialogues": len(inputs), "batch_size": cfg.batch_size, "max_new_tokens": cfg.max_new_tokens,
                "model_flops": model_flops, "mean_source_tokens": round(sum(map(len, inputs)) / len(inputs), 1)}
    return runs, settings


def figures(train_runs, generate_runs, peak, precisions) -> dict:
    out = {}

    def compare(name, runs, rate_key):
        per = {}
        for precision in precisions:
            mine = [r for r in runs if r["precision"] == precision]
            rates = [r[rate_key] for r in mine]
            mfu = [r["flops"] / peak[precision]["flops_per_s"] for r in mine]
            per[precision] = {rate_key: spread(rates), "mfu": spread(mfu)}
        if len(precisions) == 2:
            pairs = [b[rate_key] / a[rate_key] for a, b in zip(*([r for r in runs if r["precision"] == p]
                                                                 for p in precisions))]
            per["bf16_speedup"] = round(per["bf16"][rate_key]["median"] / per["fp32"][rate_key]["median"], 3)
            per["bf16_speedup_pairs"] = spread(pairs)
        out[name] = per

    for method in ("full", "lora"):
        runs = [{**r, "rate": r["steady_samples_per_s"] or r["samples_per_s"],
                 "flops": r["steady_model_flops_per_s"] or r["model_flops_per_s"]}
                for r in train_runs if r["method"] == method]
        compare(f"train_{method}", [{**r, "samples_per_s": r["rate"]} for r in runs], "samples_per_s")
    compare("generate", [{**r, "flops": r["model_flops_per_s"]} for r in generate_runs], "dialogues_per_s")
    return out


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--repeats", type=int, help="runs of each configuration (default 3; 1 with --quick)")
    parser.add_argument("--samples", type=int, help="dialogues each training run times (whole batches)")
    parser.add_argument("--batch-size", type=int, default=8, help="training batch")
    parser.add_argument("--dialogues", type=int, help="distinct test dialogues generated per run")
    parser.add_argument("--generate-batch", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, help="forced length of every summary")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per training configuration")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.shape = args.shape or common.default_shape(args.quick)
    args.vocab_size = 400 if args.quick else common.SHAPES[args.shape]["vocab_size"]
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.samples = args.samples or (2 * args.batch_size if args.quick else 5 * args.batch_size)
    args.dialogues = args.dialogues or (4 if args.quick else 32)
    args.max_new_tokens = args.max_new_tokens or (4 if args.quick else 64)
    if args.quick:
        args.batch_size, args.generate_batch = 4, 2

    caps = hardware.detect()
    native, why = hardware.native_bf16(caps)
    # bf16 is compared where it is native; elsewhere the stages refuse it, and it would time an emulation.
    precisions = ["fp32", "bf16"] if native else ["fp32"]
    record = {"benchmark": "precision", "started": common.now(), "load_average_start": common.load_average(),
              "machine": {**common.machine(), "native_bf16": native, "why": why,
                          "auto": hardware.decide(caps, "auto").record(), "cpu_bf16_flags": sorted(
                              set(caps.cpu_flags or ()) & set(hardware.CPU_BF16_FLAGS))},
              "settings": {k: str(v) if k in ("data", "cache", "out") else v for k, v in vars(args).items()}}
    common.tokenizer_for(args.data, args.vocab_size, args.cache)  # trained once, before anything is timed
    record["matmul_peak"] = peaks(args)
    print(f"matmul peak: " + ", ".join(f"{k} {v['flops_per_s'] / 1e9:.0f} GFLOP/s"
                                       for k, v in record["matmul_peak"].items()), flush=True)
    record["train_runs"] = training_runs(args, precisions)
    record["generate_runs"], record["generate_settings"] = generation_runs(args, precisions)
    record["matmul_peak_end"] = peaks(args)  # the load may have changed: the peak is the best seen
    peak = {k: {"flops_per_s": max(record["matmul_peak"][k]["flops_per_s"], record["matmul_peak_end"][k]["flops_per_s"])}
            for k in DTYPES}
    record["figures"] = figures(record["train_runs"], record["generate_runs"], peak, precisions)
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    print(common.dumps(record["figures"]))
    common.write_result(args.out / f"precision_{record['machine']['device']}{'_quick' if args.quick else ''}.json",
                        record)


if __name__ == "__main__":
    main()
