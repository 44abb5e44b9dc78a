"""Reading the JSON a user gives (JSON Lines files, the server's bodies, saved runs): every way a text is no
JSON to read is one message naming the file and line, never a traceback."""
import json
import re
from pathlib import Path

from .errors import UserError


class BadJSON(ValueError):
    """Why a text is no JSON value to read: words that follow the thing's name ("line 3: ...", "the body ...")."""


def loads(text: str):
    """The JSON value `text` holds, or BadJSON saying why none, for every JSON a user gives (JSONL files, the
    server's bodies, saved runs): json.loads raises RecursionError for deep nesting and a plain ValueError for
    an integer of over 4,300 digits, which were tracebacks; and a key given twice in one object is refused, since
    which of its values counts is undefined (Python keeps the last, another reader the first)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except BadJSON:
        raise
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}" if "\n" in text.strip() else f"column {error.colno}"
        raise BadJSON(f"not valid JSON ({error.msg} at {where})") from None
    except RecursionError:
        raise BadJSON("not JSON that can be read: nested too deeply (arrays or objects some thousand levels "
                      "deep)") from None
    except ValueError:
        raise BadJSON("not JSON that can be read: it holds a number of over 4,300 digits") from None


def _unique_keys(pairs: list) -> dict:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        shown = repr(twice) if len(twice) <= 60 else repr(twice[:57] + "...")
        raise BadJSON(f"not JSON that can be read one way: an object holds the key {shown} twice (which value "
                      "counts is undefined); keep one")
    return found


def jsonl_lines(text: str) -> list[str]:
    """The lines of JSON Lines text: split at "\n", "\r\n" or "\r" only, which JSON never holds raw inside a
    string. JSON written with ensure_ascii=False keeps U+2028, U+2029 and U+0085 raw inside strings, and
    str.splitlines() would cut a record there."""
    return _LINE_END.split(text)


_LINE_END = re.compile(r"\r\n|\r|\n")


def _lone_surrogate(value, where: str = "") -> str | None:
    """Where in a parsed JSON value a string holds a lone surrogate ("\\ud800" escaped in the file): no
    character, so it can be neither tokenized nor written as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "a string"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _lone_surrogate(key, where or "a key") if isinstance(key, str) else None
        found = found or _lone_surrogate(item, f"{where}[{key!r}]" if where else repr(key))
        if found:
            return found
    return None


def read_object(path) -> dict | None:
    """The JSON object file `path` holds (a record this project wrote); None where it cannot be read, is not JSON
    or holds no object."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return found if isinstance(found, dict) else None


def read_jsonl(path) -> list[dict]:
    """Read JSON Lines, naming the file and line of anything that does not parse."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM (as Windows editors write) is not data
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: not valid UTF-8 ({error.reason}); re-encode the file as UTF-8.")
    rows = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except BadJSON as error:
            raise UserError(f"{path}, line {number}: {error}; each line must be one JSON object.") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
        try:
            broken = _lone_surrogate(row)
        except RecursionError:  # as deep as json.loads could go: deeper than this walk can
            raise UserError(f"{path}, line {number}: not JSON that can be read: nested too deeply; each line must "
                            "be one JSON object.") from None
        if broken:
            raise UserError(f"{path}, line {number}: {broken} holds a lone surrogate (an escape such as \\ud800 "
                            "without its pair), which is no character; fix or drop that text.")
        rows.append(row)
    if not rows:
        raise UserError(f"{path} is empty: expected one JSON object per line.")
    return rows
