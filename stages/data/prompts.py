"""Prompts as token ids: the template around a dialogue, cut inside the dialogue, never the instruction.

Tokenizing the whole prompt with `truncation=True` cuts its end, so a long dialogue loses the "Summary:"
cue the model was told to answer after. Here a prompt over the limit keeps the template's text before and
after {dialogue} whole and drops the end of the dialogue instead. prepare (stages/data.tokenize) and the
summarize CLI both encode through `encode`, so training, the pipeline and new dialogues see the same ids. The
prompt is text throughout: "</s>" written in a dialogue is never the end-of-sequence token (stages/data/tokens.py).
"""
from dataclasses import dataclass

from . import tokens
from ..io.errors import ParamsError


@dataclass(frozen=True)
class Encoded:
    input_ids: list[list[int]]
    over: list[int]  # tokens each full prompt had beyond the limit (0: nothing was cut)

    @property
    def truncated(self) -> int:
        """Prompts whose dialogue was cut: counted exactly, not guessed from their length."""
        return sum(n > 0 for n in self.over)


def build(template: str, dialogue: str) -> str:
    return template.format(dialogue=dialogue)


def encode(tokenizer, template: str, dialogues: list[str], max_length: int, render=None) -> Encoded:
    """Token ids of each prompt, at most `max_length`; an over-long one loses the end of its dialogue.
    `render(text) -> ids` turns a prompt's text into ids (a causal LM's chat template: causal_tokens.py);
    by default the tokenizer's own special tokens around the text."""
    full = ([render(build(template, d)) for d in dialogues] if render else
            tokens.ids(tokenizer, [build(template, d) for d in dialogues]))
    ids, over = [], []
    for dialogue, prompt in zip(dialogues, full):
        excess = len(prompt) - max_length
        over.append(max(excess, 0))
        ids.append(prompt if excess <= 0 else _cut(tokenizer, template, dialogue, max_length, render))
    return Encoded(ids, over)


def _cut(tokenizer, template: str, dialogue: str, max_length: int, render=None) -> list[int]:
    """The prompt with the dialogue cut at a token boundary so that the whole fits in max_length."""
    ends = tokens.encode(tokenizer, [dialogue], add_special_tokens=False)[0].ends
    keep = len(ends)
    while True:
        text = dialogue[:ends[keep - 1]].rstrip() if keep > 0 else ""
        ids = render(build(template, text)) if render else tokens.ids(tokenizer, [build(template, text)])[0]
        excess = len(ids) - max_length
        if excess <= 0:
            return ids
        if keep == 0:
            raise ParamsError("data.max_source_length", f"{max_length} tokens do not even hold the prompt "
                              f"template (data.prompt is {len(ids)} tokens without a dialogue): raise it or "
                              "shorten the prompt.")
        # Tokens at the cut may merge or split, so step by the measured excess and check again.
        keep = max(keep - excess, 0)
