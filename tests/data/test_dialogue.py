"""One check for one dialogue, and every door applies it: what prepare refuses, summarize, serve and demo refuse,
for the same reason (stages/data/dialogue.py)."""
import dataclasses
import re

import pytest

from project import ROOT
from stages import summarize
from stages.data import dialogsum, dialogue
from stages.io import params
from stages.io.errors import UserError
from stages.modeling import models
from stages.serving import prompting

INVISIBLE = "is empty once its invisible characters"
HOSTILE = [  # (text, words of the reason); each refused whatever the tokenizer
    ("", "is empty: there is no text"),
    (" \n\t \r\n", "is empty: there is no text"),
    ("\u200b\u200c\u200d\ufeff\u2060" * 50, INVISIBLE),  # zero-width spaces, joiners, BOMs, word joiners
    ("\u3164\u2800\u115f\uffa0 \u00a0\u3000", INVISIBLE),  # Hangul fillers, braille blank, no-break spaces
    ("\u0301\u034f\ufe0f\u00ad\U000e0041\u2028", INVISIBLE),  # marks alone, a variation selector, soft hyphen, tag
    ("#Person1#: hi\x00", "holds the control character U+0000 at character 13 (line 1)"),
    ("#Person1#: hi\n#Person2#: \x1b[31mred", "holds the control character U+001B at character 25 (line 2)"),
    ("\x7f#Person1#: hi", "holds the control character U+007F at character 0"),
    ("#Person1#: hi\x85there", "holds the control character U+0085"),  # NEL, a C1 control
    ("#Person1#: \ud800 hi", "holds an unpaired surrogate at character 11"),
    # found: summarize read a 24 MB dialogue for 262 s in 6.8 GB, to keep its first 512 tokens
    ("#Person1#: hi. " * 14_000, "is 210,000 characters, more than the 200,000 a dialogue may be"),
    (5, "is int, not text"),
    (None, "is NoneType, not text"),
]
UNKNOWN = [  # characters the tiny tokenizer never saw (its corpus has no digits, no CJK): blanks to the model
    "大" * 20_000,
    "#Person1#: 0123 4567 8901 2345 6789",
    "\U0001f600" * 300,
]
READABLE = [
    "#Person1#: Hello.\n#Person2#: Hi.",
    "#Person1#: Hello.\r\n#Person2#:\tHi.",  # CRLF line ends and a tab are layout
    "\ufeff#Person1#: Hello, how can I help you?",  # a BOM before text
    "#Person1#: Hello, how can I help you? \U0001f600",  # one unknown token among many
    "#Person1#: Good morning\u200b, welcome to the bank.",  # a zero-width space inside text
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return models.load_tokenizer(tiny_model)


@pytest.fixture(scope="module")
def cfg():
    return dataclasses.replace(params.load(ROOT / "params.yaml").data, max_source_length=128)


def refusals(text, tokenizer, cfg) -> dict[str, str]:
    """What each door says about `text`: the reason after the dialogue's name, or None."""
    said = {"check": dialogue.problem(text, tokenizer)}
    try:
        summarize.prompt_ids(tokenizer, {"x": text}, cfg)  # summarize, and serve through it
        said["summarize"] = None
    except UserError as error:
        said["summarize"] = str(error).removeprefix("dialogue x ").removesuffix(".")
    try:
        prompting.Prompter(cfg, tokenizer).encode([text])
        said["serve"] = None
    except ValueError as error:
        said["serve"] = str(error).removeprefix("dialogue 0 ").removesuffix(".")
    try:
        dialogue.check_split("test", [{"id": "a", "dialogue": text}], tokenizer)  # prepare and demo
        said["prepare"] = None
    except UserError as error:
        said["prepare"] = str(error).removeprefix("split 'test', row 1 (id 'a'): the dialogue ").removesuffix(
            "; fix or drop that row.")
    return said


@pytest.mark.parametrize("text, reason", HOSTILE, ids=[repr(t)[:30] for t, _ in HOSTILE])
def test_hostile_text_is_refused_alike_by_every_door(text, reason, tokenizer, cfg):
    said = refusals(text, tokenizer, cfg)
    assert reason in said["check"] and set(said.values()) == {said["check"]}, said
    assert dialogue.problem(text) == said["check"]  # no tokenizer needed to see it
    rows = [{"id": "a", "dialogue": text, "summary": "s"}]
    if isinstance(text, str) and text.strip():  # validate's own message covers missing and blank values
        with pytest.raises(UserError, match=re.escape(f"'dialogue' {reason}")):
            dialogsum.validate("train", rows)  # prepare's and demo's data check, before any tokenizer


@pytest.mark.parametrize("text", UNKNOWN, ids=["cjk", "digits", "emoji"])
def test_text_the_tokenizer_cannot_read_is_refused_alike_by_every_door(text, tokenizer, cfg):
    said = refusals(text, tokenizer, cfg)
    assert "characters the model's tokenizer does not know (it reads them as <unk>), more than 25%" in said["check"]
    assert set(said.values()) == {said["check"]}, said
    assert dialogue.problem(text) is None  # text the tokenizer decides about: fine as text


@pytest.mark.parametrize("text", READABLE)
def test_readable_dialogues_pass_every_door(text, tokenizer, cfg):
    assert set(refusals(text, tokenizer, cfg).values()) == {None}


def test_problems_names_each_text_in_one_batch(tokenizer):
    found = dialogue.problems(["#Person1#: Hello.", "\x00", "大" * 50, " "], tokenizer)
    assert found[0] is None and "U+0000" in found[1] and "<unk>" in found[2] and "is empty" in found[3]
