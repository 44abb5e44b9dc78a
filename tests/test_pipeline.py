"""End to end: the real dvc CLI runs the whole pipeline on the tiny model in a temp git repo."""
import json
import re

import pytest
import yaml

from project import make_project, run

STAGES = {"prepare", "train_full", "train_lora", "generate@base", "generate@full", "generate@lora", "evaluate"}
ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def rouge_values(metrics: dict):
    """Every ROUGE number in metrics/rouge.json, wherever the layout nests it."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from rouge_values(value)
        elif key in ROUGE:
            yield value


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model, tiny_corpus):
    repo = make_project(tmp_path_factory.mktemp("e2e") / "project", tiny_model, tiny_corpus)
    first = run(["dvc", "repro"], repo)
    assert ran(first.stdout) == STAGES
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "first run"], repo)
    return repo


def test_repro_writes_every_output(repo, tiny_corpus):
    for path in ["data/prepared/dataset_dict.json", "models/base/model.safetensors", "models/base/tokenizer.json",
                 "models/full/model.safetensors", "models/lora/adapter_model.safetensors",
                 "models/lora/adapter_config.json", "plots/rouge.png", "plots/rouge.csv",
                 "plots/train_full/plots/metrics/train/loss.tsv", "plots/train_lora/plots/metrics/eval/loss.tsv",
                 "plots/train_full/plots/metrics/eval/rougeL.tsv", "plots/train_lora/plots/metrics/eval/rouge1.tsv"]:
        assert (repo / path).is_file(), path
    assert not list((repo / "models").rglob("*.bin")), "weights are saved as safetensors only"
    assert (repo / "models/lora/adapter_model.safetensors").stat().st_size < \
        (repo / "models/full/model.safetensors").stat().st_size / 5

    test_ids = [json.loads(line)["id"] for line in (tiny_corpus / "test.jsonl").read_text().splitlines()]
    for model in ("base", "full", "lora"):
        rows = [json.loads(line) for line in (repo / f"data/predictions/{model}.jsonl").read_text().splitlines()]
        assert [r["id"] for r in rows] == test_ids and all(isinstance(r["prediction"], str) for r in rows)
        generated = json.loads((repo / f"metrics/generate_{model}.json").read_text())
        assert generated["dialogues"] * 3 == len(rows)  # each test dialogue generated once, scored thrice

    rouge = json.loads((repo / "metrics/rouge.json").read_text())
    assert set(rouge) >= {"base", "full", "lora"}
    values = list(rouge_values(rouge))
    assert len(values) >= 12 and all(0.0 <= v <= 1.0 for v in values)
    assert any(v > 0 for v in rouge_values(rouge["full"])), "30 steps teach the tiny model some words"

    for stage in ("train_full", "train_lora"):
        metrics = json.loads((repo / f"metrics/{stage}.json").read_text())
        assert metrics["optimizer_steps"] == 30
        assert 0 < metrics["trainable_params"] <= metrics["total_params"]
        assert metrics["checkpoint_bytes"] > 0 and metrics["peak_memory_bytes"] > 0
        assert metrics["train_samples_per_s"] > 0 and metrics["eval_loss"] > 0
    full, lora = (json.loads((repo / f"metrics/{s}.json").read_text()) for s in ("train_full", "train_lora"))
    assert lora["trainable_params"] < full["trainable_params"] == full["total_params"]


def test_second_repro_runs_nothing(repo):
    again = run(["dvc", "repro"], repo)
    assert ran(again.stdout) == set()
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_lora_experiment_reruns_only_lora_stages(repo):
    exp = run(["dvc", "exp", "run", "-S", "lora.r=4", "-n", "rank4"], repo)
    assert ran(exp.stdout) == {"train_lora", "generate@lora", "evaluate"}
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    text = json.dumps(shown)
    assert '"rank4"' in text
    experiment = _find_experiment(shown, "rank4")
    params = experiment["data"]["params"]["params.yaml"]["data"]
    assert params["lora"]["r"] == 4
    metrics = experiment["data"]["metrics"]
    assert "metrics/rouge.json" in metrics and metrics["metrics/train_lora.json"]["data"]["trainable_params"] > 0


def _find_experiment(shown: list, name: str) -> dict:
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                if revision.get("name") == name:
                    return revision
    raise AssertionError(f"experiment {name} not in dvc exp show --json")


def test_generation_params_rerun_only_generation_and_metrics_diff_lists_rouge(repo):
    run(["git", "checkout", "-q", "-b", "short-summaries"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["generate"]["max_new_tokens"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = run(["dvc", "repro"], repo)
    # Training reruns too: its validation summaries decode with these params (stages/selection.py).
    assert ran(rerun.stdout) == {"train_full", "train_lora", "generate@base", "generate@full", "generate@lora",
                                 "evaluate"}
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "short summaries"], repo)
    diff = run(["dvc", "metrics", "diff", "main", "short-summaries", "--json"], repo).stdout
    changed = json.loads(diff)
    assert any(key.startswith("full.") and key.split(".")[-1] in ROUGE
               for key in changed.get("metrics/rouge.json", {})), diff
    run(["git", "checkout", "-q", "main"], repo)
