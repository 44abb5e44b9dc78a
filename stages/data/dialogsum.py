"""DialogSum in, tokenized splits out: loading, validation, prompting, subsampling."""
from pathlib import Path

import datasets

from ..io.errors import UserError, pull_hint
from ..io.files import read_jsonl

SPLITS = ("train", "validation", "test")
REQUIRED = ("id", "dialogue", "summary")
TEXT_COLUMNS = ("id", "dialogue", "summary", "topic")
PREPARED = Path("data/prepared")
MODELS = ("base", "full", "lora")  # zero-shot, fully fine-tuned, LoRA adapter
PREDICTIONS = Path("data/predictions")


def is_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).exists()


def load_raw(source: str, revision: str) -> dict[str, list[dict]]:
    """Rows of each split, from a local directory of JSONL files or from the Hub."""
    if is_local(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise UserError(f"params.yaml: data.source: {source} is not a directory. Point it at a folder holding "
                            f"train.jsonl, validation.jsonl and test.jsonl, or at a Hub id such as knkarthick/dialogsum.")
        missing = [s for s in SPLITS if not (folder / f"{s}.jsonl").is_file()]
        if missing:
            raise UserError(f"data.source {folder} lacks {', '.join(f'{s}.jsonl' for s in missing)}: "
                            f"each of {', '.join(SPLITS)} must be a JSONL file with columns {', '.join(REQUIRED)}.")
        return {split: read_jsonl(folder / f"{split}.jsonl") for split in SPLITS}
    try:
        hub = datasets.load_dataset(source, revision=revision)
    except Exception as error:  # connection, auth, missing repo or revision: all fixable by the user
        raise UserError(
            f"could not load dataset {source!r} at revision {revision!r} from the Hugging Face Hub "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Check the id and "
            f"revision and your network, or set data.source to a local directory with train/validation/test "
            f".jsonl files (for example /data/dialogsum){pull_hint('to fetch data/prepared')}."
        ) from None
    missing = [s for s in SPLITS if s not in hub]
    if missing:
        raise UserError(f"dataset {source!r} lacks the split(s) {', '.join(missing)}; it has {', '.join(hub)}.")
    return {split: hub[split].to_list() for split in SPLITS}


def validate(split: str, rows: list[dict]) -> None:
    """Every row has a unique id and non-empty dialogue and summary."""
    if not rows:
        raise UserError(f"split {split!r} is empty.")
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise UserError(f"split {split!r} lacks column(s) {', '.join(missing)}; it has {', '.join(rows[0])}. "
                        f"Each row needs {', '.join(REQUIRED)} (as in knkarthick/dialogsum).")
    seen = set()
    for number, row in enumerate(rows, start=1):
        for column in REQUIRED:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                raise UserError(f"split {split!r}, row {number} (id {row.get('id')!r}): {column!r} is "
                                f"missing, empty or not text; fix or drop that row.")
        if row["id"] in seen:
            raise UserError(f"split {split!r}, row {number}: duplicate id {row['id']!r}; ids must be unique.")
        seen.add(row["id"])


def subsample(rows: list[dict], limit: int | None, seed: int) -> list[dict]:
    """Keep `limit` distinct dialogues, chosen by seed, in their original order (all references kept)."""
    dialogues = list(dict.fromkeys(row["dialogue"] for row in rows))
    if limit is None or limit >= len(dialogues):
        return rows
    import random

    keep = set(random.Random(seed).sample(dialogues, limit))
    return [row for row in rows if row["dialogue"] in keep]


def build_prompt(template: str, dialogue: str) -> str:
    return template.format(dialogue=dialogue)


def tokenize(rows: list[dict], tokenizer, template: str, max_source: int, max_target: int) -> datasets.Dataset:
    """Text columns plus input_ids, labels and length; no padding here (the collator pads per batch)."""
    table = {column: [row.get(column, "") for row in rows] for column in TEXT_COLUMNS}
    from . import prompts  # only prepare tokenizes: other stages need not depend on it

    sources = prompts.encode(tokenizer, template, table["dialogue"], max_source)  # cuts the dialogue, not the cue
    targets = tokenizer(text_target=table["summary"], max_length=max_target, truncation=True)
    table["input_ids"] = sources.input_ids
    table["attention_mask"] = [[1] * len(ids) for ids in sources.input_ids]
    table["over_length"] = sources.over  # prompt tokens beyond max_source that were cut from the dialogue
    table["labels"] = targets["input_ids"]
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
