"""Prompts and labels for a decoder-only causal LM: one sequence, the prompt then the summary then the end token.

The prompt is data.prompt with the dialogue in it, inside the tokenizer's chat template (a user turn, then the
assistant's turn opened) where model.chat_template allows (stages/modeling/causal.py), else after the tokenizer's
own start token (Llama's <s>). Everything the user wrote is text: "<|im_end|>" typed in a dialogue or a summary is
never the end-of-turn token (stages/data/tokens.py). data/prepared keeps the layout flan-t5's has: input_ids is the
prompt (what generation continues), labels the summary and its end token; the training collator
(stages/training/causal.py) joins them and masks the prompt out of the loss. The end token stays in the labels,
whatever the pad token is: nothing here masks by token id."""
import json
from pathlib import Path

import datasets

from . import prompts, tokens
from ..modeling import causal


def renderer(tokenizer, templated: bool):
    """render(prompt text) -> ids of the whole prompt, as training, generate, summarize and serve encode it."""
    if not templated:
        def plain(text: str) -> list[int]:
            found = tokens.encode(tokenizer, [text])[0]
            return found.head + found.body  # never a tokenizer's appended EOS: the answer follows the prompt
        return plain
    before, after, trims = causal.template_parts(tokenizer)
    # the template's own text, special tokens included (<|im_start|>): only the user's text is split as text
    head = tokenizer(before, add_special_tokens=False, split_special_tokens=False)["input_ids"]
    tail = tokenizer(after, add_special_tokens=False, split_special_tokens=False)["input_ids"]

    def chat(text: str) -> list[int]:
        text = text.strip() if trims else text
        return head + tokens.encode(tokenizer, [text], add_special_tokens=False)[0].body + tail
    return chat


def encode_prompts(tokenizer, template: str, dialogues: list[str], max_length: int, templated: bool):
    """prompts.Encoded for a causal LM: cut inside the dialogue, never the instruction or the template."""
    return prompts.encode(tokenizer, template, dialogues, max_length, renderer(tokenizer, templated))


def labels(tokenizer, summaries: list[str], max_length: int, end: int) -> tuple[list[list[int]], list[int]]:
    """(summary tokens + the end token, cut to max_length with the end token kept; tokens cut from each)."""
    out, over = [], []
    for found in tokens.encode(tokenizer, summaries, add_special_tokens=False):
        keep = max(max_length - 1, 0)
        out.append(found.body[:keep] + [end])
        over.append(max(len(found.body) + 1 - max_length, 0))
    return out, over


def tokenize(rows: list[dict], tokenizer, template: str, max_source: int, max_target: int,
             templated: bool) -> datasets.Dataset:
    """The columns dialogsum.tokenize writes, for a causal LM; `length` is the joined sequence's."""
    from .dialogsum import TEXT_COLUMNS

    table = {column: [row.get(column, "") for row in rows] for column in TEXT_COLUMNS}
    sources = encode_prompts(tokenizer, template, table["dialogue"], max_source, templated)
    targets, cut = labels(tokenizer, table["summary"], max_target, causal.end_id(tokenizer, templated))
    table["input_ids"] = sources.input_ids
    table["attention_mask"] = [[1] * len(ids) for ids in sources.input_ids]
    table["over_length"] = sources.over
    table["labels"] = targets
    table["target_over_length"] = cut
    table["length"] = [len(a) + len(b) for a, b in zip(sources.input_ids, targets)]
    return datasets.Dataset.from_dict(table)


def renderer_for(tokenizer, chat: str):
    """The renderer for the tokenizer of a causal LM (read from the config of the folder it was loaded from), or
    None for flan-t5's: how summarize and serve encode a new dialogue exactly as prepare encoded the data."""
    if _family(str(getattr(tokenizer, "name_or_path", "") or "")) != "causal":
        return None
    return renderer(tokenizer, causal.uses_template(tokenizer, chat))


def _family(folder: str) -> str:  # not cached: the folder is often relative ("models/base") to a cwd that changes
    from ..modeling import family, models

    path = Path(folder)
    if (path / "config.json").is_file():
        return models.family_of(path)
    if (path / "adapter_config.json").is_file():  # an adapter saved with its tokenizer: peft's task type
        task = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("task_type")
        return family.CAUSAL if task == "CAUSAL_LM" else family.SEQ2SEQ
    return family.SEQ2SEQ
