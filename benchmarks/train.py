"""Training throughput and peak memory: the project's trainer (stages/training/loop.py) vs the notebook recipe.

Every configuration trains a few whole batches drawn from the epoch its own sampler would run over
DialogSum's train split (optimizer steps included), in a fresh subprocess so that peak memory (CPU: peak
RSS) is its own (benchmarks/train_worker.py; --evidence: benchmarks/train_evidence.py). Run from anywhere:

    python benchmarks/train.py            # the full suite, a few minutes on 2 CPU cores
    python benchmarks/train.py --quick    # tiny model, a handful of dialogues: a smoke test
"""
import dataclasses
import json
import tempfile
from pathlib import Path

import common
from common import dialogsum, models
from stages.training import adapters
from train_evidence import evidence
from train_worker import run_fresh

# Each lever changes one thing in the project's default (full fine-tuning).
LEVERS = {
    "random order (no length grouping)": dict(group_by_length=False),
    "exact padding (pad_to_multiple_of null)": dict(pad_to_multiple_of=None),
    "foreach AdamW (not fused)": dict(optim="adamw_torch"),
    "2 dataloader workers": dict(dataloader_workers=2),
}


def plan(args) -> list[tuple[str, dict]]:
    """(group, setting) pairs: the headline comparison, the levers, batch sizes, short vs long dialogues."""
    base = dict(data=str(args.data), cache=str(args.cache), vocab_size=args.vocab_size, shape=args.shape,
                samples=args.samples, naive_samples=args.naive_samples, subset="all", batch_size=args.batch_size,
                method="full", recipe="project", threads=args.threads)
    runs = []
    for method in ("full", "lora"):
        runs += [("headline", {**base, "method": method, "recipe": "naive"}),
                 ("headline", {**base, "method": method})]
    if args.quick or args.headline:
        return runs
    runs += [("lever", {**base, "lever": name, **change}) for name, change in LEVERS.items()]
    for size in args.batch_sizes:
        if size != args.batch_size:  # the headline runs are the third point
            runs += [("batch size", {**base, "method": m, "batch_size": size}) for m in ("full", "lora")]
    runs += [("dialogue length", {**base, "subset": subset}) for subset in ("short", "long")]
    return runs


def epoch_padding(args) -> dict:
    """Token positions fed per epoch of the whole train split: notebook padding vs the project's dataloader.

    No model runs here, so the whole split fits: this is where length grouping shows (its sampler sorts
    mega-batches of 50 batches, which a few dozen timed dialogues cannot reproduce).
    """
    from stages.training import loop

    p = common.project_params()
    d = p.data
    tokenizer = common.tokenizer_for(args.data, args.vocab_size, args.cache)
    rows = common.load_rows(args.data)["train"]
    train_set = dialogsum.model_inputs(dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length, d.max_target_length))
    real = sum(train_set["length"]) + sum(len(x) for x in train_set["labels"])
    figures = {"dialogues": len(rows), "batch_size": args.batch_size, "real_tokens": real,
               "naive_fed_tokens": len(rows) * (d.max_source_length + d.max_target_length)}
    with tempfile.TemporaryDirectory() as scratch:
        for name, grouped in (("random_order", False), ("length_grouped", True)):
            cfg = dataclasses.replace(p.train_full, batch_size=args.batch_size, group_by_length=grouped, eval_steps=0,
                                      dataloader_workers=0)
            trainer = loop.build_trainer(cfg, common.make_model("tiny"), tokenizer, train_set, None, scratch,
                                             "fp32")
            fed = sum(batch["input_ids"].numel() + batch["labels"].numel() for batch in trainer.get_train_dataloader())
            figures[f"{name}_fed_tokens"] = fed
    for name in ("naive", "random_order", "length_grouped"):
        figures[f"{name}_padding_fraction"] = round(1 - real / figures[f"{name}_fed_tokens"], 4)
    return figures


def training_state_bytes(shape: str, method: str) -> int:
    """Weights + gradients of what trains + AdamW's two moments: exact, unlike a peak RSS."""
    model = common.make_model(shape)
    if method == "lora":
        model = adapters.add(model, common.project_params().lora)
    trainable, total = models.count_parameters(model)
    return 4 * total + 4 * 3 * trainable  # fp32


def summarize(results: list[dict], args) -> dict:
    def find(**want):
        return next(r for r in results if r["group"] == "headline" and all(r[k] == v for k, v in want.items()))

    figures = {}
    for method in ("full", "lora"):
        naive, project = find(method=method, recipe="naive"), find(method=method, recipe="project")
        figures[method] = {"naive_samples_per_s": naive["samples_per_s"],
                           "project_samples_per_s": project["samples_per_s"],
                           "speedup": round(project["samples_per_s"] / naive["samples_per_s"], 2),
                           "naive_tokens_per_s": naive["tokens_per_s"], "project_tokens_per_s": project["tokens_per_s"],
                           "peak_memory_bytes": project["peak_memory_bytes"],
                           "training_state_bytes": training_state_bytes(project["shape"], method),
                           # One epoch of DialogSum's 12,460 training dialogues at the measured rate.
                           "projected_epoch_s": round(12460 / project["samples_per_s"], 1)}
    for kind in ("peak_memory", "training_state"):
        figures[f"lora_{kind}_vs_full"] = round(figures["lora"][f"{kind}_bytes"] / figures["full"][f"{kind}_bytes"], 3)
    project_full = find(method="full", recipe="project")
    figures["levers_vs_project"] = {r["lever"]: round(r["samples_per_s"] / project_full["samples_per_s"], 3)
                                    for r in results if r["group"] == "lever"}
    for subset in ("short", "long"):
        run = next((r for r in results if r["group"] == "dialogue length" and r["subset"] == subset), None)
        if run:
            figures[f"{subset}_dialogues_samples_per_s"] = run["samples_per_s"]
    return figures


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--samples", type=int, help="dialogues each project run times (whole batches)")
    parser.add_argument("--batch-size", type=int, help="default: params.yaml train_full.batch_size")
    parser.add_argument("--batch-sizes", type=int, nargs=3, default=(4, 8, 16))
    parser.add_argument("--headline", action="store_true", help="only full and LoRA vs the notebook recipe")
    parser.add_argument("--naive-samples", type=int, help="dialogues the naive runs time (default: two batches)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per configuration")
    parser.add_argument("--evidence", action="store_true",
                        help="only gradient checkpointing on/off and the cost of validation ROUGE per epoch")
    parser.add_argument("--validation-dialogues", type=int,
                        help="with --evidence: validation dialogues timed (default: train_full.rouge_samples)")
    args = parser.parse_args(argv)
    p = common.project_params()
    args.shape = args.shape or common.default_shape(args.quick)
    args.vocab_size = common.SHAPES[args.shape]["vocab_size"] if not args.quick else 400
    cpu = models.device().type == "cpu"
    args.batch_size = args.batch_size or (4 if args.quick else 8 if cpu else p.train_full.batch_size)
    args.samples = args.samples or (8 if args.quick else 32 if cpu else 2048)
    args.naive_samples = min(args.naive_samples or 2 * args.batch_size, args.samples)
    record = {"benchmark": "train", "started": common.now(), "load_average_start": common.load_average(),
              "machine": common.machine(),
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                           if k not in ("out", "timeout")},
              "runs": []}
    common.tokenizer_for(args.data, args.vocab_size, args.cache)  # trained once, before the timed runs
    if args.evidence:
        record.update(evidence(args), finished=common.now(), load_average_end=common.load_average())
        common.print_table("Gradient checkpointing", record["runs"],
                           ["method", "gradient_checkpointing", "samples_per_s", "peak_memory_bytes"])
        print(json.dumps(record["figures"], indent=1))
        common.write_result(args.out / f"train_{record['machine']['device']}_evidence"
                                       f"{'_quick' if args.quick else ''}.json", record)
        return
    print("padding over a whole epoch of the train split ...", flush=True)
    record["epoch_padding"] = epoch_padding(args)
    print(f"    {record['epoch_padding']}", flush=True)
    runs = plan(args)
    for number, (group, setting) in enumerate(runs, start=1):
        label = setting.get("lever") or f"{setting['recipe']} {setting['method']}"
        print(f"[{number}/{len(runs)}] {group}: {label}, batch {setting['batch_size']}, {setting['subset']} dialogues",
              flush=True)
        result = {"group": group, **run_fresh(setting, args.timeout, fresh=not args.quick),
                  "load_average": common.load_average()}
        record["runs"].append(result)
        print(f"    {result['samples_per_s']:.3f} samples/s, {result['tokens_per_s']:.0f} tokens/s, "
              f"peak {result['peak_memory_bytes'] / 2**20:.0f} MiB, load {common.load_average()}", flush=True)
    record["figures"] = summarize(record["runs"], args)
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    common.print_table("Training, batches drawn from each configuration's own epoch", record["runs"],
                       ["group", "lever", "recipe", "method", "subset", "batch_size", "samples_per_s", "tokens_per_s",
                        "padding_fraction", "peak_memory_bytes"])
    figures = record["figures"]
    for method in ("full", "lora"):
        print(f"{method}: project {figures[method]['project_samples_per_s']} vs naive "
              f"{figures[method]['naive_samples_per_s']} samples/s = {figures[method]['speedup']}x")
    print(f"LoRA / full: peak memory {figures['lora_peak_memory_vs_full']}, "
          f"training state {figures['lora_training_state_vs_full']}")
    suffix = "_quick" if args.quick else "_headline" if args.headline else ""
    common.write_result(args.out / f"train_{record['machine']['device']}{suffix}.json", record)


if __name__ == "__main__":
    main()
