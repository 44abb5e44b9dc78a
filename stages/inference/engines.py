"""One interface over the inference engines, chosen by params generate.engine:

    engine = load_engine("lora", params.load())      # base, full, lora, or a model or adapter folder
    engine.summarize(prompt_token_ids)               # -> stripped summaries, in the order given
    engine.describe()                                # engine, compute type, threads, device: for the metrics

torch: transformers' generate() in generate.precision (stages/modeling/hardware.py). ctranslate2: the model converted once
(cache.py, checked before each use) and decoded by CTranslate2 in generate.compute_type, with the same
decoding or a refusal (ct2.py)."""
from pathlib import Path
from typing import Protocol

import torch

from ..data import dialogsum
from ..io.errors import UserError
from ..modeling import hardware, models
from . import cache, ct2, decode, specs


class Engine(Protocol):
    tokenizer: object  # the model's own (specs.tokenizer): prompts for it are encoded with this one

    def summarize(self, inputs: list[list[int]], progress: bool = False) -> list[str]: ...

    def describe(self) -> dict: ...


class TorchEngine:
    def __init__(self, model, tokenizer, cfg, decision: hardware.Decision):
        self.model, self.tokenizer, self.cfg, self.decision = model, tokenizer, cfg, decision

    def summarize(self, inputs: list[list[int]], progress=False) -> list[str]:
        return decode.summarize(self.model, self.tokenizer, inputs, self.cfg, progress)

    def describe(self) -> dict:
        return {"engine": "torch", "compute_type": "bfloat16" if self.decision.precision == "bf16" else "float32",
                "threads": torch.get_num_threads(), **self.decision.record()}


def load_engine(spec, p, root: Path = cache.ROOT) -> Engine:
    """The engine params generate.engine names, holding the model `spec` names."""
    cfg = p.generate
    specs.kind(spec)  # an unusable --model folder is named before anything loads
    tokenizer = specs.tokenizer(spec)  # its own, never models/base's for any model
    if cfg.engine == "torch":
        decision = hardware.decision(cfg.precision)
        return TorchEngine(decode.load(spec, decision.precision), tokenizer, cfg, decision)
    return load_ctranslate2(spec, cfg, tokenizer, root)


def load_ctranslate2(spec, cfg, tokenizer, root: Path = cache.ROOT, split=None) -> ct2.CTranslate2Engine:
    """`split`: (workers, threads each) on a CPU instead of ct2.workers' choice (the benchmark compares them)."""
    ctranslate2 = ct2.module()

    where = ct2.device(models.device().type, ctranslate2.get_cuda_device_count())
    compute_type, reason = ct2.resolve(cfg.compute_type, where, set(ctranslate2.get_supported_compute_types(where)),
                                       ctranslate2.__version__)
    config_folder = specs.config_folder(spec)
    config = ct2.generation_config(config_folder)
    options = ct2.decoding_options(config, cfg, f"the generation config of {config_folder}")
    name = spec if spec in dialogsum.MODELS else Path(spec).resolve().name

    def build(out: Path) -> None:
        ct2.convert(specs.fp32_model(spec), tokenizer, config, out, compute_type, config_folder)

    folder = cache.cached(name, specs.weight_folders(spec), tokenizer, compute_type, cache.versions(), build, root)
    try:
        return ct2.CTranslate2Engine(folder, tokenizer, cfg, options, compute_type, reason, where,
                                     torch.get_num_threads(), split)
    except (RuntimeError, ValueError, OSError) as error:  # changed between its check (cache.damage) and now
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise UserError(f"CTranslate2 cannot load the converted model in {folder} ({first}); run again, which "
                        "converts it anew if its files changed since it was written; if this repeats, set "
                        "generate.engine to torch.") from None
