"""Your own dialogues: sources of each shape mapped onto DialogSum's rows, and what a user gets wrong, named."""
import json

import pytest

from stages.data import layout as layouts
from stages.data import loading
from stages.data.layout import Layout
from stages.io.errors import UserError

TRAIN = [(f"c{i}", f"A: hello {i}\nB: hi there {i}", f"They greet {i}.") for i in range(10)]
TEST = [("t0", "A: where is the bank\nB: over there", ["A asks for the bank.", "B points to the bank."]),
        ("t1", "A: one ticket please\nB: here", ["A buys a ticket."])]


def parquet(path, rows):
    import pyarrow
    import pyarrow.parquet

    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def folder(tmp_path, files: dict):
    """Files by name: bytes as they are, a list of rows as Parquet."""
    tmp_path.mkdir(exist_ok=True)
    for name, content in files.items():
        if isinstance(content, list):
            parquet(tmp_path / name, content)
        else:
            (tmp_path / name).write_bytes(content)
    return tmp_path


def load(path, **layout):
    return loading.load(str(path), "main", Layout(**{"splits": dict(layouts.SPLITS), "columns": dict(layouts.COLUMNS),
                                                     **layout}), seed=42)


def csv_of(rows, header="chat_id,transcript,gist") -> bytes:
    def quote(text):
        return '"' + text.replace('"', '""') + '"'
    return ("\ufeff" + header + "\r\n" + "".join(f"{a},{quote(b)},{quote(c)}\r\n" for a, b, c in rows)).encode()


CSV_COLUMNS = {"id": "chat_id", "dialogue": "transcript", "summary": "gist", "topic": None}
PARQUET_TEST = [{"id": i, "dialogue": d, "refs": r} for i, d, r in TEST]  # a list of references per row
TURNS_TRAIN = [{"id": i, "turns": [{"speaker": "A", "text": f"hello\n{i}"}, {"speaker": "B", "text": "hi"}],
                "s1": s, "s2": None} for i, _, s in TRAIN]


SHAPES = {
    # a CSV of one's own (Excel's BOM, CRLF, quoted newlines), one reference per row, ids shared by references
    "csv, other column names": (
        {"train.csv": csv_of([(i, d, s) for i, d, s in TRAIN]),
         "validation.csv": csv_of([(i + "v", d + "!", s) for i, d, s in TRAIN[:2]]),
         "test.csv": csv_of([(i, d, r) for i, d, refs in TEST for r in refs])},
        {"columns": CSV_COLUMNS}),
    # Parquet with a list of references in one column, integer ids, no validation split: carved from train
    "parquet, list of references": (
        {"train.parquet": [{"id": n, "dialogue": d, "refs": [s]} for n, (_, d, s) in enumerate(TRAIN)],
         "test.parquet": PARQUET_TEST},
        {"columns": {"id": "id", "dialogue": "dialogue", "summary": "refs"},
         "splits": {"train": "train", "validation": None, "test": "test"}}),
    # JSONL without ids, turns as objects, two reference columns (null where a dialogue has one)
    "jsonl, turns and reference columns": (
        {"dialogs.jsonl": jsonl(TURNS_TRAIN), "heldout.json": json.dumps(
            [{"turns": {"speaker": ["A", "B"], "text": [d, "ok"]}, "s1": r[0], "s2": r[1] if len(r) > 1 else None}
             for _, d, r in TEST]).encode()},
        {"columns": {"id": None, "dialogue": "turns", "summary": ["s1", "s2"]},
         "splits": {"train": "dialogs", "validation": None, "test": "heldout.json"}}),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_gives_dialogsum_rows_with_references_grouped(tmp_path, shape, capsys):
    from stages.data import dialogsum

    files, layout = SHAPES[shape]
    splits, record = load(folder(tmp_path, files), **layout)
    assert set(splits) == {"train", "validation", "test"}
    test = splits["test"]
    groups = dialogsum.group([r["id"] for r in test], [r["dialogue"] for r in test], "test")
    assert [len(g) for g in groups] == [2, 1]  # unequal numbers of references, as every stage groups them
    assert [test[i]["summary"] for i in groups[0]] == ["A asks for the bank.", "B points to the bank."]
    names = dialogsum.names([r["id"] for r in test], groups)
    assert len(set(names)) == 2 and all("\n" in r["dialogue"] for r in test)
    train = splits["train"] + splits["validation"]
    assert len(train) == (12 if shape.startswith("csv") else 10) and len({r["id"] for r in train}) == len(train)
    if layout.get("splits", {}).get("validation", "validation") is None:
        assert record == {"validation": {"carved_from": "train", "size": 0.1, "seed": 42, "dialogues": 1}}
        assert "carved 1 dialogues from train" in capsys.readouterr().err
        assert load(tmp_path, **layout)[0] == splits  # seeded: the same carve every time
    else:
        assert record == {}
    if shape.startswith("jsonl"):  # turns one per line, a line break inside a turn made a space
        assert {r["dialogue"] for r in train} == {f"A: hello c{i}\nB: hi" for i in range(10)}
        assert all(r["id"].startswith("text-") for r in train)
        assert test[0]["dialogue"] == "A: A: where is the bank B: over there\nB: ok"
    if shape.startswith("csv"):
        assert splits["train"][0] == {"id": "c0", "dialogue": "A: hello 0\nB: hi there 0", "summary": "They greet 0."}


def test_a_hub_dataset_saved_by_datasets_loads_through_the_hub_path(tmp_path, monkeypatch):
    """The Hub code path offline: a dataset repo folder as `datasets` writes one (Parquet per split), which
    load_dataset reads as it reads a downloaded repo; only the download (hub_load's Hub id) is stood in for."""
    import datasets

    repo = tmp_path / "repo"
    for split, rows in (("train", [{"id": i, "dialogue": d, "summary": s} for i, d, s in TRAIN]),
                        ("dev", [{"id": i + "d", "dialogue": d + ".", "summary": s} for i, d, s in TRAIN[:3]]),
                        ("test", [{"id": i, "dialogue": d, "summary": r} for i, d, refs in TEST for r in refs])):
        datasets.Dataset.from_list(rows).to_parquet(str(repo / "data" / f"{split}-00000-of-00001.parquet"))
    asked = {}
    real = datasets.load_dataset

    def from_the_hub(path, name=None, revision=None, **kwargs):
        asked.update(path=path, name=name, revision=revision)
        return real(str(repo), **kwargs)  # the folder has one configuration

    monkeypatch.setattr(datasets, "load_dataset", from_the_hub)
    splits, _ = load("someone/chats", splits={"train": "train", "validation": "dev", "test": "test"}, config="en")
    assert asked == {"path": "someone/chats", "name": "en", "revision": "main"}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [10, 3, 3]
    assert [r["id"] for r in splits["test"]] == ["t0_1", "t0_2", "t1_1"]
    with pytest.raises(UserError, match=r"lacks the split\(s\) validation; it has train, test, dev"):
        load("someone/chats")


def message(tmp_path, files, **layout) -> str:
    with pytest.raises(UserError) as caught:
        load(folder(tmp_path, files), **layout)
    assert "\n" not in str(caught.value)
    return str(caught.value)


GOOD = {"validation.jsonl": jsonl([{"id": "v", "dialogue": "A: hi", "summary": "s"}]),
        "test.jsonl": jsonl([{"id": "t", "dialogue": "A: yo", "summary": "s"}])}
ROW = {"id": "a", "dialogue": "A: hi", "summary": "s"}
ERRORS = {
    "missing column names the file's": ({"train.jsonl": jsonl([{"key": "a", "text": "x", "summary": "s"}])},
                                        ["train.jsonl has no column 'id' (data.columns.id)",
                                         "its columns are key, text, summary"]),
    "an int dialogue": ({"train.jsonl": jsonl([ROW, {**ROW, "id": "b", "dialogue": 7}])},
                        ["train.jsonl, line 2: column 'dialogue'", "is int, not text"]),
    "an empty file": ({"train.jsonl": b""}, ["train.jsonl is empty (0 bytes)"]),
    "a header-only csv": ({"train.csv": b"id,dialogue,summary\r\n"}, ["train.csv has no rows"]),
    "duplicate ids, other dialogues": ({"train.jsonl": jsonl([ROW, {**ROW, "dialogue": "A: bye"}])},
                                       ["line 2: id 'a' is also the id of line 1", "duplicate ids with different"]),
    "csv bytes in a .jsonl": ({"train.jsonl": b"id,dialogue,summary\na,b,c\n"},
                              ["train.jsonl, line 1: not valid JSON"]),
    "text in a .parquet": ({"train.parquet": b"id,dialogue\n"}, ["train.parquet is not a Parquet file"]),
    "json in a .csv": ({"train.csv": jsonl([ROW])}, ["train.csv reads as JSON, not CSV"]),
    "mixed schemas": ({"train.jsonl": jsonl([ROW, {"id": "b", "dialog": "A: x", "summary": "s"}])},
                      ["train.jsonl, line 2: columns differ from the first row's", "it lacks dialogue",
                       "it has dialog"]),
    "a json dict": ({"train.json": json.dumps({"id": ["a"], "dialogue": ["x"]}).encode()},
                    ["train.json is one JSON object (keys id, dialogue), not a list of rows"]),
    "a parquet null": ({"train.parquet": [ROW, {**ROW, "id": "b", "summary": None}]},
                       ["train.parquet, row 2: column 'summary' (data.columns.summary) is null, not text"]),
    "an empty list of references": ({"train.parquet": [{**ROW, "summary": ["x"]}, {**ROW, "id": "b", "summary": []}]},
                                    ["row 2: column 'summary' (data.columns.summary) is an empty list"]),
    "a blank summary": ({"train.jsonl": jsonl([{**ROW, "summary": " \u200b "}])},
                        ["train.jsonl, line 1: summary column 'summary' is empty"]),
    "a control character": ({"train.jsonl": jsonl([{**ROW, "dialogue": "A: \x1b[2J"}])},
                            ["line 1: dialogue column 'dialogue' holds the control character U+001B"]),
    "no train file": ({}, ["lacks train.jsonl (or .json, .csv, .parquet), the train split"]),
    "two train files": ({"train.jsonl": jsonl([ROW]), "train.csv": b"id,dialogue,summary\na,b,c\n"},
                        ["has train.jsonl and train.csv", "data.splits.train to the file name with its extension"]),
    "a bad turn": ({"train.jsonl": jsonl([{**ROW, "dialogue": [{"role": "A", "content": "hi"}]}])},
                   ["line 1: turn 1 of the dialogue lacks speaker, text (it has role, content)", "{role}: {content}"]),
}


@pytest.mark.parametrize("case", ERRORS)
def test_what_a_user_gets_wrong_is_one_paragraph_naming_file_and_row(tmp_path, case):
    files, wanted = ERRORS[case]
    text = message(tmp_path, {**GOOD, **files})
    assert all(part in text for part in wanted), text


def test_no_test_split_says_how_to_make_one_and_a_carve_that_leaves_nothing_is_refused(tmp_path):
    text = message(tmp_path, {"train.jsonl": jsonl([ROW])}, splits={"train": "train", "validation": None, "test": None})
    assert "data.splits.test is not set" in text and "in a file of their own" in text
    text = message(tmp_path, {"train.jsonl": jsonl([ROW]), "test.jsonl": GOOD["test.jsonl"]},
                   splits={"train": "train", "validation": None, "test": "test"})
    assert "leaving none to train on" in text


def test_ids_shared_across_splits_and_long_dialogues(tmp_path, capsys):
    """An id of train reused by another test dialogue is said (leakage of ids); a 100,000-character dialogue
    loads (prepare cuts it to data.max_source_length and counts it)."""
    long = "A: " + "word " * 20_000
    splits, _ = load(folder(tmp_path, {"train.jsonl": jsonl([ROW, {**ROW, "id": "b", "dialogue": long}]),
                                       "validation.jsonl": GOOD["validation.jsonl"],
                                       "test.jsonl": jsonl([{**ROW, "dialogue": "A: other"}])}))
    assert "test: 1 dialogue id(s) (first 'a') are also ids of other train dialogues" in capsys.readouterr().err
    assert len(splits["train"][1]["dialogue"]) == len(long)


@pytest.mark.parametrize("given, card, recorded, warned", [
    ({"license": None, "name": None}, {"license": "cc-by-nc-nd-4.0", "pretty_name": "SAMSum"},
     {"license": "cc-by-nc-nd-4.0", "title": "SAMSum"}, False),  # read from the Hub dataset's card
    ({"license": "mit", "name": "Mine"}, {"license": ["cc-by-nc-sa-4.0"]}, {"license": "mit", "title": "Mine"}, True),
    ({"license": None, "name": "Mine"}, None, {"title": "Mine"}, False),  # a card that says nothing: not invented
])
def test_the_licence_and_name_come_from_params_else_the_hub_card(monkeypatch, capsys, given, card, recorded, warned):
    from types import SimpleNamespace

    import huggingface_hub

    class Api:
        def dataset_info(self, repo, revision, timeout):
            assert (repo, revision) == ("someone/chats", "a" * 40)
            return SimpleNamespace(card_data=None if card is None else huggingface_hub.DatasetCardData(**card))

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)  # the network call itself, stood in for
    data = SimpleNamespace(source="someone/chats", **given)
    assert loading.about(data, {"name": "someone/chats"}, "a" * 40) == recorded
    assert ("the card of dataset 'someone/chats' says 'cc-by-nc-sa-4.0'" in capsys.readouterr().err) == warned
    assert loading.about(data, {"name": "/data/x", "local": True}, "x") == {k: v for k, v in recorded.items()
                                                                            if given[{"title": "name"}.get(k, k)]}
