"""Smoke test: each benchmark program runs end to end on the tiny corpus (--quick) and writes its JSON."""
import importlib.util
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def program(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # the programs import their sibling common.py
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quick(name, corpus, tmp_path) -> dict:
    out = tmp_path / "results"
    program(name).main(["--quick", "--threads", "1", "--data", str(corpus), "--cache", str(tmp_path / "cache"),
                        "--out", str(out)])
    written = list(out.glob(f"{name}_*_quick.json"))
    assert len(written) == 1
    record = json.loads(written[0].read_text())
    assert record["machine"]["torch"] and record["machine"]["device"] in ("cpu", "cuda")
    assert len(record["load_average_start"]) == 3 and len(record["load_average_end"]) == 3
    return record


def test_train_benchmark_compares_project_with_naive_recipe(tiny_corpus, tmp_path):
    record = quick("train", tiny_corpus, tmp_path)
    runs = {(r["recipe"], r["method"]): r for r in record["runs"]}
    assert set(runs) == {("naive", "full"), ("project", "full"), ("naive", "lora"), ("project", "lora")}
    for run in runs.values():
        assert run["samples_per_s"] > 0 and run["tokens_per_s"] > 0 and run["optimizer_steps"] >= 1
    # The notebook recipe pads to 512 + 128; the project's collator pads each batch to its longest.
    assert runs["naive", "full"]["padding_fraction"] > 0.5 > runs["project", "full"]["padding_fraction"]
    assert runs["project", "lora"]["trainable_params"] < runs["project", "full"]["trainable_params"]
    figures = record["figures"]
    assert figures["full"]["speedup"] == round(runs["project", "full"]["samples_per_s"]
                                               / runs["naive", "full"]["samples_per_s"], 2)
    padding = record["epoch_padding"]
    assert padding["naive_fed_tokens"] > padding["length_grouped_fed_tokens"] >= padding["real_tokens"]


def test_generate_benchmark_compares_batches_with_one_at_a_time(tiny_corpus, tmp_path):
    record = quick("generate", tiny_corpus, tmp_path)
    naive, project = record["runs"][0], record["runs"][1]
    assert naive["batch_size"] == 1 and project["dialogues"] == naive["dialogues"] > 0
    # Each distinct test dialogue is generated once and serves its three reference rows.
    assert project["rows_served"] == 3 * project["dialogues"]
    assert record["figures"]["speedup"] > 0 and record["settings"]["forced_new_tokens"] > 0


def test_train_benchmark_evidence_measures_checkpointing_and_validation_cost(tiny_corpus, tmp_path):
    out = tmp_path / "results"
    program("train").main(["--quick", "--evidence", "--threads", "1", "--data", str(tiny_corpus), "--cache",
                           str(tmp_path / "cache"), "--out", str(out)])
    record = json.loads(next(out.glob("train_*_evidence_quick.json")).read_text())
    assert {(r["method"], r["gradient_checkpointing"]) for r in record["runs"]} == \
        {(m, c) for m in ("full", "lora") for c in (False, True)}
    figures = record["figures"]
    assert figures["validation_s_per_evaluation"] > 0 and figures["evaluations_per_epoch"] >= 1
    assert 0 < figures["validation_share_of_epoch"]
