"""ROUGE as the field reports it: rouge_score, stemming, rougeLsum over one sentence per line.

Three ways to score against several human references per dialogue (DialogSum test has three):
  mean_ref  mean over a dialogue's references, then over dialogues (the DialogSum paper),
  max_ref   best reference per dialogue and per ROUGE variant (multi-reference max, as rouge_score's
            score_multi), then mean over dialogues,
  flat      every (dialogue, reference) row on its own, mean over rows (the course notebooks).
"""
import re
import sys
from dataclasses import dataclass

import numpy as np
from rouge_score import rouge_scorer, tokenize
from tqdm.auto import tqdm

KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
MODES = ("mean_ref", "max_ref", "flat")
DIGITS = 6  # rounded means: the same inputs always give the same digits in `dvc metrics diff`
# Offline sentence splitter (nltk's punkt needs a download): end punctuation + space, or a newline;
# but not after a title before a name ("Mr. Smith") nor after e.g./a.m. when the text goes on in lower case.
_SENTENCE_END = re.compile(r"((?<=[.!?])[ \t]+|\s*\n\s*)")  # captured: a newline always ends a sentence
_TITLE = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|St|Prof|Mt|Jr|Sr|[A-Z])\.$")  # [A-Z].: an initial (J. Smith)
# e.g., i.e., a.m., p.m., B.A., U.S. (letters and dots), etc., vs., No. 12
_ABBREVIATION = re.compile(r"(?:^|\s)(?:(?:[A-Za-z]\.)+[A-Za-z]|etc|vs|approx|No)\.$", re.IGNORECASE)
_scorer = rouge_scorer.RougeScorer(list(KEYS), use_stemmer=True)


def split_sentences(text: str) -> str:
    parts = _SENTENCE_END.split(text.strip())
    sentences = [parts[0]] if parts[0] else []
    for separator, piece in zip(parts[1::2], parts[2::2]):
        if sentences and "\n" not in separator and _continues(sentences[-1], piece):
            sentences[-1] += separator + piece
        elif piece:
            sentences.append(piece)
    return "\n".join(sentences)


def _continues(before: str, piece: str) -> bool:
    """Whether `piece` goes on the sentence `before` ends: the full stop was an abbreviation's."""
    if not piece:
        return False
    if _TITLE.search(before):
        return True
    return bool(_ABBREVIATION.search(before)) and not piece[0].isupper()


def score(prediction: str, reference: str) -> dict[str, float]:
    """F-measures of one prediction against one reference."""
    scores = _scorer.score(split_sentences(reference), split_sentences(prediction))
    return {key: scores[key].fmeasure for key in KEYS}


def scorable(text: str) -> bool:
    """Whether rouge_score sees any token in `text`: its tokenizer keeps only a-z and 0-9, so Chinese,
    Cyrillic or Arabic text is empty to it and scores 0 even against itself."""
    return bool(tokenize.tokenize(text, None))


def warn_unscorable(references: list[str], where: str) -> int:
    """Warn, with their share, when references have no token ROUGE can score; returns how many."""
    empty = sum(not scorable(text) for text in references)
    if empty:
        print(f"warning: {empty} of {len(references)} references in {where} ({empty / len(references):.1%}) have "
              "no token rouge_score can score (it keeps only Latin letters and digits): their rows score 0 "
              "whatever the summary says, so ROUGE here is not a measure of quality for them.", file=sys.stderr)
    return empty


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
