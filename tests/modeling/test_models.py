import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from stages.training import adapters
from stages.modeling import hardware, models
from stages.io.errors import ParamsError
from stages.io.params import LoraParams

# flan-t5-base's shape (config.json of google/flan-t5-base), weights on the meta device: no download, no memory.
FLAN_T5_BASE = dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12,
                    num_heads=12, feed_forward_proj="gated-gelu", tie_word_embeddings=False)


def lora(r=32, modules=("q", "v")):
    return LoraParams(r=r, alpha=32, dropout=0.05, target_modules=list(modules), use_dora=False, use_rslora=False,
                      loraplus_lr_ratio=None, quantize=None)


def expected_lora_params(config: T5Config, r: int) -> int:
    """r * (in + out) per adapted Linear; q and v map d_model -> heads * d_kv in every attention block."""
    inner = config.num_heads * config.d_kv
    per_module = r * (config.d_model + inner)
    attention_blocks = config.num_layers + 2 * config.num_decoder_layers  # encoder self; decoder self + cross
    return attention_blocks * 2 * per_module


def test_lora_on_flan_t5_base_shape_trains_3538944_parameters():
    with torch.device("meta"):
        model = T5ForConditionalGeneration(T5Config(**FLAN_T5_BASE))
        # flan-t5's checkpoint has its own lm_head (transformers 5 unties it on load when the values differ).
        model.lm_head.weight = torch.nn.Parameter(torch.empty_like(model.shared.weight))
    _, base_total = models.count_parameters(model)
    trainable, total = models.count_parameters(adapters.add(model, lora(32)))
    assert base_total == 247_577_856
    assert trainable == 3_538_944 == expected_lora_params(model.config, 32)
    assert total == 251_116_800


@pytest.mark.parametrize("r", [1, 4, 8])
def test_lora_count_matches_formula_on_tiny_model(tiny_model, r):
    model = models.load_model(tiny_model)
    trainable, total = models.count_parameters(adapters.add(model, lora(r)))
    base = sum(p.numel() for p in models.load_model(tiny_model).parameters())
    assert trainable == expected_lora_params(model.config, r)
    assert total == base + trainable


def test_lora_rejects_a_module_the_model_lacks(tiny_model):
    with pytest.raises(ParamsError, match=r"lora.target_modules: .*query.*named .*q.*v"):
        adapters.add(models.load_model(tiny_model), lora(modules=("q", "query")))


def test_only_lora_weights_are_trainable(tiny_model):
    model = adapters.add(models.load_model(tiny_model), lora(4))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)


def test_missing_model_directory_says_what_to_do(tmp_path):
    with pytest.raises(models.UserError, match="does not exist: run `dvc repro`"):
        models.load_model(tmp_path / "nowhere")


def test_precision_is_the_hardware_decision():
    native, _ = hardware.native_bf16(hardware.detect())
    assert models.resolve_precision("auto") == ("bf16" if native else "fp32")
    assert models.resolve_precision("fp32") == "fp32"
    if native:
        assert models.resolve_precision("bf16") == "bf16"
    else:
        with pytest.raises(models.UserError, match="precision bf16"):
            models.resolve_precision("bf16")
