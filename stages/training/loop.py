"""Shared by train_full and train_lora: Seq2SeqTrainer with dynamic padding, DVCLive and measured cost."""
import math
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import (DataCollatorForSeq2Seq, Seq2SeqTrainingArguments, TrainerCallback, TrainerState,
                          set_seed)

from . import causal, checkpoints, guard, lock, progress, selection
from .progress import IGNORE
from ..data import dialogsum
from ..modeling import family, hardware, models
from ..io.errors import UserError
from ..io import stage as running
from ..io.files import atomic_path, dir_size, write_failure, write_json


class LiveLogger(TrainerCallback):
    """Log train/* and eval/* curves to DVCLive against the optimizer step (the one logger: report_to is none)."""

    def __init__(self, directory):
        from dvclive import Live

        # Only the main process of a distributed run writes. Inside `dvc repro` the stage owns its
        # outputs: no dvc.yaml edits, no experiment of its own.
        try:
            self.live = Live(str(directory), dvcyaml=False, save_dvc_exp=False) if models.is_main_process() else None
        except OSError as error:  # a read-only or full plots/: say so before training, not as a traceback
            raise write_failure(directory, error) or error from None
        self.logged = set()

    @staticmethod
    def metric_name(key: str) -> str | None:
        if key.startswith("eval_"):
            return "eval/" + key[len("eval_"):]
        if key.startswith("train_") or key == "total_flos":
            return None  # end-of-run summary: recorded in metrics/<stage>.json instead
        return "train/" + key

    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed run starts with the checkpoint's log history: replay it, so the curves are whole
        # (DVC deletes plots/<stage> before rerunning a stage, so the killed run's files are gone).
        for entry in state.log_history:
            self.log_at(entry.get("step", 0), {k: v for k, v in entry.items() if k != "step"})

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.log_at(state.global_step, logs)

    def log_at(self, step, logs):
        if self.live is None or not logs:
            return
        self.live.step = step
        for key, value in logs.items():
            name = self.metric_name(key)
            # A final evaluate() at a step already evaluated would repeat the point.
            if name and (name, step) not in self.logged and isinstance(value, (int, float)) \
                    and math.isfinite(value):
                self.live.log_metric(name, value)
                self.logged.add((name, step))
        self.live.make_summary()


def batch_plan(batch_size: int, accumulation: int, world_size: int) -> tuple[int, int]:
    """(per-device micro-batch, accumulation steps) on `world_size` processes that keep the effective batch
    params give, batch_size x gradient_accumulation_steps; batch_size also caps the micro-batch (memory)."""
    effective = batch_size * accumulation
    if effective % world_size:
        raise UserError(f"the effective batch {batch_size} x {accumulation} = {effective} (train_*.batch_size x "
                        f"gradient_accumulation_steps) cannot be split over {world_size} processes: make it a "
                        f"multiple of {world_size}, or launch a number of processes that divides it.")
    per_process = effective // world_size
    micro = max(m for m in range(1, min(batch_size, per_process) + 1) if per_process % m == 0)
    return micro, per_process // micro


# One process never drives several GPUs.
#
# In a single process (a plain `dvc repro`), transformers 5 sets n_gpu = torch.cuda.device_count() and the Trainer
# then wraps the model in nn.DataParallel: each step takes per_device x n_gpu rows (train_batch_size), the loss is
# multiplied by n_gpu (average_tokens_across_devices), and so are the gradients and what clipping sees. batch_plan
# counts processes, not GPUs, so every figure params give would be off by the GPU count. Here one process uses one
# GPU (cuda:0, where transformers puts the model); several GPUs mean several processes (DDP: accelerate launch or
# torchrun), whose split batch_plan keeps exact. Under torchrun or accelerate transformers already says n_gpu = 1.
class OneDeviceArguments(Seq2SeqTrainingArguments):
    """Seq2SeqTrainingArguments whose process uses at most one GPU: never nn.DataParallel."""

    @property
    def n_gpu(self):
        return min(super().n_gpu, 1)

    @property
    def visible_gpus(self) -> int:
        """The GPUs transformers would have used in this one process (torch.cuda.device_count())."""
        return super().n_gpu


def several_gpus_note(args, stage: str) -> str | None:
    """One line for a single process on a machine with several GPUs: how to train on all of them."""
    count = args.visible_gpus if isinstance(args, OneDeviceArguments) else 1
    if count <= 1 or args.world_size > 1:
        return None
    return (f"note: {count} GPUs are visible; this one process trains on one of them (cuda:0) with the batch params "
            f"give. To train on all {count}: accelerate launch --config_file configs/ddp.yaml --num_processes {count} "
            f"-m stages.{stage} (or torchrun --standalone --nproc_per_node {count} -m stages.{stage}); see docs/scale.md.")


def training_arguments(cfg, scratch, precision: str) -> Seq2SeqTrainingArguments:
    evaluate_often = cfg.eval_steps > 0
    micro, accumulation = batch_plan(cfg.batch_size, cfg.gradient_accumulation_steps, models.world_size())
    return OneDeviceArguments(
        output_dir=str(scratch),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=accumulation,
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if evaluate_often else "no",
        eval_steps=cfg.eval_steps if evaluate_often else None,
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=cfg.save_steps if cfg.save_steps > 0 else 500,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=precision == "bf16",
        tf32=True if hardware.tf32(precision, models.device().type) else None,  # never on 7.x: it raises there
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        length_column_name="length",
        dataloader_num_workers=cfg.dataloader_workers,
        dataloader_pin_memory=models.device().type == "cuda",
        # Without a GPU, torchrun's processes form a DDP group over gloo only when told to use the CPU.
        use_cpu=models.device().type == "cpu",
        # The loss divides by the target tokens of the effective batch over all processes (stages/training/loop.py);
        # the Trainer then scales it by the process count, which DDP's gradient averaging undoes.
        average_tokens_across_devices=True,
        ddp_find_unused_parameters=False,  # every weight takes part in a T5 step: skip DDP's extra graph walk
        report_to="none",
        # The default replaces a NaN step's loss in the log by the running mean, hiding divergence from the guard.
        logging_nan_inf_filter=False,
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
    )


def build_trainer(cfg, model, tokenizer, train_set, eval_set, scratch, precision: str, callbacks=(), evidence=None):
    """The trainer both stages use (and benchmarks/ measures): dynamic padding, length grouping, per params;
    `evidence` (selection.build) adds validation ROUGE and the best-model selection."""
    if family.is_causal(model):  # prompt and summary in one sequence (stages/training/causal.py)
        collator = causal.CausalCollator(tokenizer.pad_token_id, cfg.pad_to_multiple_of)
        loss = causal.token_mean_loss
    else:
        collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE,
                                          pad_to_multiple_of=cfg.pad_to_multiple_of)
        loss = token_mean_loss
    return selection.SelectingTrainer(
        model=model,
        args=training_arguments(cfg, scratch, precision),
        data_collator=collator,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        callbacks=list(callbacks),
        compute_loss_func=loss,
        **(evidence or {}),
    )


def train(stage: str, cfg, model, tokenizer, out: Path, save, decoding=None, setup=None) -> None:
    """Train `model` on data/prepared, write it with `save(model, tmp_dir)` to `out`, then the metrics.
    `decoding` (params generate) makes validation summaries; `setup(trainer)` runs before training."""
    set_seed(cfg.seed)
    precision = models.resolve_precision(cfg.precision)
    train_set = dialogsum.model_inputs(dialogsum.load_prepared("train"))
    eval_set = dialogsum.model_inputs(dialogsum.load_prepared("validation"))
    scratch = Path("models/.trainer") / stage
    if models.is_main_process():
        lock.hold(scratch)
    resume = checkpoints.resume_point(scratch, {**checkpoints.fingerprint(cfg, model),
                                                "decoding": selection.decoding_stamp(decoding)})
    logger = LiveLogger(Path("plots") / stage)
    evidence = selection.build(cfg, tokenizer, decoding, dialogsum.load_prepared("validation"), scratch, precision)
    trainer = build_trainer(cfg, model, tokenizer, train_set, eval_set, scratch, precision,
                            [guard.DivergenceGuard(stage), logger], evidence)
    check_fsdp(stage, cfg, trainer)
    note = several_gpus_note(trainer.args, stage)
    if note and models.is_main_process():
        print(note)
    if setup is not None:
        setup(trainer)
    started = time.perf_counter()
    if resume is not None:
        trainer.cost.restore(resume)
    if resume is not None and (progress.finished(resume) or evidence["selector"].stopped(resume)):
        # Killed after its last checkpoint (last step, or early stopped): it is the result; training on adds steps.
        print(f"{resume} is already at the last step: saving it without training further")
        trainer._load_from_checkpoint(resume)
        trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        logger.on_train_begin(trainer.args, trainer.state, trainer.control)  # the curves, as a resume replays them
    else:
        trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - started
    final_eval = trainer.evaluate()
    cost = measured_cost(trainer.cost)  # every rank: rows and tokens are sums over processes (collectives)
    # Every rank: the peak over processes is a collective. The device and precision decision, with why.
    state_dict = gathered_state_dict(trainer)  # every rank: FSDP gathers its shards (a collective)
    measured = {**models.peak_memory_bytes(), **hardware.decision(cfg.precision).record()}

    if trainer.is_world_process_zero():
        logger.live.end()
        chosen = evidence["selector"].restore_best(trainer)  # the selected step's weights, what chose them
        guard.check_finite(stage, trainer.model)
        kept = f"The checkpoints in {scratch} are kept: a rerun with the same params resumes from the last one."
        with running.writing(note=kept), atomic_path(out) as tmp:
            save(model_to_save(trainer), tmp, **save_kwargs(state_dict))
            running.unchanged(note=kept)  # saving took a while: check again right before the first output lands
            # Metrics first, while the new model is a temp folder: metrics that cannot be written leave the old
            # model beside the old metrics, never a new model beside old metrics.
            write_json(Path("metrics") / f"{stage}.json",
                       {**_metrics(trainer, cost, final_eval, wall, precision, tmp), **measured, **chosen})
        shutil.rmtree(scratch, ignore_errors=True)
        lock.release(scratch)


def measured_cost(cost) -> dict:
    """The run's seconds by phase, rows and tokens, across resumes (stages/training/progress.py)."""
    return {"train_s": cost.seconds("train"), "eval_s": cost.seconds("eval"),
            "checkpoint_s": cost.seconds("checkpoint"), "rows": cost.rows(), "tokens": cost.tokens()}


def _metrics(trainer, cost, final_eval, wall, precision, out) -> dict:
    """Times, rows and tokens are the whole run's, across resumes. Training time and throughput count the
    optimizer steps alone; evaluations (with validation generation) and checkpoint writes are beside them.
    Samples are the rows actually fed: a batch larger than the data feeds only the data."""
    trainable, total = models.count_parameters(trainer.model)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    epochs = trainer.state.epoch or 0
    runtime = cost["train_s"]
    return {
        "train_runtime_s": round(runtime, 3),
        "eval_runtime_s": round(cost["eval_s"], 3),
        "checkpoint_s": round(cost["checkpoint_s"], 3),
        "train_wall_s": round(wall, 3),
        "train_samples": cost["rows"],
        "train_samples_per_s": round(cost["rows"] / runtime, 3) if runtime else 0.0,
        "train_tokens": cost["tokens"],
        "train_tokens_per_s": round(cost["tokens"] / runtime, 1) if runtime else 0.0,
        "optimizer_steps": trainer.state.global_step,
        "processes": trainer.args.world_size,
        "per_device_batch": trainer.args.per_device_train_batch_size,
        "gradient_accumulation": trainer.args.gradient_accumulation_steps,
        "epochs": round(epochs, 4),
        "train_loss_mean": round(checkpoints.mean_logged_loss(trainer.state.log_history), 6) if losses else None,
        "train_loss_final": round(losses[-1], 6) if losses else None,
        "eval_loss": round(final_eval["eval_loss"], 6),
        "trainable_params": trainable,
        "total_params": total,
        "trainable_percent": round(100 * trainable / total, 4),
        "checkpoint_bytes": dir_size(out),
        "precision": precision,
        "device": models.device().type,
    }


# The training loss: mean cross-entropy over the target tokens of the whole effective batch.
#
# transformers 5's Trainer passes `num_items_in_batch` (the target tokens of every micro-batch of one optimizer
# step, over all processes) to a model whose forward takes **kwargs, and then no longer divides the loss by the
# accumulation steps. T5 takes **kwargs but ignores the count: it returns a per-micro-batch mean, so with k
# accumulation steps the loss, the gradients and gradient clipping came out k times too large. Given to the
# Trainer as `compute_loss_func`, this function divides the summed token loss by that count instead, so
# 8 x 1, 2 x 4 and 2 processes x 4 x 1 give the same loss and the same gradients.
def token_mean_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Summed cross-entropy of this micro-batch / target tokens of the effective batch (or of this batch)."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    labels = labels.to(logits.device)
    # fp32 for the softmax even under bf16 autocast: a bf16 sum over a 32k vocabulary loses digits.
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                            ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else labels.ne(IGNORE).sum()
    if torch.is_tensor(count):
        count = count.to(total.device).clamp(min=1)
    return total / max(count, 1) if not torch.is_tensor(count) else total / count


# Gathering the trained weights on every rank before rank 0 writes them.
#
# Under FSDP the weights are sharded DTensors: reading them (save_pretrained, state_dict) is a collective that
# every rank must join, so rank 0 saving alone waits forever. As transformers' Trainer.save_model does, all ranks
# gather the full state dict through accelerate; rank 0 then writes it. Without FSDP nothing is gathered.
def check_fsdp(stage: str, cfg, trainer) -> None:
    """Best-step weights are saved and reloaded, and validation summaries generated, by single processes: under
    FSDP's sharded weights each would wait on the other ranks forever. Until those gather too, FSDP keeps the
    last step; refuse before training rather than hang after it."""
    if getattr(trainer, "is_fsdp_enabled", False) and (cfg.select_metric != "last" or cfg.rouge_samples != 0):
        raise UserError(f"under FSDP, {stage} can only keep the last step: set {stage}.select_metric to last and "
                        f"{stage}.rouge_samples to 0, or train with DDP (configs/ddp.yaml), which supports both.")


def gathered_state_dict(trainer) -> dict | None:
    """Call on every rank. The full state dict under FSDP (on rank 0; accelerate returns it there), else None."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        return None
    return trainer.accelerator.get_state_dict(trainer.model)


def save_kwargs(state_dict) -> dict:
    """save_pretrained's keywords: the gathered state dict where there is one."""
    return {} if state_dict is None else {"state_dict": state_dict}


def model_to_save(trainer):
    return trainer.accelerator.unwrap_model(trainer.model)
