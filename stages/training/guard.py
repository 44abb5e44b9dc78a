"""Stop a training run that has diverged, before it writes a model or metrics that look like success.

A learning rate far too high drives the loss to NaN or to huge values; the Trainer carries on, and without
this guard the stage would exit 0 with NaN weights and a loss summary that averages the NaNs away.
"""
import math

import torch
from transformers import TrainerCallback

from ..io.errors import UserError

# A fine-tune starts from the pretrained model's loss and, when healthy, only drifts a little above it before
# it falls. Guessing uniformly over flan-t5's 32,128 tokens costs ln(32128) = 10.4 nats, while flan-t5 starts
# near 2 on DialogSum: a logged loss 10x its first value is worse than knowing nothing, so the run diverged.
BLOWUP = 10.0
WATCHED = ("loss", "grad_norm", "eval_loss")


def _advice(stage: str) -> str:
    return (f"Lower {stage}.learning_rate (or raise warmup_ratio) and run the stage again; nothing was written "
            "to the model or the metrics.")


class DivergenceGuard(TrainerCallback):
    """Raises UserError at the first logged loss or grad norm that is not finite or has blown up."""

    def __init__(self, stage: str):
        self.stage = stage
        self.first_loss = None

    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed run compares with the first loss of the whole run, not of its resumed part.
        self.first_loss = next((e["loss"] for e in state.log_history if "loss" in e), None)

    def on_log(self, args, state, control, logs=None, **kwargs):
        check_logs(self.stage, state.global_step, logs or {}, self)

    def remember(self, loss: float) -> None:
        if self.first_loss is None:
            self.first_loss = loss


def check_logs(stage: str, step: int, logs: dict, guard: DivergenceGuard | None = None) -> None:
    for key in WATCHED:
        value = logs.get(key)
        if not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            raise UserError(f"{stage} diverged at optimizer step {step}: the logged {key} is {value}. "
                            + _advice(stage))
    loss = logs.get("loss")
    if guard is not None and isinstance(loss, (int, float)):
        guard.remember(loss)
        if guard.first_loss and loss > BLOWUP * guard.first_loss:
            raise UserError(f"{stage} diverged at optimizer step {step}: the training loss rose to {loss:.4g}, more "
                            f"than {BLOWUP:g}x its first logged value {guard.first_loss:.4g}. " + _advice(stage))


def check_finite(stage: str, model) -> None:
    """Every floating-point weight is a number; a model with NaN or infinite weights is never written."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise UserError(f"{stage} produced non-finite weights ({name} holds NaN or infinity). "
                            + _advice(stage))
