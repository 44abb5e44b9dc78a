"""ROUGE as the field reports it: rouge_score, stemming, rougeLsum over one sentence per line."""
import re

from rouge_score import rouge_scorer

KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
# Offline sentence splitter (nltk's punkt needs a download): end punctuation + space, or a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_scorer = rouge_scorer.RougeScorer(list(KEYS), use_stemmer=True)


def split_sentences(text: str) -> str:
    return "\n".join(s for s in _SENTENCE_END.split(text.strip()) if s)


def score(prediction: str, reference: str) -> dict[str, float]:
    """F-measures of one prediction against one reference."""
    scores = _scorer.score(split_sentences(reference), split_sentences(prediction))
    return {key: scores[key].fmeasure for key in KEYS}


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """Plain mean in input order: the same inputs always give the same digits (no bootstrap jitter)."""
    return {key: round(sum(r[key] for r in rows) / len(rows), 6) for key in KEYS}
