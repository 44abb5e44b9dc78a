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
