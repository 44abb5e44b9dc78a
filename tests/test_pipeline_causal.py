"""The whole pipeline on a decoder-only causal LM (the tiny Qwen2-style model: chat template, pad = EOS as shipped)
through the real `dvc repro`, once; the Llama-style family is covered in-process (tests/test_causal.py)."""
import json

from project import make_project, run, tiny_params


def test_a_causal_lm_runs_the_whole_pipeline(tmp_path, tiny_causal, tiny_corpus):
    params = tiny_params(tiny_causal["qwen2"], tiny_corpus)
    for stage in ("train_full", "train_lora"):
        params[stage].update(max_steps=6, eval_steps=3, save_steps=3, rouge_samples=2)
    repo = make_project(tmp_path / "repo", tiny_causal["qwen2"], tiny_corpus, params)
    done = run(["dvc", "repro"], repo)
    assert "through the chat template" in done.stdout and "pad token: <|pad|>" in done.stdout
    for model in ("base", "full", "lora"):
        rows = [json.loads(line) for line in (repo / f"data/predictions/{model}.jsonl").read_text().splitlines()]
        assert len(rows) == 18  # every test row: 6 dialogues x 3 references
        # the answer only: never the prompt, the template's markers or the user's instruction
        assert not any(marker in row["prediction"] for row in rows
                       for marker in ("Summarize", "#Person1#", "<|im_start|>", "assistant\n"))
        record = json.loads((repo / f"metrics/generate_{model}.json").read_text())
        assert record["dialogues"] == 6 and record["mean_summary_words"] >= 0
    adapter = json.loads((repo / "models/lora/adapter_config.json").read_text())
    assert adapter["task_type"] == "CAUSAL_LM" and "down_proj" in adapter["target_modules"]
    report = (repo / "metrics/report.md").read_text()
    assert "mean summary words" in report
    assert set(json.loads((repo / "metrics/rouge.json").read_text())) >= {"base", "full", "lora"}
    status = run(["dvc", "status"], repo)
    assert "changed" not in status.stdout  # a second repro would do nothing
