"""What each model costs, gathered from the train and generate metrics; the base model's own size and
parameter count are read from its safetensors headers (no weights loaded)."""
import json
import struct
from pathlib import Path

from ..io.errors import UserError, pull_hint
from ..io.files import dir_size

METRICS = Path("metrics")
TRAINED = ("full", "lora")
# train_runtime_s and the rates count optimizer steps only; evaluations and checkpoint writes are their own figures.
FROM_TRAINING = ("trainable_params", "total_params", "trainable_percent", "train_runtime_s",
                 "train_samples_per_s", "train_tokens_per_s", "eval_runtime_s", "checkpoint_s", "peak_memory_bytes",
                 "peak_memory_kind", "peak_memory_reserved_bytes", "peak_memory_ranks")
FROM_GENERATION = ("s_per_dialogue", "mean_summary_words", "engine", "compute_type")


def safetensors_parameters(folder) -> int:
    """Number of values stored in the *.safetensors files of a folder (tied weights are stored once)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise UserError(f"{folder} holds no .safetensors weights: run `dvc repro prepare`{pull_hint()} first.")
    total = 0
    for path in files:
        with path.open("rb") as handle:
            size = struct.unpack("<Q", handle.read(8))[0]  # the format: 8-byte header length, JSON header
            header = json.loads(handle.read(size))
        for name, entry in header.items():
            if name != "__metadata__":
                count = 1
                for dim in entry["shape"]:
                    count *= dim
                total += count
    return total


def _read(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is missing: run `dvc repro` so the stage that writes it runs first.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error}); rerun the stage that writes it.") from None


def collect(base_folder, models, metrics=METRICS) -> dict[str, dict]:
    """One row per model: parameters, stored bytes, training cost, generation speed and length."""
    rows = {}
    for model in models:
        if model in TRAINED:
            train = _read(Path(metrics) / f"train_{model}.json")
            row = {key: train.get(key) for key in FROM_TRAINING}
            row["stored_bytes"] = train.get("checkpoint_bytes")  # full: whole model; lora: adapter only
        else:
            # zero-shot: nothing is trained, and what must be stored is the base model itself.
            total = safetensors_parameters(base_folder)
            row = {"trainable_params": 0, "total_params": total, "trainable_percent": 0.0,
                   "stored_bytes": dir_size(base_folder)}
        generation = _read(Path(metrics) / f"generate_{model}.json")
        row.update({key: generation.get(key) for key in FROM_GENERATION})
        rows[model] = {key: value for key, value in row.items() if value is not None}
    return rows
