"""Choosing the trained model on evidence: validation ROUGE at each evaluation, the best checkpoint, early stopping.

Each evaluation adds ROUGE of summaries of a fixed, seeded subset of the validation split, made by the generate
stage's own batched path with its decoding params, to the loss. The best-so-far standing (best step, its score,
evaluations since) is derived from the Trainer's log_history, which every checkpoint restores, so a resumed run
chooses as an uninterrupted one does. The best weights live in <scratch>/best-<step> (a folder, not a copy in RAM:
flan-t5-base is 1 GB), kept until a checkpoint records a later best, so a kill at any moment leaves the weights the
resumed run may still select."""
import json
import math
import random
import re
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from . import checkpoints
from ..data import dialogsum
from ..inference import decode
from ..modeling import models
from ..scoring import rouge
from ..io.errors import UserError
from ..io.files import atomic_path

BEST = re.compile(r"best-(\d+)")


class ValidationRouge:
    """ROUGE of summaries of a fixed, seeded subset of validation dialogues (all references of each kept)."""

    def __init__(self, split, tokenizer, decoding, samples: int | None, seed: int):
        where = "the validation split"
        groups = dialogsum.group(split["id"], split["dialogue"], where)
        if samples is not None and samples < len(groups):
            keep = random.Random(seed).sample(range(len(groups)), samples)
            split = split.select(sorted(i for chosen in keep for i in groups[chosen]))
        self.references = list(split["summary"])
        self.groups = dialogsum.group(split["id"], split["dialogue"], where)
        self.prompts = [list(split["input_ids"][g[0]]) for g in self.groups]
        self.tokenizer, self.decoding = tokenizer, decoding

    def __len__(self):
        return len(self.prompts)

    def __call__(self, model, precision: str) -> dict:
        """{rouge1, ..., generate_s}: the model's summaries, scored. Decoded the generate stage's way, in its
        `precision` (generate.precision): from a copy with the adapter merged in fp32, then cast, in eval mode
        (decode.decoding_copy), not from the fp32 weights in training under autocast, whose summaries can differ.

        Every process generates a share (strided over the longest-first order, so shares cost alike) and all
        gather all summaries: every rank then holds the same scores, so every rank takes the same early-stopping
        decision (a rank that stopped alone would hang the others)."""
        rank, world = _rank_world()
        order = sorted(range(len(self.prompts)), key=lambda i: -len(self.prompts[i]))
        mine = order[rank::world]
        started = time.perf_counter()
        twin = decode.decoding_copy(model, precision)  # eval mode: no LoRA/T5 dropout while generating
        texts = decode.summarize(twin, self.tokenizer, [self.prompts[i] for i in mine], self.decoding, progress=False)
        del twin
        summaries = dict(zip(mine, texts))
        if world > 1:
            shares = [None] * world
            torch.distributed.all_gather_object(shares, summaries)
            summaries = {i: text for share in shares for i, text in share.items()}
        seconds = time.perf_counter() - started
        predictions = [""] * len(self.references)
        for index, rows in enumerate(self.groups):
            for row in rows:
                predictions[row] = summaries[index]
        scores = rouge.by_dialogue(rouge.row_scores(predictions, self.references, desc="validation rouge"),
                                   self.groups)["mean_ref"].estimate()
        return {**{key: round(float(v), rouge.DIGITS) for key, v in zip(rouge.KEYS, scores)},
                "generate_s": round(seconds, 3)}


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class Selector(TrainerCallback):
    """The best evaluation so far by select_metric, its weights on disk, and early stopping."""

    def __init__(self, cfg, scratch):
        self.metric = cfg.select_metric
        self.key = self.metric if self.metric.startswith("eval_") else f"eval_{self.metric}"
        self.lower_is_better = self.metric == "eval_loss"
        self.patience, self.min_delta = cfg.early_stopping_patience, cfg.early_stopping_min_delta
        self.scratch = Path(scratch)
        self.training_done = False

    def evaluations(self, log_history) -> list[tuple[int, float]]:
        return _first_per_step(log_history, self.key)

    def standing(self, log_history) -> tuple[int | None, float | None, int]:
        """(best step, best value, evaluations since it) over the history."""
        best_step, best, since = None, None, 0
        for step, value in self.evaluations(log_history):
            if best is None or self.improves(value, best):
                best_step, best, since = step, value, 0
            else:
                since += 1
        return best_step, best, since

    def improves(self, value: float, best: float) -> bool:
        if not math.isfinite(value):
            return False
        if not math.isfinite(best):
            return True
        return value < best - self.min_delta if self.lower_is_better else value > best + self.min_delta

    def observe(self, trainer) -> None:
        """After an evaluation: keep the weights if they are the best so far; stop if patience has run out."""
        if self.metric == "last":
            return
        best_step, _, since = self.standing(trainer.state.log_history)
        step = trainer.state.global_step
        if best_step == step and not self.training_done and trainer.is_world_process_zero():
            with trainer.cost.measure("checkpoint"), atomic_path(self.folder(step)) as tmp:
                trainer.model.save_pretrained(tmp)  # safetensors: adapter only for LoRA
            self.prune(trainer.state.log_history, trainer.args)
        if self.patience and since >= self.patience and not self.training_done:
            trainer.control.should_training_stop = True  # the same on every rank: all hold the same history

    def stopped(self, checkpoint) -> bool:
        """A checkpoint saved at the evaluation where patience ran out: the run ended there (a resume must not
        train on)."""
        if not self.patience or self.metric == "last":
            return False
        try:
            state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        history = state.get("log_history", [])
        evaluated = self.evaluations(history)
        return bool(evaluated) and evaluated[-1][0] == state.get("global_step") \
            and self.standing(history)[2] >= self.patience

    def folder(self, step: int) -> Path:
        return self.scratch / f"best-{step}"

    def prune(self, log_history, args) -> None:
        """Delete best-* folders but the current best and the best the latest checkpoint records (a resume
        from that checkpoint may select it again)."""
        keep = {self.standing(log_history)[0]}
        if args.save_strategy != "no":
            saved = checkpoints.last_complete(self.scratch)
            at = int(saved.name.rsplit("-", 1)[-1]) if saved else 0
            keep.add(self.standing([e for e in log_history if e.get("step", 0) <= at])[0])
        for path in self.scratch.glob("best-*"):
            match = BEST.fullmatch(path.name)
            if match and int(match.group(1)) not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def on_train_begin(self, args, state, control, **kwargs):
        # Resumed: state.log_history is the checkpoint's; best folders written after that checkpoint are redone.
        if self.metric != "last" and state.is_world_process_zero:
            self.prune(state.log_history, args)
        inert = self.inert(args.eval_steps if args.eval_strategy == "steps" else None, state.max_steps)
        if inert and state.is_world_process_zero:
            print(f"warning: {self.scratch.name}: {inert}", file=sys.stderr)

    def inert(self, eval_steps: int | None, max_steps: int) -> str | None:
        """Why early stopping can never end this run before its last step, or None."""
        if not self.patience:
            return None
        needed = (self.patience + 1) * (eval_steps or max_steps)  # the first evaluation sets the best
        if needed < max_steps:
            return None
        before = (max_steps - 1) // eval_steps if eval_steps else 0
        return (f"early_stopping_patience is {self.patience}, but evaluating every {eval_steps} of {max_steps} "
                f"optimizer steps gives {before} evaluation(s) before the last step, and stopping early needs "
                f"{self.patience + 1}: it can never stop this run. Lower eval_steps (to at most "
                f"{max((max_steps - 1) // (self.patience + 1), 1)}) or set early_stopping_patience to 0.")

    def on_save(self, args, state, control, **kwargs):
        if self.metric != "last" and state.is_world_process_zero:
            self.prune(state.log_history, args)

    def on_train_end(self, args, state, control, **kwargs):
        self.training_done = True  # the final evaluate() scores the live model: no copy needed

    def restore_best(self, trainer) -> dict:
        """Load the selected weights into trainer.model; return what the metrics file says about the choice."""
        history = trainer.state.log_history
        step = trainer.state.global_step
        best_step, best, _ = self.standing(history) if self.metric != "last" else (step, None, 0)
        if best_step is not None and best_step != step:
            trainer._load_from_checkpoint(str(self.folder(best_step)))  # full weights or the adapter
        else:
            best_step = step
        chosen = {k: v for e in history if e.get("step") == best_step for k, v in e.items()}
        timings = [s for _, s in _first_per_step(history, "eval_generate_s")]
        return {
            "selected_by": self.metric,
            "selected_step": best_step,
            "selected_score": None if best is None else round(best, 6),
            # the saved model's validation loss (the last step's is in the eval/loss curve)
            "eval_loss": round(chosen["eval_loss"], 6) if "eval_loss" in chosen else None,
            "selected_rouge": {k: chosen[f"eval_{k}"] for k in rouge.KEYS if f"eval_{k}" in chosen},
            "stopped_early": step < trainer.state.max_steps,
            "evaluations": len(_first_per_step(history, "eval_loss")),
            "validation_generate_s_total": round(sum(timings), 3),
            "validation_generate_s_mean": round(sum(timings) / len(timings), 3) if timings else None,
        }


def _first_per_step(history, key) -> list[tuple[int, float]]:
    """(step, value) of `key` at each evaluation, the first at each step (a final evaluate() may repeat one)."""
    seen = {}
    for entry in history:
        if key in entry and entry.get("step") not in seen:
            seen[entry.get("step")] = entry[key]
    return list(seen.items())


class SelectingTrainer(checkpoints.ResumableTrainer):
    """ResumableTrainer whose evaluations also score validation ROUGE and feed the Selector."""

    def __init__(self, *args, validation: ValidationRouge | None = None, selector: Selector | None = None,
                 precision: str = "fp32", **kwargs):
        super().__init__(*args, **kwargs)
        self.validation, self.selector, self.precision = validation, selector, precision
        if selector is not None:
            self.add_callback(selector)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        with self.cost.measure("eval"):  # apart from optimizer-step time (stages/training/progress.py)
            return self._evaluate_and_select(eval_dataset, ignore_keys, metric_key_prefix)

    def _evaluate_and_select(self, eval_dataset, ignore_keys, metric_key_prefix):
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if self.validation is not None and eval_dataset is None and metric_key_prefix == "eval":
            scores = {f"eval_{k}": v for k, v in self.validation(self.model, self.precision).items()}
            self.log(scores)  # a second entry at this step: DVCLive's eval/rouge*, and log_history for resumes
            metrics.update(scores)
        if self.selector is not None:
            self.selector.observe(self)
        return metrics


def decoding_stamp(decoding) -> dict | None:
    """The generate.* params validation ROUGE decodes with (dvc.yaml's train_* params): a checkpoint whose log
    history was scored with others must not be resumed, or the best is chosen over two decodings' scores."""
    if decoding is None:
        return None
    return {key: getattr(decoding, key) for key in ("max_new_tokens", "num_beams", "early_stopping", "batch_size",
                                                   "precision")}


def build(cfg, tokenizer, decoding, validation_split, scratch, precision) -> dict:
    """SelectingTrainer's keyword arguments for one training stage's params."""
    samples = cfg.rouge_samples
    validation = None if samples == 0 or decoding is None else ValidationRouge(validation_split, tokenizer, decoding, samples, cfg.seed)
    # validation decodes in the generate stage's precision, whatever precision training runs in
    decode_in = precision if validation is None else decoding_precision(decoding)
    return {"validation": validation, "selector": Selector(cfg, scratch), "precision": decode_in}


def decoding_precision(decoding) -> str:
    """generate.precision on this machine (bf16 or fp32), naming the key if this machine cannot have it."""
    try:
        return models.resolve_precision(decoding.precision)
    except UserError as error:
        raise UserError(f"generate.precision, which validation summaries during training decode in: {error}") \
            from None
