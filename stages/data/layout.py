"""A source's own columns mapped onto the rows every stage reads: {id, dialogue, summary, topic}, one row per reference.

`Layout` says where things are (data.splits, data.columns, data.turns, data.validation_size); `dialogues` maps one
table's rows through it:
  dialogue  text, kept as it is (turns one per line); or a list of turns: strings, or objects whose fields
            data.turns names ("{speaker}: {text}"), or one object of lists (as `datasets` stores a sequence of
            objects); each turn on its own line, line breaks inside a turn made spaces.
  summary   one column or a list of columns (`[ref_a, ref_b]`, a null or empty cell in one of them is no
            reference); a column
            may hold text or a list of texts. Rows sharing an id are one dialogue's references (their dialogue text
            must agree, whitespace aside).
  id        text or an integer; without an id column, an id made from the dialogue text (the same text, the same id).
  topic     optional text.
A dialogue with several references becomes one row per reference with ids `{id}_1`, `{id}_2`, ..., and then every
dialogue of its split does: DialogSum's test-split convention, which is how every later stage groups references
(stages/data/dialogsum.py). A split where every dialogue has one reference keeps its ids as they are.
"""
import hashlib
import re
import string
from dataclasses import dataclass, field

from . import dialogsum
from .formats import Table
from ..io.errors import UserError

SPLITS = {"train": "train", "validation": "validation", "test": "test"}
COLUMNS = {"id": "id", "dialogue": "dialogue", "summary": "summary", "topic": "topic"}
TURNS = "{speaker}: {text}"
VALIDATION_SIZE = 0.1
_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029\x85]+\s*")


@dataclass(frozen=True)
class Layout:
    splits: dict = field(default_factory=lambda: dict(SPLITS))
    columns: dict = field(default_factory=lambda: dict(COLUMNS))
    turns: str = TURNS
    validation_size: float = VALIDATION_SIZE
    config: str | None = None

    def summary_columns(self) -> list[str]:
        found = self.columns.get("summary")
        return list(found) if isinstance(found, (list, tuple)) else [found]


def turn_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _turn(item, template: str, fields: list[str], where: str, number: int) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise UserError(f"{where}: turn {number} of the dialogue is {_kind(item)}; a turn is text or an "
                        f"object with the fields data.turns names ({', '.join(fields)}).")
    lacks = [name for name in fields if name not in item]
    bad = [name for name in fields if name in item and (not isinstance(item[name], (str, int)) or
                                                          isinstance(item[name], bool))]
    if lacks or bad:
        wrong = [f"lacks {', '.join(lacks)}"] * bool(lacks) + [f"has a {', '.join(bad)} that is not text"] * bool(bad)
        raise UserError(f"{where}: turn {number} of the dialogue {' and '.join(wrong)}"
                        f" (it has {', '.join(item) or 'no fields'}); data.turns is {template!r}: set it to name "
                        "the fields each turn has, such as '{role}: {content}'.")
    return template.format(**{name: item[name] for name in fields})


def join_turns(value, template: str, where: str, column: str) -> str:
    """The dialogue as text, one turn per line (see the module's docstring)."""
    if isinstance(value, str):
        return value
    fields = turn_fields(template)
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        sizes = {len(v) for v in value.values()}
        if len(sizes) != 1:
            raise UserError(f"{where}: column {column!r} (data.columns.dialogue) holds lists of turns of different "
                            f"lengths ({', '.join(f'{k}: {len(v)}' for k, v in value.items())}).")
        value = [dict(zip(value, items)) for items in zip(*value.values())]
    if not isinstance(value, list):
        raise UserError(f"{where}: column {column!r} (data.columns.dialogue) is {_kind(value)}, not text or a list of "
                        "turns; fix that row, or set data.columns.dialogue to the column that holds the dialogue.")
    turns = [_BREAKS.sub(" ", _turn(item, template, fields, where, number)).strip()
             for number, item in enumerate(value, start=1)]
    return "\n".join(turn for turn in turns if turn)


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _references(row: dict, layout: Layout, where: str) -> list[str]:
    columns = layout.summary_columns()
    found = []
    for column in columns:
        value = row[column]
        if len(columns) > 1 and (value is None or isinstance(value, str) and not value.strip()):
            continue  # fewer references on this row than columns (a CSV has no null: an empty cell)
        several = isinstance(value, list)
        values = value if several else [value]
        if several and not value:
            raise UserError(f"{where}: column {column!r} (data.columns.summary) is an empty list: the dialogue has "
                            "no reference summary; drop that row or give it one.")
        for item in values:
            if not isinstance(item, str):
                raise UserError(f"{where}: column {column!r} (data.columns.summary) {'holds' if several else 'is'} "
                                f"{_kind(item)}, not text; every summary is text (a list of texts for several).")
            found.append(item)
    if not found:
        raise UserError(f"{where}: every summary column ({', '.join(columns)}) is null: the dialogue has no "
                        "reference summary; drop that row or give it one.")
    return found


def _check_text(text: str, references: list[str], layout: Layout, where: str) -> None:
    """What summarize and serve refuse (stages/data/dialogue.py), named by file and row."""
    from . import dialogue

    why = dialogue.text_problem(text)
    if why:
        raise UserError(f"{where}: dialogue column {layout.columns['dialogue']!r} {why}; fix or drop that row.")
    for summary in references:
        why = dialogue.text_problem(summary)
        if why:
            raise UserError(f"{where}: summary column {' or '.join(map(repr, layout.summary_columns()))} {why}; "
                            "fix or drop that row.")


def text_id(dialogue: str) -> str:
    """A stable id from the dialogue text, whitespace aside: no `_` (it would read as `{dialogue}_{k}`)."""
    return "text-" + hashlib.sha256(dialogsum.normal(dialogue).encode()).hexdigest()[:16]


def _id(row: dict, column: str | None, dialogue: str, where: str) -> str:
    if column is None:
        return text_id(dialogue)
    value = row[column]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: column {column!r} (data.columns.id) is {_kind(value) if value != '' else 'empty'}, "
                        "not an id; give every row an id (text or an integer), or set data.columns.id to null to "
                        "make ids from the dialogue text.")
    return value


def check_columns(table: Table, layout: Layout) -> None:
    """Every mapped column is in the table: else name the ones it has."""
    has = table.columns
    for key in ("id", "dialogue", "summary", "topic"):
        wanted = layout.columns.get(key)
        for column in (wanted if isinstance(wanted, (list, tuple)) else [wanted]):
            if column is None or column in has:
                continue
            if key == "topic" and column == COLUMNS["topic"]:
                continue  # the default optional column, absent: no topics
            raise UserError(f"{table.name} has no column {column!r} (data.columns.{key}); its columns are "
                            f"{', '.join(has)}. Set data.columns.{key} to the column that holds "
                            f"{_WHAT[key]}{' (null: ids made from the dialogue text)' if key == 'id' else ''}.")


_WHAT = {"id": "each dialogue's id", "dialogue": "the dialogue", "summary": "the reference summary (a list of "
         "columns for several)", "topic": "a topic (null: none)"}


def same_schema(table: Table, index: int, mapped: list[str]) -> None:
    """A later row that lacks a mapped column the first row has: rows of mixed schemas (a file joined from two
    sources, a field renamed halfway). An unmapped column, or the optional topic, may come and go."""
    row = table.rows[index]
    lacks = [column for column in mapped if column not in row]
    if lacks:
        extra = [column for column in row if column not in table.rows[0]]
        raise UserError(f"{table.where(index)}: columns differ from the first row's (it lacks {', '.join(lacks)}"
                        f"{'; it has ' + ', '.join(extra) if extra else ''}; the first row has "
                        f"{', '.join(table.columns)}): rows of mixed schemas. Give every row the same columns (null "
                        "where a value is missing).")


@dataclass
class _Dialogue:
    index: int
    text: str
    references: list[str]
    topic: object


def dialogues(table: Table, layout: Layout) -> list[dict]:
    """The table's rows as the rows every stage reads (see the module's docstring), in the order of first
    appearance; errors name the file and row."""
    if not table.rows:
        raise UserError(f"{table.name} has no rows: every split needs dialogues.")
    check_columns(table, layout)
    topic = layout.columns.get("topic")
    topic = topic if topic in table.columns else None
    found: dict[str, _Dialogue] = {}
    mapped = [c for key in ("id", "dialogue") for c in [layout.columns.get(key)] if c] + layout.summary_columns()
    for index, row in enumerate(table.rows):
        where = table.where(index)
        same_schema(table, index, mapped)
        text = join_turns(row[layout.columns["dialogue"]], layout.turns, where, layout.columns["dialogue"])
        key = _id(row, layout.columns.get("id"), text, where)
        references = _references(row, layout, where)
        _check_text(text, references, layout, where)
        value = row.get(topic) if topic else None
        if value is not None and not isinstance(value, str):
            raise UserError(f"{where}: column {topic!r} (data.columns.topic) is {_kind(value)}, not text; give text "
                            "or null, or set data.columns.topic to null.")
        seen = found.get(key)
        if seen is None:
            found[key] = _Dialogue(index, text, references, value)
        elif dialogsum.normal(seen.text) != dialogsum.normal(text):
            raise UserError(f"{where}: id {key!r} is also the id of {table.unit} {table.numbers[seen.index]}, whose "
                            "dialogue differs: duplicate ids with different dialogues. Rows sharing an id are one "
                            "dialogue's references; give different dialogues different ids.")
        else:
            seen.references += references
    several = any(len(d.references) > 1 for d in found.values())
    rows = []
    for key, dialogue in found.items():
        for number, summary in enumerate(dialogue.references, start=1):
            row = {"id": f"{key}_{number}" if several else key, "dialogue": dialogue.text, "summary": summary}
            if topic:
                row["topic"] = dialogue.topic
            rows.append(row)
    return rows
