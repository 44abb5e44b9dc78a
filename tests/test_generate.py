import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import tiny
from stages.inference import decode
from stages.modeling import models


def settings(batch_size, num_beams=1, early_stopping=None, max_new_tokens=6):
    return SimpleNamespace(batch_size=batch_size, max_new_tokens=max_new_tokens, num_beams=num_beams,
                           early_stopping=early_stopping)


@pytest.fixture
def lively(lively_model):
    """Summaries of varied words and lengths (conftest.py): the untrained model writes only padding, which would
    make every comparison below vacuous."""
    return lively_model


def loaded(folder):
    return models.load_tokenizer(folder), models.load_model(folder).eval()


TEXTS = ["Hello Anna.", "Good morning, welcome to the bank. How can I help you?", "Sure, thank you very much.",
         "#Person1#: Could you wait a moment, please?\n#Person2#: Of course, I would like to book a table.",
         "I would like to meet the manager at the hotel.", "Grace goes to the library to borrow a book."]


def test_batched_longest_first_matches_one_at_a_time(lively):
    tokenizer, model = loaded(lively)
    inputs = [tokenizer(t)["input_ids"] for t in TEXTS]
    # each prompt alone in its own call: nothing to pad, nothing to reorder
    one_by_one = [decode.summarize(model, tokenizer, [ids], settings(1), progress=False)[0] for ids in inputs]
    batched = decode.summarize(model, tokenizer, inputs, settings(3), progress=False)
    assert batched == one_by_one, "padding and the longest-first order change nothing, and order is kept"
    assert len(batched) == len(TEXTS) and len(set(batched)) > len(TEXTS) // 2  # varied summaries, not empties


def test_max_new_tokens_bounds_the_summary(lively):
    tokenizer, model = loaded(lively)
    ids = [tokenizer(t)["input_ids"] for t in TEXTS]
    short = decode.summarize(model, tokenizer, ids, settings(2, max_new_tokens=3), progress=False)
    long = decode.summarize(model, tokenizer, ids, settings(2, max_new_tokens=12), progress=False)
    # greedy: a summary cut at 3 tokens is the start of the one cut at 12, and some of those run on past it
    assert all(full.startswith(cut) for cut, full in zip(short, long)) and sum(map(bool, short)) > 2
    assert sum(len(full) > len(cut) for cut, full in zip(short, long)) > 2


@pytest.mark.parametrize("config_stops, params_stop", [(None, None), (True, None), ("never", None), (None, True),
                                                        (True, False)])
def test_decoding_is_plain_generate_with_the_models_generation_config(lively, tmp_path, config_stops, params_stop):
    """The summaries are generate()'s with transformers' defaults and the model's generation_config.json, overridden
    only by what params set (num_beams, max_new_tokens, early_stopping when not null): what the card's snippet
    calls gives them too."""
    folder = shutil.copytree(lively, tmp_path / "model")
    config = json.loads((folder / "generation_config.json").read_text())
    if config_stops is not None:
        config["early_stopping"] = config_stops
    (folder / "generation_config.json").write_text(json.dumps(config))
    tokenizer, model = loaded(folder)
    cfg = settings(1, num_beams=3, early_stopping=params_stop, max_new_tokens=12)
    inputs = [tokenizer(t)["input_ids"] for t in TEXTS]
    ours = decode.summarize(model, tokenizer, inputs, cfg, progress=False)
    plain = {"max_new_tokens": 12, "num_beams": 3, "do_sample": False}
    if params_stop is not None:
        plain["early_stopping"] = params_stop
    with torch.inference_mode():
        theirs = [tokenizer.decode(model.generate(torch.tensor([ids]), **plain)[0], skip_special_tokens=True).strip()
                  for ids in inputs]
    assert ours == theirs and len(set(ours)) > len(TEXTS) // 2
    assert model.generation_config.early_stopping == config_stops  # the model's own setting, as written
    assert decode.generate_kwargs(cfg).get("early_stopping") == params_stop  # overridden only by params


def test_beam_search_stops_as_transformers_decides_not_always_early(lively):
    """early_stopping true and transformers' default (false) are different searches: the default is used unless
    params or the generation config say otherwise, so some summaries here differ between the two."""
    tokenizer, model = loaded(lively)
    inputs = [tokenizer(f"{name} at {place}")["input_ids"] for name in tiny.NAMES for place in tiny.PLACES]
    default = decode.summarize(model, tokenizer, inputs, settings(8, num_beams=4, max_new_tokens=16), progress=False)
    early = decode.summarize(model, tokenizer, inputs, settings(8, num_beams=4, early_stopping=True,
                                                                max_new_tokens=16), progress=False)
    assert len(set(default)) > len(inputs) // 2 and default != early


def test_every_row_of_a_dialogue_gets_its_one_summary_by_id(prepared, tmp_path, monkeypatch):
    """A stray space in one reference row's copy of a test dialogue changes its prompt, not its dialogue."""
    import shutil

    import datasets

    from stages import generate
    from stages.data import dialogsum
    from stages.io.jsonl import read_jsonl

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
