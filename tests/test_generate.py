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
