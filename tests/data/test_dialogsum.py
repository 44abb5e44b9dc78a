"""Bad data stops prepare with one paragraph naming the file, split, row or line."""
import json

import pytest

from stages.data import dialogsum, loading
from stages.data.layout import Layout
from stages.io.errors import UserError


def load_raw(source, revision):
    """The splits as prepare loads them with the default params (DialogSum's layout)."""
    return loading.load(source, revision, Layout(), seed=42)[0]


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
    raw = load_raw(str(corpus(tmp_path)), "main")
    for split, split_rows in raw.items():
        dialogsum.validate(split, split_rows)
    assert [len(raw[s]) for s in dialogsum.SPLITS] == [3, 3, 3]


def test_missing_split_file(tmp_path):
    text = message(load_raw, str(corpus(tmp_path, validation=None)), "main")
    assert "lacks validation.jsonl" in text and "null to carve validation from train" in text


def test_source_is_a_file(tmp_path):
    (tmp_path / "train.jsonl").write_text("{}\n")
    assert "is not a directory" in message(load_raw, str(tmp_path / "train.jsonl"), "main")


def test_missing_split_on_the_hub(monkeypatch):
    monkeypatch.setattr(loading, "hub_load", lambda *a, **k: {"train": [], "test": []})
    assert "lacks the split(s) validation" in message(load_raw, "someone/dialogs", "main")


@pytest.mark.parametrize("content, where", [
    (b'{"id": "a", "dialogue": "x", "summary": "y"}\n{"id": "b", "dialogue": "x"\n', "line 2: not valid JSON"),
    (b'{"id": "a", "dialogue": "x", "summary": "y"}\n[1, 2]\n', "line 2: expected a JSON object"),
    (b'{"id": "a", "dialogue": "x", "summary": "y"}\n\n{"id": "b", "dialogue": "caf\xe9", "summary": "y"}\n',
     "line 3: not valid UTF-8"),
    (b"", "is empty"),
    (b"\n  \n", "is empty"),
])
def test_unreadable_lines_name_file_and_line(tmp_path, content, where):
    text = message(load_raw, str(corpus(tmp_path, test=content)), "main")
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


def test_topic_that_is_not_text_is_one_error_naming_the_row():
    split_rows = rows()
    split_rows[1]["topic"] = 7  # datasets would stop with an ArrowTypeError on the mixed column
    text = message(dialogsum.validate, "train", split_rows)
    assert "'train', row 2" in text and "'topic' is int" in text
    split_rows[1]["topic"] = None  # null is allowed
    dialogsum.validate("train", split_rows)


# Which rows are one dialogue: DialogSum's test ids, else the text.

def test_rows_group_by_dialogue_id_and_a_stray_space_makes_no_new_dialogue():
    ids = ["test_0_1", "test_0_2", "test_1_1", "test_0_3", "test_1_2"]
    texts = ["a b", "a b ", "c", " a\tb", "c"]
    groups = dialogsum.group(ids, texts, "test")
    assert groups == [[0, 1, 3], [2, 4]]
    assert dialogsum.names(ids, groups) == ["test_0", "test_1"]


def test_two_dialogues_with_one_text_stay_two_when_their_ids_say_so():
    ids = ["test_0_1", "test_0_2", "test_1_1", "test_1_2"]
    assert dialogsum.group(ids, ["same", "same", "same ", "same"], "test") == [[0, 1], [2, 3]]


def test_rows_of_one_id_with_different_texts_are_an_error_naming_both():
    with pytest.raises(UserError, match=r"test: rows 'test_3_1' and 'test_3_2' are references of one dialogue, "
                                        r"'test_3'"):
        dialogsum.group(["test_3_1", "test_3_2", "test_4_1"], ["hello", "hello there", "x"], "test")
    # distinct dialogues whose own ids happen to read as references: the message says how to name them
    with pytest.raises(UserError, match=r"ids that do not read as one dialogue's references \(such as bank-1, "
                                        r"bank-2 instead of bank_1, bank_2\)"):
        dialogsum.group(["bank_1", "bank_2", "hotel_1", "hotel_2"], ["a", "b", "c", "d"], "test")


@pytest.mark.parametrize("ids", [
    ["train_0", "train_1", "train_2"],        # DialogSum's train and dev ids: one row per dialogue
    ["train_1", "train_2", "train_3"],        # one stem only: not references of one dialogue
    ["r1", "r2", "r3"],                       # ids of one's own
    ["a_0", "a_1", "b_0"],                    # references counted from 0: not DialogSum's scheme
])
def test_other_ids_group_by_normalised_text(ids):
    groups = dialogsum.group(ids, ["x y", "other", "x  y\n"], "split")
    assert groups == [[0, 2], [1]]
    names = dialogsum.names(ids, groups)
    assert len(set(names)) == 2 and names[1] == ids[1]


def test_subsample_counts_and_keeps_whole_dialogues_by_id():
    split_rows = [{"id": f"test_{i}_{k}", "dialogue": f"d{i}" + (" " if k == 2 else ""), "summary": "s"}
                  for i in range(5) for k in (1, 2, 3)]
    kept = dialogsum.subsample(split_rows, 2, seed=0)
    assert len(kept) == 6 and len({row["id"].rsplit("_", 1)[0] for row in kept}) == 2
    assert dialogsum.subsample(split_rows, 5, seed=0) == split_rows


def test_an_id_with_a_line_break_is_not_a_reference_id():
    assert dialogsum.group(["test_0_1\n", "test_0_2", "test_1_1", "test_1_2"], ["a", "a", "b", "b"], "t") == \
        [[0, 1], [2, 3]]  # grouped by text: "test_0_1\n" is no `{dialogue}_{k}` id
    assert dialogsum.names(["test_0_1\n", "test_0_2"], [[0, 1]]) == ["test_0_1\n"]
