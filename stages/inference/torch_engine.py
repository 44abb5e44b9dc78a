"""PyTorch generation: a model on its device and in its precision, generate() over longest-first batches."""
import torch
from tqdm.auto import tqdm

from .. import modeling
from .models import fp32_model


def load(which: str, precision: str):
    """The model to generate with; a LoRA adapter is merged into its base for plain-speed decoding."""
    return ready(fp32_model(which), precision)


def ready(model, precision: str):
    """On the device, in the precision asked for, in eval mode. Merge adapters before this (in fp32), so that
    bf16 rounding happens once, after the merge."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return model.to(device=modeling.device(), dtype=dtype).eval()


def longest_first(inputs: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `inputs` in batches, longest prompts first: each batch pads little."""
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def beam_settings(num_beams: int) -> dict:
    """Beam search stops once num_beams hypotheses have ended (early_stopping=True): the rule CTranslate2's beam
    search implements (patience 1), so both engines pick the same summary. Greedy search takes no such flag."""
    return {"early_stopping": True} if num_beams > 1 else {}


@torch.inference_mode()
def summarize(model, tokenizer, inputs: list[list[int]], cfg, progress=True) -> list[str]:
    """Greedy or beam summaries of tokenized prompts, longest first in batches (least padding)."""
    outputs = [""] * len(inputs)
    # disable=None: a bar on a terminal, none in a log file (stages/logs.py)
    with tqdm(total=len(inputs), desc="generate", unit="dialogue", disable=None if progress else True) as bar:
        for chunk in longest_first(inputs, cfg.batch_size):
            batch = tokenizer.pad({"input_ids": [inputs[i] for i in chunk]}, return_tensors="pt").to(model.device)
            generated = model.generate(**batch, max_new_tokens=cfg.max_new_tokens, num_beams=cfg.num_beams,
                                       do_sample=False, **beam_settings(cfg.num_beams))
            for i, text in zip(chunk, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                outputs[i] = text.strip()
            bar.update(len(chunk))
    return outputs
