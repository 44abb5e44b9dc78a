"""A full disk while checkpointing or saving the model stops with one `error:` naming space, never a traceback
(torch reports it as `RuntimeError: ... unexpected pos`, safetensors as `SafetensorError ... os error 28`)."""
import dataclasses

import pytest
import yaml

from project import ROOT
from stages.modeling import models
from stages.io import params
from stages.training import loop
from stages.io.errors import UserError
from stages.io.files import atomic_path

TORCH_SHORT_WRITE = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1200576 vs 1200468")


def safetensors_full():
    from safetensors import SafetensorError
    return SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


@pytest.mark.parametrize("error", [TORCH_SHORT_WRITE, "safetensors"])
def test_a_full_disk_while_saving_the_model_is_one_message(tmp_path, error):
    error = safetensors_full() if error == "safetensors" else error
    out = tmp_path / "models" / "full"
    with pytest.raises(UserError, match="no space left"):
        with atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "model.safetensors").write_bytes(b"half")
            raise error
    assert not out.exists() and not list(out.parent.glob(".full.tmp-*"))  # nothing half-written left


def test_other_errors_inside_atomic_path_still_raise_as_they_are(tmp_path):
    with pytest.raises(RuntimeError, match="something else"):
        with atomic_path(tmp_path / "x") as tmp:
            raise RuntimeError("something else")


def test_a_full_disk_while_checkpointing_is_one_message_and_no_partial_checkpoint(tiny_model, tmp_path,
                                                                                  monkeypatch):
    import torch
    cfg = dataclasses.replace(params.parse(yaml.safe_load((ROOT / "params.yaml").read_text())).train_full,
                              eval_steps=0)
    model = models.load_model(tiny_model)
    trainer = loop.build_trainer(cfg, model, models.load_tokenizer(tiny_model), None, None, tmp_path, "fp32")
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    trainer.state.global_step = 7

    def full(*args, **kwargs):
        raise TORCH_SHORT_WRITE
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(UserError, match="no space left"):
        trainer._save_checkpoint(model, None)
    assert not (tmp_path / "checkpoint-7").exists()  # a cut-off checkpoint would only hold the space
