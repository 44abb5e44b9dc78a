"""Text from files and users is data: what makes it safe where it lands (a terminal, a spreadsheet, markdown),
and the one test of a revision (a git ref name or a commit hash) before it is written anywhere.

Every print of a name or value read from a saved file goes through terminal(); every CSV cell through
csv_frame(); every revision a card or config names through revision_problem(), then code_span().
"""
import json
import re
import unicodedata

# Bidirectional overrides and isolates reorder what a terminal or a page shows ("Trojan Source"); the other
# format characters (zero-width joiners in scripts that need them) are left as they are.
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's list: = + - @ tab CR).
FORMULA = ("=", "+", "-", "@", "\t", "\r")
HEX = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})")  # a full git commit hash: SHA-1 or SHA-256
REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")    # git check-ref-format, rule 4, 5 and 10
MAX_REVISION = 255


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _unsafe(char: str, keep_lines: bool) -> bool:
    if keep_lines and char == "\n":
        return False
    return unicodedata.category(char) in ("Cc", "Cs") or char in BIDI or char in "\u2028\u2029"


def terminal(value, keep_lines: bool = False) -> str:
    """`value` as text a terminal shows as it is: control characters (ESC, CR, BEL, backspace, newlines, C1),
    bidi overrides and lone surrogates written as \\x.. escapes, so a name read from a file cannot move the
    cursor, recolour, clear the screen or forge a line of its own. keep_lines: a message's own line breaks stay."""
    text = value if isinstance(value, str) else str(value)
    return "".join(_escaped(c) if _unsafe(c, keep_lines) else c for c in text)


def json_line(value) -> str:
    """`value` as one line of JSON (ensure_ascii=False) that a terminal shows as it is: json.dumps escapes only
    C0 controls, so C1 codes (U+009B is CSI), DEL, bidi overrides and line separators are written as \\u escapes
    too; the JSON reads back to the same value."""
    line = json.dumps(value, ensure_ascii=False)
    return "".join(f"\\u{ord(c):04x}" if _unsafe(c, False) else c for c in line)


def csv_cell(value):
    """A cell a spreadsheet shows as text: control characters escaped (a CR inside a cell starts a new row in
    some readers, whose first cell could then be a formula), and a string it would run as a formula gets a leading
    single quote. Numbers are left as they are."""
    if not isinstance(value, str):
        return value
    value = terminal(value)
    return "'" + value if value.startswith(FORMULA) else value


def csv_frame(frame):
    """A pandas DataFrame whose every string cell and column name passed csv_cell(): write this one to CSV."""
    out = frame.rename(columns=lambda name: csv_cell(str(name)))
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            out[column] = out[column].map(csv_cell)
    return out


def revision_problem(revision: str) -> str | None:
    """Why `revision` is neither a commit hash nor a name git takes for a ref (`git check-ref-format
    --allow-onelevel`, every rule), or None when it is one of them."""
    if HEX.fullmatch(revision):
        return None
    if not revision or len(revision) > MAX_REVISION:
        return f"it is empty or longer than {MAX_REVISION} characters"
    found = REF_BAD.search(revision)
    if found:
        return f"it holds {found.group()!r}"
    if any(_unsafe(c, False) or unicodedata.category(c) == "Cf" for c in revision):
        return "it holds an invisible or control character"
    parts = revision.split("/")
    if revision == "@" or "@{" in revision:
        return "it is '@' or holds '@{'"
    if ".." in revision:
        return "it holds '..'"
    if not all(parts):
        return "it starts or ends with '/' or holds '//'"
    if any(part.startswith(".") or part.endswith(".lock") for part in parts):
        return "a part of it starts with '.' or ends with '.lock'"
    if revision.endswith("."):
        return "it ends with '.'"
    if revision.startswith("-"):  # git refuses it as a branch name: a command line would read it as an option
        return "it starts with '-'"
    return None


def code_span(text: str) -> str:
    """`text` as one markdown code span: nothing in it is markup (no HTML, link, heading or comment), whatever
    backticks it holds; controls and line breaks escaped, so it stays on its line."""
    text = terminal(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark takes one space off each end of a span that starts and ends with one: pad where that is needed
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == " " and text[-1:] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
