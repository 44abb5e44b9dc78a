"""The scratch T5: flan-t5's architecture at a chosen size, a tokenizer learned from the corpus, loadable as the
pipeline loads any model."""
import json
import math

import torch

from stages.modeling import models
from stages.scratch.model import Shape, build

TEXTS = ["#Person1#: Hello, how are you?\n#Person2#: Fine, thanks.", "Person1 greets Person2.",
         "Summarize the following conversation. Summary:"] * 20


def test_built_model_has_flan_t5_layers_and_loads_like_any_model(tmp_path):
    shape = Shape(vocab=120, d_model=32, d_kv=8, d_ff=64, layers=1, heads=2)
    folder = build(tmp_path / "m", TEXTS, shape)
    config = json.loads((folder / "config.json").read_text())
    assert config["feed_forward_proj"] == "gated-gelu"
    model = models.load_model(folder)
    tokenizer = models.load_tokenizer(folder)
    assert config["vocab_size"] % 64 == 0 and len(tokenizer) <= config["vocab_size"] < len(tokenizer) + 64
    assert {"q", "k", "v", "o", "wi_0", "wi_1", "wo"} <= set(models.linear_names(model))
    ids = tokenizer("#Person1#: Hello")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "#Person1#: Hello"


def test_small_head_starts_near_uniform_loss(tmp_path):
    """T5's own init gives the separate lm_head std 1, a first loss far above ln(vocab); the small head does not."""
    losses = {}
    for small in (False, True):
        shape = Shape(vocab=200, d_model=64, d_kv=16, d_ff=128, layers=2, heads=4, small_head=small)
        folder = build(tmp_path / str(small), TEXTS, shape)
        model, tokenizer = models.load_model(folder), models.load_tokenizer(folder)
        batch = tokenizer(TEXTS[:4], return_tensors="pt", padding=True)
        with torch.no_grad():
            losses[small] = model(**batch, labels=batch["input_ids"]).loss.item()
    uniform = math.log(model.config.vocab_size)
    assert abs(losses[True] - uniform) < 0.5 * uniform
    assert losses[False] > 2 * uniform


def test_same_seed_same_weights(tmp_path):
    shape = Shape(vocab=120, d_model=32, d_kv=8, d_ff=64, layers=1, heads=2)
    a, b = build(tmp_path / "a", TEXTS, shape), build(tmp_path / "b", TEXTS, shape)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    import json
    import math

    from safetensors import safe_open

    with safe_open(str(a / "model.safetensors"), "pt") as weights:  # what it says it is: random, of this size
        size = sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    record = json.loads((a / "scratch.json").read_text())
    assert (record["weights"], record["parameters"], record["seed"]) == ("random", size, 0)
