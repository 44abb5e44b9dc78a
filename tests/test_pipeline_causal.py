"""The whole pipeline on a decoder-only causal LM (the tiny Qwen2-style model: chat template, pad = EOS as shipped)
through the real `dvc repro`, once, in a clone of the shared flan-t5-style run, then `stages.compare` of the two
runs across families; the Llama-style family is covered in-process (tests/test_causal.py)."""
import json
import subprocess
import sys

import yaml

from project import clone_of, env, run


def test_a_causal_lm_runs_the_whole_pipeline_and_compares_with_the_t5_run(pipeline_run, tmp_path, tiny_causal):
    repo = clone_of(pipeline_run.repo, tmp_path / "llm")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["model"]["name"] = str(tiny_causal["qwen2"])
    for stage in ("train_full", "train_lora"):
        params[stage].update(max_steps=6, eval_steps=3, save_steps=3, rouge_samples=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = run(["dvc", "repro"], repo)
    assert "through the chat template" in done.stdout and "pad token: <|pad|>" in done.stdout
    assert "full fine-tuning needs about" in done.stdout
    for model in ("base", "full", "lora"):
        rows = [json.loads(line) for line in (repo / f"data/predictions/{model}.jsonl").read_text().splitlines()]
        assert len(rows) == 18  # every test row: 6 dialogues x 3 references
        # the answer only: never the prompt, the template's markers or the user's instruction
        assert not any(marker in row["prediction"] for row in rows
                       for marker in ("Summarize", "#Person1#", "<|im_start|>", "assistant\n"))
    adapter = json.loads((repo / "models/lora/adapter_config.json").read_text())
    assert adapter["task_type"] == "CAUSAL_LM" and "down_proj" in adapter["target_modules"]
    assert "mean summary words" in (repo / "metrics/report.md").read_text()
    assert "changed" not in run(["dvc", "status"], repo).stdout  # a second repro would do nothing
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "qwen"], repo)
    compared = subprocess.run([sys.executable, "-m", "stages.compare", "HEAD~1", "HEAD", "--json"], cwd=repo,
                              env=env(), capture_output=True, text=True, timeout=300)
    assert compared.returncode == 0, compared.stderr[-3000:]
    result = json.loads(compared.stdout)
    assert set(result["models"]) == {"base", "full", "lora"} and "model.name" in result["params_diff"]
    assert all(result["outputs"][m][side]["dialogues"] == 6 and "mean_words" in result["outputs"][m][side]
               for m in result["models"] for side in "ab")
