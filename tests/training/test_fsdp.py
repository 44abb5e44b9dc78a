"""configs/fsdp.yaml launched for real on two CPU processes (gloo), against one process.

What this can and cannot test on a CPU: accelerate 1.15 turns FSDP on only for GPU-type distributed runs
(AcceleratorState: MULTI_GPU, MULTI_XPU, ...); with use_cpu it runs the same config as plain data parallelism
(MULTI_CPU), FSDP silently off. torch's FSDP2 itself does run on CPU with gloo, but not through the Trainer. So
here: the shipped config launches, the two-process run trains and saves exactly like one process, the saving path
(stages/training/loop.py) is the one all ranks take, and the base model's own lm_head (as flan-t5 has) stays untied
through training, saving, reloading and tie_weights() (what accelerate's fsdp_cpu_ram_efficient_loading calls).
Untested without GPUs: sharded training itself, accelerator.get_state_dict gathering DTensors, and accelerate's
meta-device loading with its two tie_weights() calls (that tie_weights() keeps the head is tested in modeling/test_weights.py)."""
import json
import os
import shutil
import signal
import socket
import subprocess

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM

from project import BIN, ROOT, env, prepared_project, run, tiny_params
from stages.modeling import models, weights


def _launch(args, cwd, timeout=300):
    """accelerate launch in its own process group, so a hung rank (a collective nobody joins) is killed with it."""
    process = subprocess.Popen([str(BIN / "accelerate"), "launch", *args], cwd=cwd, env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail("accelerate launch hung (a collective not every rank joined):\n" + output[-4000:])
    assert process.returncode == 0, output[-6000:]
    return output


def _untied_base(folder, tiny_model):
    """The tiny model with a separate lm_head of its own (T5Config ties at init) and no dropout."""
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model, dropout_rate=0.0)
    torch.manual_seed(1)
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.shared.weight))
    model.all_tied_weights_keys.pop(weights.HEAD, None)  # else save_pretrained drops it as a duplicate
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, folder / name)
    return folder


def _losses(folder):
    rows = (folder / "plots/train_full/plots/metrics/train/loss.tsv").read_text().split("\n")[1:]
    return [float(row.split("\t")[1]) for row in rows if row]


@pytest.mark.slow
def test_fsdp_config_on_two_cpu_processes_trains_and_saves_like_one(tmp_path, tiny_model, tiny_corpus, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    base = _untied_base(tmp_path / "base", tiny_model)
    params = tiny_params(base, tiny_corpus)
    params["train_full"].update(max_steps=6, logging_steps=1, eval_steps=0, save_steps=0)
    # 4 dialogues = one batch of 4: every step sees all of them however they are split or ordered over ranks.
    params["data"]["max_train_samples"] = 4
    one = prepared_project(tmp_path / "one", base, tiny_corpus, params)
    two = tmp_path / "two"
    shutil.copytree(one, two)
    config = yaml.safe_load((ROOT / "configs/fsdp.yaml").read_text())
    assert config["fsdp_config"]["fsdp_version"] == 2 and config["fsdp_config"]["fsdp_cpu_ram_efficient_loading"]
    config["use_cpu"] = True  # gloo instead of nccl; everything else as shipped (accelerate: DDP on CPU, see above)
    (tmp_path / "fsdp_cpu.yaml").write_text(yaml.safe_dump(config))

    run(["python", "-m", "stages.train_full"], one)
    with socket.socket() as probe:  # a free port: accelerate's default 29500 collides with parallel runs
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _launch(["--config_file", str(tmp_path / "fsdp_cpu.yaml"), "--main_process_port", str(port),
             "-m", "stages.train_full"], two)

    single = json.loads((one / "metrics/train_full.json").read_text())
    double = json.loads((two / "metrics/train_full.json").read_text())
    assert (double["processes"], double["per_device_batch"]) == (2, 2) and single["per_device_batch"] == 4
    curve_one, curve_two = _losses(one), _losses(two)
    print(f"\n1 process: {curve_one}\nFSDP, 2 processes: {curve_two}")
    assert len(curve_one) == len(curve_two) == 6 and curve_one[-1] < curve_one[0] / 2  # it really trained
    # Same samples each step, no dropout: only float summation order differs (gradient all-reduce); measured
    # gaps were under 1e-6 relative, the bound leaves room for other thread counts and BLAS builds.
    assert curve_two == pytest.approx(curve_one, rel=1e-4)
    assert double["eval_loss"] == pytest.approx(single["eval_loss"], rel=1e-4)

    # The saved model is an ordinary full checkpoint with the same weights, its own lm_head kept.
    weights_one = load_file(one / "models/full/model.safetensors")
    weights_two = load_file(two / "models/full/model.safetensors")
    assert weights_two.keys() == weights_one.keys() and weights.HEAD in weights_two
    for name, tensor in weights_one.items():
        torch.testing.assert_close(weights_two[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    start = load_file(base / "model.safetensors")
    assert not torch.allclose(weights_two[weights.HEAD], start[weights.HEAD])  # the head trained, not reset or re-tied
    assert not torch.allclose(weights_two[weights.HEAD], weights_two["shared.weight"])
    reloaded = models.load_model(two / "models/full")
    reloaded.tie_weights()
    assert reloaded.get_output_embeddings().weight is not reloaded.get_input_embeddings().weight  # not re-tied
    torch.testing.assert_close(reloaded.lm_head.weight.detach(), weights_one[weights.HEAD], rtol=1e-4, atol=1e-5)
