"""End to end: the real dvc CLI runs the whole pipeline on the tiny model in a temp git repo.

The run itself is the session's shared one (`pipeline_run` in conftest.py); tests that change the repo work in
a clone that shares its DVC cache, so the shared run stays as committed."""
import json
import os
import re
import shlex
import subprocess

import pytest

from project import ROOT, env, run
from remotes import EXPERIMENT

STAGES = {"prepare", "train_full", "train_lora", "generate@base", "generate@full", "generate@lora", "evaluate"}
ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def readme_exp_show() -> list[str]:
    """The README's `dvc exp show` command, exactly as printed there: the one a reader copies."""
    line = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("$ dvc exp show "))
    return shlex.split(line[2:])


def numbers(tree) -> int:
    """How many numbers a (nested) JSON value holds."""
    if isinstance(tree, dict):
        return sum(numbers(value) for value in tree.values())
    if isinstance(tree, list):
        return sum(numbers(value) for value in tree)
    return int(isinstance(tree, (int, float)) and not isinstance(tree, bool))


def widest(text: str) -> int:
    return max(len(line.rstrip()) for line in text.splitlines())


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
def repo(pipeline_run):
    assert ran(pipeline_run.repro.stdout) == STAGES
    return pipeline_run.repo


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
        assert (generated["precision"], generated["tf32"]) == ("fp32", False)
        assert generated["precision_reason"] == "fp32 asked for in params.yaml"  # tiny_params pins fp32
        # how many different summaries, beside the number of dialogues: degenerate output is named
        assert 1 <= generated["distinct_summaries"] <= generated["dialogues"] and 0 <= generated["empty_share"] <= 1
        assert generated["cpu_model"] and generated["cpu_count"] >= 1  # where the timing was measured

    # the baselines, scored like a model in every mode, with intervals
    detail = json.loads((repo / "metrics/rouge_detail.json").read_text())
    assert list(detail) == ["base", "full", "lora", "lead3", "longest3"]
    assert all(0 < detail[name][mode]["rouge1_low"] <= detail[name][mode]["rouge1"] for name in ("lead3", "longest3")
               for mode in ("mean_ref", "max_ref", "flat"))
    assert (repo / "metrics/report.md").read_text().startswith("# Evaluation report\n\nRun: git commit ")

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
        assert (metrics["precision"], metrics["tf32"], metrics["peak_memory_ranks"]) == ("fp32", False, 1)
        assert metrics["precision_reason"] and metrics["peak_memory_kind"] == "cpu_peak_rss"
    full, lora = (json.loads((repo / f"metrics/{s}.json").read_text()) for s in ("train_full", "train_lora"))
    assert lora["trainable_params"] < full["trainable_params"] == full["total_params"]


def test_second_repro_runs_nothing(repo):
    again = run(["dvc", "repro"], repo)
    assert ran(again.stdout) == set()
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_lora_experiment_reruns_only_lora_stages(repo, lora_experiment):
    assert ran(lora_experiment.stdout) == {"train_lora", "generate@lora", "evaluate"}
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    text = json.dumps(shown)
    assert f'"{EXPERIMENT}"' in text
    experiment = _find_experiment(shown, EXPERIMENT)
    params = experiment["data"]["params"]["params.yaml"]["data"]
    assert params["lora"]["r"] == 4
    metrics = experiment["data"]["metrics"]
    assert set(metrics) == {"metrics/rouge.json", "metrics/efficiency.json"}  # the headline, nothing else
    # the report names the experiment, the commit it was made from and the param it changed (a --temp run)
    opening = run(["git", "show", f"{experiment['rev']}:metrics/report.md"], repo).stdout.split("Split `", 1)[0]
    assert f"Run: DVC experiment {EXPERIMENT}, made from git commit " in opening, opening
    assert "Params that differ from the commit's params.yaml: lora.r 8 -&gt; 4." in opening, opening  # > as text
    assert metrics["metrics/efficiency.json"]["data"]["lora"]["trainable_params"] > 0

    # The README's command, squeezed into 120 columns and at its natural width (as the pager shows it): every
    # model's ROUGE and the changed param visible, nothing cut to "…".
    for columns in ("120", "1000"):
        done = subprocess.run([*readme_exp_show(), "--no-pager"], cwd=repo, env={**env(), "COLUMNS": columns},
                              capture_output=True, text=True, timeout=300)
        table = done.stdout
        assert done.returncode == 0 and widest(table) <= 120 and "…" not in table, table + done.stderr
        header = next(line for line in table.splitlines() if "Experiment" in line).split()
        assert header == ["Experiment", "base.rouge1", "base.rougeL", "full.rouge1", "full.rougeL", "lora.rouge1",
                          "lora.rougeL", "lora.r"], table  # lora.r: the param the experiment changed
        row = next(line for line in table.splitlines() if f"[{EXPERIMENT}]" in line)
        values = row.split(f"[{EXPERIMENT}]")[1].split()
        assert len(values) == 7 and all(re.fullmatch(r"\d+(\.\d+)?", v) for v in values), table


def test_metrics_show_lists_at_most_40_numbers(repo):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    assert 12 + 10 <= numbers(shown) <= 40, shown
    data = shown[""]["data"]
    assert set(data) == {"metrics/rouge.json", "metrics/efficiency.json"}
    assert set(data["metrics/rouge.json"]["data"]["base"]) == set(ROUGE)  # README's base.rouge1 and so on


def test_plots_show_draws_validation_rouge_of_full_and_lora_on_one_chart(repo):
    shown = json.loads(run(["dvc", "plots", "show", "--json"], repo).stdout)
    name = next(key for key in shown["data"] if key.startswith("Validation ROUGE-L"))
    assert not [e for e in shown.get("errors", []) if e.get("name") == name], shown["errors"]
    chart = json.dumps(shown["data"][name])
    assert "train_full/plots/metrics/eval/rougeL.tsv" in chart and "train_lora/plots/metrics/eval/rougeL.tsv" in chart


def _find_experiment(shown: list, name: str) -> dict:
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                if revision.get("name") == name:
                    return revision
    raise AssertionError(f"experiment {name} not in dvc exp show --json")


def test_decoding_params_rerun_what_decodes_and_metrics_diff_lists_rouge(decoded_again):
    """Summaries cut at 3 tokens (and decoded by CTranslate2 with beams: the shared rerun, conftest.py)."""
    repo, rerun = decoded_again.repo, decoded_again.repro
    assert "up to date" in decoded_again.status
    # Training reruns too: its validation summaries decode with these params (stages/training/selection.py).
    assert ran(rerun.stdout) == {"train_full", "train_lora", "generate@base", "generate@full", "generate@lora",
                                 "evaluate"}
    diff = run(["dvc", "metrics", "diff", "main", "short-summaries", "--json"], repo).stdout
    changed = json.loads(diff)
    # summaries cut at 3 tokens score differently: which model's ROUGE moves depends on the tiny model's outputs
    moved = [key for key in changed.get("metrics/rouge.json", {}) if key.split(".")[-1] in ROUGE]
    assert moved, diff
    table = run(["dvc", "metrics", "diff", "main", "short-summaries"], repo).stdout
    assert len(table.splitlines()) <= 40 and widest(table) <= 160, table  # one screen
    assert re.search(rf"metrics/rouge.json\s+{re.escape(moved[0])}\s", table), table

    # dvc plots diff: every chart drawn by its template from both revisions, data rows tagged with the revision
    plots = json.loads(run(["dvc", "plots", "diff", "main", "short-summaries", "--json"], repo).stdout)
    charts = {name: entries[0] for name, entries in plots["data"].items() if entries[0]["type"] == "vega"}
    assert len(charts) == 4 and "<DVC_METRIC" not in json.dumps(plots), plots.get("errors")
    for chart in charts.values():
        assert chart["revisions"] == ["main", "short-summaries"]
        rows = chart["content"]["data"]["values"]
        assert {row["rev"] for row in rows} == {"main", "short-summaries"}
    rouge = next(chart for name, chart in charts.items() if name.startswith("ROUGE"))
    assert {(row["model"], row["metric"]) for row in rouge["content"]["data"]["values"]} == {
        (model, metric) for model in ("base", "full", "lora", "lead3", "longest3")
        for metric in ("ROUGE-1", "ROUGE-2", "ROUGE-L", "ROUGE-Lsum")}


def test_outputs_are_links_into_the_cache_not_copies(repo):
    """cache.type hardlink,symlink: `dvc repro` leaves each output linked to the cache object (with reflink or
    copy in the list, DVC keeps them as second copies on ext4)."""
    for path in ["models/base/model.safetensors", "models/full/model.safetensors",
                 "models/lora/adapter_model.safetensors", "data/predictions/full.jsonl"]:
        file = repo / path
        # 2: the workspace and the cache; more where clones sharing the cache checked the same file out
        assert file.is_symlink() or file.stat().st_nlink >= 2, f"{path}: link count {file.stat().st_nlink}"
        if not file.is_symlink():
            cached = list((repo / ".dvc/cache/files/md5").rglob("*"))
            assert any(c.is_file() and os.path.samefile(c, file) for c in cached), path
    assert (repo / "models/full/model.safetensors").stat().st_mode & 0o222 == 0, "DVC makes linked outputs read-only"


def test_each_stage_ends_by_saying_what_it_wrote_and_logs_hold_no_noise(pipeline_run):
    out, err = pipeline_run.repro.stdout, pipeline_run.repro.stderr
    for stage in STAGES:
        section = out.split(f"Running stage '{stage}'", 1)[1].split("Running stage", 1)[0]
        written = [line for line in section.splitlines() if line.startswith("wrote ")]
        assert len(written) == 1, section
    assert "wrote models/full (" in out and "wrote data/predictions/lora.jsonl (" in out
    for noise in ("0%|", "it/s]", "is_gradient_checkpointing", "so we will NOT tie them", "mtime may not be"):
        assert noise not in err and noise not in out, noise
