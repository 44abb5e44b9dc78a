"""Reliability of the real pipeline: identical reruns, and SIGKILLed training that resumes to the same model."""
import csv
import json
import os
import signal
import subprocess
import time

import pytest
from safetensors.torch import load_file

from project import env, make_project, run, throughput_agrees, tiny_params, without_timings

STEPS, SAVE_EVERY = 60, 10  # enough steps that a kill right after the first checkpoint lands mid-run


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model, tiny_corpus):
    params = tiny_params(tiny_model, tiny_corpus)
    for stage in ("train_full", "train_lora"):
        params[stage].update(max_steps=STEPS, save_steps=SAVE_EVERY, eval_steps=20)
    repo = make_project(tmp_path_factory.mktemp("reliability") / "repo", tiny_model, tiny_corpus, params)
    run(["dvc", "repro"], repo)
    return repo


def tensors(folder):
    return {name: tensor for path in sorted(folder.glob("*.safetensors")) for name, tensor in load_file(path).items()}


def metrics(path) -> dict:
    return without_timings(json.loads(path.read_text()))


def curve(repo, stage, metric) -> list[tuple[str, str]]:
    """(step, value) rows of a DVCLive curve; its timestamp column differs by run."""
    path = repo / "plots" / stage / "plots" / "metrics" / metric
    with path.open() as handle:
        return [(row["step"], row[metric.split("/")[-1].removesuffix(".tsv")]) for row in csv.DictReader(handle, delimiter="\t")]


def outputs(repo) -> dict:
    return {
        "predictions": {p.name: p.read_bytes() for p in sorted((repo / "data" / "predictions").glob("*.jsonl"))},
        "rouge": json.loads((repo / "metrics" / "rouge.json").read_text()),
        "metrics": {p.name: metrics(p) for p in sorted((repo / "metrics").glob("*.json"))},
    }


def test_forced_rerun_is_identical(repo):
    first = outputs(repo)
    run(["dvc", "repro", "--force"], repo)
    second = outputs(repo)
    assert set(first["predictions"]) == {"base.jsonl", "full.jsonl", "lora.jsonl"}
    assert first == second


def kill_after_first_checkpoint(repo, stage) -> None:
    """Run the stage under `dvc repro` and SIGKILL the whole process group once a checkpoint is complete."""
    scratch = repo / "models" / ".trainer" / stage
    process = subprocess.Popen(["dvc", "repro", "--force", "--single-item", stage], cwd=repo, env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list(scratch.glob("checkpoint-*/trainer_state.json")):
            assert process.poll() is None, f"{stage} ended (exit {process.returncode}) before its first checkpoint"
            assert time.monotonic() < deadline, f"no checkpoint of {stage} within 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


@pytest.mark.parametrize("stage, out", [("train_full", "models/full"), ("train_lora", "models/lora")])
def test_killed_training_resumes_to_the_same_model(repo, stage, out):
    expected_tensors = tensors(repo / out)
    expected_metrics = metrics(repo / "metrics" / f"{stage}.json")
    expected_curve = curve(repo, stage, "train/loss.tsv")

    kill_after_first_checkpoint(repo, stage)
    saved = {p.name for p in (repo / "models" / ".trainer" / stage).glob("checkpoint-*/*")}
    # Weights as safetensors; training_args.bin (a pickle) is written by the Trainer but never read on resume.
    assert any(name.endswith(".safetensors") for name in saved)
    assert not saved & {"pytorch_model.bin", "adapter_model.bin"}, saved
    (record,) = (repo / "models" / ".trainer" / stage).glob("checkpoint-*/cost.json")
    before_kill = json.loads(record.read_text())["seconds"]["train"]
    # Nothing that looks finished: the output is absent (DVC removed it, the stage never renamed its temp
    # copy into place), and DVC knows the stage must run again.
    assert not (repo / out).exists()
    assert stage in run(["dvc", "status", stage], repo).stdout

    # A stale lock of the killed `dvc repro` does not block this one.
    done = run(["dvc", "repro", stage], repo)
    resumed = [line for line in done.stdout.splitlines() if line.startswith("resuming from")]
    assert resumed, done.stdout[-3000:]
    step = int(resumed[0].split("checkpoint-")[1].split()[0])
    assert 0 < step < STEPS

    assert metrics(repo / "metrics" / f"{stage}.json") == expected_metrics  # train_tokens included
    # Runtime covers the killed part too, so tokens/s is the whole run's tokens over the whole run's time.
    whole = json.loads((repo / "metrics" / f"{stage}.json").read_text())
    assert whole["train_runtime_s"] > before_kill > 0
    assert throughput_agrees(whole)
    actual = tensors(repo / out)
    assert actual.keys() == expected_tensors.keys()
    for name, tensor in expected_tensors.items():
        assert actual[name].equal(tensor), name
    assert curve(repo, stage, "train/loss.tsv") == expected_curve
    assert not (repo / "models" / ".trainer" / stage).exists()  # scratch is removed once the model is saved
