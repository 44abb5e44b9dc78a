"""What a training run cost, cumulative across kills and resumes: seconds trained and tokens fed.

The Trainer's own train_runtime covers only the part of a run since its last resume, and tokens estimated as
dataset size x epochs are wrong whenever a run stops early or resumes. Here each checkpoint carries the
seconds and the (non-padding) input and target tokens fed so far, and a resumed run continues from them.
"""
import json
import time
from pathlib import Path

import torch


IGNORE = -100  # label padding (DataCollatorForSeq2Seq's label_pad_token_id): not a token fed
COST = "cost.json"  # beside the Trainer's files in every checkpoint folder


def tokens_in(inputs: dict) -> int:
    """Real tokens of one micro-batch: attended input tokens plus target tokens (padding counts for neither)."""
    count = 0
    if "attention_mask" in inputs:
        count += int(inputs["attention_mask"].sum())
    if "labels" in inputs:
        count += int(inputs["labels"].ne(IGNORE).sum())
    return count


def _sum_over_processes(value: int) -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        tensor = torch.tensor([value], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            tensor = tensor.cuda()
        torch.distributed.all_reduce(tensor)
        return int(tensor.item())
    return value


class Cost:
    """Seconds and tokens of the whole run: what earlier parts recorded plus this part's own."""

    def __init__(self):
        self.seconds_before, self.tokens_before = 0.0, 0
        self.tokens_here = 0
        self.started = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def restore(self, checkpoint) -> None:
        """Continue from a checkpoint's record; a checkpoint without one (an older run) counts from zero."""
        try:
            saved = json.loads((Path(checkpoint) / COST).read_text(encoding="utf-8"))
            self.seconds_before, self.tokens_before = float(saved["seconds"]), int(saved["tokens"])
        except (OSError, ValueError, KeyError, TypeError):
            print(f"note: {checkpoint} has no cost record; runtime and tokens count from this resume")

    def seconds(self) -> float:
        here = time.perf_counter() - self.started if self.started is not None else 0.0
        return self.seconds_before + here

    def tokens(self) -> int:
        """Every process's tokens (a collective: all processes must call it together)."""
        return self.tokens_before + _sum_over_processes(self.tokens_here)

    def save(self, folder, main: bool) -> None:
        record = {"seconds": round(self.seconds(), 3), "tokens": self.tokens()}
        if main:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / COST).write_text(json.dumps(record), encoding="utf-8")


def finished(checkpoint) -> bool:
    """A checkpoint already at the run's last step: it is the result, not a point to train on from."""
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
        return 0 < state["max_steps"] <= state["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
