"""Model backends: prompt token ids in, stripped summaries out. One place to swap in other engines.

`load_backend(name, p)` is the only constructor the server calls; a backend has exactly
`summarize(inputs, progress=False) -> list[str]` and `describe() -> dict`.
"""
from pathlib import Path

from .. import summarize
from ..data import dialogsum
from ..inference import decode
from ..modeling import models

# What makes each pipeline model present in models/: lora also needs the base it was trained on.
MARKERS = {"base": [models.BASE / "config.json"], "full": [models.FULL / "config.json"],
           "lora": [models.LORA / "adapter_config.json", models.BASE / "config.json"]}


class TorchBackend:
    """The generate stage's own decoding: the same batching, precision and generate.* params."""

    def __init__(self, which: str, p):
        self.which = which
        self.precision = models.resolve_precision(p.generate.precision)
        self.cfg = p.generate
        self.model = summarize.load(which, self.precision)  # base/full/lora as the pipeline, or a directory
        self.tokenizer = models.load_tokenizer()  # its own copy: decoding runs in the batcher's thread

    def summarize(self, inputs: list[list[int]], progress: bool = False) -> list[str]:
        return decode.summarize(self.model, self.tokenizer, inputs, self.cfg, progress)

    def describe(self) -> dict:
        return {"engine": "torch", "model": self.which, "precision": self.precision,
                "device": str(self.model.device), "num_beams": self.cfg.num_beams,
                "max_new_tokens": self.cfg.max_new_tokens, "batch_size": self.cfg.batch_size}


def load_backend(which: str, p) -> TorchBackend:
    """base, full, lora (as the pipeline generates with them) or a directory holding a model or an adapter."""
    return TorchBackend(which, p)


def present() -> list[str]:
    """The pipeline models found in models/, in the pipeline's order."""
    return [name for name in dialogsum.MODELS if all(Path(marker).is_file() for marker in MARKERS[name])]

