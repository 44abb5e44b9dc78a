"""Bad data stops prepare with one paragraph naming the file, split, row or line."""
import json

import pytest

from stages.data import dialogsum
from stages.io.errors import UserError


def rows(n=3, split="train"):
    return [{"id": f"{split}_{i}", "dialogue": f"#Person1#: hi {i}", "summary": f"Hello {i}.", "topic": "t"}
            for i in range(n)]


def corpus(folder, **overrides):
    """train/validation/test JSONL files; an override replaces a file's bytes."""
    folder.mkdir(exist_ok=True)
    for split in dialogsum.SPLITS:
        content = overrides.get(split, "".join(json.dumps(r) + "\n" for r in rows(split=split)).encode())
        if content is not None:
            (folder / f"{split}.jsonl").write_bytes(content)
    return folder


def message(call, *args) -> str:
    with pytest.raises(UserError) as caught:
        call(*args)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_a_good_corpus_loads(tmp_path):
    raw = dialogsum.load_raw(str(corpus(tmp_path)), "main")
    for split, split_rows in raw.items():
        dialogsum.validate(split, split_rows)
    assert [len(raw[s]) for s in dialogsum.SPLITS] == [3, 3, 3]


def test_missing_split_file(tmp_path):
    text = message(dialogsum.load_raw, str(corpus(tmp_path, validation=None)), "main")
    assert "validation.jsonl" in text and "train.jsonl" not in text


def test_source_is_a_file(tmp_path):
    (tmp_path / "train.jsonl").write_text("{}\n")
    assert "is not a directory" in message(dialogsum.load_raw, str(tmp_path / "train.jsonl"), "main")


def test_missing_split_on_the_hub(monkeypatch):
    monkeypatch.setattr(dialogsum.datasets, "load_dataset", lambda *a, **k: {"train": [], "test": []})
    assert "lacks the split(s) validation" in message(dialogsum.load_raw, "someone/dialogs", "main")


@pytest.mark.parametrize("content, where", [
    (b'{"id": "a", "dialogue": "x", "summary": "y"}\n{"id": "b", "dialogue": "x"\n', "line 2: not valid JSON"),
    (b'{"id": "a", "dialogue": "x", "summary": "y"}\n[1, 2]\n', "line 2: expected a JSON object"),
    (b'{"id": "a", "dialogue": "x", "summary": "y"}\n\n{"id": "b", "dialogue": "caf\xe9", "summary": "y"}\n',
     "line 3: not valid UTF-8"),
    (b"", "is empty"),
    (b"\n  \n", "is empty"),
])
def test_unreadable_lines_name_file_and_line(tmp_path, content, where):
    text = message(dialogsum.load_raw, str(corpus(tmp_path, test=content)), "main")
    assert str(tmp_path / "test.jsonl") in text and where in text


def test_missing_column():
    split_rows = [{k: v for k, v in row.items() if k != "summary"} for row in rows()]
    text = message(dialogsum.validate, "train", split_rows)
    assert "'train'" in text and "summary" in text


@pytest.mark.parametrize("column, value", [("dialogue", ""), ("dialogue", " \n\t "), ("summary", "   "),
                                           ("summary", None), ("id", 7)])
def test_empty_or_non_text_values(column, value):
    split_rows = rows()
    split_rows[1][column] = value
    text = message(dialogsum.validate, "validation", split_rows)
    assert "'validation', row 2" in text and repr(column) in text


def test_a_later_row_missing_a_column():
    split_rows = rows()
    del split_rows[2]["dialogue"]
    assert "row 3" in message(dialogsum.validate, "train", split_rows)


def test_duplicate_ids():
    split_rows = rows(split="test")
    split_rows[2]["id"] = split_rows[0]["id"]
    text = message(dialogsum.validate, "test", split_rows)
    assert "row 3" in text and "duplicate id 'test_0'" in text


def test_empty_split():
    assert "'test' is empty" in message(dialogsum.validate, "test", [])
