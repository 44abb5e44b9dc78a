"""The extractive baselines dialogue-summarization papers report (SAMSum, Gliwa et al. 2019): a dialogue's own
turns, copied. They cost no model; a model that does not beat them has not learnt to summarize.

A turn is a non-blank line of the dialogue (DialogSum writes one turn per line, `#Person1#: ...`), kept verbatim,
speaker tag included, but for the whitespace around it (which ROUGE ignores). Lines end at \\n, \\r\\n or \\r only:
a U+2028 or form feed inside a turn does not split it.
  lead3     the first three turns
  longest3  the three turns with the most words (whitespace-separated), in dialogue order; of turns as long,
            the earlier
A dialogue of fewer than three turns gives all of them. Turns are joined by newlines, so ROUGE-Lsum takes each
as a sentence.
"""
import re

COUNT = 3
_LINE_END = re.compile(r"\r\n|\r|\n")


def turns(dialogue: str) -> list[str]:
    return [line.strip() for line in _LINE_END.split(dialogue) if line.strip()]


def lead3(dialogue: str) -> str:
    return "\n".join(turns(dialogue)[:COUNT])


def longest3(dialogue: str) -> str:
    found = turns(dialogue)
    longest = sorted(range(len(found)), key=lambda i: (-len(found[i].split()), i))[:COUNT]
    return "\n".join(found[i] for i in sorted(longest))


BASELINES = {"lead3": lead3, "longest3": longest3}
NAMES = tuple(BASELINES)
WHAT = {"lead3": "the dialogue's first three turns", "longest3": "its three longest turns, in dialogue order"}


def summaries(references: list[dict], groups: list[list[int]]) -> dict[str, list[str]]:
    """Each baseline's summary for every reference row: one per dialogue, from the text of its first row (as the
    generate stage prompts with), given to each of its rows."""
    out = {}
    for name, make in BASELINES.items():
        texts = [""] * len(references)
        for rows in groups:
            summary = make(references[rows[0]]["dialogue"])
            for row in rows:
                texts[row] = summary
        out[name] = texts
    return out
