"""The rank sweep, on `dvc exp show --json` captured from a real tiny project: a baseline commit at r=8
and two queued experiments (`-S 'lora.r=4,8'`). Only deps/outs and unused metrics files were trimmed."""
import copy
import csv
import json
from pathlib import Path

import pytest

from stages import rouge, sweep
from stages.errors import UserError

SAMPLE = Path(__file__).parent / "data" / "exp_show.json"


def experiments(exps):
    """(name, data) of each experiment below the baseline commit, read straight from the JSON."""
    return {state["name"]: state["data"] for group in exps[1]["experiments"] for state in group["revs"]}


def test_runs_reads_rank_rouge_and_parameters_of_each_experiment():
    exps = json.loads(SAMPLE.read_text())
    rows, notes = sweep.runs(exps, "mean_ref")
    by_name = experiments(exps)
    assert [row["rank"] for row in rows] == [4, 8]
    for row in rows:
        data = by_name[row["name"]]
        assert data["params"]["params.yaml"]["data"]["lora"]["r"] == row["rank"]
        lora = data["metrics"]["metrics/rouge.json"]["data"]["lora"]["mean_ref"]
        assert {key: row[key] for key in rouge.KEYS} == {key: lora[key] for key in rouge.KEYS}
        assert row["rougeL_low"] == lora["rougeL_low"]
        assert row["trainable_params"] == data["metrics"]["metrics/train_lora.json"]["data"]["trainable_params"]
    # r=8 twice: the baseline commit "main" and a newer experiment; the newer one counts
    assert rows[1]["name"] != "main" and any("main" in note for note in notes)
    assert rows[0]["trainable_params"] * 2 == rows[1]["trainable_params"]  # LoRA's size is linear in r


def test_unfinished_experiments_are_left_out_with_a_note(in_tmp):
    exps = json.loads(SAMPLE.read_text())
    broken = copy.deepcopy(exps)
    for group in broken[1]["experiments"]:
        for state in group["revs"]:
            if state["data"]["params"]["params.yaml"]["data"]["lora"]["r"] == 4:
                del state["data"]["metrics"]["metrics/rouge.json"]
                name = state["name"]
    rows, notes = sweep.runs(broken, "flat")
    assert [row["rank"] for row in rows] == [8]
    assert any(note.startswith(f"{name}: no finished results") for note in notes)
    Path("exps.json").write_text(json.dumps(broken))
    with pytest.raises(UserError, match="found 1 finished run"):
        sweep.main(["--json", "exps.json"])


def test_sweep_writes_chart_and_table(in_tmp):
    sweep.main(["--json", str(SAMPLE), "--mode", "max_ref"])
    table = list(csv.DictReader(Path("plots/sweep.csv").open()))
    assert len(table) == 2 * len(rouge.KEYS)
    assert {row["rank"] for row in table} == {"4", "8"}
    assert all(float(row["low"]) <= float(row["score"]) <= float(row["high"]) for row in table)
    assert Path("plots/sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input_is_a_user_error(in_tmp):
    Path("bad.json").write_text('{"not": "a list"}')
    with pytest.raises(UserError, match="expected the list"):
        sweep.main(["--json", "bad.json"])
    Path("bad.json").write_text("[{")
    with pytest.raises(UserError, match="not valid JSON"):
        sweep.main(["--json", "bad.json"])
    with pytest.raises(UserError, match="does not exist"):
        sweep.main(["--json", "missing.json"])
