"""Which trainer checkpoint a training stage resumes from, if any."""
import json
import signal
import subprocess
import sys
from types import SimpleNamespace

import torch
import yaml

from project import ROOT
from stages.training import adapters, checkpoints
from stages.modeling import models
from stages.io import params
from stages.io.files import atomic_path


def checkpoint(scratch, step, complete=True):
    folder = scratch / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_resumes_from_the_last_complete_checkpoint_made_with_the_same_inputs(tmp_path):
    scratch = tmp_path / "train_full"
    assert checkpoints.resume_point(scratch, {"params": 1}) is None  # first run: records its fingerprint
    checkpoint(scratch, 10)
    checkpoint(scratch, 20)
    (checkpoint(scratch, 30, complete=False) / "trainer_state.json").write_text('{"global_st')  # killed mid-save
    checkpoint(scratch, 40, complete=False)
    assert checkpoints.resume_point(scratch, {"params": 1}) == str(scratch / "checkpoint-20")


def test_checkpoints_made_with_other_inputs_are_discarded(tmp_path, capsys):
    scratch = tmp_path / "train_lora"
    checkpoints.resume_point(scratch, {"params": 1})
    checkpoint(scratch, 10)
    assert checkpoints.resume_point(scratch, {"params": 2}) is None
    assert "discarding" in capsys.readouterr().out
    assert not list(scratch.glob("checkpoint-*")) and not list(tmp_path.glob(".train_lora.discard-*"))
    assert checkpoints.resume_point(scratch, {"params": 1}) is None  # and back: still nothing to resume


def test_scratch_without_a_fingerprint_is_not_trusted(tmp_path):
    checkpoint(tmp_path / "s", 10)
    assert checkpoints.resume_point(tmp_path / "s", {"params": 1}) is None


def test_fingerprint_sees_the_adapter_and_is_written_in_a_stable_order(in_tmp, tiny_model):
    cfg = params.parse(yaml.safe_load((ROOT / "params.yaml").read_text())).train_lora
    lora = SimpleNamespace(r=4, alpha=8, dropout=0.0, target_modules=["q", "v", "k", "o"])
    base = checkpoints.fingerprint(cfg, models.load_model(tiny_model))
    adapted = checkpoints.fingerprint(cfg, adapters.add(models.load_model(tiny_model), lora))
    assert base["adapter_config"] == {} and adapted["adapter_config"]["default"]["r"] == 4
    assert base["params"]["seed"] == cfg.seed and base["data"] is None  # no data/prepared here
    # peft keeps target_modules as a set, whose order changes from process to process (string hashing)
    assert '["k", "o", "q", "v"]' in checkpoints._canonical(adapted)


def test_mean_logged_loss_weights_each_window_by_its_steps():
    history = [{"loss": 4.0, "step": 10}, {"eval_loss": 9.0, "step": 10}, {"loss": 1.0, "step": 30}]
    assert checkpoints.mean_logged_loss(history) == (4.0 * 10 + 1.0 * 20) / 30
    assert checkpoints.mean_logged_loss([]) is None


def test_each_epoch_order_depends_on_seed_and_epoch_only():
    lengths = list(range(40))
    sampler = checkpoints.EpochSeededLengthSampler(4, lengths, seed=7)
    sampler.set_epoch(2)
    epoch2 = list(sampler)
    torch.manual_seed(123)  # the global RNG, which dropout moves, plays no part
    again = checkpoints.EpochSeededLengthSampler(4, lengths, seed=7)
    again.set_epoch(2)
    assert list(again) == epoch2 and sorted(epoch2) == lengths
    again.set_epoch(3)
    assert list(again) != epoch2


KILLED_MID_SAVE = """
import os, signal, sys
from stages.io.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "config.json").write_text("{}")
    os.kill(os.getpid(), signal.SIGKILL)  # before the weights are written
"""


def test_a_save_killed_midway_leaves_the_old_output_and_is_cleaned_up(tmp_path):
    out = tmp_path / "models" / "full"
    out.mkdir(parents=True)
    (out / "model.safetensors").write_bytes(b"finished")
    done = subprocess.run([sys.executable, "-c", KILLED_MID_SAVE, str(out)], cwd=ROOT, capture_output=True)
    assert done.returncode == -signal.SIGKILL
    assert [p.name for p in out.iterdir()] == ["model.safetensors"]  # the finished output, untouched
    (stale,) = out.parent.glob(".full.tmp-*")  # the half-written copy sits under a name no stage reads
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "model.safetensors").write_text("next")
    assert not stale.exists() and (out / "model.safetensors").read_text() == "next"


def test_code_hash_ignores_bytecode_caches(in_tmp, tiny_model):
    """Another stage run between the kill and the resume writes new .pyc files; that is no code change."""
    model = models.load_model(tiny_model)
    cfg = params.parse(yaml.safe_load((ROOT / "params.yaml").read_text())).train_full
    before = checkpoints.fingerprint(cfg, model)
    cache = checkpoints.CODE / "__pycache__" / "unrelated.cpython-0.pyc"
    cache.parent.mkdir(exist_ok=True)
    try:
        cache.write_bytes(b"bytecode")
        assert checkpoints.fingerprint(cfg, model) == before
    finally:
        cache.unlink()
