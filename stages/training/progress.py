"""What a training run cost, cumulative across kills and resumes: seconds by phase, and rows and tokens fed.

Seconds are kept apart by what they bought, so that a training time means optimizer steps alone:
- train: the optimizer steps, each from fetching its batches to the optimizer's update (forward, backward,
  clipping, the step), and nothing else;
- eval: evaluations (validation loss, and generating and scoring the validation ROUGE summaries);
- checkpoint: writing resume checkpoints and the best weights so far.
The clock runs for the innermost open phase only (a best-weights write during an evaluation counts as
checkpoint, not eval); what no phase covers (start-up, logging) is in neither.

The Trainer's own train_runtime covers only the part of a run since its last resume, counts its evaluations and
checkpoints, and estimates samples as steps x nominal batch (wrong when the batch is larger than the data); tokens
estimated as dataset size x epochs are wrong whenever a run stops early or resumes. Here each checkpoint carries
the seconds, rows and (non-padding) input and target tokens fed so far, and a resumed run continues from them.
"""
import json
import time
from contextlib import contextmanager
from pathlib import Path

import torch


IGNORE = -100  # label padding (DataCollatorForSeq2Seq's label_pad_token_id): not a token fed
COST = "cost.json"  # beside the Trainer's files in every checkpoint folder
PHASES = ("train", "eval", "checkpoint")
clock = time.perf_counter  # read through the module, so tests can run the accounting on a clock of their own


def tokens_in(inputs: dict) -> int:
    """Real tokens of one micro-batch: attended input tokens plus target tokens (padding counts for neither)."""
    count = 0
    if "attention_mask" in inputs:
        count += int(inputs["attention_mask"].sum())
    # a causal LM's labels are positions of its input (stages/training/causal.py): counted once, as input
    causal = "decoder_input_ids" not in inputs and "labels" in inputs and "input_ids" in inputs \
        and inputs["labels"].shape == inputs["input_ids"].shape
    if "labels" in inputs and not causal:
        count += int(inputs["labels"].ne(IGNORE).sum())
    return count


def rows_in(inputs: dict) -> int:
    """Examples in one micro-batch: what a step was actually fed (a batch larger than the data holds fewer)."""
    return len(inputs["input_ids"])


def _sum_over_processes(value: int) -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        tensor = torch.tensor([value], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            tensor = tensor.cuda()
        torch.distributed.all_reduce(tensor)
        return int(tensor.item())
    return value


class Cost:
    """Seconds by phase, rows and tokens of the whole run: what earlier parts recorded plus this part's own."""

    def __init__(self):
        self.seconds_before = dict.fromkeys(PHASES, 0.0)
        self.seconds_here = dict.fromkeys(PHASES, 0.0)
        self.tokens_before = self.rows_before = 0
        self.tokens_here = self.rows_here = 0
        self.open = []  # phases open now, innermost last
        self.since = None  # when the innermost open phase last started counting

    def _credit(self) -> None:
        now = clock()
        if self.open:
            self.seconds_here[self.open[-1]] += now - self.since
        self.since = now

    def begin(self, phase: str) -> None:
        """Start counting `phase`; an open outer phase pauses until it ends."""
        self._credit()
        self.open.append(phase)

    def end(self, phase: str) -> None:
        """Stop counting `phase` (and any phase opened inside it and left open); not open: nothing to do."""
        if phase in self.open:
            self._credit()
            del self.open[len(self.open) - 1 - self.open[::-1].index(phase):]

    @contextmanager
    def measure(self, phase: str):
        self.begin(phase)
        try:
            yield
        finally:
            self.end(phase)

    def begin_step(self) -> None:
        """An optimizer step starts (fetching its batches); a step left open (no end_step) is closed first."""
        self.end("train")
        self.begin("train")

    def end_step(self) -> None:
        self.end("train")

    def restore(self, checkpoint) -> None:
        """Continue from a checkpoint's record; a checkpoint without one (an older run) counts from zero."""
        try:
            saved = json.loads((Path(checkpoint) / COST).read_text(encoding="utf-8"))
            seconds = {phase: float(saved["seconds"][phase]) for phase in PHASES}
            tokens, rows = int(saved["tokens"]), int(saved["rows"])
        except (OSError, ValueError, KeyError, TypeError):
            print(f"note: {checkpoint} has no cost record; times, rows and tokens count from this resume")
            return
        self.seconds_before, self.tokens_before, self.rows_before = seconds, tokens, rows

    def seconds(self, phase: str = "train") -> float:
        running = clock() - self.since if self.open and self.open[-1] == phase else 0.0
        return self.seconds_before[phase] + self.seconds_here[phase] + running

    def tokens(self) -> int:
        """Every process's tokens (a collective: all processes must call it together)."""
        return self.tokens_before + _sum_over_processes(self.tokens_here)

    def rows(self) -> int:
        """Every process's rows (a collective: all processes must call it together)."""
        return self.rows_before + _sum_over_processes(self.rows_here)

    def save(self, folder, main: bool) -> None:
        record = {"seconds": {phase: round(self.seconds(phase), 3) for phase in PHASES},
                  "tokens": self.tokens(), "rows": self.rows()}
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
