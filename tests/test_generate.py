import json
from pathlib import Path
from types import SimpleNamespace

from stages.inference import decode
from stages.modeling import models


def settings(batch_size):
    return SimpleNamespace(batch_size=batch_size, max_new_tokens=6, num_beams=1)


def test_batched_longest_first_matches_one_at_a_time(tiny_model):
    tokenizer = models.load_tokenizer(tiny_model)
    model = models.load_model(tiny_model).eval()
    texts = ["Hello Anna.", "Good morning, welcome to the bank. How can I help you?", "Sure, thank you very much."]
    inputs = [tokenizer(t)["input_ids"] for t in texts]
    one_by_one = decode.summarize(model, tokenizer, inputs, settings(1), progress=False)
    batched = decode.summarize(model, tokenizer, inputs, settings(3), progress=False)
    assert batched == one_by_one, "padding and the longest-first order change nothing, and order is kept"
    assert len(batched) == 3


def test_max_new_tokens_bounds_the_summary(tiny_model):
    tokenizer = models.load_tokenizer(tiny_model)
    model = models.load_model(tiny_model).eval()
    ids = [tokenizer("Good morning, welcome to the bank.")["input_ids"]]
    out = decode.summarize(model, tokenizer, ids, settings(1), progress=False)[0]
    assert len(tokenizer(out, add_special_tokens=False)["input_ids"]) <= 6 + 1


def test_every_row_of_a_dialogue_gets_its_one_summary_by_id(prepared, tmp_path, monkeypatch):
    """A stray space in one reference row's copy of a test dialogue changes its prompt, not its dialogue."""
    import shutil

    import datasets

    from stages import generate
    from stages.data import dialogsum
    from stages.io.files import read_jsonl

    root = shutil.copytree(prepared[0], tmp_path / "project")
    monkeypatch.chdir(root)
    splits = datasets.load_from_disk("data/prepared")
    test = splits["test"].to_dict()
    test["dialogue"][4] += " "  # test_1_2
    test["input_ids"][4] = test["input_ids"][4][:-1] + [5, 1]  # its prompt now differs
    splits["test"] = datasets.Dataset.from_dict(test)
    splits.save_to_disk("data/prepared-new")
    shutil.rmtree("data/prepared")
    (root / "data/prepared-new").rename(root / "data/prepared")
    asked = []

    def summarize(model, tokenizer, inputs, cfg, progress=True):
        asked.extend(inputs)
        return [f"summary of prompt {n}" for n in range(len(inputs))]

    monkeypatch.setattr(decode, "load", lambda which, precision: None)
    monkeypatch.setattr(decode, "summarize", summarize)
    generate.main("base")
    rows = read_jsonl(dialogsum.PREDICTIONS / "base.jsonl")
    assert len(asked) == 6 and len(rows) == 18
    by_dialogue = {}
    for row in rows:
        by_dialogue.setdefault(row["id"].rsplit("_", 1)[0], set()).add(row["prediction"])
    assert all(len(texts) == 1 for texts in by_dialogue.values()) and len(by_dialogue) == 6
    record = json.loads(Path("metrics/generate_base.json").read_text())
    assert (record["dialogues"], record["distinct_summaries"], record["most_common_share"], record["empty_share"]) == \
        (6, 6, round(1 / 6, 6), 0.0)
    assert record["cpu_model"] and record["cpu_count"] >= 1 and record["load_average_1min"] >= 0
