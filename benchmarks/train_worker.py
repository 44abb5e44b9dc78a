"""One training configuration of benchmarks/train.py, trained and timed in a process of its own (peak memory is
then its own): a few whole batches drawn from the epoch its sampler would run, the project's trainer or the
notebook recipe.

    python benchmarks/train_worker.py --worker SETTING_JSON --worker-out RESULT_JSON   # as run_fresh() runs it
"""
import argparse
import dataclasses
import json
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", required=True, help="the setting, as JSON")
    parser.add_argument("--worker-out", type=Path, required=True, help="where its figures are written, as JSON")
    args = parser.parse_args(argv)
    args.worker_out.write_text(json.dumps(worker(json.loads(args.worker))))


if __name__ == "__main__":
    main()
