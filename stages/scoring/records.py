"""Predictions and references from JSONL or CSV files, checked row by row with the file's line numbers."""
from pathlib import Path

from ..data import dialogsum, formats
from ..io.errors import UserError
from ..io.jsonl import jsonl_lines, read_jsonl

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
    lines = [number for number, line in enumerate(jsonl_lines(text), start=1) if line.strip()]
    return list(zip(lines, rows))


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    return formats.csv_rows(path, "prediction")


def unique_ids(path, rows: list[tuple[int, dict]], key: str = "id") -> dict[str, tuple[int, dict]]:
    """Rows by id (or another key column); a repeated value is an error naming both lines."""
    seen: dict[str, tuple[int, dict]] = {}
    for line, row in rows:
        if row[key] in seen:
            shown = repr(row[key]) if len(row[key]) <= 60 else repr(row[key][:57] + "...")
            raise UserError(f"{path}, line {line}: duplicate {key} {shown} (first on line "
                            f"{seen[row[key]][0]}); give each {key} one prediction.")
        seen[row[key]] = (line, row)
    return seen


def read_predictions(path) -> dict[str, tuple[int, str]]:
    """id -> (line, prediction) from a JSONL or CSV file with columns id and prediction; a file with a
    dialogue column and no id column is keyed by the dialogue text instead (one prediction per dialogue)."""
    rows = read(path, ("prediction",))
    key = "dialogue" if rows and "id" not in rows[0][1] and "dialogue" in rows[0][1] else "id"
    rows = unique_ids(path, read(path, (key, "prediction")), key)
    return {value: (line, row["prediction"]) for value, (line, row) in rows.items()}


def read_references(path) -> list[dict]:
    """Rows with id, dialogue and summary (the DialogSum layout), each id once."""
    rows = read(path, ("id", "dialogue", "summary"))
    unique_ids(path, rows)
    return [dict(row, line=line) for line, row in rows]


def groups(references: list[dict], where: str) -> list[list[int]]:
    """Row indices of each dialogue of the references: by DialogSum's `{dialogue}_{k}` ids, else by text
    (stages/data/dialogsum.py)."""
    return dialogsum.group([row["id"] for row in references], [row["dialogue"] for row in references], where)


def dialogue_keys(references: list[dict], where: str) -> list[tuple[list[int], set[str]]]:
    """Each dialogue's reference rows, and the keys that name it: its name (dialogue id) and its texts."""
    rows_of = groups(references, where)
    named = dialogsum.names([row["id"] for row in references], rows_of)
    return [(rows, {name} | {references[i]["dialogue"] for i in rows}) for rows, name in zip(rows_of, named)]


class _Owners:
    """Which dialogue a prediction's key names: its name, one of its texts exactly, or its text with whitespace
    normalised; a text two dialogues share (ids say they are two) names neither, and says so."""

    def __init__(self, dialogues: list[tuple[list[int], set[str]]], references: list[dict], names: list[str]):
        self.names = names
        self.exact = {name: number for number, name in enumerate(names)}
        self.texts: dict[str, set[int]] = {}
        for number, (rows, _) in enumerate(dialogues):
            for i in rows:
                text = references[i]["dialogue"]
                for key in (text, dialogsum.normal(text)):
                    self.texts.setdefault(key, set()).add(number)

    def __call__(self, key: str, where: str) -> int | None:
        if key in self.exact:
            return self.exact[key]
        owners = self.texts.get(key) or self.texts.get(dialogsum.normal(key)) or set()
        if len(owners) > 1:
            both = " and ".join(repr(self.names[n]) for n in sorted(owners)[:2])
            raise UserError(f"{where}: {_short(key)} is the text of {len(owners)} dialogues ({both}, their ids "
                            "tell them apart); key these predictions by dialogue id instead of by text.")
        return next(iter(owners), None)


def match(predictions: dict[str, tuple[int, str]], references: list[dict], predictions_path,
          references_name: str) -> list[str]:
    """The prediction for each reference row, in reference order. Either one prediction per reference row
    (every row id on both sides), or one per dialogue, keyed by its id (`test_0` for rows `test_0_1`,
    `test_0_2`, ...) or by its text, and given to each of its rows."""
    row_ids = {row["id"] for row in references}
    if not any(key in row_ids for key in predictions):
        per_dialogue = match_dialogues(predictions, references, predictions_path, references_name)
        if per_dialogue is not None:
            return per_dialogue
    else:
        named = {key for _, keys in dialogue_keys(references, references_name) for key in keys} - row_ids
        for key, (line, _) in predictions.items():
            if key in named:
                raise UserError(f"{predictions_path}, line {line}: {_short(key)} names a whole dialogue, but other "
                                "lines name reference rows; give one prediction per reference row or one per "
                                "dialogue, not both.")
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


def match_dialogues(predictions: dict[str, tuple[int, str]], references: list[dict], predictions_path,
                    references_name: str) -> list[str] | None:
    """One prediction per dialogue spread over its reference rows; None when no key names a dialogue."""
    dialogues = dialogue_keys(references, references_name)
    names = dialogsum.names([row["id"] for row in references], [rows for rows, _ in dialogues])
    owner = _Owners(dialogues, references, names)
    if not any(owner(key, f"{predictions_path}, line {line}") is not None for key, (line, _) in predictions.items()):
        return None
    given: dict[int, tuple[str, int]] = {}
    for key, (line, _) in predictions.items():
        number = owner(key, f"{predictions_path}, line {line}")
        if number is None:
            raise UserError(f"{predictions_path}, line {line}: {_short(key)} names no dialogue of the references "
                            f"({references_name}); are these predictions for another split or file?")
        if number in given:
            raise UserError(f"{predictions_path}, line {line}: a second prediction for the dialogue of "
                            f"{_short(key)} (first on line {given[number][1]}); give each dialogue one.")
        given[number] = (key, line)
    missing = [number for number in range(len(dialogues)) if number not in given]
    if missing:
        name = names[missing[0]]
        raise UserError(f"{predictions_path} has no prediction for {len(missing)} of {len(dialogues)} dialogue(s), "
                        f"first {name!r} of {references_name}; give one prediction per dialogue (or per reference "
                        "row).")
    out = [""] * len(references)
    for number, (key, _) in given.items():
        for index in dialogues[number][0]:
            out[index] = predictions[key][1]
    return out


def _short(key: str) -> str:
    return f"id {key!r}" if len(key) <= 60 and "\n" not in key else f"dialogue {key[:40]!r}..."
