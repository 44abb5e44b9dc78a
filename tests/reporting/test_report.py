"""Which example dialogues the report picks, and that their labels say what is true."""
import numpy as np

from stages.reporting import report


def test_examples_label_only_who_is_ahead():
    scores = {"full": np.array([0.2, 0.5, 0.1, 0.9]), "lora": np.array([0.3, 0.2, 0.4, 0.1])}
    chosen = dict((why.split(" (")[0], index) for index, why in report.choose_examples(scores, ("full", "lora")))
    assert chosen["full ahead of lora the most"] == 3
    assert chosen["lora ahead of full the most"] == 2


def test_no_ahead_label_when_a_model_is_never_ahead():
    scores = {"full": np.array([0.1, 0.2, 0.3, 0.1]), "lora": np.array([0.2, 0.25, 0.3, 0.6])}
    whys = [why for _, why in report.choose_examples(scores, ("full", "lora"))]
    assert not any(why.startswith("full ahead") for why in whys)
    assert any(why.startswith("lora ahead of full the most") for why in whys) and len(whys) == 3
    tied = {"full": np.zeros(3), "lora": np.zeros(3)}
    assert not any("ahead" in why for _, why in report.choose_examples(tied, ("full", "lora")))


def test_cost_table_keeps_evaluation_and_writes_beside_training_time():
    costs = {"full": {"train_runtime_s": 300.0, "train_samples_per_s": 8.0, "eval_runtime_s": 90.0,
                      "checkpoint_s": 40.0},
             "lora": {"train_runtime_s": 100.0}}  # a run from before these figures: dashes, not zeros
    header, rule, full, lora = report.cost_table(costs)
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[4:9] == ["training time (optimizer steps)", "samples/s", "tokens/s", "validation time",
                            "checkpoint writes"]
    assert rule.count("|---") == len(columns)
    assert [cell.strip() for cell in full.strip("|").split("|")][4:9] == ["5.0 min", "8.0", "—", "90.0 s", "40.0 s"]
    assert [cell.strip() for cell in lora.strip("|").split("|")][4:9] == ["100.0 s", "—", "—", "—", "—"]


def test_the_report_says_what_training_time_counts():
    setup = {"split": "test", "dialogues": 1, "rows": 1, "confidence": 0.95, "resamples": 10, "seed": 0}
    text = report.render({}, {}, {}, [], setup)
    assert "Training time counts the optimizer steps alone" in text and "beside it, not in it" in text
