"""Model backends: prompt token ids in, stripped summaries out, by the engine params generate.engine names.

`load_backend(name, p)` is the only constructor the server calls; a backend has exactly
`summarize(inputs, progress=False) -> list[str]` and `describe() -> dict`.
"""
from pathlib import Path

from ..data import dialogsum
from ..inference import engines
from ..modeling import models

# What makes each pipeline model present in models/: lora also needs the base it was trained on.
MARKERS = {"base": [models.BASE / "config.json"], "full": [models.FULL / "config.json"],
           "lora": [models.LORA / "adapter_config.json", models.BASE / "config.json"]}


class Backend:
    """The generate stage's own engine (params generate.engine) and decoding: the same batching, precision or
    compute type, and generate.* params."""

    def __init__(self, which: str, p):
        self.which = which
        self.cfg = p.generate
        self.engine = engines.load_engine(which, p)  # base/full/lora as the pipeline, or a directory
        self.tokenizer = self.engine.tokenizer  # the model's own: its prompts are encoded with it (prompting.py)

    def summarize(self, inputs: list[list[int]], progress: bool = False) -> list[str]:
        return self.engine.summarize(inputs, progress)

    def describe(self) -> dict:
        return {"model": self.which, **self.engine.describe(), "num_beams": self.cfg.num_beams,
                "max_new_tokens": self.cfg.max_new_tokens, "batch_size": self.cfg.batch_size}


def load_backend(which: str, p) -> Backend:
    """base, full, lora (as the pipeline generates with them) or a directory holding a model or an adapter."""
    return Backend(which, p)


def present() -> list[str]:
    """The pipeline models found in models/, in the pipeline's order."""
    return [name for name in dialogsum.MODELS if all(Path(marker).is_file() for marker in MARKERS[name])]

