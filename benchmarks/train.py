"""Training throughput and peak memory: the project's trainer (stages/training/loop.py) vs the notebook recipe.

Every configuration trains a few whole batches drawn from the epoch its own sampler would run over
DialogSum's train split (optimizer steps included), in a fresh subprocess so that peak memory (CPU: peak
RSS) is its own. Run from anywhere:

    python benchmarks/train.py            # the full suite, a few minutes on 2 CPU cores
    python benchmarks/train.py --quick    # tiny model, a handful of dialogues: a smoke test
"""
import argparse
import dataclasses
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import flops
from common import dialogsum, models, torch
from stages.training import adapters

# Each lever changes one thing in the project's default (full fine-tuning).
LEVERS = {
    "random order (no length grouping)": dict(group_by_length=False),
    "exact padding (pad_to_multiple_of null)": dict(pad_to_multiple_of=None),
    "foreach AdamW (not fused)": dict(optim="adamw_torch"),
    "2 dataloader workers": dict(dataloader_workers=2),
}


class Clock:
    """Timestamps of the training loop; a TrainerCallback made in the worker (transformers imported late)."""

    def __init__(self):
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock.begin = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()  # a GPU step is done when its kernels are
                clock.steps.append(time.perf_counter())

        self.begin, self.steps, self.callback = None, [], Callback()


def pick_rows(rows: list[dict], subset: str) -> list[dict]:
    """All train dialogues, or the shortest or the longest quarter (by characters)."""
    if subset == "all":
        return rows
    by_length = sorted(rows, key=lambda row: len(row["dialogue"]))
    return by_length[:len(rows) // 4] if subset == "short" else by_length[-(len(rows) // 4):]


def epoch_sample(trainer, batches: int, seed: int) -> list[int]:
    """Indices of `batches` whole batches at random places of the epoch the trainer's own sampler would run.

    A few dozen dialogues trained as an epoch of their own cannot show length grouping (its sampler sorts
    mega-batches of up to 50 batches); batches drawn from the real epoch's order do.
    """
    size = trainer.args.train_batch_size
    order = list(iter(trainer._get_train_sampler(trainer.train_dataset)))
    starts = range(0, len(order) - size + 1, size)
    picked = sorted(random.Random(seed).sample(list(starts), min(batches, len(starts))))
    return [index for start in picked for index in order[start:start + size]]


def naive_dataset(rows, tokenizer, template, max_source, max_target):
    """The notebook recipe: every prompt padded to 512 tokens and every summary to 128."""
    import datasets

    prompts = [dialogsum.build_prompt(template, row["dialogue"]) for row in rows]
    sources = tokenizer(prompts, max_length=max_source, truncation=True, padding="max_length")
    targets = tokenizer(text_target=[row["summary"] for row in rows], max_length=max_target, truncation=True,
                        padding="max_length")
    # -100 keeps padding out of the loss (the lab forgot it; the compute is the same).
    labels = [[t if t != tokenizer.pad_token_id else -100 for t in ids] for ids in targets["input_ids"]]
    return datasets.Dataset.from_dict({"input_ids": sources["input_ids"], "attention_mask": sources["attention_mask"],
                                       "labels": labels})


def naive_trainer(model, train_set, cfg, scratch, callbacks):
    """TrainingArguments as the notebooks write them (defaults otherwise): fp32, random order, no collator padding."""
    from transformers import Trainer, TrainingArguments, default_data_collator

    args = TrainingArguments(output_dir=str(scratch), learning_rate=cfg.learning_rate, num_train_epochs=1,
                             per_device_train_batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                             logging_steps=10_000, save_strategy="no", seed=cfg.seed, report_to="none",
                             dataloader_pin_memory=models.device().type == "cuda")
    return Trainer(model=model, args=args, train_dataset=train_set, data_collator=default_data_collator,
                          callbacks=callbacks)


class CountingCollator:
    """Wraps the trainer's collator to count the token positions the model is fed, padding included."""

    def __init__(self, collate):
        self.collate, self.source, self.target, self.shapes = collate, 0, 0, []

    def __call__(self, features):
        batch = self.collate(features)
        self.source += batch["input_ids"].numel()
        self.target += batch["labels"].numel()
        self.shapes.append((*batch["input_ids"].shape, batch["labels"].shape[1]))  # (batch, source, target)
        return batch


def worker(setting: dict) -> dict:
    """One configuration: a few batches of its epoch, trained and timed; returns its figures."""
    from transformers import set_seed

    from stages.training import loop

    p = common.project_params()
    base = p.train_lora if setting["method"] == "lora" else p.train_full
    cfg = dataclasses.replace(base, batch_size=setting["batch_size"], epochs=1, max_steps=-1, eval_steps=0,
                              save_steps=0, logging_steps=10_000,
                              **{k: setting[k] for k in ("group_by_length", "pad_to_multiple_of", "dataloader_workers",
                                                         "precision", "gradient_checkpointing") if k in setting})
    tokenizer = common.tokenizer_for(Path(setting["data"]), setting["vocab_size"], Path(setting["cache"]))
    torch.set_num_threads(setting["threads"])
    rows = pick_rows(common.load_rows(Path(setting["data"]))["train"], setting["subset"])
    d = p.data
    set_seed(cfg.seed)
    model = common.make_model(setting["shape"])
    if setting["method"] == "lora":
        model = adapters.add(model, p.lora)  # as stages/train_lora.py does
    clock = Clock()
    with tempfile.TemporaryDirectory() as scratch:
        if setting["recipe"] == "naive":
            # Every naive sample costs the same (all padded to 512 + 128): a random few time it.
            rows = random.Random(cfg.seed).sample(rows, setting["naive_samples"])
            train_set = naive_dataset(rows, tokenizer, d.prompt, d.max_source_length, d.max_target_length)
            trainer = naive_trainer(model, train_set, cfg, scratch, [clock.callback])
            precision = "fp32"
        else:
            precision = models.resolve_precision(cfg.precision)
            train_set = dialogsum.model_inputs(dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length,
                                                        d.max_target_length))
            trainer = loop.build_trainer(cfg, model, tokenizer, train_set, None, scratch, precision,
                                             [clock.callback])
            picked = epoch_sample(trainer, setting["samples"] // cfg.batch_size, cfg.seed)
            train_set = trainer.train_dataset = train_set.select(picked)
            trainer.args.train_sampling_strategy = "sequential"  # those batches, in the epoch's order
        real_tokens = sum(sum(mask) for mask in train_set["attention_mask"]) + sum(
            sum(label != -100 for label in labels) for labels in train_set["labels"])
        samples = len(train_set)
        if "optim" in setting:
            trainer.args.optim = setting["optim"]  # read when train() creates the optimizer
        counter = CountingCollator(trainer.data_collator)
        trainer.data_collator = counter
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - started
    seconds = clock.steps[-1] - clock.begin  # the training loop: data, forward, backward, optimizer steps
    fed = counter.source + counter.target
    trainable, total = models.count_parameters(model)
    return {
        **setting,
        "precision": precision,
        "optim": str(trainer.args.optim.value if hasattr(trainer.args.optim, "value") else trainer.args.optim),
        "optimizer_steps": len(clock.steps),
        "seconds": round(seconds, 3),
        "wall_s": round(wall, 3),
        "samples": samples,
        "samples_per_s": round(samples / seconds, 3),
        "tokens_per_s": round(real_tokens / seconds, 1),
        "real_tokens": real_tokens,
        # Collator counts are lost inside dataloader worker processes.
        "fed_tokens": fed or None,
        "padding_fraction": round(1 - real_tokens / fed, 4) if fed else None,
        "mean_source_tokens": round(sum(sum(mask) for mask in train_set["attention_mask"]) / samples, 1),
        "trainable_params": trainable,
        "total_params": total,
        # Trainer's estimate, 6 x parameters x fed tokens: over the GPU's peak, the model FLOPs utilization.
        "flos_per_s": round(trainer.state.total_flos / seconds),
        **model_flops(model.config, counter.shapes, clock, p.lora if setting["method"] == "lora" else None),
        **models.peak_memory_bytes(),
    }


def model_flops(config, shapes, clock, lora) -> dict:
    """Matmul FLOPs the batches asked for (benchmarks/flops.py), over the whole loop and over the steps after
    the first (which also pays for kernel set-up): the steady rate is what MFU compares with the peak."""
    per_batch = [flops.train_step(config, *shape, lora=lora) for shape in shapes]
    figures = {"model_flops": sum(per_batch) or None, "model_flops_per_s": None, "steady_model_flops_per_s": None,
               "steady_samples_per_s": None}
    if per_batch:  # none when dataloader workers collated in other processes
        figures["model_flops_per_s"] = round(sum(per_batch) / (clock.steps[-1] - clock.begin))
    if len(per_batch) == len(clock.steps) > 1:  # one batch per optimizer step (no accumulation)
        steady = clock.steps[-1] - clock.steps[0]
        figures["steady_model_flops_per_s"] = round(sum(per_batch[1:]) / steady)
        figures["steady_samples_per_s"] = round(sum(shape[0] for shape in shapes[1:]) / steady, 3)
    return figures


def run_fresh(setting: dict, timeout: int, fresh=True) -> dict:
    """Run one configuration in its own Python process, so peak memory belongs to it alone."""
    if not fresh:  # --quick: in-process, peaks mix
        return {**worker(setting), "peak_memory_isolated": False}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(setting), "--worker-out", str(out)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise SystemExit(f"benchmark worker failed for {setting}:\n{done.stderr[-4000:]}")
        return json.loads(out.read_text())


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
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.worker_out.write_text(json.dumps(worker(json.loads(args.worker))))
        return

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
                           if k not in ("worker", "worker_out", "out", "timeout")},
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
