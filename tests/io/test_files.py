import json

import pytest

from stages.io.errors import UserError
from stages.io.files import atomic_path, read_jsonl, write_json


def test_atomic_path_replaces_only_on_success(tmp_path):
    out = tmp_path / "model"
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed mid-write")
    assert (out / "weights").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no temp folder is left behind"


def test_write_json_round_trips(tmp_path):
    write_json(tmp_path / "m" / "x.json", {"a": 1.5})
    assert json.loads((tmp_path / "m" / "x.json").read_text()) == {"a": 1.5}


@pytest.mark.parametrize("content, message", [
    (b'{"id": 1}\n{"id": 2\n', r"x.jsonl, line 2: not valid JSON"),
    (b'{"id": 1}\n\n[1, 2]\n', r"x.jsonl, line 3: expected a JSON object"),
    (b'{"id": "a"}\n{"id": "\xff"}\n', r"x.jsonl, line 2: not valid UTF-8"),
    (b"\n  \n", r"x.jsonl is empty"),
])
def test_read_jsonl_names_file_and_line(tmp_path, content, message):
    (tmp_path / "x.jsonl").write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_jsonl(tmp_path / "x.jsonl")


def test_read_jsonl_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")
