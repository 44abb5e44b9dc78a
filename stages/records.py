"""Predictions and references from JSONL or CSV files, checked row by row with the file's line numbers."""
import csv
from pathlib import Path

from .errors import UserError
from .files import read_jsonl

FORMATS = {".jsonl": "JSONL", ".json": "JSONL", ".csv": "CSV"}


def read(path, columns: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, row) of each record; every row must hold every column as text."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"{path}: unknown file type {path.suffix!r}; give a .jsonl (one JSON object per line) "
                        f"or a .csv file with a header row, with columns {', '.join(columns)}.")
    rows = _read_csv(path) if path.suffix.lower() == ".csv" else _read_jsonl(path)
    for line, row in rows:
        for column in columns:
            if not isinstance(row.get(column), str):
                found = "missing" if row.get(column) is None else f"{type(row[column]).__name__} instead of text"
                raise UserError(f"{path}, line {line}: column {column!r} is {found}; every row needs "
                                f"{', '.join(columns)}.")
    return rows


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = read_jsonl(path)  # names the line of anything that is not a JSON object
    text = path.read_text(encoding="utf-8")
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return list(zip(lines, rows))


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: Excel starts its CSV with a BOM
            reader = csv.DictReader(handle)
            rows, start = [], 2  # line 1 is the header
            for row in reader:
                if None in row:
                    raise UserError(f"{path}, line {start}: more fields than the header has; quote fields "
                                    "that contain commas.")
                rows.append((start, row))
                start = reader.line_num + 1  # a quoted field may span lines
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 ({error.reason}); re-encode the file as UTF-8.") from None
    except csv.Error as error:
        raise UserError(f"{path}, line {reader.line_num}: not valid CSV ({error}).") from None
    if not rows:
        raise UserError(f"{path} has no rows: expected a header line and one row per prediction.")
    return rows


def unique_ids(path, rows: list[tuple[int, dict]]) -> dict[str, tuple[int, dict]]:
    """Rows by id; a repeated id is an error naming both lines."""
    seen: dict[str, tuple[int, dict]] = {}
    for line, row in rows:
        if row["id"] in seen:
            raise UserError(f"{path}, line {line}: duplicate id {row['id']!r} (first on line "
                            f"{seen[row['id']][0]}); give each id one prediction.")
        seen[row["id"]] = (line, row)
    return seen


def read_predictions(path) -> dict[str, tuple[int, str]]:
    """id -> (line, prediction) from a JSONL or CSV file with columns id and prediction."""
    rows = unique_ids(path, read(path, ("id", "prediction")))
    return {key: (line, row["prediction"]) for key, (line, row) in rows.items()}


def read_references(path) -> list[dict]:
    """Rows with id, dialogue and summary (the DialogSum layout), each id once."""
    rows = read(path, ("id", "dialogue", "summary"))
    unique_ids(path, rows)
    return [dict(row, line=line) for line, row in rows]


def match(predictions: dict[str, tuple[int, str]], references: list[dict], predictions_path,
          references_name: str) -> list[str]:
    """The prediction for each reference row, in reference order; every id must be on both sides."""
    wanted = {row["id"] for row in references}
    for key, (line, _) in predictions.items():
        if key not in wanted:
            raise UserError(f"{predictions_path}, line {line}: id {key!r} is not in the references "
                            f"({references_name}); are these predictions for another split or file?")
    missing = [row for row in references if row["id"] not in predictions]
    if missing:
        where = f" (line {missing[0]['line']})" if "line" in missing[0] else ""
        raise UserError(f"{predictions_path} has no prediction for {len(missing)} of {len(references)} "
                        f"reference id(s), first {missing[0]['id']!r}{where} of {references_name}; "
                        "every reference row needs a prediction.")
    return [predictions[row["id"]][1] for row in references]
