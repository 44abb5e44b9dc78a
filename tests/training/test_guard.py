"""A diverged run stops with one message naming the step, and writes neither a model nor metrics."""
import math

import pytest
import torch

from project import prepared_project, tiny_params
from stages import train_full
from stages.io import errors
from stages.training import guard, loop
from stages.io.errors import UserError


def test_non_finite_loss_or_grad_norm_stops_the_run():
    for logs in ({"loss": math.nan}, {"loss": 2.0, "grad_norm": math.inf}, {"eval_loss": math.nan}):
        with pytest.raises(UserError, match="train_full diverged at optimizer step 7"):
            guard.check_logs("train_full", 7, logs, guard.DivergenceGuard("train_full"))


def test_a_loss_far_above_its_start_stops_the_run_but_noise_does_not():
    watch = guard.DivergenceGuard("train_lora")
    for step, value in enumerate([2.5, 3.1, 1.9, 6.0, 0.4]):  # healthy ups and downs
        guard.check_logs("train_lora", step, {"loss": value}, watch)
    with pytest.raises(UserError, match=r"rose to 3e\+04, more than 10x its first logged value 2.5"):
        guard.check_logs("train_lora", 9, {"loss": 3e4}, watch)


def test_a_resumed_run_compares_with_the_first_loss_of_the_whole_run():
    class State:
        log_history = [{"loss": 1.0, "step": 5}, {"loss": 0.8, "step": 10}]
    watch = guard.DivergenceGuard("train_full")
    watch.on_train_begin(None, State(), None)
    with pytest.raises(UserError):
        guard.check_logs("train_full", 15, {"loss": 12.0}, watch)


def test_weights_with_nan_are_refused():
    model = torch.nn.Linear(2, 2)
    guard.check_finite("train_full", model)
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    with pytest.raises(UserError, match=r"non-finite weights \(weight"):
        guard.check_finite("train_full", model)


def test_a_diverging_stage_exits_1_with_one_message_and_writes_nothing(tmp_path, tiny_model, tiny_corpus,
                                                                       monkeypatch, capsys):
    params = tiny_params(tiny_model, tiny_corpus)
    params["train_full"].update(max_steps=12, logging_steps=1, eval_steps=0, save_steps=0)
    repo = prepared_project(tmp_path / "repo", tiny_model, tiny_corpus, params)
    monkeypatch.chdir(repo)
    calls = []

    def explodes(outputs, labels, num_items_in_batch=None):  # what a far too high learning rate ends in
        calls.append(1)
        value = real(outputs, labels, num_items_in_batch)
        return value * math.inf if len(calls) > 4 else value

    real = loop.token_mean_loss
    monkeypatch.setattr(loop, "token_mean_loss", explodes)
    with pytest.raises(SystemExit) as stopped:
        errors.run(train_full.main)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "error: train_full diverged at optimizer step 5: the logged" in err and "Traceback" not in err, err[-600:]
    assert not (repo / "models/full").exists() and not (repo / "metrics/train_full.json").exists()
