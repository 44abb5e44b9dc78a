"""Nothing a downloaded or tampered file holds is executed: safetensors only, no remote code, no secrets in git."""
import inspect
import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
import transformers.trainer

from project import ROOT, make_project, run
from stages.modeling import models
from stages.io.errors import UserError


class Payload:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def evil_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}))
    return path


def test_pickled_weights_are_never_loaded(tmp_path, tiny_model):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "model.safetensors").unlink()
    evil_pickle(folder / "pytorch_model.bin", tmp_path / "pwned")
    with pytest.raises(UserError):
        models.load_model(folder)
    assert not (tmp_path / "pwned").exists()


def test_pickled_adapters_are_never_loaded(tmp_path, tiny_model):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "task_type": "SEQ_2_SEQ_LM", "r": 4, "lora_alpha": 8, "target_modules": ["q", "v"]}))
    evil_pickle(tmp_path / "adapter" / "adapter_model.bin", tmp_path / "pwned")
    with pytest.raises(UserError, match="only safetensors"):
        models.load_adapter(models.load_model(tiny_model), tmp_path / "adapter")
    assert not (tmp_path / "pwned").exists()


def test_remote_code_in_a_model_folder_is_never_run(tmp_path, tiny_model):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSeq2SeqLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"open({str(tmp_path / 'pwned')!r}, 'w').close()\n")
    try:
        models.load_model(folder)  # the plain T5 classes; auto_map is ignored without trust_remote_code
    except UserError:
        pass
    assert not (tmp_path / "pwned").exists()


def test_no_code_enables_trust_remote_code():
    for path in sorted((ROOT / "stages").rglob("*.py")):
        assert not re.search(r"trust_remote_code\s*=\s*True", path.read_text()), path


def test_trainer_resume_unpickles_nothing(tmp_path):
    """Resuming reads optimizer.pt, scheduler.pt and rng_state.pth with torch.load(weights_only=True): a
    restricted unpickler that rebuilds tensors and plain containers and refuses anything else."""
    source = inspect.getsource(transformers.trainer)
    calls = re.findall(r"torch\.load\(([^()]*(?:\([^()]*\)[^()]*)*)\)", source)
    assert len(calls) == source.count("torch.load(") > 0
    assert all("weights_only=True" in call for call in calls), calls
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil_pickle(tmp_path / "rng_state.pth", tmp_path / "pwned"), weights_only=True)
    assert not (tmp_path / "pwned").exists()


def test_local_dvc_config_is_never_committed(tmp_path, tiny_model, tiny_corpus):
    repo = make_project(tmp_path / "repo", tiny_model, tiny_corpus)
    run(["dvc", "remote", "add", "--local", "-d", "store", "s3://bucket/cache"], repo)
    run(["dvc", "remote", "modify", "--local", "store", "secret_access_key", "NOT-A-REAL-SECRET"], repo)
    assert "NOT-A-REAL-SECRET" in (repo / ".dvc" / "config.local").read_text()
    assert run(["git", "check-ignore", ".dvc/config.local"], repo).returncode == 0
    run(["git", "add", "-A"], repo)
    staged = run(["git", "diff", "--cached", "--name-only"], repo).stdout
    assert "config.local" not in staged
    assert "NOT-A-REAL-SECRET" not in run(["git", "grep", "--cached", "-I", "-e", "SECRET", "--", "."], repo,
                                          check=False).stdout
