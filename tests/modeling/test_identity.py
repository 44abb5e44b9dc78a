"""A LoRA adapter records the base model it was trained on, and is refused on any other of the same shape."""
import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from stages.inference import decode
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
