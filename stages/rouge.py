"""ROUGE as the field reports it: rouge_score, stemming, rougeLsum over one sentence per line.

Three ways to score against several human references per dialogue (DialogSum test has three):
  mean_ref  mean over a dialogue's references, then over dialogues (the DialogSum paper),
  max_ref   best reference per dialogue and per ROUGE variant (multi-reference max, as rouge_score's
            score_multi), then mean over dialogues,
  flat      every (dialogue, reference) row on its own, mean over rows (the course notebooks).
"""
import re
from dataclasses import dataclass

import numpy as np
from rouge_score import rouge_scorer
from tqdm.auto import tqdm

KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
MODES = ("mean_ref", "max_ref", "flat")
DIGITS = 6  # rounded means: the same inputs always give the same digits in `dvc metrics diff`
# Offline sentence splitter (nltk's punkt needs a download): end punctuation + space, or a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_scorer = rouge_scorer.RougeScorer(list(KEYS), use_stemmer=True)


def split_sentences(text: str) -> str:
    return "\n".join(s for s in _SENTENCE_END.split(text.strip()) if s)


def score(prediction: str, reference: str) -> dict[str, float]:
    """F-measures of one prediction against one reference."""
    scores = _scorer.score(split_sentences(reference), split_sentences(prediction))
    return {key: scores[key].fmeasure for key in KEYS}


def group_rows(dialogues: list[str]) -> list[list[int]]:
    """Row indices of each distinct dialogue, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(dialogues):
        groups.setdefault(text, []).append(index)
    return list(groups.values())


def row_scores(predictions: list[str], references: list[str], desc="rouge") -> np.ndarray:
    """(rows, len(KEYS)) F-measures of each row's prediction against that row's reference."""
    rows = [score(p, r) for p, r in tqdm(list(zip(predictions, references)), desc=desc, unit="row",
                                          leave=False, mininterval=2)]
    return np.array([[row[key] for key in KEYS] for row in rows], dtype=float).reshape(len(rows), len(KEYS))


@dataclass(frozen=True)
class PerDialogue:
    """One value per dialogue and ROUGE variant; a mode's score is the weighted mean of `values`."""
    values: np.ndarray   # (dialogues, len(KEYS))
    weights: np.ndarray  # (dialogues,)

    def estimate(self) -> np.ndarray:
        return self.weights @ self.values / self.weights.sum()


def by_dialogue(scores: np.ndarray, groups: list[list[int]]) -> dict[str, PerDialogue]:
    """The three scoring modes, each as per-dialogue values, so intervals can resample dialogues."""
    means = np.array([scores[g].mean(axis=0) for g in groups])
    best = np.array([scores[g].max(axis=0) for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    ones = np.ones(len(groups))
    # flat: a dialogue with k references counts k times, so the weighted mean is the mean over rows.
    return {"mean_ref": PerDialogue(means, ones), "max_ref": PerDialogue(best, ones),
            "flat": PerDialogue(means, sizes)}
