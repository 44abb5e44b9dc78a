"""Resuming an interrupted training run, but only from a checkpoint made with the same inputs."""
import dataclasses
import json
import shutil
from pathlib import Path

import torch
from transformers import Seq2SeqTrainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

from ..data import dialogsum
from ..io import files, hashing
from ..io.files import write_failure
from ..modeling import models
from . import progress

FINGERPRINT = "fingerprint.json"
CODE = Path(__file__).resolve().parent


def fingerprint(cfg, model) -> dict:
    """Everything a checkpoint's meaning depends on: params, model and adapter config, data, base weights,
    code and library versions. A checkpoint made with any of these different must not be resumed."""
    import peft
    import torch
    import transformers

    peft_config = getattr(model, "peft_config", None) or {}
    return {
        "params": dataclasses.asdict(cfg),
        "model_config": model.config.to_dict() if hasattr(model.config, "to_dict") else str(model.config),
        "adapter_config": {name: c.to_dict() for name, c in peft_config.items()},
        "data": hashing.folder(dialogsum.PREPARED) if dialogsum.PREPARED.exists() else None,
        "base": hashing.folder(models.BASE) if models.BASE.exists() else None,
        "code": hashing.folder(CODE, "*.py"),  # not __pycache__, which other stages add to
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }


def _canonical(obj) -> str:
    # Sets (peft keeps target_modules as one) are sorted: their order changes from process to process.
    return json.dumps(obj, sort_keys=True, default=lambda o: sorted(o) if isinstance(o, (set, frozenset)) else str(o))


def _complete(checkpoint: Path) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint without a readable one was cut off mid-save."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def last_complete(scratch: Path) -> Path | None:
    found = []
    for path in scratch.glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[-1]
        if path.is_dir() and step.isdigit() and _complete(path):
            found.append((int(step), path))
    return max(found)[1] if found else None


def resume_point(scratch, stamp: dict) -> str | None:
    """The checkpoint to resume from, or None. Scratch written for other inputs is discarded first."""
    scratch = Path(scratch)
    main = models.is_main_process()
    stored = scratch / FINGERPRINT
    try:
        same = stored.read_text(encoding="utf-8") == _canonical(stamp)
    except OSError:
        same = False
    if not same:
        if main:
            if scratch.exists():
                print(f"discarding {scratch}: its checkpoints were made with other params, data, code or "
                      "library versions; training starts from step 0")
                files.discard(scratch)
            files.write_text(stored, _canonical(stamp))
        return None
    checkpoint = last_complete(scratch)
    if checkpoint is not None:
        print(f"resuming from {checkpoint} (an interrupted run with the same inputs)")
        return str(checkpoint)
    return None


class EpochSeededLengthSampler(LengthGroupedSampler):
    """Length-grouped order drawn from seed + epoch instead of the global RNG.

    transformers' sampler draws each epoch's order from the global RNG, whose state at the start of epoch k
    depends on all the dropout before it: a run resumed in epoch k > 0 would see other batches than an
    uninterrupted one. Accelerate calls set_epoch before each epoch (also on a resumed, batch-skipping loader)."""

    def __init__(self, batch_size, lengths, seed):
        super().__init__(batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


DORA_MAGNITUDE = "lora_magnitude_vector"  # peft's name for DoRA's magnitude vectors (ModuleDict, ".weight" inside)


def is_magnitude(name: str) -> bool:
    """A DoRA magnitude vector, by its parameter name."""
    return DORA_MAGNITUDE in name.split(".")


class StepClock(TrainerCallback):
    """Ends the optimizer step's time (the Trainer calls on_step_end right after the update, before it logs,
    evaluates or saves); a step cut short by the end of an epoch or of training ends there."""

    def __init__(self, cost):
        self.cost = cost

    def on_step_end(self, args, state, control, **kwargs):
        self.cost.end_step()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.cost.end_step()

    def on_train_end(self, args, state, control, **kwargs):
        self.cost.end_step()


class ResumableTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer whose length-grouped batches are the same whether a run was resumed or not, and whose
    checkpoints carry the run's cost so far (stages/training/progress.py): optimizer-step time apart from
    evaluation and checkpoint writes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cost = progress.Cost()
        self.add_callback(StepClock(self.cost))

    def get_batch_samples(self, *args, **kwargs):
        self.cost.begin_step()  # the Trainer fetches each optimizer step's micro-batches here, first thing
        return super().get_batch_samples(*args, **kwargs)

    def training_step(self, model, inputs, *args, **kwargs):
        self.cost.tokens_here += progress.tokens_in(inputs)
        self.cost.rows_here += progress.rows_in(inputs)
        return super().training_step(model, inputs, *args, **kwargs)

    def get_decay_parameter_names(self, model) -> list[str]:
        # DoRA's magnitude vectors are per-output-feature scales, like a norm's weight: no weight decay, which
        # would pull them towards 0 (transformers only exempts biases and norms by name).
        return [name for name in super().get_decay_parameter_names(model) if not is_magnitude(name)]

    def _save_checkpoint(self, model, trial):
        with self.cost.measure("checkpoint"):
            self._write_checkpoint(model, trial)

    def _write_checkpoint(self, model, trial):
        # Before the Trainer's own files: trainer_state.json, written last, marks a checkpoint complete.
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        try:
            self.cost.save(folder, self.is_world_process_zero())
            super()._save_checkpoint(model, trial)
        except Exception as error:
            unwritable = write_failure(folder, error)
            if unwritable is None:
                raise
            shutil.rmtree(folder, ignore_errors=True)  # cut off: it would only hold the space; the last one stays
            raise unwritable from None

    def _get_train_sampler(self, *args, **kwargs):
        sampler = super()._get_train_sampler(*args, **kwargs)
        if type(sampler) is LengthGroupedSampler:
            return EpochSeededLengthSampler(sampler.batch_size, sampler.lengths, self.args.data_seed or self.args.seed)
        return sampler


def mean_logged_loss(log_history: list[dict]) -> float | None:
    """Mean training loss over all logged steps, weighted by each logging window's length.

    The Trainer's own train_loss averages only the steps run in the current process, so after a resume it
    would differ from an uninterrupted run; log_history is restored from the checkpoint and does not."""
    total, previous = 0.0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += entry["loss"] * (entry["step"] - previous)
            previous = entry["step"]
    return total / previous if previous else None
