"""The sweep, on `dvc exp show --json` captured from a real tiny project (a baseline commit at r=8 and two
queued experiments, `-S 'lora.r=4,8'`), and on made-up states for grouping and replicates."""
import copy
import csv
import json
import re
from pathlib import Path

import pytest

from stages import sweep
from stages.scoring import rouge
from stages.experiments import runs
from stages.io.errors import UserError

SAMPLE = Path(__file__).parent / "fixtures" / "exp_show.json"


def experiments(exps):
    """(name, data) of each experiment below the baseline commit, read straight from the JSON."""
    return {state["name"]: state["data"] for group in exps[1]["experiments"] for state in group["revs"]}


def state(name, score, r=8, seed=42, beams=1, time="2026-01-01T00:00:00", trainable=100, code="aa"):
    """A finished run as `dvc exp show --json` lists it, with only what the sweep reads."""
    lora = {key: score for key in rouge.KEYS}  # the lean headline: primary mode, no intervals
    return {"rev": f"{name}-sha", "name": name, "data": {
        "timestamp": time, "deps": {"stages/generate.py": {"hash": code * 16}, "data/prepared": {"hash": name}},
        "params": {"params.yaml": {"data": {"lora": {"r": r, "target_modules": ["q", "v"]},
                                            "train_lora": {"seed": seed}, "generate": {"num_beams": beams}}}},
        "metrics": {"metrics/rouge.json": {"data": {"lora": lora}},
                    "metrics/efficiency.json": {"data": {"lora": {
                        "trainable_params": trainable, "train_runtime_s": 10.0, "peak_memory_bytes": 2 ** 20}}}}}}


def sweep_of(states, param="lora.r"):
    rows, left = sweep.collect(states, param, "lora", "mean_ref")
    return sweep.groups(rows, param), left


def test_collect_reads_rank_rouge_and_parameters_of_each_experiment():
    exps = json.loads(SAMPLE.read_text())
    rows, left = sweep.collect(exps, "lora.r", "lora", "mean_ref")
    by_name = experiments(exps)
    for row in rows:
        if row["name"] not in by_name:
            continue
        data = by_name[row["name"]]
        assert data["params"]["params.yaml"]["data"]["lora"]["r"] == row["value"]
        lora = data["metrics"]["metrics/rouge.json"]["data"]["lora"]["mean_ref"]
        assert {key: row[key] for key in rouge.KEYS} == {key: lora[key] for key in rouge.KEYS}
        assert row["rougeL_low"] == lora["rougeL_low"]
        assert row["trainable_params"] == data["metrics"]["metrics/train_lora.json"]["data"]["trainable_params"]
    assert sorted(row["value"] for row in rows) == [4, 8, 8]  # main (r=8) and two experiments
    points, repeats = sweep.replicates(sweep.groups(rows, "lora.r")[0]["runs"])
    # r=8 twice with the same seed: the baseline commit "main" and a newer experiment; the newer one counts
    assert [p["value"] for p in points] == [4, 8] and points[1]["n"] == 1 and "main" not in points[1]["names"]
    assert repeats == ["main"]
    assert points[0]["trainable_params"] * 2 == points[1]["trainable_params"]  # LoRA's size is linear in r


def test_runs_whose_other_params_differ_are_kept_apart_and_named():
    found, _ = sweep_of([state("a", 0.1, r=4), state("b", 0.2, r=8), state("c", 0.3, r=16),
                         state("beam", 0.9, r=32, beams=2)])
    assert [sorted(r["name"] for r in g["runs"]) for g in found] == [["a", "b", "c"], ["beam"]]
    assert found[0]["differs"] == [] and found[1]["differs"] == ["generate.num_beams 1 -> 2"]
    found, _ = sweep_of([state("a", 0.1, r=4), state("b", 0.2, r=8), state("new", 0.3, r=16, code="bb")])
    assert found[1]["differs"] == ["code stages/generate.py 'aaaaaaaa' -> 'bbbbbbbb'"]  # other outputs' hashes ignored


def test_replicates_differing_only_in_seed_are_averaged_with_their_spread():
    found, _ = sweep_of([state("s1", 0.2, r=4, seed=1), state("s2", 0.4, r=4, seed=2), state("b", 0.5, r=8)])
    assert len(found) == 1  # the seed is not a difference that splits groups
    points, _ = sweep.replicates(found[0]["runs"])
    four = points[0]
    assert four["n"] == 2 and four["rouge1"] == pytest.approx(0.3)
    assert four["rouge1_sd"] == pytest.approx(0.1414213, abs=1e-6)  # sample sd of 0.2 and 0.4
    assert (four["rouge1_low"], four["rouge1_high"]) == (0.2, 0.4)
    assert points[1]["n"] == 1 and points[1]["rouge1_sd"] is None


def test_any_param_can_be_swept_and_a_missing_one_is_named():
    found, _ = sweep_of([state("g", 0.1, beams=1), state("b", 0.2, beams=4)], param="generate.num_beams")
    assert [r["value"] for r in found[0]["runs"]] == [1, 4]
    rows, left = sweep.collect([state("g", 0.1)], "lora.alpha", "lora", "mean_ref")
    assert rows == [] and left == {"with no param lora.alpha in params.yaml": ["g"]}


def test_frontier_keeps_only_runs_no_cheaper_run_beats():
    points = [{"value": v, "cost": c, "rougeL": s} for v, c, s in [(4, 1, 0.2), (8, 2, 0.1), (16, 3, 0.3)]]
    assert [p["value"] for p in sweep.frontier(points, "cost", "rougeL")] == [4, 16]


def test_refuses_when_only_mismatched_runs_differ_in_the_param(in_tmp):
    Path("exps.json").write_text(json.dumps([state("a", 0.1, r=4), state("b", 0.2, r=8, beams=2)]))
    with pytest.raises(UserError, match=r"no two finished runs.*generate.num_beams 1 -> 2"):
        sweep.main(["--json", "exps.json"])


def test_metrics_reader_reads_the_lean_layout_and_refuses_a_mode_it_lacks():
    values = runs.metrics(state("lean", 0.3), "lora", "mean_ref")
    assert values["rougeL"] == 0.3 and values["rougeL_low"] is None and values["trainable_params"] == 100
    with pytest.raises(KeyError, match="holds only lora's mean_ref scores, not flat"):
        runs.metrics(state("lean", 0.3), "lora", "flat")


def test_unfinished_experiments_are_left_out_with_a_note(in_tmp):
    exps = json.loads(SAMPLE.read_text())
    broken = copy.deepcopy(exps)
    for group in broken[1]["experiments"]:
        for entry in group["revs"]:
            if entry["data"]["params"]["params.yaml"]["data"]["lora"]["r"] == 4:
                del entry["data"]["metrics"]["metrics/rouge.json"]
                name = entry["name"]
    rows, left = sweep.collect(broken, "lora.r", "lora", "flat")
    assert {row["value"] for row in rows} == {8}
    assert left == {"with no finished results (metrics/rouge.json lora)": [name]}
    Path("exps.json").write_text(json.dumps(broken))
    with pytest.raises(UserError, match="no two finished runs that differ in lora.r"):
        sweep.main(["--json", "exps.json"])


def test_sweep_writes_charts_and_table(in_tmp):
    Path("exps.json").write_text(json.dumps([state("a", 0.1, r=4, seed=1), state("a2", 0.3, r=4, seed=2),
                                             state("b", 0.2, r=8), state("beam", 0.9, r=8, beams=2)]))
    sweep.main(["--json", "exps.json"])
    table = list(csv.DictReader(Path("plots/sweep.csv").open()))
    assert len(table) == 3 * len(rouge.KEYS)  # r=4 (2 seeds), r=8, and the apart group's r=8
    assert {row["group"] for row in table} == {"sweep", "apart: generate.num_beams 1 -> 2"}
    assert [row["runs"] for row in table if row["metric"] == "rouge1"] == ["2", "1", "1"]
    assert [(row["low"], row["high"]) for row in table if row["runs"] == "2"][0] == ("0.1", "0.3")  # min, max
    assert {row["low"] for row in table if row["runs"] == "1"} == {""}  # the lean metrics hold no interval
    for name in ("sweep.png", "sweep_cost.png"):
        assert Path("plots", name).read_bytes()[:4] == b"\x89PNG"


def test_a_second_sweep_replaces_its_own_files_and_never_the_users(in_tmp):
    Path("exps.json").write_text(json.dumps([state("a", 0.1, r=4), state("b", 0.2, r=8)]))
    sweep.main(["--json", "exps.json"])
    sweep.main(["--json", "exps.json"])  # the second run replaces what the first wrote
    Path("plots/sweep.csv").write_text("my own notes\n")
    with pytest.raises(UserError, match="plots/sweep.csv already exists and nothing shows this command wrote it"):
        sweep.main(["--json", "exps.json"])
    assert Path("plots/sweep.csv").read_text() == "my own notes\n"
    Path("plots/sweep.csv").unlink()
    Path("plots/sweep_cost.png").write_bytes(b"\x89PNG the user's chart")
    with pytest.raises(UserError, match="plots/sweep_cost.png already exists"):
        sweep.main(["--json", "exps.json"])
    assert not Path("plots/sweep.csv").exists()  # refused before writing anything
    sweep.main(["--json", "exps.json", "--force"])
    assert Path("plots/sweep_cost.png").read_bytes() != b"\x89PNG the user's chart"


def test_bad_input_is_a_user_error(in_tmp):
    Path("bad.json").write_text('{"not": "a list"}')
    with pytest.raises(UserError, match="expected the list"):
        sweep.main(["--json", "bad.json"])
    Path("bad.json").write_text("[{")
    with pytest.raises(UserError, match="not valid JSON"):
        sweep.main(["--json", "bad.json"])
    with pytest.raises(UserError, match="does not exist"):
        sweep.main(["--json", "missing.json"])


def test_a_saved_file_in_utf16_or_with_a_bom_is_read_and_anything_else_is_one_error(in_tmp):
    exps = [state("a", 0.1, r=4), state("b", 0.2, r=8)]
    for encoding in ("utf-16-le", "utf-8-sig", "utf-32"):
        assert runs.parse(json.dumps(exps).encode(encoding), "exps.json") == exps
    Path("exps.json").write_bytes(json.dumps(exps).encode("utf-16"))  # PowerShell's `>`: UTF-16 with a BOM
    sweep.main(["--json", "exps.json"])
    assert Path("plots/sweep.csv").is_file()
    Path("bad.json").write_bytes(b'[{"rev": "\xff\xfe\xfa"}]')
    with pytest.raises(UserError, match="bad.json: not UTF-8, UTF-16 or UTF-32 text"):
        sweep.main(["--json", "bad.json"])


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "item 1 of the list is 1, not a run"),
    ('[["a"]]', 'item 1 of the list is \\["a"\\], not a run'),
    ('[{"name": "x"}]', 'item 1 of the list is {"name": "x"}, not a run'),
    ("[]", "found no two finished runs"),
    ("[" * 100_000, "nested too deeply"),  # deeper than Python's stack
    ('[{"rev": ' + "9" * 5000 + "}]", "over 4,300 digits"),  # json.loads raised a plain ValueError: a traceback
])
def test_a_list_that_is_not_dvc_exp_show_output_is_one_error(in_tmp, content, message):
    Path("exps.json").write_text(content)
    with pytest.raises(UserError, match=message):
        sweep.main(["--json", "exps.json"])


def test_odd_values_inside_runs_leave_those_runs_out_instead_of_failing(in_tmp):
    odd = [{"rev": "r1", "data": "text"}, {"rev": "r2", "data": {"params": [1], "metrics": {"m": 3}}},
           {"rev": "r3", "experiments": [1, {"revs": "x"}, {"revs": [2, {"rev": "r4", "data": {"deps": [1]}}]}]},
           {"rev": "r5", "data": {"params": {"params.yaml": {"data": {"lora": {"r": 4}}}},
                                  "metrics": {"metrics/rouge.json": {"data": {"lora": [1]}}},
                                  "deps": {"stages/a.py": {"hash": None}}, "timestamp": 7}}]
    rows, left = sweep.collect(odd, "lora.r", "lora", "mean_ref")
    assert rows == [] and sorted(sum(left.values(), [])) == ["r1", "r2", "r3", "r4", "r5"]
    hashless = state("a", 0.1, r=4)
    hashless["data"]["deps"]["stages/generate.py"]["hash"] = None
    rows, _ = sweep.collect([hashless, state("b", 0.2)], "lora.r", "lora", "mean_ref")
    assert rows[0]["params"]["code stages/generate.py"] == ""


def test_non_finite_numbers_in_a_saved_file_leave_those_runs_out_and_never_reach_a_chart(in_tmp):
    """A hand-edited or foreign `--json` may hold NaN, Infinity (Python's json reads both) or an integer beyond a
    float: a NaN score was charted and tabled as nan, and an r of 10**400 was a traceback from matplotlib."""
    nan_score = state("nan", float("nan"), r=4)
    inf_score = state("inf", float("inf"), r=32)
    huge_r, nan_r = state("huge", 0.3, r=10 ** 400), state("nanr", 0.3, r=float("nan"))
    odd_cost = state("cost", 0.25, r=16)
    odd_cost["data"]["metrics"]["metrics/efficiency.json"]["data"]["lora"].update(
        trainable_params=float("inf"), train_runtime_s=True)
    states = [nan_score, inf_score, huge_r, nan_r, odd_cost, state("a", 0.1, r=8)]
    rows, left = sweep.collect(states, "lora.r", "lora", "mean_ref")
    assert sorted(row["name"] for row in rows) == ["a", "cost"]
    assert left == {"with no finished results (metrics/rouge.json lora)": ["nan", "inf"],
                    "with lora.r not a finite number": ["huge", "nanr"]}
    cost = next(row for row in rows if row["name"] == "cost")
    assert cost["trainable_params"] is None and cost["train_runtime_s"] is None and cost["peak_memory_bytes"] == 2 ** 20
    Path("exps.json").write_text(json.dumps(states))
    sweep.main(["--json", "exps.json"])  # charts of the two good runs, no traceback
    assert Path("plots/sweep.png").is_file()


def test_finite_numbers_too_large_for_a_chart_leave_those_runs_out(in_tmp):
    """r = 1e308 and -1e308 (finite) were a matplotlib traceback (its ticks overflow), after plots/sweep.csv was
    already replaced; a trainable count of 1e308 the same."""
    huge = state("cost", 0.25, r=16)
    huge["data"]["metrics"]["metrics/efficiency.json"]["data"]["lora"]["trainable_params"] = -1e308
    states = [state("big", 0.1, r=1e308), state("small", 0.2, r=-1e308), huge, state("a", 0.1, r=4),
              state("b", 0.3, r=8)]
    rows, left = sweep.collect(states, "lora.r", "lora", "mean_ref")
    assert sorted(row["name"] for row in rows) == ["a", "b", "cost"]
    assert left == {"with lora.r not a finite number": ["big", "small"]}
    assert next(row for row in rows if row["name"] == "cost")["trainable_params"] is None
    Path("exps.json").write_text(json.dumps(states))
    sweep.main(["--json", "exps.json"])
    assert Path("plots/sweep_cost.png").is_file()


def test_runs_left_out_are_counted_in_one_line(in_tmp, capsys):
    """`-A` on a long history: most commits predate the pipeline or repeat a run; one line says so."""
    states = [state("a", 0.1, r=4), state("b", 0.2, r=8)]
    states += [{"rev": f"old{i:03d}", "data": {"params": {}}} for i in range(150)]
    no_rouge = [state(f"bare{i}", 0.1, r=8) for i in range(40)]
    for entry in no_rouge:
        del entry["data"]["metrics"]["metrics/rouge.json"]
    states += no_rouge + [state(f"again{i}", 0.2, r=8, time=f"2025-01-01T00:00:{i:02d}") for i in range(14)]
    Path("exps.json").write_text(json.dumps(states))
    sweep.main(["--json", "exps.json"])
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == ["note: left out 204 of 206 runs: 150 with no param lora.r in params.yaml: old000, old001, "
                     "old002 and 147 more; 40 with no finished results (metrics/rouge.json lora): bare0, bare1, "
                     "bare2 and 37 more; 14 repeating a newer run with the same params, code and seeds (the newer "
                     "is used): again0, again1, again2 and 11 more"]


def test_by_default_experiments_of_every_baseline_are_read_not_only_heads(in_tmp, monkeypatch):
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return type("Done", (), {"returncode": 0, "stdout": json.dumps([state("a", 0.1, r=4)]), "stderr": ""})()

    monkeypatch.setattr(runs.subprocess, "run", fake_run)
    monkeypatch.setattr(runs, "baselines", lambda: ["1" * 40, "2" * 40])
    for argv in ([], ["-a"]):
        with pytest.raises(UserError, match="no two finished runs"):  # one run: stops before drawing
            sweep.main(argv)
    assert calls[0][-7:] == ["--json", "--rev", "HEAD", "--rev", "1" * 40, "--rev", "2" * 40]
    assert calls[1][-1] == "-a" and calls[1].count("--rev") == 3


def test_all_commits_is_passed_through_to_dvc_exp_show(in_tmp, monkeypatch):
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return type("Done", (), {"returncode": 0, "stdout": json.dumps([state("a", 0.1, r=4), state("b", 0.2)]),
                                 "stderr": ""})()

    monkeypatch.setattr(runs.subprocess, "run", fake_run)
    sweep.main(["-A"])
    assert calls[0][-4:] == ["exp", "show", "--json", "-A"]
    assert Path("plots/sweep.csv").is_file()


@pytest.mark.slow
def test_experiments_are_found_after_a_commit_moves_head_past_their_baseline(pipeline_run, lora_experiment,
                                                                             tmp_path):
    """The found case: experiment lora-r4 was made from main; after any commit, `dvc exp show` alone lists
    HEAD's experiments only (none), and the sweep said it found no two runs."""
    import shutil
    import subprocess
    import sys

    from project import env, run

    repo = shutil.copytree(pipeline_run.repo, tmp_path / "repo", symlinks=True)  # the shared run stays as it is
    (repo / "NOTES.md").write_text("a note\n")
    run(["git", "add", "NOTES.md"], repo)
    run(["git", "commit", "-qm", "a note"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    assert not any(entry.get("experiments") for entry in shown)  # DVC's default view: none of them
    done = subprocess.run([sys.executable, "-m", "stages.sweep"], cwd=repo, env=env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"lora\.r=4 .*\[lora-r4\]", done.stdout) and re.search(r"lora\.r=8 .*\[main\]", done.stdout)
    # the commit made from main repeats main's run (same params and code): counted in the one note line
    notes = [line for line in done.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "1 repeating a newer run" in notes[0], done.stdout


def test_param_values_and_group_labels_with_dollar_signs_are_drawn_as_text(in_tmp):
    """matplotlib reads text between two `$` as mathtext: `x$a_$` as a value or in a label failed to draw."""
    named = []
    for name, tag, other in (("a", "x$a_$", "1"), ("b", "y$b_$", "1"), ("c", "x$a_$", "$q_$")):
        entry = state(name, 0.1 if name == "a" else 0.2)
        entry["data"]["params"]["params.yaml"]["data"]["tag"] = {"name": tag, "other": other}
        named.append(entry)
    Path("exps.json").write_text(json.dumps(named))
    sweep.main(["--json", "exps.json", "--param", "tag.name"])
    assert Path("plots/sweep.png").read_bytes()[:4] == b"\x89PNG"
    table = list(csv.DictReader(Path("plots/sweep.csv").open()))
    assert {row["tag.name"] for row in table} == {"x$a_$", "y$b_$"}  # the data keeps its dollars


HOSTILE_NAMES = ["\x1b[2J\x1b[31mred", "a\rnote: overwritten", "b\nnote: forged line", "=HYPERLINK(\"http://x\",\"y\")",
                 "@SUM(A1)", "c\u202eexe.txt"]


def test_hostile_experiment_names_and_values_reach_neither_the_terminal_nor_a_spreadsheet_as_code(in_tmp, capsys):
    """Names and values of a saved file printed ANSI escapes and forged lines, and became formulas in sweep.csv."""
    states = [state(name, 0.1 + i / 10, r=4 if i % 2 else 8, seed=i) for i, name in enumerate(HOSTILE_NAMES)]
    for entry, value in zip(states, ("=1+1", "-2", "+cmd", "@x", "\x1b]0;t\x07", "ok")):
        entry["data"]["params"]["params.yaml"]["data"]["tag"] = value  # a param every run holds, all different
    states.append({"rev": "norun\x1b[1m", "name": "c\nnote: forged", "data": {"params": {}}})
    Path("exps.json").write_text(json.dumps(states))
    sweep.main(["--json", "exps.json", "--param", "tag"])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert [line for line in out.splitlines() if line.startswith("note:")] == \
        [line for line in out.splitlines() if line.startswith("note: left out")]  # no forged note line
    cells = [cell for row in csv.reader(Path("plots/sweep.csv").open(newline="")) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))
                or (cell.startswith("-") and not re.fullmatch(r"-[\d.e+-]+", cell))], cells
    assert "'=1+1" in cells and "'=HYPERLINK(\"http://x\",\"y\")" in " ".join(cells)
