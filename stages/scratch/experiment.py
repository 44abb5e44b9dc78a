"""The try-it experiment: params that fine-tune the scratch model on a slice of DialogSum in minutes on a CPU.

Given to `dvc exp run` as `-S key=value`, so params.yaml's committed values stay as they are and the run is an
experiment like any other (`dvc exp show`, `stages.compare`, `dvc exp apply`). The sizes were chosen on 2 CPU
cores: enough optimizer steps that both fine-tuned models clearly beat the untrained one, few enough dialogues
that the whole pipeline runs in about five minutes (docs/try-it.md has the measured figures)."""
import re

from .model import Shape

# ~0.7M parameters: a 2,000-token vocabulary, d_model 96, 2 encoder and 2 decoder layers.
SHAPE = Shape(vocab=2000, d_model=96, d_kv=24, d_ff=256, layers=2, heads=4, small_head=True)
MODEL = "demo/model"  # inside the project, git-ignored: `dvc exp run` in the workspace sees it


def settings(source: str, model: str = MODEL) -> dict[str, object]:
    """params.yaml keys and the values the try-it experiment sets."""
    train = {"learning_rate": 3.0e-3, "epochs": 2, "batch_size": 16, "eval_steps": 0, "save_steps": 0,
             "rouge_samples": 0, "select_metric": "last", "logging_steps": 10, "warmup_ratio": 0.05}
    values = {"model.name": model, "data.source": source,
              "data.max_train_samples": 800, "data.max_validation_samples": 50, "data.max_test_samples": 100,
              "data.max_source_length": 192, "data.max_target_length": 48,
              "generate.max_new_tokens": 48, "generate.batch_size": 50, "evaluate.resamples": 2000}
    for stage in ("train_full", "train_lora"):
        values |= {f"{stage}.{key}": value for key, value in train.items()}
    # A LoRA adapter on random weights has less to build on: a higher rate on every linear layer.
    values |= {"train_lora.learning_rate": 1.0e-2, "lora.target_modules": "all-linear"}
    return values


def set_flags(values: dict[str, object]) -> list[str]:
    """`-S key=value` pairs for `dvc exp run`, each value written in the grammar DVC parses it with (Hydra's
    override grammar, then OmegaConf's interpolation): any text, a path with commas, quotes, `#`, `=`,
    brackets, `~`, `${` or letters beyond ASCII included, comes out as the same text in params.yaml."""
    flags = []
    for key, value in values.items():
        flags += ["-S", f"{key}={override_value(value)}"]
    return flags


def override_value(value) -> str:
    """`value` as a Hydra override value: text quoted (Hydra's own quoting), numbers, booleans, null and lists
    as literals."""
    from hydra.core.override_parser.types import Quote, QuotedString

    if isinstance(value, str):
        # OmegaConf reads `${...}` as a reference to another key, even quoted: n backslashes before it are
        # written as 2n + 1, which it reads back as the n backslashes and a plain `${`.
        text = re.sub(r"(\\*)\$\{", lambda m: "\\" * (2 * len(m[1]) + 1) + "${", value)
        return QuotedString(text=text, quote=Quote.double).with_quotes()
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(override_value(item) for item in value) + "]"
    raise TypeError(f"no override syntax for {type(value).__name__}")
