"""An untied lm_head stays untied through tie_weights() (what accelerate's FSDP loading calls)."""
import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from stages.modeling import models, weights


@pytest.fixture(scope="module")
def untied_model(tmp_path_factory, tiny_model):
    """The tiny model saved with a separate lm_head of its own, as flan-t5 has (T5Config forces ties at init)."""
    folder = tmp_path_factory.mktemp("untied")
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model)
    torch.manual_seed(1)
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.shared.weight))
    model.all_tied_weights_keys.pop(weights.HEAD, None)  # else save_pretrained drops it as a duplicate
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    return folder


def _tied(model) -> bool:
    return model.get_output_embeddings().weight is model.get_input_embeddings().weight


def _logits(model):
    ids = torch.tensor([[5, 6, 7, 1]])
    with torch.no_grad():
        return model.eval()(input_ids=ids, decoder_input_ids=torch.tensor([[0, 5, 6]])).logits


def test_untied_head_survives_tie_weights(untied_model):
    model = models.load_model(untied_model)
    assert weights.checkpoint_has_head(untied_model)  # this copy of the tiny model, like flan-t5, has its own lm_head
    before = _logits(model)
    model.tie_weights()
    assert not _tied(model)
    assert torch.equal(_logits(model), before)
    # The input embeddings stay shared between encoder, decoder and `shared`.
    assert model.encoder.embed_tokens.weight is model.shared.weight is model.decoder.embed_tokens.weight


def test_tied_checkpoint_stays_tied(tmp_path, tiny_model):
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model)
    model.lm_head.weight = model.shared.weight  # a tied checkpoint: save_pretrained stores the weight once
    model.save_pretrained(tmp_path)
    assert not weights.checkpoint_has_head(tmp_path)
    loaded = models.load_model(tmp_path)
    loaded.tie_weights()
    assert _tied(loaded)


def test_plain_load_is_broken_by_tie_weights(untied_model):
    """Why weights.keep_head_untied exists: without it, tie_weights() replaces the head with the embedding."""
    model = AutoModelForSeq2SeqLM.from_pretrained(untied_model)
    assert not _tied(model)
    model.tie_weights()
    assert _tied(model)


def test_fsdp_refuses_what_would_hang_before_training():
    from types import SimpleNamespace

    from stages.training import loop
    from stages.io.errors import UserError

    fsdp, ddp = SimpleNamespace(is_fsdp_enabled=True), SimpleNamespace(is_fsdp_enabled=False)
    last = SimpleNamespace(select_metric="last", rouge_samples=0)
    loop.check_fsdp("train_full", last, fsdp)
    for cfg in (SimpleNamespace(select_metric="rougeL", rouge_samples=200),
                SimpleNamespace(select_metric="last", rouge_samples=None)):
        loop.check_fsdp("train_full", cfg, ddp)
        with pytest.raises(UserError, match="under FSDP, train_full can only keep the last step"):
            loop.check_fsdp("train_full", cfg, fsdp)
