"""One data file in, its rows out: JSON Lines, JSON, CSV or Parquet, the format told by the file's extension.

Every row comes with where it is ("line 7" of a JSONL or CSV file, "row 7" of a JSON list or a Parquet file), so
a later check can name the file and the row (stages/data/layout.py checks that each row has the columns mapped).
"""
import csv
from dataclasses import dataclass
from pathlib import Path

from ..io.errors import UserError
from ..io.jsonl import BadJSON, jsonl_lines, loads, read_jsonl

FORMATS = {".jsonl": "JSON Lines", ".json": "JSON", ".csv": "CSV", ".parquet": "Parquet"}
# The longest CSV field a data file may hold: past stages/data/dialogue.py's MAX_CHARS, which then names a dialogue
# that is too long (csv's own default, 131,072, would stop it with "field larger than field limit").
FIELD_LIMIT = 1_000_000


@dataclass(frozen=True)
class Table:
    """The rows of one file (or one Hub split), each with the number `where` names it by."""
    name: str            # the file, or "split 'train' of owner/name"
    unit: str            # "line" or "row"
    numbers: list[int]
    rows: list[dict]

    def where(self, index: int) -> str:
        return f"{self.name}, {self.unit} {self.numbers[index]}"

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []


def read(path) -> Table:
    """The rows of a data file, by its extension; checked to be the format it says and one schema."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise UserError(f"{path}: unknown file type {path.suffix!r}; give data as "
                        f"{', '.join(FORMATS)} files ({', '.join(FORMATS.values())}).")
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes): it has no rows. Give it a row per dialogue (or per reference).")
    reader = {".jsonl": _jsonl, ".json": _json, ".csv": _csv, ".parquet": _parquet}[kind]
    table = reader(path)
    if not table.rows:
        raise UserError(f"{path} has no rows: give it a row per dialogue (or per reference).")
    return table


def _jsonl(path: Path) -> Table:
    rows = read_jsonl(path)  # names the line of anything that is not a JSON object
    text = path.read_bytes().decode("utf-8-sig")
    numbers = [number for number, line in enumerate(jsonl_lines(text), start=1) if line.strip()]
    return Table(str(path), "line", numbers, rows)


def _json(path: Path) -> Table:
    try:
        value = loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 ({error.reason}); re-encode the file as UTF-8.") from None
    except BadJSON as error:
        lines = path.read_bytes()[:1] == b"{"
        hint = " (one JSON object per line is JSON Lines: name the file .jsonl)" if lines else ""
        raise UserError(f"{path}: not a JSON file: {error}{hint}.") from None
    if isinstance(value, dict):
        raise UserError(f"{path} is one JSON object (keys {', '.join(list(value)[:5])}), not a list of rows: give a "
                        "JSON list of objects, [{\"id\": ..., \"dialogue\": ..., \"summary\": ...}, ...], or one "
                        "object per line in a .jsonl file.")
    if not isinstance(value, list):
        raise UserError(f"{path} holds a JSON {type(value).__name__}, not a list of rows (objects).")
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            raise UserError(f"{path}, row {index + 1}: expected a JSON object, got {type(row).__name__}.")
    return Table(str(path), "row", list(range(1, len(value) + 1)), value)


def csv_rows(path: Path, what: str = "row", field_limit: int | None = None) -> list[tuple[int, dict]]:
    """(line, row) of each record of a CSV file with a header; a quoted field may span lines. `field_limit`: the
    longest field read (csv's own default, 131,072 characters, where None)."""
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    start, default = 1, csv.field_size_limit()
    try:
        if field_limit:
            csv.field_size_limit(field_limit)
        with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: Excel starts its CSV with a BOM
            reader = csv.DictReader(handle)
            reader.fieldnames  # noqa: B018 - reads the header (line 1) now, so an error in it is named as line 1
            rows, start = [], 2  # where the row being read starts
            for row in reader:
                if None in row:
                    raise UserError(f"{path}, line {start}: more fields than the header has; quote fields "
                                    "that contain commas.")
                missing = [name for name, value in row.items() if value is None]
                if missing:
                    raise UserError(f"{path}, line {start}: fewer fields than the header has (no "
                                    f"{', '.join(missing)}); quote fields that contain commas or line breaks.")
                rows.append((start, row))
                start = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 ({error.reason}); re-encode the file as UTF-8.") from None
    except csv.Error as error:
        raise UserError(f"{path}, line {start}: not valid CSV ({error}).") from None
    finally:
        csv.field_size_limit(default)
    if not rows:
        raise UserError(f"{path} has no rows: expected a header line and one row per {what}.")
    return rows


def _csv(path: Path) -> Table:
    if path.read_bytes()[:1] in (b"{", b"["):
        raise UserError(f"{path} reads as JSON, not CSV: name it .jsonl or .json as its content is.")
    found = csv_rows(path, "dialogue (or reference)", field_limit=FIELD_LIMIT)
    return Table(str(path), "line", [line for line, _ in found], [row for _, row in found])


def _parquet(path: Path) -> Table:
    import pyarrow
    import pyarrow.parquet as parquet

    try:
        rows = parquet.read_table(path).to_pylist()
    except (pyarrow.ArrowInvalid, OSError) as error:
        raise UserError(f"{path} is not a Parquet file ({error}); write it with pandas' to_parquet or "
                        "pyarrow, or give it the extension of its format.") from None
    return Table(str(path), "row", list(range(1, len(rows) + 1)), rows)


def from_rows(name: str, rows: list[dict]) -> Table:
    """A Hub split's rows as a Table (row numbers from 1)."""
    return Table(name, "row", list(range(1, len(rows) + 1)), rows)
