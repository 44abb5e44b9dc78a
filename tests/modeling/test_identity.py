"""A LoRA adapter records the base model it was trained on, and is refused on any other of the same shape."""
import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from stages.inference import decode, engines, specs
from stages.io import params
from stages.io.errors import UserError
from stages.modeling import identity, models
from stages.training import adapters

LORA = SimpleNamespace(r=2, alpha=2, dropout=0.0, target_modules=["q", "v"])


@pytest.fixture
def project(prepared, tmp_path, monkeypatch):
    """A copy of the prepared tiny project with an adapter saved as train_lora saves it."""
    root = shutil.copytree(prepared[0], tmp_path / "project")
    monkeypatch.chdir(root)
    adapters.add(models.load_model(), LORA).save_pretrained(models.LORA)
    identity.record(models.LORA, models.BASE)
    return root


def test_the_adapter_records_its_base_model(project, tiny_model):
    recorded = json.loads((models.LORA / identity.FILE).read_text())
    assert recorded["name"] == str(tiny_model) and recorded["local"] is True  # what prepare read
    assert "files" not in recorded and recorded["built"]["weights"] == "random"  # the card's words, not the hashes
    card = (models.LORA / "README.md").read_text()  # not peft's template: the project's card, from the record
    assert "More Information Needed" not in card and "built from random weights" in card
    assert recorded["weights_bytes"] == (models.BASE / "model.safetensors").stat().st_size
    assert len(recorded["weights_sha256"]) == 64
    decode.load("lora", "fp32")  # its own base: loads


def test_an_adapter_is_refused_on_another_base_of_the_same_shape(project, tiny_model):
    """Found: the adapter's config names only `models/base`, so it loaded onto any model that fits."""
    other = models.load_model()
    with torch.no_grad():
        other.shared.weight.mul_(1.01)  # the same shapes, other weights
    other.save_pretrained(models.BASE)
    with pytest.raises(UserError) as caught:
        decode.load("lora", "fp32")
    message = str(caught.value)
    recorded = json.loads((models.LORA / identity.FILE).read_text())
    assert f"the adapter in {models.LORA} was trained on {tiny_model} (weights sha256 " \
           f"{recorded['weights_sha256'][:12]}" in message
    assert f"but the base model here, {models.BASE}, is" in message
    assert identity.fingerprint(models.BASE)["weights_sha256"][:12] in message and "\n" not in message


def test_an_adapter_without_a_record_loads_with_a_warning(project, capsys):
    (models.LORA / identity.FILE).unlink()
    decode.load("lora", "fp32")
    assert f"{models.LORA} does not record its base model" in capsys.readouterr().err


def test_a_damaged_record_is_one_error(project):
    (models.LORA / identity.FILE).write_text("{not json")
    with pytest.raises(UserError, match=r"base_model.json is damaged"):
        decode.load("lora", "fp32")


# ---- each model with its own tokenizer; an adapter's base's only where proven ---------------------------------

def test_an_adapter_is_encoded_with_its_base_tokenizer_when_its_record_proves_it(project):
    recorded = json.loads((models.LORA / identity.FILE).read_text())
    assert recorded["tokenizer_sha256"] == identity.tokenizer_fingerprint(models.BASE)
    assert specs.tokenizer("lora").get_vocab() == models.load_tokenizer(models.BASE).get_vocab()
    assert models.tokenizer_folder(models.LORA) == models.BASE


def unrecorded(record):
    record.pop("tokenizer_sha256")


def another_tokenizer(record):
    config = json.loads((models.BASE / "tokenizer_config.json").read_text())
    (models.BASE / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 64}))


UNPROVEN = [  # (what changes, words of the refusal)
    ("no record", None, "holds no tokenizer and does not record which one it was trained with (base_model.json)"),
    ("an older record", unrecorded, "records its base model's weights but not its tokenizer"),
    ("another base tokenizer", another_tokenizer, "was trained with a tokenizer of sha256"),
]


@pytest.mark.parametrize("case, change, message", UNPROVEN, ids=[c[0] for c in UNPROVEN])
def test_an_adapter_without_tokenizer_and_proof_is_refused(project, case, change, message):
    path = models.LORA / identity.FILE
    if change is None:
        path.unlink()
    else:
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))
    for attempt in (lambda: specs.tokenizer("lora"), lambda: engines.load_engine("lora", params.load())):
        with pytest.raises(UserError) as caught:
            attempt()
        assert message in str(caught.value) and "copy the tokenizer files it was trained with" in str(caught.value)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # the fix the message gives
        shutil.copyfile(models.BASE / name, models.LORA / name)
    assert models.tokenizer_folder(models.LORA) == models.LORA
    specs.tokenizer("lora")


def test_a_model_folder_without_its_tokenizer_is_refused_not_given_another(project, tmp_path):
    folder = shutil.copytree(models.BASE, tmp_path / "full")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(UserError, match="holds a model but no tokenizer files .* Copy the tokenizer it was trained "
                                        "with into that folder"):
        specs.tokenizer(str(folder))


def test_a_tokenizer_that_does_not_fit_its_model_is_refused(project, tmp_path):
    from stages.scratch.model import tokenizer_from

    folder = shutil.copytree(models.BASE, tmp_path / "wrong")
    texts = [f"word{i} {chr(0x4e00 + i)}" for i in range(700)]
    big = tokenizer_from(texts, 800)  # more tokens than the tiny model's 512 embedding rows
    big.save_pretrained(folder)
    with pytest.raises(UserError, match="does not match its model: it has .* tokens but the model's vocabulary"):
        specs.tokenizer(str(folder))
