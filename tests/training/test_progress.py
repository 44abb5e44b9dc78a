"""Cost figures of a run are the whole run's across resumes; a run killed after its last checkpoint is saved."""
import json
import math

import pytest
import torch

from project import make_project, run, tiny_params, without_timings
from stages import train_full
from stages.io import errors
from stages.training import guard, progress



def test_tokens_count_attended_inputs_and_targets_not_padding():
    inputs = {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]]),
              "labels": torch.tensor([[5, 6, -100], [7, -100, -100]])}
    assert progress.tokens_in(inputs) == 5 + 3


def test_cost_continues_from_a_checkpoint(tmp_path):
    first = progress.Cost()
    first.seconds_before, first.tokens_here = 12.5, 400
    first.save(tmp_path, main=True)
    resumed = progress.Cost()
    resumed.restore(tmp_path)
    resumed.start()
    resumed.tokens_here = 100
    assert resumed.tokens() == 500 and resumed.seconds() >= 12.5


def test_a_checkpoint_without_a_record_counts_from_the_resume(tmp_path, capsys):
    cost = progress.Cost()
    cost.restore(tmp_path)
    assert cost.tokens() == 0 and "no cost record" in capsys.readouterr().out


def _finished_state(folder, step, planned):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": planned}))
    return folder


def test_only_a_checkpoint_at_the_planned_last_step_is_finished(tmp_path):
    assert progress.finished(_finished_state(tmp_path / "a", 20, 20))
    assert not progress.finished(_finished_state(tmp_path / "b", 10, 20))
    assert not progress.finished(tmp_path / "missing")


def test_killed_after_its_last_checkpoint_the_run_is_saved_not_trained_on(tmp_path, tiny_model, tiny_corpus,
                                                                          monkeypatch, capsys):
    params = tiny_params(tiny_model, tiny_corpus)
    params["train_full"].update(max_steps=12, save_steps=6, eval_steps=6, logging_steps=3)
    repo = make_project(tmp_path / "repo", tiny_model, tiny_corpus, params)
    run(["python", "-m", "stages.prepare"], repo)
    monkeypatch.chdir(repo)

    errors.run(train_full.main)  # uninterrupted
    expected = json.loads((repo / "metrics/train_full.json").read_text())
    curve = (repo / "plots/train_full/plots/metrics/eval/loss.tsv").read_text().splitlines()
    for path in ("models/full", "metrics/train_full.json"):
        run(["rm", "-rf", path], repo)
    run(["rm", "-rf", "plots/train_full"], repo)

    def killed(stage, model):  # dies after the last checkpoint, before the model is written
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(guard, "check_finite", killed)
        with pytest.raises(SystemExit):
            errors.run(train_full.main)
    assert (repo / "models/.trainer/train_full/checkpoint-12/cost.json").is_file()
    assert not (repo / "models/full").exists()
    run(["rm", "-rf", "plots/train_full"], repo)  # as DVC does before it reruns a stage

    capsys.readouterr()
    errors.run(train_full.main)
    assert "already at the last step" in capsys.readouterr().out
    resumed = json.loads((repo / "metrics/train_full.json").read_text())
    assert resumed["optimizer_steps"] == 12 and resumed["epochs"] == expected["epochs"]
    assert without_timings(resumed) == without_timings(expected)
    assert resumed["train_tokens"] == expected["train_tokens"] > 0
    assert (repo / "plots/train_full/plots/metrics/eval/loss.tsv").read_text().count("\n") == len(curve)
    assert math.isclose(resumed["train_tokens_per_s"] * resumed["train_runtime_s"], resumed["train_tokens"],
                        rel_tol=0.01)
