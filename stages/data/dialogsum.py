"""DialogSum's rows (id, dialogue, summary, topic; one row per reference) to tokenized splits: validation, which
rows are one dialogue, prompting, subsampling. Any source is mapped onto these rows first (stages/data/loading.py)."""
import re
from pathlib import Path

import datasets

from ..io.errors import UserError, pull_hint

SPLITS = ("train", "validation", "test")
REQUIRED = ("id", "dialogue", "summary")
TEXT_COLUMNS = ("id", "dialogue", "summary", "topic")
OPTIONAL = ("topic",)  # kept when present: text, or null
PREPARED = Path("data/prepared")
MODELS = ("base", "full", "lora")  # zero-shot, fully fine-tuned, LoRA adapter
PREDICTIONS = Path("data/predictions")


def is_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).exists()


def validate(split: str, rows: list[dict]) -> None:
    """Every row has a unique id and non-empty dialogue and summary."""
    if not rows:
        raise UserError(f"split {split!r} is empty.")
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise UserError(f"split {split!r} lacks column(s) {', '.join(missing)}; it has {', '.join(rows[0])}. "
                        f"Each row needs {', '.join(REQUIRED)} (as in knkarthick/dialogsum).")
    from . import dialogue  # only prepare and demo validate: other stages need not depend on it

    seen = set()
    for number, row in enumerate(rows, start=1):
        for column in REQUIRED:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                raise UserError(f"split {split!r}, row {number} (id {row.get('id')!r}): {column!r} is "
                                f"missing, empty or not text; fix or drop that row.")
            why = dialogue.text_problem(value) if column != "id" else None  # as summarize and serve check it
            if why:
                raise UserError(f"split {split!r}, row {number} (id {row['id']!r}): {column!r} {why}; fix or "
                                "drop that row.")
        for column in OPTIONAL:
            value = row.get(column)
            if value is not None and not isinstance(value, str):
                raise UserError(f"split {split!r}, row {number} (id {row['id']!r}): {column!r} is "
                                f"{type(value).__name__}, not text; write it as a JSON string, null, or leave it out.")
        if row["id"] in seen:
            raise UserError(f"split {split!r}, row {number}: duplicate id {row['id']!r}; ids must be unique.")
        seen.add(row["id"])


# Which rows are one dialogue.
#
# DialogSum's test split holds each dialogue once per human reference, with ids `{dialogue}_1`, `{dialogue}_2`,
# ...: the id says which rows are one dialogue, and the text need only agree (whitespace aside: one trailing
# space must not make two dialogues of one). Two dialogues with different ids stay two even when their texts
# agree (the real test split has such a pair). Splits without such ids (train_0, dev_0, a file of one's own)
# are grouped by their whitespace-normalised text.
_REFERENCE = re.compile(r"(.+)_([0-9]+)", re.DOTALL)  # used with fullmatch


def normal(text: str) -> str:
    """The text with every run of whitespace as one space, none at the ends."""
    return " ".join(text.split())


def _references(ids: list[str]) -> dict[str, list[int]] | None:
    """{dialogue id: its rows} when every id is `{dialogue}_{k}`, k counting 1, 2, ... within each dialogue,
    with at least two dialogues and one of them several rows; else None."""
    stems: dict[str, list[int]] = {}
    numbers: dict[str, list[int]] = {}
    for index, row_id in enumerate(ids):
        found = _REFERENCE.fullmatch(row_id)
        if not found:
            return None
        stems.setdefault(found.group(1), []).append(index)
        numbers.setdefault(found.group(1), []).append(int(found.group(2)))
    if len(stems) < 2 or max(map(len, stems.values())) < 2:
        return None
    if any(sorted(k) != list(range(1, len(k) + 1)) for k in numbers.values()):
        return None
    return stems


def group(ids: list[str], texts: list[str], where: str) -> list[list[int]]:
    """Row indices of each dialogue, in order of first appearance (see above); rows that one id names as one
    dialogue but whose texts differ are an error naming them."""
    ids, texts = list(ids), list(texts)
    by_id = _references(ids)
    if by_id is None:
        groups: dict[str, list[int]] = {}
        for index, text in enumerate(texts):
            groups.setdefault(normal(text), []).append(index)
        return list(groups.values())
    for stem, rows in by_id.items():
        other = next((i for i in rows if normal(texts[i]) != normal(texts[rows[0]])), None)
        if other is not None:
            raise UserError(f"{where}: rows {ids[rows[0]]!r} and {ids[other]!r} are references of one dialogue, "
                            f"{stem!r} (ids {{dialogue}}_1, _2, ... as in DialogSum), but their dialogue texts "
                            "differ (beyond whitespace); give every row of a dialogue the same text, or, if they "
                            f"are different dialogues, ids that do not read as one dialogue's references (such as "
                            f"{stem}-1, {stem}-2 instead of {stem}_1, {stem}_2).")
    return list(by_id.values())


def names(ids: list[str], groups: list[list[int]]) -> list[str]:
    """Each dialogue's name: the `{dialogue}` of its rows `{dialogue}_1`, `_2`, ... (one row is enough where
    the whole split has such ids), else its first row's id; unique (a name two dialogues would share falls back
    to their first row ids)."""
    ids = list(ids)
    least = 1 if _references(ids) is not None else 2
    chosen = []
    for rows in groups:
        found = [_REFERENCE.fullmatch(ids[i]) for i in rows]
        stems = {m.group(1) for m in found if m}
        numbers = sorted(int(m.group(2)) for m in found if m)
        whole = len(rows) >= least and all(found) and len(stems) == 1 and numbers == list(range(1, len(rows) + 1))
        chosen.append(stems.pop() if whole else ids[rows[0]])
    taken = {name: chosen.count(name) for name in chosen}
    row_ids = set(ids)
    return [name if taken[name] == 1 and (name == ids[rows[0]] or name not in row_ids) else ids[rows[0]]
            for name, rows in zip(chosen, groups)]


def subsample(rows: list[dict], limit: int | None, seed: int, where: str = "the split") -> list[dict]:
    """Keep `limit` distinct dialogues, chosen by seed, in their original order (all references kept)."""
    groups = group([row["id"] for row in rows], [row["dialogue"] for row in rows], where)
    if limit is None or limit >= len(groups):
        return rows
    import random

    keep = {index for chosen in random.Random(seed).sample(range(len(groups)), limit) for index in groups[chosen]}
    return [row for index, row in enumerate(rows) if index in keep]


def build_prompt(template: str, dialogue: str) -> str:
    return template.format(dialogue=dialogue)


def tokenize(rows: list[dict], tokenizer, template: str, max_source: int, max_target: int) -> datasets.Dataset:
    """Text columns plus input_ids, labels and length; no padding here (the collator pads per batch)."""
    table = {column: [row.get(column, "") for row in rows] for column in TEXT_COLUMNS}
    from . import prompts, tokens  # only prepare tokenizes: other stages need not depend on it

    sources = prompts.encode(tokenizer, template, table["dialogue"], max_source)  # cuts the dialogue, not the cue
    targets = tokens.encode(tokenizer, table["summary"])  # text: "</s>" in a summary is no end of sequence
    table["input_ids"] = sources.input_ids
    table["attention_mask"] = [[1] * len(ids) for ids in sources.input_ids]
    table["over_length"] = sources.over  # prompt tokens beyond max_source that were cut from the dialogue
    table["labels"] = [target.ids(max_target) for target in targets]  # cut as truncation=True would, EOS kept
    table["target_over_length"] = [max(len(target.ids()) - max_target, 0) for target in targets]
    table["length"] = [len(ids) for ids in sources.input_ids]
    return datasets.Dataset.from_dict(table)


def load_prepared(split: str, path=PREPARED) -> datasets.Dataset:
    path = Path(path)
    if not (path / "dataset_dict.json").is_file():
        raise UserError(f"{path} is missing or incomplete: run `dvc repro prepare`{pull_hint()} first.")
    return datasets.load_from_disk(str(path))[split]


def model_inputs(dataset: datasets.Dataset) -> datasets.Dataset:
    """Only the columns the model and the length-grouped sampler use."""
    return dataset.select_columns(["input_ids", "attention_mask", "labels", "length"])
