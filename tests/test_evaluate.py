"""The evaluate stage's outputs, and the standalone scorer on good and bad files."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from stages import evaluate
from stages.io import params
from stages.scoring import rouge, stats
from stages.io.errors import ParamsError, UserError
from stages.io.files import write_json, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("base", "full", "lora")


def small_params(folder: Path, resamples=1000) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["evaluate"]["resamples"] = resamples
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def corpus_test_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]


def fake_project(root: Path, corpus: Path) -> list[dict]:
    """What the stages before evaluate leave behind, written by hand."""
    small_params(root)
    test = corpus_test_rows(corpus)
    table = {c: [r[c] for r in test] for c in ("id", "dialogue", "summary")}
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(table)}).save_to_disk("data/prepared")
    first = {}
    for row in test:
        first.setdefault(row["dialogue"], row["summary"])
    # base says little; full repeats the first reference; lora drops the last word of it
    texts = {"base": lambda r: "Hello.", "full": lambda r: first[r["dialogue"]],
             "lora": lambda r: first[r["dialogue"]].rsplit(" ", 1)[0]}
    for model in MODELS:
        write_jsonl(Path(f"data/predictions/{model}.jsonl"),
                    [{"id": r["id"], "prediction": texts[model](r)} for r in test])
        write_json(Path(f"metrics/generate_{model}.json"), {"s_per_dialogue": 0.01, "mean_summary_words": 7.5})
    for model, trainable in (("full", 1000), ("lora", 40)):
        write_json(Path(f"metrics/train_{model}.json"), {
            "trainable_params": trainable, "total_params": 1000 + (40 if model == "lora" else 0),
            "trainable_percent": 100 * trainable / 1000, "checkpoint_bytes": 4000 if model == "full" else 160,
            "train_runtime_s": 12.5, "train_samples_per_s": 3.2, "train_tokens_per_s": 99.0,
            "eval_runtime_s": 4.0, "checkpoint_s": 0.3,
            "peak_memory_bytes": 2_000_000, "peak_memory_kind": "cpu_peak_rss"})
        for split in ("train", "eval"):
            log = Path(f"plots/train_{model}/plots/metrics/{split}/loss.tsv")
            log.parent.mkdir(parents=True)
            log.write_text("timestamp\tstep\tloss\n1\t5\t2.5\n2\t10\t1.5\n")
    Path("models/base").mkdir(parents=True)
    save_file({"weight": np.zeros((30, 20), np.float32), "bias": np.zeros(20, np.float32)},
              "models/base/model.safetensors")
    return test


def test_stage_writes_scores_tests_costs_report_and_plots(in_tmp, tiny_corpus):
    fake_project(in_tmp, tiny_corpus)
    evaluate.main([])

    scores = json.loads(Path("metrics/rouge_detail.json").read_text())
    assert list(scores) == [*MODELS, "lead3", "longest3"]  # the baselines scored like a model, with intervals
    for model in scores:
        assert list(scores[model]) == list(rouge.MODES)
        for mode in rouge.MODES:
            for key in rouge.KEYS:
                values = scores[model][mode]
                assert 0 <= values[f"{key}_low"] <= values[key] <= values[f"{key}_high"] <= 1
    assert scores["full"]["max_ref"]["rouge1"] == 1.0  # it repeats one of the references
    assert scores["full"]["mean_ref"]["rouge1"] < 1.0
    assert scores["full"]["flat"]["rouge1"] == scores["full"]["mean_ref"]["rouge1"]  # three references each

    # every tiny dialogue's three longest turns are its first three: a tie, and the better baseline is lead3
    assert scores["lead3"] == scores["longest3"] and 0 < scores["lead3"]["mean_ref"]["rouge1"] < 1
    paired = json.loads(Path("metrics/rouge_paired.json").read_text())
    assert list(paired) == ["full_vs_lora", "full_vs_base", "lora_vs_base", "base_vs_lead3", "full_vs_lead3",
                            "lora_vs_lead3"]
    gap = paired["full_vs_base"]["mean_ref"]
    means = {model: scores[model]["mean_ref"]["rouge1"] for model in MODELS}
    assert gap["rouge1_diff"] == pytest.approx(means["full"] - means["base"], abs=2e-6)
    assert 0 < gap["rouge1_low"] <= gap["rouge1_diff"] <= gap["rouge1_high"]
    assert gap["rouge1_p"] == 2 / 64  # 6 dialogues, all better: exactly 2 of the 64 sign flips are as extreme
    # Holm's correction within each scoring mode: that mode's 6 pairs x 4 variants are one family of 24
    for mode in rouge.MODES:
        raw = np.array([[paired[pair][mode][f"{key}_p"] for key in rouge.KEYS] for pair in paired])
        adjusted = np.array([[paired[pair][mode][f"{key}_p_holm"] for key in rouge.KEYS] for pair in paired])
        assert adjusted == pytest.approx(stats.holm(raw), abs=1e-5)  # from unrounded p: 12 x 5e-7 at most
    assert gap["rouge1_p_holm"] > 0.05  # 2/64 is the smallest p 6 dialogues allow: never significant in 24

    costs = json.loads(Path("metrics/efficiency_detail.json").read_text())
    assert costs["base"]["total_params"] == 30 * 20 + 20 and costs["base"]["trainable_params"] == 0
    assert costs["lora"]["stored_bytes"] == 160 and costs["full"]["train_runtime_s"] == 12.5

    # the metrics DVC lists: primary-mode ROUGE and a few costs, nothing else
    headline = json.loads(Path("metrics/rouge.json").read_text())
    assert headline == {**{model: {key: scores[model]["mean_ref"][key] for key in rouge.KEYS} for model in MODELS},
                        **{name: {"rouge1": scores[name]["mean_ref"]["rouge1"]} for name in ("lead3", "longest3")}}
    cost_headline = json.loads(Path("metrics/efficiency.json").read_text())
    assert cost_headline["lora"] == {"trainable_params": 40, "stored_bytes": 160, "train_runtime_s": 12.5,
                                     "peak_memory_bytes": 2_000_000, "s_per_dialogue": 0.01}
    assert set(cost_headline["base"]) == {"trainable_params", "stored_bytes", "s_per_dialogue"}

    text = Path("metrics/report.md").read_text()
    lora = scores["lora"]["mean_ref"]
    assert f"| lora | {lora['rouge1']:.4f} [{lora['rouge1_low']:.4f}, {lora['rouge1_high']:.4f}]" in text
    assert "| 40 (4.00%) | 160 B | 12.5 s | 2.0 MB CPU RSS | 6 of 6 |" in text  # cost columns, distinct summaries
    lead3 = scores["lead3"]["mean_ref"]
    assert f"| lead3 (baseline) | {lead3['rouge1']:.4f} [{lead3['rouge1_low']:.4f}, " in text
    # base writes "Hello." for every dialogue: said before any table, and it is below the baseline
    read_first = text.split("## Read this first", 1)[1].split("## Quality and cost", 1)[0]
    assert "- base writes one summary for most dialogues (100% of 6): 1 distinct summary in all." in read_first
    assert "- lora does not beat the better baseline, lead3: no significant difference" in read_first
    assert text.startswith("# Evaluation report\n\nRun: git commit unknown")  # in_tmp is no git repository
    assert "| lora | 40 (4.00%) | 1,040 | 160 B | 12.5 s | 3.2 | 99 | 4.0 s | 0.3 s | 2.0 MB CPU RSS | 0.010 | — | 7.5 |" \
        in text
    assert text.count("### Example") == 3 and "| human 3 |" in text
    assert "full − lora" in text
    assert "24 comparisons: 6 pairs (3 model pairs, and each of 3 models against the better baseline, lead3)" in text
    assert "None of the 24 differences is significant after Holm's correction" in text
    assert "significant: " not in text

    shares = list(csv.DictReader(Path("plots/lengths.csv").open()))
    assert list(shares[0]) == ["source", "words", "share"]
    assert [s for s in dict.fromkeys(r["source"] for r in shares)] == ["reference", *MODELS]
    assert sum(float(r["share"]) for r in shares if r["source"] == "base") == pytest.approx(1.0)
    bars = list(csv.DictReader(Path("plots/rouge.csv").open()))  # the primary mode only, for the bar chart
    assert [(r["model"], r["metric"]) for r in bars][:2] == [("base", "ROUGE-1"), ("base", "ROUGE-2")]
    assert [model for model in dict.fromkeys(r["model"] for r in bars)] == [*MODELS, "lead3", "longest3"]
    lora_r1 = next(r for r in bars if r["model"] == "lora" and r["metric"] == "ROUGE-1")
    assert float(lora_r1["score"]) == lora["rouge1"] and float(lora_r1["low"]) == lora["rouge1_low"]
    losses = list(csv.DictReader(Path("plots/loss.csv").open()))
    assert {(r["model"], r["split"]) for r in losses} == {(m, s) for m in ("full", "lora") for s in ("train", "eval")}
    page = Path("metrics/summaries.html").read_text()
    assert "test_5" in page and '"models":["base","full","lora","lead3","longest3"]' in page
    assert "<li>base writes one summary for most dialogues (100% of 6)" in page and "Run: git commit unknown" in page
    for png in ("rouge", "loss", "lengths"):
        assert Path(f"plots/{png}.png").read_bytes()[:4] == b"\x89PNG"

    # the standalone scorer, on the same file with the default references, agrees with the stage
    evaluate.main(["--predictions", "data/predictions/lora.jsonl", "--output", "lora.json"])
    assert json.loads(Path("lora.json").read_text()) == scores["lora"]


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def predictions_of(test: list[dict]) -> list[dict]:
    # a multi-line prediction with a comma exercises CSV quoting
    return [{"id": r["id"], "prediction": f"{r['summary']}\nThen, they leave."} for r in test]


def test_scorer_cli_scores_jsonl_and_csv_alike(in_tmp, tiny_corpus):
    small_params(in_tmp)
    rows = predictions_of(corpus_test_rows(tiny_corpus))
    write_jsonl(in_tmp / "p.jsonl", rows)
    write_csv(in_tmp / "p.csv", rows)
    references = str(tiny_corpus / "test.jsonl")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "stages.evaluate", "--predictions", "p.jsonl", "--references",
                           references, "--output", "out.json"], cwd=in_tmp, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "18 rows, 6 dialogues" in done.stdout and "distinct summaries: 6 of 6 dialogues\n" in done.stdout
    assert "note:" not in done.stdout
    from_jsonl = json.loads((in_tmp / "out.json").read_text())
    evaluate.main(["--predictions", "p.csv", "--references", references, "--output", "csv.json"])
    assert json.loads((in_tmp / "csv.json").read_text()) == from_jsonl
    assert set(from_jsonl) == set(rouge.MODES) and 0 < from_jsonl["flat"]["rouge1"] < 1


@pytest.mark.parametrize("name, content, message", [
    ("p.jsonl", '{"id": "test_0_1", "prediction": "a"}\n\n{"id": "test_0_2", "prediction": "b"\n',
     r"p.jsonl, line 3: not valid JSON"),
    ("p.jsonl", '{"id": "test_0_1", "prediction": "a"}\n{"id": "test_0_1", "prediction": "b"}\n',
     r"p.jsonl, line 2: duplicate id 'test_0_1' \(first on line 1\)"),
    ("p.jsonl", '{"id": "test_0_1", "text": "a"}\n', r"p.jsonl, line 1: column 'prediction' is missing"),
    ("p.jsonl", '{"id": 7, "prediction": "a"}\n', r"p.jsonl, line 1: column 'id' is int instead of text"),
    ("p.jsonl", '{"id": "test_0_1", "prediction": "a"}\n', r"no prediction for 17 of 18 .*first 'test_0_2' \(line 2\)"),
    ("p.jsonl", '{"id": "other_1", "prediction": "a"}\n', r"p.jsonl, line 1: id 'other_1' is not in the references"),
    ("p.csv", 'id,prediction\ntest_0_1,"two\nlines"\ntest_0_1,b\n', r"p.csv, line 4: duplicate id"),
    ("p.csv", 'id,prediction\ntest_0_1,a,b\n', r"p.csv, line 2: more fields than the header"),
    # found: the row on line 3 was blamed on line 1 (csv's line_num after the failed read)
    ("p.csv", 'id,prediction\ntest_0_1,a\ntest_0_2,"' + "y" * 200_000 + '"\n', r"p.csv, line 3: not valid CSV"),
    ("p.csv", 'id,summary\ntest_0_1,a\n', r"p.csv, line 2: column 'prediction' is missing"),
    ("p.txt", 'test_0_1 a\n', r"unknown file type '.txt'"),
])
def test_scorer_names_the_file_and_line_of_bad_input(in_tmp, tiny_corpus, name, content, message):
    small_params(in_tmp)
    (in_tmp / name).write_text(content)
    with pytest.raises(UserError, match=message):
        evaluate.main(["--predictions", name, "--references", str(tiny_corpus / "test.jsonl")])


def test_scorer_cli_exits_1_with_one_message(in_tmp, tiny_corpus):
    small_params(in_tmp)
    (in_tmp / "p.jsonl").write_text('{"id": "test_0_1", "prediction": "a"}\n{"id": "test_0_1", "prediction": "b"}\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "stages.evaluate", "--predictions", "p.jsonl", "--references",
                           str(tiny_corpus / "test.jsonl")], cwd=in_tmp, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    assert done.stderr.startswith("error: p.jsonl, line 2: duplicate id") and "Traceback" not in done.stderr


def test_bad_references_and_arguments(in_tmp, tiny_corpus):
    small_params(in_tmp)
    write_jsonl(in_tmp / "p.jsonl", [{"id": "a", "prediction": "x"}])
    (in_tmp / "refs.jsonl").write_text('{"id": "a", "dialogue": "d"}\n')
    with pytest.raises(UserError, match=r"refs.jsonl, line 1: column 'summary' is missing"):
        evaluate.main(["--predictions", "p.jsonl", "--references", "refs.jsonl"])
    with pytest.raises(UserError, match="go with --predictions"):
        evaluate.main(["--references", "refs.jsonl"])
    with pytest.raises(UserError, match="data/prepared is missing"):
        evaluate.main(["--predictions", "p.jsonl"])


@pytest.mark.parametrize("key, value", [("resamples", 10), ("confidence", 1.0), ("confidence", 0.2), ("seed", "x")])
def test_evaluate_params_are_validated(key, value):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["evaluate"][key] = value
    with pytest.raises(ParamsError, match=f"evaluate.{key}"):
        params.parse(raw)


def test_report_memory_says_reserved_and_over_how_many_processes():
    from stages.reporting import report

    assert report._memory({"peak_memory_bytes": 2_000_000, "peak_memory_kind": "cpu_peak_rss",
                           "peak_memory_ranks": 1}) == "2.0 MB CPU RSS"
    assert report._memory({"peak_memory_bytes": 3_000_000_000, "peak_memory_kind": "cuda_max_allocated",
                           "peak_memory_reserved_bytes": 4_500_000_000, "peak_memory_ranks": 2}) == \
        "3.0 GB GPU (4.5 GB reserved), max of 2 processes"


def test_scorer_takes_one_prediction_per_dialogue_by_id_or_text(in_tmp, tiny_corpus):
    small_params(in_tmp)
    test = corpus_test_rows(tiny_corpus)
    references = str(tiny_corpus / "test.jsonl")
    per_row = predictions_of(test)
    write_jsonl(in_tmp / "rows.jsonl", per_row)
    # the same prediction for every row of a dialogue, given once: by dialogue id, and by dialogue text
    first = {}
    for row, prediction in zip(test, per_row):
        first.setdefault(row["dialogue"], (row["id"].rsplit("_", 1)[0], prediction["prediction"]))
    same = [{"id": r["id"], "prediction": first[r["dialogue"]][1]} for r in test]
    write_jsonl(in_tmp / "same.jsonl", same)
    write_jsonl(in_tmp / "ids.jsonl", [{"id": i, "prediction": p} for i, p in first.values()])
    write_csv(in_tmp / "texts.csv", [{"dialogue": d, "prediction": p} for d, (_, p) in first.items()])
    outputs = {}
    for name in ("same.jsonl", "ids.jsonl", "texts.csv"):
        evaluate.main(["--predictions", name, "--references", references, "--output", f"{name}.json"])
        outputs[name] = json.loads((in_tmp / f"{name}.json").read_text())
    assert outputs["ids.jsonl"] == outputs["same.jsonl"] == outputs["texts.csv"]
    assert 0 < outputs["ids.jsonl"]["mean_ref"]["rouge1"] < 1


@pytest.mark.parametrize("lines, message", [
    (['{"id": "test_0", "prediction": "a"}'], r"no prediction for 5 of 6 dialogue\(s\), first 'test_1'"),
    (['{"id": "test_0", "prediction": "a"}', '{"id": "test_9", "prediction": "b"}'],
     r"line 2: id 'test_9' names no dialogue"),
    (['{"id": "test_0", "prediction": "a"}', '{"id": "test_0_1", "prediction": "b"}'],
     r"line 1: id 'test_0' names a whole dialogue, but other lines name reference rows"),
])
def test_scorer_per_dialogue_errors_name_what_is_wrong(in_tmp, tiny_corpus, lines, message):
    small_params(in_tmp)
    (in_tmp / "p.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=message):
        evaluate.main(["--predictions", "p.jsonl", "--references", str(tiny_corpus / "test.jsonl")])


def test_scorer_refuses_two_predictions_for_one_dialogue(in_tmp, tiny_corpus):
    small_params(in_tmp)
    dialogue = corpus_test_rows(tiny_corpus)[0]["dialogue"]
    write_jsonl(in_tmp / "p.jsonl", [{"id": "test_0", "prediction": "a"}, {"dialogue": dialogue, "prediction": "b"}])
    write_jsonl(in_tmp / "q.jsonl", [{"dialogue": dialogue, "prediction": "a"}, {"dialogue": dialogue, "prediction": "b"}])
    references = str(tiny_corpus / "test.jsonl")
    with pytest.raises(UserError, match=r"line 2: column 'dialogue' is missing|line 2: column 'id' is missing"):
        evaluate.main(["--predictions", "p.jsonl", "--references", references])
    with pytest.raises(UserError, match=r"q.jsonl, line 2: duplicate dialogue"):
        evaluate.main(["--predictions", "q.jsonl", "--references", references])


def ten_dialogues(stray_space_in=None) -> list[dict]:
    rows = [{"id": f"test_{i}_{k}", "dialogue": f"#Person1#: talk {i}.\n#Person2#: fine.",
             "summary": f"person one talks {i}" + (" and more" * (k - 1))} for i in range(10) for k in (1, 2, 3)]
    if stray_space_in is not None:
        rows[stray_space_in]["dialogue"] += " "
    return rows


def test_a_stray_space_in_one_row_makes_no_new_dialogue_and_leaves_rouge_alone():
    """Found: grouped by exact text, one trailing space made 11 dialogues of 10 and max_ref 0.9495 of 1.0."""
    clean, spaced = ten_dialogues(), ten_dialogues(stray_space_in=4)  # test_1_2
    predictions = [f"person one talks {i}" for i in range(10) for _ in range(3)]  # reference 1, word for word
    for references in (clean, spaced):
        modes = evaluate.score(predictions, references)
        assert len(modes["max_ref"].weights) == 10
        assert modes["max_ref"].estimate()[0] == 1.0
    assert evaluate.score(predictions, spaced)["mean_ref"].estimate().tolist() == \
        evaluate.score(predictions, clean)["mean_ref"].estimate().tolist()


def test_a_prediction_keyed_by_text_finds_its_dialogue_whitespace_aside(in_tmp):
    small_params(in_tmp)
    write_jsonl(in_tmp / "refs.jsonl", ten_dialogues(stray_space_in=4))
    write_jsonl(in_tmp / "p.jsonl", [{"dialogue": f"#Person1#: talk {i}. #Person2#: fine. ",
                                      "prediction": f"person one talks {i}"} for i in range(10)])
    evaluate.main(["--predictions", "p.jsonl", "--references", "refs.jsonl", "--output", "out.json"])
    assert json.loads((in_tmp / "out.json").read_text())["max_ref"]["rouge1"] == 1.0


def test_rows_of_one_dialogue_id_with_other_texts_are_refused_naming_them(in_tmp):
    small_params(in_tmp)
    references = ten_dialogues()
    references[5]["dialogue"] = "#Person1#: another talk entirely."  # test_1_3
    write_jsonl(in_tmp / "refs.jsonl", references)
    write_jsonl(in_tmp / "p.jsonl", [{"id": r["id"], "prediction": "x"} for r in references])
    with pytest.raises(UserError, match=r"refs.jsonl: rows 'test_1_1' and 'test_1_3' are references of one "
                                        r"dialogue, 'test_1'"):
        evaluate.main(["--predictions", "p.jsonl", "--references", "refs.jsonl"])


def test_a_text_two_dialogue_ids_share_cannot_key_a_prediction(in_tmp):
    """DialogSum's test split has two dialogues whose texts differ only in whitespace: by text they are one."""
    small_params(in_tmp)
    references = ten_dialogues()
    for row in references[3:6]:
        row["dialogue"] = references[0]["dialogue"] + "  "  # test_1 reads as test_0, whitespace aside
    write_jsonl(in_tmp / "refs.jsonl", references)
    exact = [{"dialogue": r["dialogue"], "prediction": "x"} for r in references[::3]]
    write_jsonl(in_tmp / "exact.jsonl", exact)
    evaluate.main(["--predictions", "exact.jsonl", "--references", "refs.jsonl"])  # each exact text is one
    write_jsonl(in_tmp / "p.jsonl", [dict(exact[0], dialogue=" ".join(exact[0]["dialogue"].split()))] + exact[2:])
    with pytest.raises(UserError, match=r"p.jsonl, line 1: .* is the text of 2 dialogues \('test_0' and 'test_1'"):
        evaluate.main(["--predictions", "p.jsonl", "--references", "refs.jsonl"])
    write_jsonl(in_tmp / "ids.jsonl", [{"id": f"test_{i}", "prediction": "x"} for i in range(10)])
    evaluate.main(["--predictions", "ids.jsonl", "--references", "refs.jsonl"])  # by id: ten dialogues


def test_the_scorer_names_a_constant_summary(in_tmp, tiny_corpus, capsys):
    """The issue's hand-written constant: scored, and said to be one summary for every dialogue."""
    small_params(in_tmp)
    write_jsonl(in_tmp / "constant.jsonl", [{"id": f"test_{i}", "prediction": "#Person1# and #Person2# talk."}
                                            for i in range(6)])
    evaluate.main(["--predictions", "constant.jsonl", "--references", str(tiny_corpus / "test.jsonl")])
    out = capsys.readouterr().out
    assert "  distinct summaries: 1 of 6 dialogues\n" in out
    assert "note: this file writes one summary for most dialogues (100% of 6): 1 distinct summary in all." in out
