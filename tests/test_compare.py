"""stages.compare: pure parts on made-up runs, and once on a real trained repo with an experiment."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stages import compare
from stages.experiments import forest, pairing, revision, verdict
from stages.scoring import rouge, stats
from stages.io.errors import UserError
from stages.experiments.runs import flat_params

DIALOGUES = [f"#Person1#: talk {i} about item{i}. #Person2#: fine." for i in range(6)]
SUMMARIES = [f"person one talks about item{i}" for i in range(6)]


def references(order=range(6), texts=DIALOGUES):
    """Two reference rows per dialogue, as DialogSum's test split has several."""
    return [{"id": f"test_{i}_{k}", "dialogue": texts[i], "summary": SUMMARIES[i] + (" today" if k else "")}
            for i in order for k in range(2)]


class FakeRun:
    """What compare_runs asks of a run, without git or DVC: a name, params, references, predictions."""

    def __init__(self, name, refs, predictions, params=None, commit=None, generation=None):
        self.name, self.refs, self.texts, self.params, self.commit = name, refs, predictions, params or {}, commit
        self.speeds = generation or {}

    def generation(self, model):
        return self.speeds.get(model)

    def references(self):
        return self.refs

    def predictions(self, model, refs):
        texts = self.texts.get(model)
        return None if texts is None else [texts[DIALOGUES.index(row["dialogue"])] for row in refs]


def test_param_diff_names_changed_added_and_removed_keys():
    a = flat_params({"lora": {"r": 8, "target_modules": ["q", "v"]}, "generate": {"num_beams": 1}})
    b = flat_params({"lora": {"r": 4, "target_modules": ["q", "v"]}, "extra": {"x": 1}})
    assert pairing.param_diff(a, b) == {"extra.x": (None, 1), "generate.num_beams": (1, None), "lora.r": (8, 4)}
    assert pairing.param_diff(a, dict(a)) == {}


def test_flat_params_drops_a_per_file_layer():
    assert flat_params({"params.yaml": {"lora": {"r": 4}}}) == {"lora.r": 4}


def test_different_dialogues_are_refused_naming_them():
    fewer = references(order=range(4))
    with pytest.raises(UserError, match=r"main and exp were scored on different dialogues \(6 and 4 dialogues; "
                                        r"2 only in main \(first 'test_4_0'\)\)"):
        pairing.check_same_dialogues(references(), fewer, "main", "exp")
    other = references(texts=[text + " Bye." for text in DIALOGUES])
    with pytest.raises(UserError, match="6 only in main.*6 only in exp"):
        pairing.check_same_dialogues(references(), other, "main", "exp")


def test_a_stray_space_is_the_same_dialogue_and_dialogue_ids_pair_runs():
    spaced = references()
    spaced[3] = dict(spaced[3], dialogue=spaced[3]["dialogue"] + " ")
    pairing.check_same_dialogues(references(), spaced, "a", "b")
    dialogsum_ids = [dict(row, id=f"test_{i // 2}_{i % 2 + 1}") for i, row in enumerate(references())]
    renamed = [dict(row, id=row["id"].replace("test_", "dlg_")) for row in dialogsum_ids]
    with pytest.raises(UserError, match="6 only in a.*6 only in b"):  # other dialogue ids: other dialogues
        pairing.check_same_dialogues(dialogsum_ids, renamed, "a", "b")


def test_different_references_for_the_same_dialogues_are_refused():
    changed = references()
    changed[5] = dict(changed[5], summary="something else")
    with pytest.raises(UserError, match=r"different reference summaries for 1 of them \(first 'test_2_0'\)"):
        pairing.check_same_dialogues(references(), changed, "a", "b")


def test_paired_difference_lines_up_dialogues_given_in_another_order():
    good = {model: SUMMARIES for model in ("base", "full", "lora")}
    worse = dict(good, lora=["nothing to see"] * 6)
    a = FakeRun("a", references(), good, {"lora.r": 8}, commit="1" * 40)
    b = FakeRun("b", references(order=[5, 4, 3, 2, 1, 0]), worse, {"lora.r": 4}, commit="2" * 40)
    result = pairing.compare_runs(a, b, resamples=200, seed=0, confidence=0.9)
    lora = result["models"]["lora"]["mean_ref"]
    assert lora["rouge1_diff"] < 0 and lora["rouge1_low"] <= lora["rouge1_diff"] <= lora["rouge1_high"] < 0
    assert lora["rouge1_p"] == pytest.approx(2 / 64)  # all 6 dialogues worse: exact test, 2 of 64 flips as extreme
    assert lora["rouge1_a"] - lora["rouge1_b"] == pytest.approx(-lora["rouge1_diff"], abs=1e-6)
    full = result["models"]["full"]["flat"]  # same summaries, reordered rows: exactly no difference
    assert (full["rouge1_diff"], full["rouge1_p"]) == (0, 1)
    assert result["params_diff"] == {"lora.r": [8, 4]} and result["dialogues"] == 6
    assert "full: the same summaries in both runs" in " ".join(result["notes"])
    text = verdict.table(result, "mean_ref")
    assert "b minus a" in text and "params that differ: lora.r 8 -> 4" in text


def made_up_result(cells: dict, a="a", b="b") -> dict:
    """compare_runs' result for base and lora in mean_ref: p = 1 unless `cells` {(model, key): (diff, p_holm)}."""
    models = {}
    for model in ("base", "lora"):
        m = {}
        for key in rouge.KEYS:
            diff, p_holm = cells.get((model, key), (0.0, 1.0))
            m.update({f"{key}_a": 0.3, f"{key}_b": 0.3 + diff, f"{key}_diff": diff, f"{key}_low": diff - 0.01,
                      f"{key}_high": diff + 0.01, f"{key}_p": p_holm / 8, f"{key}_p_holm": p_holm})
        models[model] = {"mean_ref": m}
    return {"a": a, "b": b, "dialogues": 500, "rows": 1500, "resamples": 10000, "seed": 0, "confidence": 0.95,
            "params_diff": {}, "models": models, "notes": []}


def test_holm_adjusts_within_the_mode_and_the_table_calls_significant_only_below_alpha():
    good = {model: SUMMARIES for model in ("base", "full", "lora")}
    worse = dict(good, lora=["nothing to see"] * 6, full=SUMMARIES[:3] + ["talks"] * 3)
    result = pairing.compare_runs(FakeRun("a", references(), good), FakeRun("b", references(), worse),
                                  resamples=200, seed=0, confidence=0.9)
    for mode in rouge.MODES:  # one family per mode: 3 models x 4 variants
        raw = np.array([[m[mode][f"{key}_p"] for key in rouge.KEYS] for m in result["models"].values()])
        adjusted = np.array([[m[mode][f"{key}_p_holm"] for key in rouge.KEYS] for m in result["models"].values()])
        assert adjusted == pytest.approx(stats.holm(raw), abs=1e-5)
    assert result["models"]["lora"]["mean_ref"]["rouge1_p_holm"] > 0.1  # 2/64 x 12 comparisons: not significant
    assert "none of the 12 differences is significant after Holm's correction (p_holm < 0.1)" in \
        verdict.table(result, "mean_ref")

    made = made_up_result({("lora", "rouge1"): (-0.05, 0.049), ("lora", "rouge2"): (0.05, 0.05),
                           ("base", "rougeL"): (0.02, 0.0001)}, a="main", b="exp")
    text = verdict.table(made, "mean_ref")
    assert "8 comparisons" in text and text.count(" higher") == 2
    assert "significant after Holm's correction (p_holm < 0.05): base rougeL (exp higher); lora rouge1 (main " \
           "higher)" in text  # and not lora rouge2, whose p_holm is 0.05


def test_names_with_dollar_signs_are_drawn_as_text_not_mathtext(in_tmp):
    made = made_up_result({("lora", "rouge1"): (-0.05, 0.049)}, a="x$a_$", b="main")  # "main minus x$a_$ ..."
    forest.forest(made, "mean_ref", in_tmp / "forest.png")
    assert (in_tmp / "forest.png").read_bytes()[:4] == b"\x89PNG"


def test_generation_speed_and_engine_of_both_runs_are_shown_side_by_side():
    a = FakeRun("HEAD", references(), {"base": SUMMARIES, "lora": SUMMARIES},
                generation={"base": {"s_per_dialogue": 0.5, "engine": "torch", "compute_type": "float32"},
                            "lora": {"s_per_dialogue": 0.5, "precision": "fp32"}})  # a run from before engines
    b = FakeRun("ct2", references(), {"base": SUMMARIES, "lora": SUMMARIES},
                generation={"base": {"s_per_dialogue": 0.125, "engine": "ctranslate2", "compute_type": "int8"}})
    text = verdict.table(pairing.compare_runs(a, b, resamples=50, seed=0, confidence=0.9), "mean_ref")
    assert ("speed  base   A 0.5000 s/dialogue (torch float32), B 0.1250 s/dialogue (ctranslate2 int8): "
            "B 4.00x as fast") in text
    assert "speed  lora" not in text  # B recorded no speed for lora: nothing to set side by side


def test_a_model_missing_in_one_run_is_left_out_and_none_at_all_is_refused():
    a = FakeRun("a", references(), {"base": SUMMARIES, "lora": SUMMARIES})
    b = FakeRun("b", references(), {"base": SUMMARIES})
    result = pairing.compare_runs(a, b, resamples=50, seed=0, confidence=0.9)
    assert list(result["models"]) == ["base"] and "lora: no predictions in b; left out" in result["notes"]
    with pytest.raises(UserError, match="no model has predictions in both a and c"):
        pairing.compare_runs(a, FakeRun("c", references(), {}), resamples=50, seed=0, confidence=0.9)


def test_the_same_commit_twice_is_said():
    runs = [FakeRun(name, references(), {"base": SUMMARIES}, commit="f" * 40) for name in ("main", "HEAD")]
    result = pairing.compare_runs(*runs, resamples=50, seed=0, confidence=0.9)
    assert result["notes"][0] == f"main and HEAD are the same commit ({'f' * 7}): nothing can differ"


def test_outside_a_project_is_a_user_error(in_tmp):
    with pytest.raises(UserError, match="project's folder"):
        compare.main([])


@pytest.mark.slow
def test_compare_main_with_an_experiment_on_a_trained_repo(trained_with_experiment):
    from project import env

    repo = trained_with_experiment
    done = subprocess.run([sys.executable, "-m", "stages.compare", "main", "lora-r4", "--json"], cwd=repo,
                          env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["a"], result["b"]) == ("main", "lora-r4")
    assert result["params_diff"] == {"lora.r": [8, 4]}
    assert set(result["models"]) == {"base", "full", "lora"}
    # the baselines on the shared dialogues, how many different summaries each run wrote, where each was timed
    assert set(result["baselines"]) == {"lead3", "longest3"}
    assert all(result["outputs"][model][side]["dialogues"] == result["dialogues"] for model in result["models"]
               for side in "ab")
    assert all(result["generation"][model][side]["cpu_model"] for model in result["models"] for side in "ab")
    # each side really read its own rev: only lora.r changed, so only lora's summaries may differ
    assert any(result["models"]["lora"][mode][f"{key}_diff"] != 0 for mode in rouge.MODES for key in rouge.KEYS)
    assert all(result["models"][model][mode][f"{key}_diff"] == 0 for model in ("base", "full")
               for mode in rouge.MODES for key in rouge.KEYS)
    for modes in result["models"].values():
        for mode in rouge.MODES:
            for key in rouge.KEYS:
                m = modes[mode]
                assert m[f"{key}_low"] <= m[f"{key}_diff"] <= m[f"{key}_high"] and 0 < m[f"{key}_p"] <= 1
    assert (repo / "plots" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "plots/compare.png" not in subprocess.run(["git", "status", "--porcelain"], cwd=repo, env=env(),
                                                     capture_output=True, text=True).stdout  # git-ignored
    for plot, why in (("plots/rouge.png", "pipeline's output plots/rouge.png"),
                      ("plots", "holds the pipeline's output"),
                      ("params.yaml", "tracks: it is never replaced here, not even with --force")):
        refused = subprocess.run([sys.executable, "-m", "stages.compare", "--plot", plot], cwd=repo, env=env(),
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode == 1 and why in refused.stderr, refused.stderr
    unknown = subprocess.run([sys.executable, "-m", "stages.compare", "main", "no-such-rev"], cwd=repo, env=env(),
                             capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: cannot read revision 'no-such-rev'")
    assert "Traceback" not in unknown.stderr


MACHINE = {"cpu_model": "AMD EPYC 7B13", "cpu_count": 2, "load_average_1min": 0.1}


@pytest.mark.parametrize("a, b, said", [
    (MACHINE, MACHINE, "B 4.00x as fast"),
    (MACHINE, dict(MACHINE, load_average_1min=0.5), "B 4.00x as fast"),  # 0.05 and 0.25 per CPU: alike
    # the issue's case: one run beside other work
    (MACHINE, dict(MACHINE, load_average_1min=1.9), "not comparable: measured under different load (1-minute "
                                                    "load average per CPU before generating: A 0.05, B 0.95)"),
    (MACHINE, dict(MACHINE, cpu_model="Intel Xeon"), "not comparable: different machines (A AMD EPYC 7B13, 2 "
                                                     "CPUs, B Intel Xeon, 2 CPUs)"),
    (MACHINE, dict(MACHINE, gpu="NVIDIA H100"), "not comparable: different machines"),
    (MACHINE, dict(MACHINE, load_average_1min=None), "B 4.00x as fast"),  # load not recorded: machine alone
    ({}, MACHINE, "B 4.00x as fast (the machine is not recorded for A: comparable only if both ran on one machine "
                  "under like load)"),
])
def test_speed_from_other_machines_or_load_is_not_comparable(a, b, said):
    generation = {"base": {"a": dict(a, s_per_dialogue=0.5), "b": dict(b, s_per_dialogue=0.125)}}
    line, = verdict.speed_lines(generation)
    assert line.split(" s/dialogue (torch): ")[-1].startswith(said), line
    assert ("x as fast" in line) == ("not comparable" not in line)


def test_a_run_writing_one_summary_is_named_and_never_simply_higher():
    """Both runs' lora write one string for every dialogue: B's, close to the references, scores above the
    baseline and A's: the table says what each wrote, and that A's does not beat the baseline."""
    a = FakeRun("main", references(), {"lora": ["nothing to see here at all"] * 6})
    b = FakeRun("exp", references(), {"lora": ["person one talks about it"] * 6})
    result = pairing.compare_runs(a, b, resamples=200, seed=0, confidence=0.9)
    assert result["outputs"]["lora"]["b"]["distinct_summaries"] == 1
    assert set(result["baselines"]) == {"lead3", "longest3"}
    made = dict(result, models={"lora": {"mean_ref": dict(result["models"]["lora"]["mean_ref"], rouge1_p_holm=0.01)}})
    text = verdict.table(made, "mean_ref")
    assert "lora rouge1 (exp higher, but lora in exp writes one summary for most dialogues)" in text
    assert "note: lora in exp writes one summary for most dialogues (100% of 6): 1 distinct summary in all." in text
    assert "note: lora in main writes one summary for most dialogues" in text
    assert "baselines on these dialogues, mean_ref: lead3 rouge1 " in text
    assert "note: lora in main does not beat the better baseline, lead3: ROUGE-L 0.0000 against 0.4808" in text
    assert "lora in exp does not beat" not in text


@pytest.mark.parametrize("name", ["\x1b[2J\x1b[31mred", "a\rnote: overwritten", "b\nnote: forged line",
                                  "c\u202eexe", "d\x9b2J"])
def test_hostile_run_names_params_and_engines_print_on_their_own_lines_without_escapes(name):
    made = made_up_result({}, a=name, b="main")
    made["params_diff"] = {f"key{name}": [name, "=1"]}
    made["notes"] = [f"{name}: no predictions"]
    made["generation"] = {"lora": {"a": {"s_per_dialogue": 0.5, "engine": name}, "b": {"s_per_dialogue": 0.5}}}
    text = verdict.table(made, "mean_ref")
    assert not [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c == "\u202e"]
    assert len([line for line in text.splitlines() if line.startswith("note:")]) == 1
    assert len(text.splitlines()) == len(verdict.table(made_up_result({}), "mean_ref").splitlines()) + 2


@pytest.mark.parametrize("failing", ["isdir", "exists", "info", "get"])
def test_a_run_whose_data_is_in_neither_the_cache_nor_the_remote_is_one_message(failing, tmp_path):
    """A fresh clone, nothing pulled: DVC's DataIndexDirError came out of fs.isdir as a traceback."""
    from dvc_data.index.index import DataIndexDirError

    class Unfetched:
        def __getattr__(self, name):
            def call(*args, **kwargs):
                if name == failing:
                    raise DataIndexDirError("failed to load directory ('data', 'prepared')")
                return {"isdir": True, "exists": True, "info": {"md5": "x"}}.get(name)
            return call

    run = revision.Run.__new__(revision.Run)
    run.fs, run.name, run.params, run.scratch = Unfetched(), "HEAD~1", {}, tmp_path
    with pytest.raises(UserError, match="HEAD~1.*dvc pull|HEAD~1.*dvc push"):
        run.references()
