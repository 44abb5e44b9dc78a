"""The zero-shot model's parameter count from safetensors headers, and the cost rows."""
import pytest

from stages.scoring import costs
from stages.modeling import models
from stages.io.errors import UserError
from stages.io.files import dir_size, write_json


def test_header_count_matches_the_loaded_model(tiny_model):
    _, total = models.count_parameters(models.load_model(tiny_model))
    assert costs.safetensors_parameters(tiny_model) == total


def test_collect_rows_for_base_and_trained_models(tmp_path, tiny_model):
    metrics = tmp_path / "metrics"
    write_json(metrics / "train_lora.json", {"trainable_params": 5, "total_params": 105, "trainable_percent": 4.76,
                                             "checkpoint_bytes": 77, "train_runtime_s": 1.5, "eval_runtime_s": 0.5,
                                             "checkpoint_s": 0.25, "train_wall_s": 9.0})
    for model in ("base", "lora"):
        write_json(metrics / f"generate_{model}.json", {"s_per_dialogue": 0.2, "mean_summary_words": 9.0})
    rows = costs.collect(tiny_model, ("base", "lora"), metrics)
    assert rows["base"]["trainable_params"] == 0
    assert rows["base"]["stored_bytes"] == dir_size(tiny_model)
    assert rows["lora"] == {"trainable_params": 5, "total_params": 105, "trainable_percent": 4.76,
                            "train_runtime_s": 1.5, "eval_runtime_s": 0.5, "checkpoint_s": 0.25,
                            "stored_bytes": 77, "s_per_dialogue": 0.2,
                            "mean_summary_words": 9.0}
    with pytest.raises(UserError, match="train_full.json is missing"):
        costs.collect(tiny_model, ("full",), metrics)
    with pytest.raises(UserError, match="no .safetensors weights"):
        costs.collect(tmp_path, ("base",), metrics)
