"""The try-it experiment: params that fine-tune the scratch model on a slice of DialogSum in minutes on a CPU.

Given to `dvc exp run` as `-S key=value`, so params.yaml's committed values stay as they are and the run is an
experiment like any other (`dvc exp show`, `stages.compare`, `dvc exp apply`). The sizes were chosen on 2 CPU
cores: enough optimizer steps that both fine-tuned models clearly beat the untrained one, few enough dialogues
that the whole pipeline runs in about five minutes (docs/try-it.md has the measured figures)."""
from .model import Shape

# ~2.3M parameters: a 4,000-token vocabulary, d_model 128, 3 encoder and 3 decoder layers.
SHAPE = Shape(vocab=4000, d_model=128, d_kv=32, d_ff=512, layers=3, heads=4, small_head=True)
MODEL = "demo/model"  # inside the project, git-ignored: `dvc exp run` in the workspace sees it


def settings(source: str, model: str = MODEL) -> dict[str, object]:
    """params.yaml keys and the values the try-it experiment sets."""
    train = {"learning_rate": 2.0e-3, "epochs": 3, "batch_size": 16, "eval_steps": 0, "save_steps": 0,
             "rouge_samples": 0, "select_metric": "last", "logging_steps": 10, "warmup_ratio": 0.05}
    values = {"model.name": model, "data.source": source,
              "data.max_train_samples": 1500, "data.max_validation_samples": 50, "data.max_test_samples": 100,
              "data.max_source_length": 320, "data.max_target_length": 64,
              "generate.max_new_tokens": 48, "generate.batch_size": 50, "evaluate.resamples": 2000}
    for stage in ("train_full", "train_lora"):
        values |= {f"{stage}.{key}": value for key, value in train.items()}
    # A LoRA adapter on random weights has less to build on: a higher rate on every linear layer.
    values |= {"train_lora.learning_rate": 5.0e-3, "lora.target_modules": "all-linear"}
    return values


def set_flags(values: dict[str, object]) -> list[str]:
    """`-S key=value` pairs for `dvc exp run`; values in YAML's flow syntax, as DVC parses them."""
    import yaml

    flags = []
    for key, value in values.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()
        flags += ["-S", f"{key}={text}"]
    return flags
