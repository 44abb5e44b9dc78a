"""The three scoring modes, by hand and against rouge_score called directly."""
import numpy as np
import pytest
from rouge_score import rouge_scorer

from stages import evaluate
from stages.scoring import rouge


def rows(*triples):
    return [{"id": f"r{i}", "dialogue": d, "summary": s} for i, (d, s, _) in enumerate(triples)], \
        [p for _, _, p in triples]


def test_modes_worked_by_hand():
    # dialogue A: one reference equals the prediction (F=1), the other shares no word (F=0);
    # dialogue B: its single reference equals the prediction.
    references, predictions = rows(("A", "the cat sat", "the cat sat"), ("A", "a dog ran", "the cat sat"),
                                   ("B", "birds sing", "birds sing"))
    modes = evaluate.score(predictions, references)
    assert modes["mean_ref"].estimate() == pytest.approx([0.75] * 4)     # (0.5 + 1) / 2
    assert modes["max_ref"].estimate() == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert modes["flat"].estimate() == pytest.approx([2 / 3] * 4)        # (1 + 0 + 1) / 3 rows


def test_modes_match_rouge_score_directly():
    references, predictions = rows(
        ("d1", "Tom is going to the bank. He opens an account.", "Tom goes to the bank to open an account."),
        ("d1", "Tom visits the bank.", "Tom goes to the bank to open an account."),
        ("d1", "At the bank, Tom opens an account.", "Tom goes to the bank to open an account."),
        ("d2", "Anna books a table for two.", "Anna wants a table. She calls the restaurant."),
        ("d2", "Anna calls a restaurant to reserve.", "Anna wants a table. She calls the restaurant."),
        ("d3", "Ben buys a train ticket.", "Ben buys tickets."),
    )
    scorer = rouge_scorer.RougeScorer(list(rouge.KEYS), use_stemmer=True)
    lines = {t: t.replace(". ", ".\n") for t in [r["summary"] for r in references] + predictions}  # one sentence a line
    groups = {"d1": [0, 1, 2], "d2": [3, 4], "d3": [5]}
    per_row = [scorer.score(lines[r["summary"]], lines[p]) for r, p in zip(references, predictions)]

    modes = evaluate.score(predictions, references)
    for i, key in enumerate(rouge.KEYS):
        mean_ref = np.mean([np.mean([per_row[j][key].fmeasure for j in g]) for g in groups.values()])
        max_ref = np.mean([scorer.score_multi([lines[references[j]["summary"]] for j in g],
                                              lines[predictions[g[0]]])[key].fmeasure for g in groups.values()])
        flat = np.mean([s[key].fmeasure for s in per_row])
        assert modes["mean_ref"].estimate()[i] == pytest.approx(mean_ref)
        assert modes["max_ref"].estimate()[i] == pytest.approx(max_ref)
        assert modes["flat"].estimate()[i] == pytest.approx(flat)
    assert len(set(round(modes[m].estimate()[0], 6) for m in rouge.MODES)) == 3  # the modes really differ


def test_stemming_and_offline_sentence_split():
    assert rouge.score("the children were running", "The child runs")["rouge1"] == pytest.approx(
        rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True).score("The child runs",
                                                                     "the children were running")["rouge1"].fmeasure)
    assert rouge.score("Tom runs", "Tom running")["rouge1"] == 1.0
    assert rouge.split_sentences("Hi there! How are you? Fine.\n#Person1#: ok") == \
        "Hi there!\nHow are you?\nFine.\n#Person1#: ok"
