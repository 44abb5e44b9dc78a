"""Is this one dialogue something a model can read? The one check prepare, summarize, serve and demo all apply.

A dialogue is refused when it is longer than MAX_CHARS, is not text (an unpaired surrogate, which JSON can escape), holds a control
character (NUL, ESC, DEL, C1 codes...: newline, carriage return and tab are line layout), holds nothing visible
once spaces and invisible characters (zero-width spaces, BOMs, joiners, fillers, combining marks alone) are
removed, or, given the model's tokenizer, has more than vocab.REFUSE of its characters read as <unk>: the bound
prepare refuses a tokenizer at, since past it the model reads blanks and writes a confident summary of nothing.
"""
import re
import unicodedata

from . import tokens, vocab
from ..io.errors import UserError

# Unicode's control characters (category Cc: U+0000-001F, U+007F-009F) but newline, carriage return and tab,
# and the surrogates (Cs), which only a lone "\ud800" escaped in JSON can bring in.
REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Characters that draw nothing though Unicode files them as letters or symbols (Hangul fillers, braille blank).
BLANKS = "\u115f\u1160\u3164\uffa0\u2800"
INVISIBLE = ("Cf", "Mn", "Me", "Zs", "Zl", "Zp")  # format characters, marks alone, separators
# The longest text read: 40 times DialogSum's longest dialogue, and far past what data.max_source_length keeps
# (a few thousand characters). Past it the tokenizer works for nothing: a 24 MB dialogue took 262 s and 6.8 GB.
MAX_CHARS = 200_000


def text_problem(text) -> str | None:
    """Why `text` is no dialogue, before any tokenizer: not text, a control character, nothing visible."""
    if not isinstance(text, str):
        return f"is {type(text).__name__}, not text: give it as a JSON string"
    if len(text) > MAX_CHARS:
        return (f"is {len(text):,} characters, more than the {MAX_CHARS:,} a dialogue may be: the model reads only "
                "its first data.max_source_length tokens (a few thousand characters); cut it to what it should read")
    found = REFUSED.search(text)
    if found:
        index, char = found.start(), found.group()
        if unicodedata.category(char) == "Cs":
            return f"holds an unpaired surrogate at character {index}: not text; send it as UTF-8 text"
        return (f"holds the control character U+{ord(char):04X} at character {index} (line "
                f"{text.count(chr(10), 0, index) + 1}): not dialogue text; remove it")
    if all(char.isspace() or char in BLANKS or unicodedata.category(char) in INVISIBLE for char in text):
        return ("is empty" + (" once its invisible characters (zero-width spaces, BOMs, joiners...) are removed"
                              if text and not text.isspace() else "")
                + ": there is no text to read (a dialogue is #Person1#: ... one turn per line, as in DialogSum)")
    return None


def unknown_problem(share: float) -> str | None:
    if share <= vocab.REFUSE:
        return None
    return (f"is {share:.0%} characters the model's tokenizer does not know (it reads them as <unk>), more "
            f"than {vocab.REFUSE:.0%}: the model cannot read it. Give it in a language and script this model's "
            "vocabulary covers")


def problems(texts: list, tokenizer=None) -> list[str | None]:
    """Each text's problem (None: fine), as `problem` says it; the texts are tokenized in one batch."""
    found = [text_problem(text) for text in texts]
    readable = [i for i, why in enumerate(found) if why is None]
    if tokenizer is not None and tokenizer.unk_token_id is not None and readable:
        counts = tokens.unknown_chars(tokenizer, [texts[i] for i in readable])
        for i, (unknown, chars) in zip(readable, counts):
            found[i] = unknown_problem(unknown / chars)  # chars > 0: text_problem found something visible
    return found


def problem(text, tokenizer=None) -> str | None:
    """Why the model cannot read `text`, as words that follow its name ("dialogue 3 " + ...); None if it can.
    Without a tokenizer only the text itself is checked."""
    return problems([text], tokenizer)[0]


def check_split(split: str, rows: list[dict], tokenizer) -> None:
    """Refuse a split holding a dialogue the model cannot read (prepare, and demo for the tokenizer it built):
    what summarize and serve would refuse is not trained on, validated on or scored either."""
    for number, (row, why) in enumerate(zip(rows, problems([row["dialogue"] for row in rows], tokenizer)), 1):
        if why:
            raise UserError(f"split {split!r}, row {number} (id {row.get('id')!r}): the dialogue {why}; fix or "
                            "drop that row.")
