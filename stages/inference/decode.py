"""Turning prompts into summaries: the model a pipeline name stands for, on its device and precision, and
batched decoding, longest prompt first. The generate stage, validation during training, the summarize CLI and
the server all decode here, so the same params give the same summaries everywhere."""
import copy

import torch
from tqdm.auto import tqdm

from ..modeling import models
from . import specs


def load(spec, precision: str):
    """The model to generate with: base, full, lora or a folder (specs); an adapter is merged into its base in
    fp32 first, for plain-speed decoding."""
    return ready(specs.fp32_model(spec), precision)


def ready(model, precision: str):
    """On the device, in the precision asked for, in eval mode. Merge adapters before this (in fp32), so that
    bf16 rounding happens once, after the merge."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return model.to(device=models.device(), dtype=dtype).eval()


def decoding_copy(model, precision: str):
    """A copy of a model in training that decodes as the generate stage's model of it does: adapters merged in fp32,
    then cast to `precision` (ready). Validation summaries that choose the checkpoint thus come from the same
    weights, in the same precision, as the summaries reported for it; the model in training is left as it is.

    Weights no merge touches are cast while copying, never copied in fp32 first: a bf16 copy of flan-t5-base adds
    0.5 GB while it lives, and in fp32 they are shared with the model instead of copied."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    merged = set()  # what merge_and_unload adds up in fp32: the adapted layers' weights and the adapter itself
    if getattr(model, "peft_config", None):
        from peft.tuners.tuners_utils import BaseTunerLayer

        merged = {id(p) for module in model.modules() if isinstance(module, BaseTunerLayer)
                  for p in module.parameters()}
    memo = {id(p): torch.nn.Parameter(p.detach().to(dtype), requires_grad=False)
            for p in model.parameters() if id(p) not in merged}
    twin = copy.deepcopy(model, memo)  # deepcopy takes what memo already holds (tied weights stay tied)
    for module in twin.modules():
        # Under mixed precision accelerate replaces the instance's forward by one under autocast (keeping the
        # original as _original_forward); a model loaded by the generate stage has the class's plain forward.
        for patched in ("forward", "_original_forward"):
            module.__dict__.pop(patched, None)
    if getattr(twin, "peft_config", None):
        twin = twin.merge_and_unload()
    return ready(twin, precision)


def longest_first(inputs: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `inputs` in batches, longest prompts first: each batch pads little."""
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def generate_kwargs(cfg) -> dict:
    """generate()'s keywords for params generate: max_new_tokens, num_beams, no sampling, and early_stopping only
    where params set it for beam search. Everything else is transformers' default or the model's generation
    config, as a plain generate() call with these keywords decodes (the model card's snippet makes that call)."""
    kwargs = {"max_new_tokens": cfg.max_new_tokens, "num_beams": cfg.num_beams, "do_sample": False}
    if cfg.num_beams > 1 and cfg.early_stopping is not None:
        kwargs["early_stopping"] = cfg.early_stopping
    return kwargs


@torch.inference_mode()
def summarize(model, tokenizer, inputs: list[list[int]], cfg, progress=True) -> list[str]:
    """Greedy or beam summaries of tokenized prompts, longest first in batches (least padding)."""
    outputs = [""] * len(inputs)
    # disable=None: a bar on a terminal, none in a log file (stages/io/logs.py)
    with tqdm(total=len(inputs), desc="generate", unit="dialogue", disable=None if progress else True) as bar:
        for chunk in longest_first(inputs, cfg.batch_size):
            generated = _generate(model, tokenizer, [inputs[i] for i in chunk], cfg)
            for i, text in zip(chunk, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                outputs[i] = text.strip()
            bar.update(len(chunk))
    return outputs


def _generate(model, tokenizer, prompts: list[list[int]], cfg):
    """Token ids of the answers only. A causal LM continues its prompt: padded on the left, so every row's
    answer starts at the same column, and the prompt columns are sliced off; it stops at the end tokens its
    generation config lists (EOS and the chat template's end of turn: stages/modeling/causal.py)."""
    causal = not model.config.is_encoder_decoder
    batch = tokenizer.pad({"input_ids": prompts}, return_tensors="pt",
                          **({"padding_side": "left"} if causal else {})).to(model.device)
    generated = model.generate(**batch, **generate_kwargs(cfg))
    return generated[:, batch["input_ids"].shape[1]:] if causal else generated


def distinct(input_ids) -> list[tuple]:
    """Each distinct prompt once, in first-seen order: DialogSum repeats a test dialogue per reference."""
    return list(dict.fromkeys(tuple(ids) for ids in input_ids))
