"""Smoke test: each benchmark program runs end to end on the tiny corpus (--quick) and writes its JSON."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

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


def test_serve_benchmark_measures_with_and_without_batching(tiny_corpus, tmp_path):
    record = quick("serve", tiny_corpus, tmp_path)
    runs = record["runs"]
    assert [(r["batching"], r["clients"]) for r in runs] == [("dynamic", 1), ("dynamic", 4), ("none", 1), ("none", 4)]
    for run in runs + [record["soak"]]:
        assert run["lost"] == 0 and set(run["statuses"]) == {"200"} and run["p95_s"] >= run["p50_s"] > 0
    assert {r["mean_batch"] for r in runs if r["batching"] == "none"} == {1.0}
    assert record["soak"]["rss_samples_mb"] and all(record["soak"]["rss_samples_mb"])
    overload = record["overload"]
    assert overload["lost"] == 0 and set(overload["statuses"]) <= {"200", "503"} and overload["ok"] > 0
    assert record["exit_codes_after_sigterm"] == {"dynamic": 0, "none": 0}


def test_flops_formulas_match_torchs_count():
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    flops, common = program("flops"), program("common")
    from stages.io import params
    from stages.training import adapters

    lora = params.load(BENCHMARKS.parent / "params.yaml").lora
    batch, source, target, new = 3, 37, 11, 5
    ids, labels = torch.randint(3, 500, (batch, source)), torch.randint(3, 500, (batch, target))
    for method in ("full", "lora"):
        model = common.make_model("tiny")
        model = adapters.add(model, lora) if method == "lora" else model
        with FlopCounterMode(display=False) as counter:
            model(input_ids=ids, labels=labels).loss.backward()
        expected = flops.train_step(model.config, batch, source, target, lora if method == "lora" else None)
        # Exact for full fine-tuning. LoRA: the first layers need fewer input gradients than the formula counts,
        # 2.7% of this 2-layer model's FLOPs (under 1% of flan-t5-small's 8 layers).
        assert abs(counter.get_total_flops() / expected - 1) <= (0 if method == "full" else 0.04), method
    model = common.make_model("tiny").eval()
    # Eager attention: torch's counter does not count the CPU's fused attention kernel (its FLOPs are done all
    # the same), so with SDPA it reports less than the hardware computes.
    model.set_attn_implementation("eager")
    model.generation_config.min_new_tokens = new  # every sequence runs all steps, as the benchmark forces
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.generate(input_ids=ids, max_new_tokens=new, do_sample=False)
    assert counter.get_total_flops() == flops.greedy_generation(model.config, batch, source, new)


def test_matmul_peak_is_measured_per_dtype():
    import torch

    flops = program("flops")
    peak = flops.matmul_peak(torch.bfloat16, size=128, seconds=0.05, repeats=2)
    assert peak["dtype"] == "bfloat16" and len(peak["all_flops_per_s"]) == 2
    assert peak["flops_per_s"] == max(peak["all_flops_per_s"]) > 0


def test_precision_benchmark_compares_fp32_with_bf16(tiny_corpus, tmp_path):
    from stages.modeling import hardware

    record = quick("precision", tiny_corpus, tmp_path)
    native, _ = hardware.native_bf16(hardware.detect())
    precisions = {"fp32", "bf16"} if native else {"fp32"}
    assert {r["precision"] for r in record["train_runs"]} == {r["precision"] for r in record["generate_runs"]} == precisions
    assert set(record["matmul_peak"]) == {"fp32", "bf16"} and record["matmul_peak"]["bf16"]["flops_per_s"] > 0
    for name in ("train_full", "train_lora", "generate"):
        for precision in precisions:
            figure = record["figures"][name][precision]
            assert 0 < figure["mfu"]["median"] < 1.5  # a fraction of the measured peak (noise aside)
        if native:
            assert record["figures"][name]["bf16_speedup"] > 0
    for run in record["train_runs"] + record["generate_runs"]:
        assert len(run["load_average"]) == 3
    rows = [line for line in program("table").precision_table(record) if line.startswith("| train full")]
    assert [row.split(" | ")[1] for row in rows] == sorted(precisions, key=["fp32", "bf16"].index)


def test_bf16_loss_benchmark_runs_three_curves(tiny_corpus, tmp_path):
    record = quick("bf16_loss", tiny_corpus, tmp_path)
    curves = record["curves"]
    assert set(curves) == {"fp32", "bf16", "fp32_other_seed"} and len({len(c) for c in curves.values()}) == 1
    assert curves["fp32"] != curves["fp32_other_seed"]  # other weights: the noise to compare with
    assert record["figures"]["max_gap_bf16_vs_fp32"] == round(max(abs(a - b) for a, b in zip(curves["fp32"],
                                                                               curves["bf16"])), 4)


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


def test_batch_invariance_benchmark_counts_changed_summaries(tiny_corpus, tmp_path):
    record = quick("batch_invariance", tiny_corpus, tmp_path)
    figures = record["figures"]
    for name in ("fp32_batch_1_vs_32", "bf16_batch_1_vs_32", "bf16_vs_fp32_batch_32"):
        figure = figures[name]
        assert figure["of"] == record["settings"]["dialogues"] > 0 and 0 <= figure["changed"] <= figure["of"]
        assert figure["share"] == round(figure["changed"] / figure["of"], 4)
    assert len(record["examples"]) <= figures["bf16_batch_1_vs_32"]["changed"]


def test_engines_benchmark_times_notebook_torch_and_ctranslate2(tiny_corpus, tmp_path):
    record = quick("engines", tiny_corpus, tmp_path)
    paths = [run["path"] for run in record["runs"]]
    assert paths[0].startswith("notebook recipe") and any(p.startswith("project torch (fp32") for p in paths)
    assert {"ctranslate2 (float32, 1 worker x 1 thread, longest-first batches)",
            "ctranslate2 (int8, 1 worker x 1 thread, longest-first batches)"} <= set(paths)
    assert all(run["forced_length"] for run in record["runs"] if "forced_length" in run)
    assert all(run["tokens_per_s"] == pytest.approx(run["dialogues_per_s"] * record["settings"]["new_tokens"], rel=0.01)
               for run in record["runs"])
    assert record["figures"]["ctranslate2_vs_torch"] > 0 and "avx512_bf16" in record["machine"]["cpu_detail"]


def test_ct2_workers_benchmark_times_each_split_beside_torch(tiny_corpus, tmp_path):
    record = quick("ct2_workers", tiny_corpus, tmp_path)
    paths = [run["path"] for run in record["runs"]]
    assert paths == ["torch fp32, 1 thread", "torch bf16, 1 thread", "ctranslate2 int8, 1 worker x 1 thread"]
    assert record["settings"]["chosen"] == [1, 1] and all(run["dialogues_per_s"] > 0 for run in record["runs"])


def test_llm_benchmark_measures_both_families(tiny_corpus, tmp_path):
    record = quick("llm", tiny_corpus, tmp_path)
    runs = {r["shape"]: r for r in record["runs"]}
    assert set(runs) == {"tiny-qwen2", "tiny-t5"}
    for run in runs.values():
        assert run["train_tokens_per_s"] > 0 and run["generate_new_tokens_per_s"] > 0
        assert 0 < run["trainable_params"] < run["total_params"]  # LoRA by default
