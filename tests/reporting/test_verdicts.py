"""What the report, the page and stages.compare say in words: degenerate output, the better baseline, and
whether a model beats it; a verdict never calls a degenerate model higher without saying so."""
import pytest

from stages.reporting import report, verdicts
from stages.scoring import diversity
from stages.scoring.rouge import KEYS


@pytest.mark.parametrize("summaries, degenerate", [
    (["same"] * 100, True),                                # the issue's LoRA: one string for all 100
    (["same"] * 51 + [f"s{i}" for i in range(49)], True),  # one summary for more than half
    (["same"] * 50 + [f"s{i}" for i in range(50)], False),  # exactly half, 51 distinct: not
    ([f"s{i % 10}" for i in range(100)], True),            # 10 strings rotated: distinct <= 10% of dialogues
    ([f"s{i % 11}" for i in range(100)], False),
    ([""] * 6, True),                                      # nothing, for every dialogue
    (["one"], False),                                      # one dialogue: nothing to tell
    ([], False),
])
def test_the_degenerate_rule(summaries, degenerate):
    counts = diversity.count(summaries)
    assert verdicts.degenerate(counts) == degenerate
    assert bool(verdicts.degenerate_note("lora", counts)) == degenerate
    assert bool(verdicts.caveat("lora", counts)) == degenerate


def test_degenerate_notes_say_what_was_written():
    assert verdicts.degenerate_note("lora", diversity.count(["x"] * 100)).startswith(
        "lora writes one summary for most dialogues (100% of 100): 1 distinct summary in all. It ignores its input")
    assert verdicts.degenerate_note("full", diversity.count([""] * 4 + ["a"])).startswith(
        "full writes an empty summary for most dialogues (80% of 5): 2 distinct summaries")
    assert verdicts.degenerate_note("base", diversity.count([f"s{i % 5}" for i in range(60)])).startswith(
        "base writes only 5 different summaries for 60 dialogues")


def scores_of(lead3, longest3):
    return {name: {"mean_ref": {"rougeL": value}} for name, value in (("lead3", lead3), ("longest3", longest3))}


def test_the_better_baseline_is_the_higher_rouge_l_and_lead3_on_a_tie():
    assert verdicts.better_baseline(scores_of(0.2, 0.3), "mean_ref") == "longest3"
    assert verdicts.better_baseline(scores_of(0.3, 0.2), "mean_ref") == "lead3"
    assert verdicts.better_baseline(scores_of(0.25, 0.25), "mean_ref") == "lead3"
    assert verdicts.better_baseline({"lora": {}}, "mean_ref") is None


def paired(diffs: dict, p_holm: dict) -> dict:
    """One mode of `<model>_vs_<baseline>`: difference and Holm-adjusted p per variant (1.0 and 0 otherwise)."""
    out = {}
    for key in KEYS:
        out.update({f"{key}_diff": diffs.get(key, 0.0), f"{key}_low": -0.1, f"{key}_high": 0.1,
                    f"{key}_p": p_holm.get(key, 1.0), f"{key}_p_holm": p_holm.get(key, 1.0)})
    return out


ALL = {key: 0.01 for key in KEYS}
UP = {key: 0.05 for key in KEYS}


@pytest.mark.parametrize("diffs, p_holm, outputs, said", [
    (UP, ALL, ["a", "b", "c"], "lora beats the better baseline, lead3, on all four ROUGE variants (p (Holm) < 0.05)."),
    # the issue's case: one string for every dialogue, ahead of the baseline on every variant: said with it
    (UP, ALL, ["a"] * 3, "lora beats the better baseline, lead3, on all four ROUGE variants (p (Holm) < 0.05), but "
                         "lora writes one summary for most dialogues."),
    ({**UP, "rouge2": -0.02}, ALL, ["a", "b", "c"], "lora does not beat the better baseline, lead3: lead3 is "
     "significantly higher on ROUGE-2 (significantly higher on ROUGE-1, ROUGE-L, ROUGE-Lsum only) (ROUGE-L lora "
     "− lead3 +0.0500)."),
    (UP, {"rouge1": 0.01, "rouge2": 0.05}, ["a", "b", "c"], "lora does not beat the better baseline, lead3: no "
     "significant difference on ROUGE-2, ROUGE-L, ROUGE-Lsum (significantly higher on ROUGE-1 only) (ROUGE-L lora "
     "− lead3 +0.0500)."),
    ({key: -0.05 for key in KEYS}, {}, ["a", "b", "c"], "lora does not beat the better baseline, lead3: no "
     "significant difference on ROUGE-1, ROUGE-2, ROUGE-L, ROUGE-Lsum (ROUGE-L lora − lead3 -0.0500)."),
])
def test_a_model_beats_the_baseline_only_when_higher_on_every_variant(diffs, p_holm, outputs, said):
    values = paired(diffs, p_holm)
    assert verdicts.standing("lora", "lead3", values, 0.05, diversity.count(outputs)) == said


def test_the_report_names_a_degenerate_winner_in_the_verdict_and_the_summary():
    pairs = {"lora_vs_base": {"mean_ref": paired(UP, ALL)}, "lora_vs_lead3": {"mean_ref": paired(UP, ALL)}}
    outputs = {"lora": diversity.count(["x"] * 10), "base": diversity.count(list("abcdefghij"))}
    setup = {"confidence": 0.95, "resamples": 1000,
             "caveats": {name: verdicts.caveat(name, counts) for name, counts in outputs.items()}}
    text = "\n".join(report.paired_section(pairs, setup))
    assert "| lora − lead3 | ROUGE-1 | +0.0500 |" in text
    assert text.count("significant: lora higher, but lora writes one summary for most dialogues |") == 8
    assert "lora − base ROUGE-1 (lora higher, but lora writes one summary for most dialogues)" in text
    assert "significant: lora higher |" not in text
    assert "8 comparisons: 2 pairs (1 model pairs, and each of 1 models against the better baseline, lead3)" in text
    notes = verdicts.notes(["lora"], scores_of(0.3, 0.2), pairs, outputs, "mean_ref", 0.05)
    assert notes == [verdicts.degenerate_note("lora", outputs["lora"]),
                     "lora beats the better baseline, lead3, on all four ROUGE variants (p (Holm) < 0.05), but lora "
                     "writes one summary for most dialogues."]
