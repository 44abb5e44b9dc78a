"""What the stages print: progress bars only on a terminal, and no library noise we know to be harmless.

Imported by stages/__init__.py, before any library loads tqdm, since tqdm reads TQDM_* defaults at import.
"""
import logging
import os
import sys
import warnings

# In a log file (CI, a queued experiment, `dvc repro > log`) a bar cannot redraw: every refresh becomes a line
# and bars closed early stay behind at 0%. There the loss lines and each stage's last line ("wrote ...") are
# the progress. Set TQDM_DISABLE yourself to override.
if not sys.stderr.isatty():
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

# peft 0.21 calls transformers' deprecated `is_gradient_checkpointing` alias whenever it wraps a model: our
# calls are current, the warning is about peft's code and changes nothing.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

HARMLESS = (
    # transformers 5 declares T5's output layer tied to the input embedding, but flan-t5's checkpoints store a
    # separate, different lm_head; transformers then keeps them untied, which is what flan-t5 was trained with.
    # It says so on every load of every model; nothing is wrong.
    "but both are present in the checkpoints with different values, so we will NOT tie them",
    # The Trainer sorts checkpoints saved within one second by step number instead of time: the right order.
    "mtime may not be reliable on this filesystem",
)


class _DropHarmless(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in HARMLESS)


for _name in ("transformers.modeling_utils", "transformers.trainer_utils"):
    logging.getLogger(_name).addFilter(_DropHarmless())
