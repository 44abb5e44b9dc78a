"""The training loss is the mean over the effective batch's target tokens, however the batch is split."""
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from loss_probe import step
from project import BIN, ROOT, env
from stages.training import loop
from stages.training.loop import token_mean_loss

PROBE = Path(__file__).with_name("loss_probe.py")


def test_token_mean_divides_by_the_given_count():
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[1, 2, -100], [3, -100, -100]])
    per_token = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), ignore_index=-100,
                                                  reduction="none")
    assert torch.allclose(token_mean_loss({"logits": logits}, labels), per_token.sum() / 3)
    assert torch.allclose(token_mean_loss({"logits": logits}, labels, torch.tensor(12)), per_token.sum() / 12)


def test_accumulation_gives_the_loss_and_gradients_of_one_big_batch(tiny_model):
    one = step(tiny_model, 8, 1)
    four = step(tiny_model, 2, 4)
    assert (four["micro"], four["accumulation"]) == (2, 4)
    # Before the fix 2 x 4 logged 4x the loss and 4x the grad norm.
    assert four["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert four["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)


def test_several_gpus_in_one_process_train_like_one(tiny_model, monkeypatch):
    """A plain `dvc repro` on a machine with 2 GPUs is one process, where transformers sets n_gpu to
    torch.cuda.device_count() and would wrap the model in nn.DataParallel: twice the rows per step and a loss
    (and gradients, and clipping) multiplied by 2. Simulated on the CPU by making the arguments see 2 GPUs."""
    one = step(tiny_model, 4, 1)
    import transformers
    monkeypatch.setattr(transformers.TrainingArguments, "n_gpu", property(lambda self: 2))
    two = step(tiny_model, 4, 1)
    assert one["rows_per_step"] == two["rows_per_step"] == 4
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert two["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)
    assert two["eval_loss"] == pytest.approx(one["eval_loss"], rel=1e-4)


def test_several_gpus_in_one_process_say_how_to_use_all(tmp_path, monkeypatch):
    import transformers
    from loss_probe import CFG
    args = loop.training_arguments(CFG, tmp_path, "fp32")
    assert args.n_gpu <= 1 and loop.several_gpus_note(args, "train_lora") is None
    monkeypatch.setattr(transformers.TrainingArguments, "n_gpu", property(lambda self: 4))
    args = loop.training_arguments(CFG, tmp_path, "fp32")
    assert args.n_gpu == 1 and args.train_batch_size == CFG.batch_size
    note = loop.several_gpus_note(args, "train_lora")
    assert "4 GPUs are visible" in note and "--num_processes 4 -m stages.train_lora" in note


@pytest.mark.slow
def test_two_processes_give_the_loss_and_gradients_of_one(tiny_model):
    one = step(tiny_model, 8, 1)
    command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(PROBE), str(tiny_model), "8", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env={**env(), "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output[-4000:]
    two = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    assert (two["processes"], two["micro"], two["accumulation"]) == (2, 4, 1)
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert two["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)
