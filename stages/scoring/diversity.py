"""How many different summaries a model wrote: a model that writes one summary for every dialogue ignores its
input, whatever its ROUGE (a constant string can score like a weak model)."""
from collections import Counter


def count(summaries: list[str]) -> dict:
    """For one summary per dialogue: `dialogues`, `distinct_summaries` (texts that differ beyond whitespace),
    `most_common_share` (the share of dialogues given the most frequent summary) and `empty_share` (no text) and `mean_words` (words per summary)."""
    texts = [" ".join(text.split()) for text in summaries]
    frequent = Counter(texts).most_common(1)
    n = len(texts)
    return {"dialogues": n, "distinct_summaries": len(set(texts)),
            "most_common_share": round(frequent[0][1] / n, 6) if n else 0.0,
            "empty_share": round(sum(not text for text in texts) / n, 6) if n else 0.0,
            # a chatty preamble or a run-on answer shows here, beside the ROUGE it costs (nothing is cleaned)
            "mean_words": round(sum(len(text.split()) for text in texts) / n, 3) if n else 0.0}


def per_dialogue(texts: list[str], groups: list[list[int]]) -> list[str]:
    """One summary per dialogue (its first row's) from per-row summaries."""
    return [texts[rows[0]] for rows in groups]
