"""Where the dialogues come from: a Hub dataset (data.config, data.revision) or a local folder of JSON Lines, JSON,
CSV or Parquet files; each split found by data.splits, its columns mapped by data.columns (stages/data/layout.py).

A validation split set to null is carved from train: data.validation_size of its dialogues (a share below 1, else
a count), chosen by data.seed, all references of a dialogue together; prepare records how in data/sources.json.
A test split is never carved: scores on dialogues the user did not set aside would be no test.
"""
import dataclasses
import random
import sys
from pathlib import Path

from . import dialogsum, formats, layout as layouts
from .layout import Layout
from ..io import net
from ..io.errors import UserError, pull_hint

SPLITS = dialogsum.SPLITS


def is_local(source: str) -> bool:
    return dialogsum.is_local(source)


def wanted(layout: Layout) -> dict[str, str]:
    """{our split: the source's split or file name}, for the splits the source gives (validation may be carved)."""
    for split in ("train", "test"):
        if not layout.splits.get(split):
            how = ("set aside dialogues the model never trains on (for example a tenth of your rows, chosen at "
                   "random) in a file of their own, such as test.jsonl, and name it in data.splits.test"
                   if split == "test" else "name the split or file that holds the training dialogues")
            raise UserError(f"params.yaml: data.splits.{split} is not set: a {split} split is needed; {how}.")
    return {split: layout.splits[split] for split in SPLITS if layout.splits.get(split)}


def split_files(source: str, layout: Layout) -> dict[str, Path]:
    """{split: file} in a local folder: a name with its extension, or a name a single data file of the folder
    has before its extension (`train` for train.jsonl)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise UserError(f"params.yaml: data.source: {source} is not a directory. Point it at a folder holding the "
                        f"splits' files (train.jsonl, validation.jsonl and test.jsonl, or the files data.splits names: "
                        f"{', '.join(formats.FORMATS)}), or at a Hub id such as knkarthick/dialogsum.")
    found = {}
    for split, name in wanted(layout).items():
        path = folder / name
        if not path.resolve().is_relative_to(folder.resolve()):
            raise UserError(f"data.splits.{split} {name!r} is outside data.source {folder}: name a file inside it "
                            "(its fingerprint pins the folder's files), or point data.source at the folder above.")
        if path.suffix.lower() in formats.FORMATS:
            candidates = [path] if path.is_file() else []
        else:
            candidates = [folder / f"{name}{ext}" for ext in formats.FORMATS if (folder / f"{name}{ext}").is_file()]
        if len(candidates) > 1:
            raise UserError(f"data.source {folder} has {' and '.join(p.name for p in candidates)}: which is the "
                            f"{split} split? Set data.splits.{split} to the file name with its extension.")
        if not candidates:
            shown = path.name if path.suffix else f"{name}.jsonl (or .json, .csv, .parquet)"
            files = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in formats.FORMATS)[:10]
            carve = " or to null to carve validation from train" if split == "validation" else ""
            raise UserError(f"data.source {folder} lacks {shown}, the {split} split (data.splits.{split}: {name!r}); "
                            f"{'its data files are ' + ', '.join(files) if files else 'it holds no data files'}. "
                            f"Set data.splits.{split} to the file that holds it{carve}.")
        found[split] = candidates[0]
    return found


def hub_load(source: str, config: str | None, revision: str):
    """The download: a DatasetDict of the Hub dataset's splits (the one place tests stand in for the Hub)."""
    import datasets

    return datasets.load_dataset(source, config, revision=revision)


def hub_tables(source: str, revision: str, layout: Layout) -> dict[str, formats.Table]:
    net.configure_hub()  # a Hub that never answers is an error after STAGES_NET_TIMEOUT, not a hang
    named = f"{source!r}" + (f" (configuration {layout.config!r})" if layout.config else "")
    try:
        hub = hub_load(source, layout.config, revision)
    except Exception as error:  # connection, auth, missing repo, config or revision: all fixable by the user
        raise UserError(
            f"could not load dataset {named} at revision {revision!r} from the Hugging Face Hub "
            f"({net.reason(error)}). Check the id, data.config and data.revision and your network, or set data.source "
            f"to a local directory of train/validation/test files (for example /data/dialogsum)"
            f"{pull_hint('to fetch data/prepared')}.") from None
    splits = wanted(layout)
    missing = [name for name in splits.values() if name not in hub]
    if missing:
        raise UserError(f"dataset {named} lacks the split(s) {', '.join(missing)}; it has {', '.join(hub)}. Map "
                        "data.splits.train, .validation and .test to its split names (data.splits.validation: null "
                        "carves validation from train).")
    return {split: formats.from_rows(f"split {name!r} of {source}", hub[name].to_list())
            for split, name in splits.items()}


def local_tables(source: str, layout: Layout) -> dict[str, formats.Table]:
    return {split: formats.read(path) for split, path in split_files(source, layout).items()}


def carve(rows: list[dict], size: float, seed: int) -> tuple[list[dict], list[dict], int]:
    """(train, validation, dialogues carved): whole dialogues drawn by seed, both kept in file order."""
    groups = dialogsum.group([r["id"] for r in rows], [r["dialogue"] for r in rows], "split 'train'")
    count = round(size * len(groups)) if size < 1 else int(size)
    count = max(count, 1)
    if count >= len(groups):
        raise UserError(f"data.validation_size {size} carves {count} of train's {len(groups)} dialogues for "
                        "validation, leaving none to train on: lower it, or give a validation split in data.splits.")
    chosen = {i for pick in random.Random(seed).sample(range(len(groups)), count) for i in groups[pick]}
    return ([r for i, r in enumerate(rows) if i not in chosen], [r for i, r in enumerate(rows) if i in chosen], count)


def warn_shared_ids(splits: dict[str, list[dict]]) -> int:
    """A warning when a validation or test dialogue has a train dialogue's id but other text: reports and
    predictions keyed by id would mix them up (the same text under one id is a text overlap, which prepare
    names as such). Returns how many were found."""
    def by_name(split):
        rows = splits[split]
        groups = dialogsum.group([r["id"] for r in rows], [r["dialogue"] for r in rows], f"split {split!r}")
        return {name: dialogsum.normal(rows[g[0]]["dialogue"])
                for name, g in zip(dialogsum.names([r["id"] for r in rows], groups), groups)}

    train, total = by_name("train"), 0
    for split in ("validation", "test"):
        clash = [name for name, text in by_name(split).items() if name in train and train[name] != text]
        if clash:
            print(f"warning: {split}: {len(clash)} dialogue id(s) (first {clash[0]!r}) are also ids of other train "
                  "dialogues: ids name dialogues in predictions and reports, so give each dialogue its own id "
                  "across splits.", file=sys.stderr)
        total += len(clash)
    return total


def load(source: str, revision: str, layout: Layout, seed: int) -> tuple[dict[str, list[dict]], dict]:
    """Each split's rows ({id, dialogue, summary, topic}, one per reference) and what to record of how they were
    made (a carved validation split)."""
    tables = local_tables(source, layout) if is_local(source) else hub_tables(source, revision, layout)
    splits = {split: layouts.dialogues(table, layout) for split, table in tables.items()}
    record = {}
    if "validation" not in splits:
        splits["train"], splits["validation"], count = carve(splits["train"], layout.validation_size, seed)
        record["validation"] = {"carved_from": "train", "size": layout.validation_size, "seed": seed,
                                "dialogues": count}
        print(f"validation: carved {count} dialogues from train (data.validation_size {layout.validation_size}, "
              f"data.seed {seed})", file=sys.stderr)
    splits = {split: splits[split] for split in SPLITS}
    for split, rows in splits.items():
        dialogsum.validate(split, rows)
    warn_shared_ids(splits)
    return splits, record


def layout_of(data) -> Layout:
    """The Layout params.yaml's data section gives: data.splits, .columns, .turns, .validation_size, .config."""
    return Layout(splits=dataclasses.asdict(data.splits), columns=dataclasses.asdict(data.columns), turns=data.turns,
                  validation_size=data.validation_size, config=data.config)


def about(data, source_entry: dict, revision: str) -> dict:
    """{license, title} recorded with the run: data.license and data.name where given, else what a Hub dataset's
    card says; a given licence the card contradicts is warned about (a preset's licence left on other data)."""
    from . import sources

    given = {"license": data.license, "title": data.name}
    card = {} if source_entry.get("local") else sources.hub_card(data.source, revision)
    if given["license"] and card.get("license") and card["license"].lower() != given["license"].lower():
        print(f"warning: data.license is {given['license']!r}, but the card of dataset {data.source!r} says "
              f"{card['license']!r}: the model card states data.license; set it to the data's licence.",
              file=sys.stderr)
    return {key: given[key] or card.get(key) for key in ("license", "title") if given[key] or card.get(key)}
