"""Validation ROUGE at each evaluation, the selected checkpoint, early stopping and resuming, in-process."""
import copy
import csv
import json
import shutil
from types import SimpleNamespace

import pytest
import yaml

from project import without_timings
from stages import train_full, train_lora
from stages.modeling import models
from stages.io import params
from stages.training import adapters, selection
from stages.io.errors import ParamsError


@pytest.fixture
def project(prepared, tmp_path, monkeypatch):
    """A fresh project folder with the prepared data; returns a function that runs train_full with overrides."""
    root, raw = prepared
    for name in ("data", "models"):
        shutil.copytree(root / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)

    def train(stage="train_full", **overrides):
        p = copy.deepcopy(raw)
        p[stage].update(dict(max_steps=15, eval_steps=5, save_steps=0, logging_steps=5), **overrides)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
        (train_full if stage == "train_full" else train_lora).main()
        return json.loads((tmp_path / "metrics" / f"{stage}.json").read_text())
    return train


@pytest.fixture
def snapshots(monkeypatch):
    """The weights at each evaluation, by step."""
    taken = {}
    evaluate = selection.SelectingTrainer.evaluate

    def recording(self, *args, **kwargs):
        taken.setdefault(self.state.global_step, {k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return evaluate(self, *args, **kwargs)
    monkeypatch.setattr(selection.SelectingTrainer, "evaluate", recording)
    return taken


def saved_weights():
    from safetensors.torch import load_file
    return load_file("models/full/model.safetensors")


def same(saved, snapshot) -> bool:
    return all(snapshot[name].equal(tensor) for name, tensor in saved.items())


def curve(metric):
    with open(f"plots/train_full/plots/metrics/eval/{metric}.tsv") as handle:
        return [(int(row["step"]), float(row[metric])) for row in csv.DictReader(handle, delimiter="\t")]


def test_validation_rouge_is_logged_at_each_evaluation(project):
    metrics = project(select_metric="rougeL", rouge_samples=5)
    for metric in ("rouge1", "rouge2", "rougeL", "rougeLsum", "generate_s"):
        points = curve(metric)
        assert [step for step, _ in points] == [5, 10, 15], metric
    assert all(0 <= value <= 1 for _, value in curve("rougeL"))
    assert all(seconds > 0 for _, seconds in curve("generate_s"))
    assert metrics["evaluations"] == 3 and metrics["validation_generate_s_mean"] > 0
    assert set(metrics["selected_rouge"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}


def test_validation_subset_is_fixed_by_seed_and_all_is_allowed(prepared, monkeypatch):
    from stages.data import dialogsum
    from stages.modeling import models
    root, raw = prepared
    monkeypatch.chdir(root)
    split = dialogsum.load_prepared("validation")
    tokenizer = models.load_tokenizer()
    decoding = params.parse(copy.deepcopy(raw)).generate
    pick = [selection.ValidationRouge(split, tokenizer, decoding, 3, seed).prompts for seed in (1, 1, 2)]
    assert pick[0] == pick[1] != pick[2] and len(pick[0]) == 3
    assert len(selection.ValidationRouge(split, tokenizer, decoding, None, 1)) == len(set(split["dialogue"]))


def test_early_stopping_stops_and_saves_the_selected_not_the_last_step(project, snapshots):
    # No later evaluation beats the first by 100 nats: patience 1 stops at the second evaluation.
    metrics = project(max_steps=30, select_metric="eval_loss", early_stopping_patience=1,
                      early_stopping_min_delta=100.0)
    assert metrics["optimizer_steps"] == 10 and metrics["stopped_early"]
    assert metrics["selected_step"] == 5 and metrics["selected_by"] == "eval_loss"
    assert metrics["eval_loss"] == round(dict(curve("loss"))[5], 6)  # the saved model's, not the last step's
    saved = saved_weights()
    assert same(saved, snapshots[5]) and not same(saved, snapshots[10])


def test_lora_keeps_the_selected_adapter(project, snapshots):
    metrics = project("train_lora", max_steps=30, select_metric="eval_loss", early_stopping_patience=1,
                      early_stopping_min_delta=100.0)
    assert (metrics["selected_step"], metrics["optimizer_steps"]) == (5, 10)
    loaded = models.load_adapter(models.load_model())
    lora = {name: param for name, param in loaded.named_parameters() if "lora_" in name}
    assert lora and all(snapshots[5][name].equal(param) for name, param in lora.items())
    assert not all(snapshots[10][name].equal(param) for name, param in lora.items())


def test_last_keeps_the_last_step_and_loss_selection_follows_a_falling_loss(project, snapshots):
    metrics = project(select_metric="last")
    assert metrics["selected_step"] == 15 and not metrics["stopped_early"]
    assert same(saved_weights(), snapshots[15])


class Killed(Exception):
    pass


def test_resume_keeps_the_best_checkpoint_bookkeeping(project, tmp_path):
    settings = dict(max_steps=20, eval_steps=5, save_steps=10, select_metric="eval_loss",
                    early_stopping_min_delta=0.3)
    expected = project(**settings)
    expected_weights = saved_weights()
    shutil.rmtree("models/full")

    def die(self, args, state, control, **kwargs):
        if state.global_step == 17:
            raise Killed
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        patch.setattr(selection.Selector, "on_step_end", die, raising=False)
        project(**settings)
    scratch = tmp_path / "models" / ".trainer" / "train_full"
    assert (scratch / "checkpoint-10").is_dir()
    # The best the checkpoint records is on disk: the resumed run may select it again.
    history = json.loads((scratch / "checkpoint-10" / "trainer_state.json").read_text())["log_history"]
    selector = selection.Selector(params.parse(yaml.safe_load(open("params.yaml"))).train_full, scratch)
    assert (scratch / f"best-{selector.standing(history)[0]}").is_dir()

    resumed = project(**settings)
    assert without_timings(resumed) == without_timings(expected)
    weights = saved_weights()
    assert all(weights[name].equal(tensor) for name, tensor in expected_weights.items())
    assert not scratch.exists()


@pytest.mark.parametrize("change, message", [
    (dict(select_metric="bleu"), "select_metric"),
    (dict(select_metric="rougeL", rouge_samples=0), "rouge_samples above 0"),
    (dict(select_metric="last", early_stopping_patience=2), "early stopping watches"),
    (dict(early_stopping_patience=2, eval_steps=0), "needs evaluations"),
    (dict(early_stopping_patience=-1), "early_stopping_patience"),
    (dict(early_stopping_min_delta=float("nan")), "finite"),
    (dict(rouge_samples=-3), "rouge_samples"),
])
def test_selection_params_are_checked(prepared, change, message):
    raw = copy.deepcopy(prepared[1])
    raw["train_lora"].update(change)
    with pytest.raises(ParamsError) as caught:
        params.parse(raw)
    assert message in str(caught.value) and "train_lora." in str(caught.value)


def test_standing_counts_evaluations_since_the_best():
    rouge = selection.Selector(type("C", (), dict(select_metric="rougeL", early_stopping_patience=2,
                                                  early_stopping_min_delta=0.01))(), "x")
    history = [{"step": 5, "eval_rougeL": 0.2}, {"step": 5, "eval_loss": 3.0}, {"step": 10, "eval_rougeL": 0.205},
               {"step": 15, "eval_rougeL": 0.3}, {"step": 20, "eval_rougeL": float("nan")},
               {"step": 20, "eval_rougeL": 0.9}]  # a repeated evaluation at one step counts once (the first)
    assert rouge.standing(history) == (15, 0.3, 1)
    loss = selection.Selector(type("C", (), dict(select_metric="eval_loss", early_stopping_patience=0,
                                                 early_stopping_min_delta=0.0))(), "x")
    assert loss.standing([{"step": 1, "eval_loss": 2.0}, {"step": 2, "eval_loss": 1.0},
                          {"step": 3, "eval_loss": 1.0}]) == (2, 1.0, 1)


def test_validation_generates_in_eval_mode_and_restores_train_mode(prepared, monkeypatch):
    from stages.data import dialogsum
    from stages.inference import decode
    from stages.modeling import models
    root, raw = prepared
    monkeypatch.chdir(root)
    p = params.parse(copy.deepcopy(raw))
    validation = selection.ValidationRouge(dialogsum.load_prepared("validation"), models.load_tokenizer(), p.generate,
                                           4, 0)
    lora = type("Lora", (), dict(r=4, alpha=8, dropout=0.5, target_modules=["q", "v"]))()
    model = adapters.add(models.load_model(), lora).train()
    modes, summarize = [], decode.summarize

    def recording(m, *args, **kwargs):
        modes.append(m.training)
        return summarize(m, *args, **kwargs)
    monkeypatch.setattr(selection.decode, "summarize", recording)
    first = validation(model, "fp32")
    assert modes == [False] and model.training  # no dropout while generating; training goes on as it was
    second = validation(model, "fp32")
    first.pop("generate_s"), second.pop("generate_s")
    assert first == second and set(first) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_validation_decodes_the_weights_the_generate_stage_decodes(prepared, tmp_path, monkeypatch, precision):
    """The checkpoint is chosen on summaries from the very weights the generate stage will decode: adapter merged
    in fp32, then cast (bf16: bf16 weights, not fp32 weights under autocast); the model in training untouched."""
    import torch
    from stages.data import dialogsum
    from stages.inference import decode
    root, raw = prepared
    shutil.copytree(root / "models" / "base", tmp_path / "models" / "base")
    shutil.copytree(root / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    lora = type("Lora", (), dict(r=4, alpha=8, dropout=0.5, target_modules=["q", "v"]))()
    model = adapters.add(models.load_model(), lora).train()
    with torch.no_grad():  # a trained-looking adapter (peft starts B at 0): merging changes the weights
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    model.save_pretrained("models/lora")
    decoded = []
    summarize = decode.summarize
    monkeypatch.setattr(selection.decode, "summarize", lambda m, *a, **k: decoded.append(m) or summarize(m, *a, **k))
    p = params.parse(copy.deepcopy(raw))
    selection.ValidationRouge(dialogsum.load_prepared("validation"), models.load_tokenizer(), p.generate, 4, 0)(
        model, precision)
    (twin,) = decoded
    stage = decode.load("lora", precision).state_dict()
    assert twin.state_dict().keys() == stage.keys() and not twin.training
    assert all(twin.state_dict()[key].equal(value) for key, value in stage.items())  # bit for bit
    assert {value.dtype for value in stage.values()} == {torch.bfloat16 if precision == "bf16" else torch.float32}
    assert model.training and all(param.dtype == torch.float32 and param.equal(before[name])
                                  for name, param in model.named_parameters())


def test_validation_precision_the_machine_lacks_names_generate_precision(monkeypatch):
    from types import SimpleNamespace
    from stages.io.errors import UserError
    from stages.modeling import hardware
    monkeypatch.setattr(hardware, "detect", lambda: hardware.Capabilities(cpu_flags=frozenset({"avx2"})))
    assert selection.decoding_precision(SimpleNamespace(precision="auto")) == "fp32"
    with pytest.raises(UserError, match=r"^generate.precision, which validation summaries .* precision bf16 was asked"):
        selection.decoding_precision(SimpleNamespace(precision="bf16"))


def test_selectable_rouge_variants_are_the_ones_the_scorer_makes():
    from stages.scoring import rouge
    assert params.ROUGE_KEYS == rouge.KEYS


@pytest.mark.parametrize("patience, eval_steps, max_steps, inert", [
    (2, 200, 100, True),    # found: eval_steps beyond max_steps, no warning
    (2, 40, 120, True),     # evaluations at 40 and 80 before the last step: the third (needed) is the last
    (2, 39, 120, False),    # 39, 78, 117: it can stop at 117
    (1, 50, 100, True),
    (1, 49, 100, False),
    (0, 200, 100, False),   # off
])
def test_early_stopping_that_can_never_fire_is_warned_about(tmp_path, capsys, patience, eval_steps, max_steps,
                                                           inert):
    cfg = type("C", (), dict(select_metric="rougeL", early_stopping_patience=patience,
                             early_stopping_min_delta=0.0))()
    selector = selection.Selector(cfg, tmp_path / "train_lora")
    args = SimpleNamespace(eval_strategy="steps", eval_steps=eval_steps, save_strategy="no")
    state = SimpleNamespace(max_steps=max_steps, is_world_process_zero=True, log_history=[])
    selector.on_train_begin(args, state, None)
    err = capsys.readouterr().err
    assert ("warning: train_lora: early_stopping_patience" in err) == inert
    if inert:
        most = max((max_steps - 1) // (patience + 1), 1)
        assert f"it can never stop this run. Lower eval_steps (to at most {most})" in err
