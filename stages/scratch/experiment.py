"""The try-it experiment: params that fine-tune the scratch model on a slice of DialogSum in minutes on a CPU.

Given to `dvc exp run` as `-S key=value`, so params.yaml's committed values stay as they are and the run is an
experiment like any other (`dvc exp show`, `stages.compare`, `dvc exp apply`). The sizes were chosen on 2 CPU
cores: enough optimizer steps that both fine-tuned models clearly beat the untrained one, few enough dialogues
that the whole pipeline runs in about five minutes (docs/try-it.md has the measured figures)."""
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
    """`-S key=value` pairs for `dvc exp run`; values in YAML's flow syntax, as DVC parses them."""
    import yaml

    flags = []
    for key, value in values.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()
        flags += ["-S", f"{key}={text}"]
    return flags
