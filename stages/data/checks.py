"""What prepare says about the data it tokenized: cut prompts and summaries counted in dialogues, not rows,
and test (or validation) dialogues that train also holds."""
import sys

from . import dialogsum


def dialogues_with(groups: list[list[int]], counts) -> int:
    """Dialogues with any row whose count is above 0."""
    counts = list(counts)
    return sum(any(counts[i] > 0 for i in rows) for rows in groups)


def warn_cut_targets(split: str, groups: list[list[int]], over, max_target: int) -> int:
    """A warning when summaries lose their end to data.max_target_length; returns the dialogues affected.
    Train labels are what the model learns, validation labels its eval loss; test labels are never scored
    (ROUGE reads the summary text), so the test split is not warned about."""
    over = list(over)
    cut = dialogues_with(groups, over)
    if cut and split != "test":
        rows = sum(n > 0 for n in over)
        print(f"warning: {split}: {rows} summaries of {cut} of {len(groups)} dialogues are longer than "
              f"data.max_target_length ({max_target} tokens, the end-of-sequence token included) and lose their "
              f"end, up to {max(over)} tokens: the model {'learns' if split == 'train' else 'is validated on'} "
              "cut summaries. Raise data.max_target_length.", file=sys.stderr)
    return cut


def overlap(train: list[str], other: list[str], groups: list[list[int]]) -> list[int]:
    """Indices of the `groups` (dialogues of `other`) whose text, whitespace aside, is also a train dialogue."""
    seen = {dialogsum.normal(text) for text in train}
    return [number for number, rows in enumerate(groups) if dialogsum.normal(other[rows[0]]) in seen]


def warn_overlap(split: str, train: list[str], ids: list[str], texts: list[str], groups: list[list[int]]) -> int:
    """A warning naming how many dialogues of `split` train also holds; returns that count."""
    shared = overlap(train, texts, groups)
    if shared:
        first = dialogsum.names(ids, groups)[shared[0]]
        print(f"warning: {split}: {len(shared)} of {len(groups)} dialogues (first {first!r}) are also in train "
              "(the same text, whitespace aside): scores on them measure recall of training data, not "
              "summarizing. Drop them from one of the splits.", file=sys.stderr)
    return len(shared)
