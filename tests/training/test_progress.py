"""Cost figures of a run: optimizer-step time apart from evaluation and checkpoint writes, rows actually fed,
the whole run's across resumes; a run killed after its last checkpoint is saved."""
import contextlib
import copy
import json
import shutil
from collections import Counter

import pytest
import torch
import transformers
import yaml

from project import prepared_project, run, throughput_agrees, tiny_params, without_timings
from stages import train_full
from stages.io import errors
from stages.training import guard, progress, selection



def test_tokens_count_attended_inputs_and_targets_not_padding():
    inputs = {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]]),
              "labels": torch.tensor([[5, 6, -100], [7, -100, -100]])}
    assert progress.tokens_in(inputs) == 5 + 3


class FakeClock:
    """A clock that moves only when told: the accounting is tested by structure, never by the machine's speed."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress, "clock", fake)
    return fake


def test_each_second_counts_for_the_innermost_phase_only(clock):
    cost = progress.Cost()
    clock.advance(100)  # before any phase: start-up counts nowhere
    cost.begin_step()
    clock.advance(2)
    cost.end_step()
    clock.advance(50)  # logging between steps: nowhere
    with cost.measure("eval"):
        clock.advance(3)
        with cost.measure("checkpoint"):  # the best weights written during an evaluation
            clock.advance(7)
        clock.advance(1)
    cost.begin_step()
    clock.advance(4)
    cost.begin_step()  # a step left open is closed by the next one
    clock.advance(5)
    assert cost.seconds("train") == 2 + 4 + 5 and cost.seconds("eval") == 4 and cost.seconds("checkpoint") == 7
    cost.end_step()
    cost.end_step()  # ending what is not open changes nothing
    clock.advance(9)
    assert cost.seconds("train") == 11


def test_cost_continues_from_a_checkpoint(tmp_path, clock):
    first = progress.Cost()
    first.seconds_before = {"train": 12.5, "eval": 3.0, "checkpoint": 1.0}
    first.tokens_here, first.rows_here = 400, 8
    first.save(tmp_path, main=True)
    resumed = progress.Cost()
    resumed.restore(tmp_path)
    resumed.begin_step()
    clock.advance(2)
    resumed.end_step()
    resumed.tokens_here, resumed.rows_here = 100, 2
    assert resumed.tokens() == 500 and resumed.rows() == 10
    assert (resumed.seconds("train"), resumed.seconds("eval"), resumed.seconds("checkpoint")) == (14.5, 3.0, 1.0)


@pytest.mark.parametrize("record", [None, '{"seconds": 12.5, "tokens": 400}', '{"seconds": {"train": 1}}', "[]"])
def test_a_checkpoint_without_a_record_counts_from_the_resume(tmp_path, capsys, record):
    if record is not None:  # an older run's record (seconds a number), a partial or a foreign one
        (tmp_path / progress.COST).write_text(record)
    cost = progress.Cost()
    cost.restore(tmp_path)
    assert cost.tokens() == 0 and cost.seconds("train") == 0 and "no cost record" in capsys.readouterr().out


@pytest.fixture
def timed_run(prepared, tmp_path, monkeypatch, clock):
    """Runs train_full in a fresh folder on the fake clock, where each kind of work takes a known, distinct
    time: a micro-batch 1 s, a validation loss 10 s, validation ROUGE 100 s, a checkpoint 1000 s, a best-weights
    write 10000 s. Returns (metrics, how often each ran, rows fed)."""
    root, raw = prepared
    for name in ("data", "models"):
        shutil.copytree(root / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    counts = Counter()

    def taking(kind, seconds, original):
        def timed(*args, **kwargs):
            counts[kind] += 1
            clock.advance(seconds)
            return original(*args, **kwargs)
        return timed

    def feeding(original):
        def step(self, model, inputs, *args, **kwargs):
            counts["rows"] += len(inputs["input_ids"])
            return original(self, model, inputs, *args, **kwargs)
        return step

    @contextlib.contextmanager
    def best_write(path):
        counts["best"] += 1
        clock.advance(10000)
        with atomic_path(path) as tmp:
            yield tmp

    atomic_path = selection.atomic_path
    monkeypatch.setattr(transformers.Trainer, "training_step",
                        feeding(taking("micro", 1, transformers.Trainer.training_step)))
    monkeypatch.setattr(transformers.Seq2SeqTrainer, "evaluate", taking("loss", 10, transformers.Seq2SeqTrainer.evaluate))
    monkeypatch.setattr(selection.ValidationRouge, "__call__", taking("rouge", 100, selection.ValidationRouge.__call__))
    monkeypatch.setattr(transformers.Trainer, "_save_checkpoint",
                        taking("checkpoint", 1000, transformers.Trainer._save_checkpoint))
    monkeypatch.setattr(selection, "atomic_path", best_write)

    def train(**overrides):
        p = copy.deepcopy(raw)
        p["train_full"].update(overrides)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
        train_full.main()
        return json.loads((tmp_path / "metrics" / "train_full.json").read_text()), counts
    return train


def test_training_time_counts_optimizer_steps_only(timed_run):
    metrics, ran = timed_run(max_steps=6, eval_steps=3, save_steps=3, logging_steps=3, rouge_samples=2,
                             gradient_accumulation_steps=2, select_metric="eval_loss")
    assert ran["micro"] == 12 and ran["loss"] == ran["rouge"] == 3 and ran["checkpoint"] == 2 and ran["best"] >= 1
    assert metrics["train_runtime_s"] == 12  # the micro-batches alone: no evaluation, no write
    assert metrics["eval_runtime_s"] == 3 * (10 + 100)  # two evaluations during training and the final one
    assert metrics["checkpoint_s"] == 2 * 1000 + ran["best"] * 10000
    assert metrics["train_samples"] == ran["rows"] == 6 * 4 * 2
    assert metrics["train_samples_per_s"] == ran["rows"] / 12
    assert metrics["train_tokens_per_s"] == round(metrics["train_tokens"] / 12, 1)


def test_throughput_counts_the_rows_fed_when_the_batch_exceeds_the_data(timed_run):
    # 24 training rows, a batch of 4096: each step is fed the 24 (before: 4096 rows counted per step).
    metrics, ran = timed_run(max_steps=3, batch_size=4096, eval_steps=0, save_steps=0, rouge_samples=0,
                             select_metric="last")
    assert ran["micro"] == 3 and metrics["train_samples"] == ran["rows"] == 3 * 24
    assert metrics["train_samples_per_s"] == 24.0 and metrics["train_runtime_s"] == 3


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
    repo = prepared_project(tmp_path / "repo", tiny_model, tiny_corpus, params)
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
    assert throughput_agrees(resumed)

