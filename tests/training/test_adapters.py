"""LoRA variants from params: all-linear, DoRA, rsLoRA, LoRA+; trained, saved, reloaded and merged."""
import copy
import dataclasses
import json
import shutil

import pytest
import torch
import yaml

from numerics import with_rounding_bound
from stages import train_lora
from stages.training import adapters
from stages.modeling import models
from stages.io import params
from stages.io.errors import ParamsError, UserError

VARIANTS = {
    "plain": {},
    "all-linear": {"target_modules": "all-linear"},
    "dora": {"use_dora": True},
    "rslora": {"use_rslora": True},
    "loraplus": {"loraplus_lr_ratio": 16.0},
    "dora-loraplus": {"use_dora": True, "loraplus_lr_ratio": 16.0},  # magnitudes in a group of their own
    "checkpointing": {},  # gradient checkpointing on the LoRA stage
}


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """Each variant trained for a few steps by the real stage; (folder, metrics) by name."""
    root, raw = prepared
    out = {}
    for name, lora in VARIANTS.items():
        folder = tmp_path_factory.mktemp(name)
        for part in ("data", "models"):
            shutil.copytree(root / part, folder / part)
        p = copy.deepcopy(raw)
        p["lora"].update(lora, r=4, dropout=0.1)
        p["train_lora"].update(max_steps=6, eval_steps=3, save_steps=0, logging_steps=3, rouge_samples=2,
                               gradient_checkpointing=name == "checkpointing")
        (folder / "params.yaml").write_text(yaml.safe_dump(p))
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(folder)
            train_lora.main()
        out[name] = folder, json.loads((folder / "metrics" / "train_lora.json").read_text())
    return out


def logits(model, tokenizer):
    batch = tokenizer(["#Person1#: Hello. #Person2#: I would like to book a table."], return_tensors="pt")
    with torch.no_grad():
        return model(**batch, decoder_input_ids=torch.zeros((1, 4), dtype=torch.long)).logits


def logits_and_bound(model, tokenizer, dtype):
    """The logits in `dtype`, and how far rounding alone can move them (tests/numerics.py)."""
    return with_rounding_bound(model, lambda: logits(model, tokenizer), dtype)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_trains_saves_reloads_and_merges(trained, name, monkeypatch):
    folder, metrics = trained[name]
    monkeypatch.chdir(folder)
    assert metrics["optimizer_steps"] == 6 and metrics["train_loss_final"] == metrics["train_loss_final"]  # finite
    config = json.loads((folder / "models" / "lora" / "adapter_config.json").read_text())
    assert config["use_dora"] is ("use_dora" in VARIANTS[name]) and config["use_rslora"] is (name == "rslora")
    tokenizer = models.load_tokenizer()
    # fp64 checks the merge's arithmetic with ~1e-13 rounding; fp32 is the precision the stages merge in.
    for dtype in (torch.float64, torch.float32):
        adapted = models.load_adapter(models.load_model()).to(dtype).eval()
        before, bound = logits_and_bound(adapted, tokenizer, dtype)
        merged = adapted.merge_and_unload()
        assert not any("lora_" in n for n, _ in merged.named_parameters())
        after, merged_bound = logits_and_bound(merged, tokenizer, dtype)
        # each side carries its own rounding error
        assert (after - before).abs().max().item() <= bound + merged_bound, dtype
        # training moved the adapter: its logits are not the base model's, by more than rounding explains
        base = logits(models.load_model().to(dtype).eval(), tokenizer)
        assert (before - base).abs().max().item() > bound + merged_bound, dtype


def test_variants_change_what_trains(trained):
    count = {name: trained[name][1]["trainable_params"] for name in VARIANTS}
    assert count["all-linear"] > count["plain"]  # q, k, v, o, wi_0, wi_1, wo instead of q, v
    assert count["dora"] > count["plain"]  # plus one magnitude per output feature
    assert count["rslora"] == count["loraplus"] == count["checkpointing"] == count["plain"]
    losses = {name: trained[name][1]["train_loss_final"] for name in VARIANTS}
    # rsLoRA scales by alpha/sqrt(r), LoRA+ speeds B up: other training, other losses
    assert losses["rslora"] != losses["plain"] and losses["loraplus"] != losses["plain"]


def test_gradient_checkpointing_gives_the_same_training(trained):
    # Non-reentrant checkpointing restores the RNG for the recompute: same dropout masks, same losses.
    assert trained["checkpointing"][1]["train_loss_final"] == pytest.approx(trained["plain"][1]["train_loss_final"],
                                                                             rel=1e-5)


def test_loraplus_gives_b_matrices_the_ratio(tiny_model, prepared, tmp_path):
    from stages.training import loop
    p = params.parse(copy.deepcopy(prepared[1]))
    lora = dataclasses.replace(p.lora, r=4, loraplus_lr_ratio=8.0)
    model = adapters.add(models.load_model(tiny_model), lora)
    cfg = dataclasses.replace(p.train_lora, eval_steps=0)
    trainer = loop.build_trainer(cfg, model, models.load_tokenizer(tiny_model), None, None,
                                     tmp_path, "fp32")
    adapters.use_loraplus(trainer, lora)
    by_lr = {}
    for group in trainer.optimizer.param_groups:
        by_lr.setdefault(group["lr"], 0)
        by_lr[group["lr"]] += len(group["params"])
    lr = p.train_lora.learning_rate
    assert by_lr[lr] > 0 and by_lr[lr * 8.0] > 0
    names = {id(param): name for name, param in model.named_parameters()}
    fast = [names[id(q)] for g in trainer.optimizer.param_groups if g["lr"] == lr * 8.0 for q in g["params"]]
    assert fast and all("lora_B" in name for name in fast)


def optimizer_groups(tiny_model, prepared, tmp_path, **lora_changes):
    """{parameter name: (lr, weight_decay)} of the optimizer train_lora builds for these lora params."""
    from stages.training import loop
    p = params.parse(copy.deepcopy(prepared[1]))
    lora = dataclasses.replace(p.lora, r=4, **lora_changes)
    model = adapters.add(models.load_model(tiny_model), lora)
    trainer = loop.build_trainer(dataclasses.replace(p.train_lora, eval_steps=0), model,
                                 models.load_tokenizer(tiny_model), None, None, tmp_path, "fp32")
    adapters.use_loraplus(trainer, lora)
    optimizer = trainer.optimizer or trainer.create_optimizer()
    names = {id(param): name for name, param in model.named_parameters()}
    groups = {names[id(q)]: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for q in g["params"]}
    assert set(groups) == {name for name, param in model.named_parameters() if param.requires_grad}  # each once
    return groups, p.train_lora


@pytest.mark.parametrize("ratio", [None, 16.0])
def test_dora_magnitudes_get_no_weight_decay_and_no_loraplus_rate(tiny_model, prepared, tmp_path, ratio):
    groups, train = optimizer_groups(tiny_model, prepared, tmp_path, use_dora=True, loraplus_lr_ratio=ratio)
    lr, decay = train.learning_rate, train.weight_decay
    assert decay > 0
    magnitudes = {name: group for name, group in groups.items() if "lora_magnitude_vector" in name}
    assert magnitudes and set(magnitudes.values()) == {(lr, 0.0)}
    assert {group for name, group in groups.items() if "lora_A" in name} == {(lr, decay)}
    assert {group for name, group in groups.items() if "lora_B" in name} == {(lr * (ratio or 1), decay)}


def test_rslora_states_its_scale_and_warns_at_alpha_equal_r():
    from types import SimpleNamespace
    assert adapters.scale_note(SimpleNamespace(use_rslora=False, r=32, alpha=32)) is None
    warned = adapters.scale_note(SimpleNamespace(use_rslora=True, r=32, alpha=32))
    assert warned.startswith("warning:") and "32/sqrt(32) = 5.66, 5.66 times plain LoRA's alpha/r = 1.00" in warned
    noted = adapters.scale_note(SimpleNamespace(use_rslora=True, r=8, alpha=4))
    assert noted == ("note: lora.use_rslora scales the adapter by alpha/sqrt(r) = 4/sqrt(8) = 1.41, 2.83 times plain "
                     "LoRA's alpha/r = 0.50.")


@pytest.mark.parametrize("change, message", [
    ({"target_modules": "all"}, "all-linear"),
    ({"target_modules": []}, "non-empty list"),
    ({"target_modules": 3}, "lora.target_modules"),
    ({"loraplus_lr_ratio": 0.5}, "loraplus_lr_ratio"),
    ({"use_dora": "yes"}, "lora.use_dora"),
])
def test_variant_params_are_checked(prepared, change, message):
    raw = copy.deepcopy(prepared[1])
    raw["lora"].update(change)
    with pytest.raises(ParamsError) as caught:
        params.parse(raw)
    assert message in str(caught.value)


def test_a_variant_the_installed_peft_lacks_is_a_clear_error(tiny_model, prepared, monkeypatch):
    import peft

    @dataclasses.dataclass
    class OldLoraConfig:  # a peft before DoRA: LoraConfig without use_dora
        r: int = 8
    monkeypatch.setattr(peft, "LoraConfig", OldLoraConfig)
    lora = dataclasses.replace(params.parse(copy.deepcopy(prepared[1])).lora, use_dora=True)
    with pytest.raises(UserError, match=r"lora.use_dora: the installed peft .* has no dora \(it needs peft >= 0.9\)"):
        adapters.config(models.load_model(tiny_model), lora)
