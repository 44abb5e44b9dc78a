"""What full fine-tuning needs in memory, said before it starts: the weights, their gradients, AdamW's two states
(all fp32: bf16 training here is autocast over fp32 weights) and an activation estimate at the configured
micro-batch and the longest training sequence; a causal LM whose estimate exceeds the memory free on its device
(the GPU's free memory, or the RAM the kernel reports available) is refused before any step, with what to change.

The activation figure is an estimate from the model's shape, not a measurement: per layer and token about
10 x hidden + 4 x intermediate values, plus the attention scores (2 x heads x sequence), a tenth of that per
layer with gradient checkpointing, and the logits three times over (the output, its fp32 copy in the loss, its
gradient). metrics/train_full.json records the peak measured afterwards. flan-t5's runs are stated but never
refused here: they ran before this estimate existed, and stay as they were."""
import os
from pathlib import Path

from ..io.errors import UserError

GB = 1024 ** 3


def estimate(config, trainable: int, total: int, micro: int, tokens: int, precision: str,
             checkpointing: bool) -> dict:
    """Bytes of each part, and their sum."""
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", 0)
    inner = getattr(config, "intermediate_size", None) or getattr(config, "d_ff", 4 * hidden)
    layers = getattr(config, "num_hidden_layers", 0) + getattr(config, "num_decoder_layers", 0)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "num_heads", 1)
    width = 2 if precision == "bf16" else 4
    per_token = (10 * hidden + 4 * inner + 2 * heads * tokens) * width
    if checkpointing:
        per_token = per_token // 10 + hidden * width
    parts = {"weights": total * 4, "gradients": trainable * 4, "adamw": trainable * 8,
             "activations": layers * micro * tokens * per_token,
             "logits": micro * tokens * getattr(config, "vocab_size", 0) * (width + 8)}
    return {**parts, "total": sum(parts.values())}


def available(kind: str) -> tuple[int | None, str]:
    """(bytes free, where) on the training device; None where unknown (Apple's GPU)."""
    if kind == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return free, f"free on {torch.cuda.get_device_name()}"
    if kind == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "RAM available"
        except OSError:
            pass
    return None, "unknown"


def statement(parts: dict, micro: int, tokens: int, checkpointing: bool) -> str:
    return (f"full fine-tuning needs about {parts['total'] / GB:.1f} GB: weights {parts['weights'] / GB:.2f}, "
            f"gradients {parts['gradients'] / GB:.2f}, AdamW states {parts['adamw'] / GB:.2f}, activations "
            f"{parts['activations'] / GB:.2f} and logits {parts['logits'] / GB:.2f} at a micro-batch of {micro} x "
            f"{tokens} tokens{' with gradient checkpointing' if checkpointing else ''} (an estimate)")


def check(stage: str, cfg, model, micro: int, tokens: int, precision: str, kind: str, causal: bool) -> str:
    """The statement; a UserError for a causal LM that cannot fit."""
    from ..modeling import models

    trainable, total = models.count_parameters(model)
    parts = estimate(model.config, trainable, total, micro, tokens, precision, cfg.gradient_checkpointing)
    said = statement(parts, micro, tokens, cfg.gradient_checkpointing)
    free, where = available(kind)
    if free is None:
        return said
    said += f"; {free / GB:.1f} GB {where}"
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true"):
        return said + " (FSDP shards the weights, gradients and AdamW states over the processes: less each)"
    if causal and parts["total"] > free:
        raise UserError(f"{stage}: {said}: it cannot fit. Lower {stage}.batch_size (raise "
                        f"{stage}.gradient_accumulation_steps to keep the effective batch), set "
                        f"{stage}.gradient_checkpointing: true, shorten data.max_source_length, train a LoRA "
                        "adapter instead (train_lora), or use a machine with more memory.")
    return said


def check_full(stage: str, cfg, model) -> None:
    """Print the statement for `stage` (train_full) on data/prepared; stop where a causal LM cannot fit."""
    from ..data import dialogsum
    from ..modeling import family, models
    from .loop import batch_plan

    train = dialogsum.load_prepared("train")
    causal = family.is_causal(model)
    if causal:
        tokens = max(train["length"], default=0)  # prompt and summary: one sequence
    else:
        tokens = max(map(len, train["input_ids"]), default=0) + max(map(len, train["labels"]), default=0)
    micro, _ = batch_plan(cfg.batch_size, cfg.gradient_accumulation_steps, models.world_size())
    said = check(stage, cfg, model, micro, tokens, models.resolve_precision(cfg.precision), models.device().type,
                 causal)
    if models.is_main_process():
        print(said)
