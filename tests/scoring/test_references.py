"""One to many references per dialogue, unequal across dialogues (a source with a list of references per row, or
several reference columns with nulls): every scoring mode, interval, paired test, the page and stages.compare."""
import numpy as np
import pytest

from stages import compare, evaluate
from stages.data import formats, layout
from stages.reporting import page
from stages.scoring import records, rouge, stats

COUNTS = [1, 3, 2, 1, 4, 2]  # references of each dialogue
DIALOGUES = [f"A: we talk about item{i} today\nB: item{i} is fine" for i in range(len(COUNTS))]


def references() -> list[dict]:
    """Rows as prepare writes them for a source with a list of references per row (stages/data/layout.py)."""
    rows = [{"id": f"chat{i}", "dialogue": text, "refs": [f"they talk about item{i}" + " ok" * k for k in range(n)]}
            for i, (text, n) in enumerate(zip(DIALOGUES, COUNTS))]
    return layout.dialogues(formats.from_rows("chats", rows),
                            layout.Layout(columns={"id": "id", "dialogue": "dialogue", "summary": "refs"}))


def summaries(refs, words=("they talk about item{}",)) -> list[str]:
    return [words[0].format(DIALOGUES.index(row["dialogue"])) for row in refs]


def test_every_mode_weighs_unequal_references_as_it_says():
    refs = references()
    assert len(refs) == sum(COUNTS)
    groups = records.groups(refs, "chats")
    assert [len(g) for g in groups] == COUNTS
    predictions = summaries(refs)
    modes = evaluate.score(predictions, refs, "chats")
    rows = np.array([rouge.score(p, r["summary"])["rouge1"] for p, r in zip(predictions, refs)])
    per_dialogue = [rows[g] for g in groups]
    assert modes["mean_ref"].estimate()[0] == pytest.approx(np.mean([r.mean() for r in per_dialogue]))
    assert modes["max_ref"].estimate()[0] == pytest.approx(np.mean([r.max() for r in per_dialogue]))
    assert modes["flat"].estimate()[0] == pytest.approx(rows.mean())  # a dialogue of 4 references counts 4 times
    assert len({round(modes[m].estimate()[0], 6) for m in rouge.MODES}) == 3  # unequal counts: three answers

    resamples = stats.Resamples(len(groups), 500, seed=0)
    summary = evaluate.summarize({"x": modes}, resamples, 0.9)["x"]
    for mode in rouge.MODES:
        assert summary[mode]["rouge1_low"] <= summary[mode]["rouge1"] <= summary[mode]["rouge1_high"]
    worse = evaluate.score(["nothing at all"] * len(refs), refs, "chats")
    paired = evaluate.compare({"x": (modes, worse)}, resamples, 0.9)["x"]
    for mode in rouge.MODES:  # every dialogue better: the exact test's smallest p, 2 of 2**6 flips
        assert paired[mode]["rouge1_diff"] > 0 and paired[mode]["rouge1_p"] == pytest.approx(2 / 64)

    texts = {"lora": predictions}
    shown = page.rows(refs, groups, texts, {"lora": np.zeros((len(groups), len(rouge.KEYS)))})
    assert [len(d["r"]) for d in shown] == COUNTS and [d["id"] for d in shown] == [f"chat{i}" for i in range(6)]


class Run:
    """What compare_runs asks of a run (as tests/test_compare.py's FakeRun)."""

    def __init__(self, name, refs, texts):
        self.name, self.refs, self.texts, self.params, self.commit = name, refs, texts, {}, None

    def generation(self, model):
        return None

    def references(self):
        return self.refs

    def predictions(self, model, refs):
        return self.texts.get(model) and [self.texts[model][DIALOGUES.index(r["dialogue"])] for r in refs]


def test_compare_pairs_runs_whose_dialogues_have_unequal_references_in_another_order():
    refs = references()
    same = {"lora": [f"they talk about item{i}" for i in range(6)]}
    other = {"lora": ["nothing at all"] * 6}
    result = compare.compare_runs(Run("a", refs, same), Run("b", refs[::-1], same), 200, 0, 0.9)
    assert result["dialogues"] == 6 and result["rows"] == sum(COUNTS)
    assert all(result["models"]["lora"][mode]["rouge1_diff"] == 0 for mode in rouge.MODES)
    worse = compare.compare_runs(Run("a", refs, same), Run("b", refs[::-1], other), 200, 0, 0.9)
    assert all(worse["models"]["lora"][mode]["rouge1_diff"] < 0 for mode in rouge.MODES)
    fewer = [r for r in refs if r["id"] != "chat1_3"]  # one reference less on one dialogue: not comparable
    with pytest.raises(Exception, match="different reference summaries for 1 of them"):
        compare.compare_runs(Run("a", refs, same), Run("b", fewer, same), 200, 0, 0.9)
