"""Wrong models, adapters and tokenizers stop a stage with one paragraph, before anything is written."""
import shutil
from types import SimpleNamespace

import pytest
from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

from stages.training import adapters
from stages import prepare
from stages.modeling import models
from stages.io.errors import ParamsError, UserError


def message(call, *args, error=UserError) -> str:
    with pytest.raises(error) as caught:
        call(*args)
    text = str(caught.value)
    assert "\n" not in text
    return text


def small_t5(folder, tokenizer_from=None, **config):
    """A T5 with other sizes or ids than the tiny fixture; optionally with the fixture's tokenizer beside it."""
    settings = dict(vocab_size=512, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1,
                    num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(T5Config(**{**settings, **config})).save_pretrained(folder)
    if tokenizer_from:
        for path in tokenizer_from.glob("tokenizer*"):
            shutil.copy2(path, folder / path.name)
    return folder


@pytest.mark.parametrize("content", [{}, {"notes.txt": "not a model"}, {"config.json": "{ not json"},
                                     {"config.json": '{"model_type": "t5"}'}])
def test_a_folder_that_is_not_a_model(tmp_path, content):
    for name, text in content.items():
        (tmp_path / name).write_text(text)
    text = message(models.load_model, tmp_path)
    assert str(tmp_path) in text and "model.name" in text


def test_a_decoder_only_model_of_a_family_not_supported(tmp_path, tiny_model):
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=512)).save_pretrained(tmp_path)
    text = message(models.load_model, tmp_path)
    assert "gpt2" in text and "llama, qwen2" in text and "flan-t5" in text


@pytest.mark.parametrize("config, problem", [({"vocab_size": 128}, "tokens but the model's vocabulary only 128"),
                                             ({"pad_token_id": 3, "decoder_start_token_id": 3}, "pad token id")])
def test_a_tokenizer_that_does_not_match(in_tmp, tiny_model, config, problem):
    folder = small_t5(in_tmp / "mixed", tokenizer_from=tiny_model, **config)
    assert problem in message(models.snapshot_base, str(folder), "main")
    assert not models.BASE.exists() and not list(models.BASE.parent.glob(".base.tmp-*"))


def test_the_tiny_model_and_its_tokenizer_match(in_tmp, tiny_model):
    models.snapshot_base(str(tiny_model), "main")
    assert (models.BASE / "model.safetensors").is_file()


def test_an_adapter_for_another_base_model(tmp_path, tiny_model):
    lora = SimpleNamespace(r=4, alpha=8, dropout=0.0, target_modules=["q", "v"])
    other = models.load_model(small_t5(tmp_path / "other"))  # d_model 32 where the tiny model has 64
    adapters.add(other, lora).save_pretrained(tmp_path / "adapter")
    text = message(models.load_adapter, models.load_model(tiny_model), tmp_path / "adapter")
    assert "does not fit this base model" in text


def test_a_folder_without_an_adapter(tmp_path, tiny_model):
    assert "holds no LoRA adapter" in message(models.load_adapter, models.load_model(tiny_model), tmp_path)


def test_max_lengths_beyond_the_model(tiny_model):
    tokenizer = models.load_tokenizer(tiny_model)
    p = SimpleNamespace(data=SimpleNamespace(max_source_length=tokenizer.model_max_length + 1, max_target_length=64))
    error = message(prepare.check_lengths, p, tokenizer, error=ParamsError)
    assert error.startswith("params.yaml: data.max_source_length:") and str(tokenizer.model_max_length) in error
    p.data.max_source_length = tokenizer.model_max_length
    prepare.check_lengths(p, tokenizer)


@pytest.mark.parametrize("name, content", [("tokenizer_config.json", "[1]"), ("tokenizer_config.json", '"x"'),
                                           ("config.json", "[1]")])
def test_a_damaged_file_in_a_model_folder_is_one_message(tmp_path, tiny_model, name, content):
    """Found: a tokenizer_config.json holding a JSON list made transformers raise AttributeError, which was let
    through as a traceback (only OSError and ValueError were explained). In a local folder it is the folder's
    content: one message naming the folder and what transformers said."""
    folder = shutil.copytree(tiny_model, tmp_path / "model")
    (folder / name).write_text(content)
    text = message(models.own_tokenizer, folder)
    assert str(folder) in text and "A file in that folder is damaged" in text  # not "Set model.name to a Hub id"


@pytest.mark.parametrize("content", ["{bad", "[1]"])
def test_a_damaged_generation_config_is_refused_not_skipped(tmp_path, tiny_model, content):
    """Found: transformers skips a generation_config.json it cannot read and decodes with defaults made from
    config.json (its beams, lengths and banned n-grams silently gone), where the CTranslate2 engine refuses it."""
    folder = shutil.copytree(tiny_model, tmp_path / "model")
    (folder / "generation_config.json").write_text(content)
    assert str(folder) in message(models.load_model, folder)
