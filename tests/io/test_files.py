import json

import pytest

from stages.io import proof
from stages.io.errors import UserError
from stages.io.files import atomic_path, write_json, write_jsonl
from stages.io.jsonl import read_jsonl


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
    # json.loads raises RecursionError and ValueError (not JSONDecodeError) for these: one message, no traceback
    (b'{"id": "a"}\n{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", r"x.jsonl, line 2: .*nested"),
    (b'{"x": ' + b"[" * 990 + b"]" * 990 + b"}\n", r"x.jsonl, line 1: .*nested"),
    (b'{"id": ' + b"9" * 5000 + b"}\n", r"x.jsonl, line 1: .*4,300 digits"),
    # which of two values would be read is JSON's undefined behaviour: a row says one thing or is refused
    (b'{"id": "a", "dialogue": "X", "dialogue": "Y"}\n', r"x.jsonl, line 1: .*'dialogue' twice"),
])
def test_read_jsonl_names_file_and_line(tmp_path, content, message):
    (tmp_path / "x.jsonl").write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_jsonl(tmp_path / "x.jsonl")


def test_read_jsonl_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")


# Every character str.splitlines() breaks on; JSON escapes the control ones, U+0085/2028/2029 stay raw.
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", LINE_BREAKS, ids=[f"U+{ord(c[0]):04X}{'+LF' if len(c) > 1 else ''}"
                                                    for c in LINE_BREAKS])
def test_jsonl_round_trips_every_line_break_in_ids_and_text(tmp_path, char):
    rows = [{"id": f"a{char}1", "dialogue": f"#Person1#: hi{char}#Person2#: hello"}, {"id": "b", "dialogue": "x"}]
    write_jsonl(tmp_path / "x.jsonl", rows)
    assert read_jsonl(tmp_path / "x.jsonl") == rows
    write_jsonl(tmp_path / "y.jsonl", read_jsonl(tmp_path / "x.jsonl"))  # the next stage reads it again
    assert read_jsonl(tmp_path / "y.jsonl") == rows


def test_jsonl_line_numbers_count_only_newlines(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"id": "a\u2028b"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(UserError, match=r"x.jsonl, line 2: not valid JSON"):
        read_jsonl(tmp_path / "x.jsonl")


@pytest.mark.parametrize("line", [r'{"id": "a", "dialogue": "hi \ud800 there"}', r'{"id": "\udfff"}',
                                  r'{"id": "a", "meta": {"k": ["ok", "\ud83d"]}}'])
def test_a_lone_surrogate_is_one_error_naming_the_line(tmp_path, line):
    (tmp_path / "x.jsonl").write_text('{"id": "fine \\ud83d\\ude00"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"x.jsonl, line 2: .*lone surrogate"):
        read_jsonl(tmp_path / "x.jsonl")


def test_jsonl_with_old_mac_or_windows_line_ends_reads(tmp_path):
    for end in ("\r", "\r\n"):
        (tmp_path / "x.jsonl").write_bytes(f'{{"id": "a"}}{end}{{"id": "b\\u2028c"}}{end}'.encode())
        assert read_jsonl(tmp_path / "x.jsonl") == [{"id": "a"}, {"id": "b\u2028c"}]


# ---- a CLI replaces only what it can prove it wrote --------------------------------------------------------

def test_a_file_of_our_shape_is_not_proof(in_tmp):
    from stages.io import files

    gold = in_tmp / "gold.jsonl"
    gold.write_text('{"id": "a", "summary": "written by hand"}\n')  # exactly what `summarize --out` writes
    with pytest.raises(UserError, match="nothing shows this command wrote it"):
        files.target(gold, "--out", False)
    assert files.target(gold, "--out", True) == gold
    assert gold.read_text() == '{"id": "a", "summary": "written by hand"}\n'


def test_a_signed_file_is_replaced_until_someone_edits_it(in_tmp):
    from stages.io import files

    out = in_tmp / "out.jsonl"
    files.write_text(out, '{"id": "a", "summary": "ours"}\n')
    files.sign(out, "test")
    assert proof.record_of(out).name == ".out.jsonl.written_by_stages.json"
    files.target(out, "--out", False)  # the second run may replace it
    out.write_text('{"id": "a", "summary": "ours, then corrected by hand"}\n')
    with pytest.raises(UserError, match="or the file changed since"):
        files.target(out, "--out", False)
    out.unlink()
    out.symlink_to(in_tmp / "elsewhere.jsonl")  # the user's link, even a dangling one
    with pytest.raises(UserError, match="already exists"):
        files.target(out, "--out", False)


def test_a_record_names_its_own_file(in_tmp):
    from stages.io import files

    (in_tmp / "a.json").write_text("{}")
    files.sign(in_tmp / "a.json", "test")
    (in_tmp / "b.json").write_text("{}")  # same bytes, and a copy of a's record beside it
    proof.record_of(in_tmp / "b.json").write_bytes(proof.record_of(in_tmp / "a.json").read_bytes())
    assert proof.ours(in_tmp / "a.json") and not proof.ours(in_tmp / "b.json")


def test_devices_and_pipes_are_never_targets(in_tmp):
    import os

    from stages.io import files

    os.mkfifo(in_tmp / "pipe")
    for force in (False, True):
        with pytest.raises(UserError, match="not a regular file"):
            files.target(in_tmp / "pipe", "--out", force)


def test_a_marked_folder_is_replaced_only_while_nothing_in_it_changed(in_tmp):
    from stages.io import files

    out = in_tmp / "merged"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"weights")
    (out / "sub").mkdir()
    (out / "sub" / "tokenizer.json").write_text("{}")
    files.mark(out, "test", adapter="models/lora")
    files.target(out, "--out", False, "folder")
    (out / "NOTES.txt").write_text("mine")
    with pytest.raises(UserError, match=r"NOTES.txt was not written by this command\); nothing in it is deleted"):
        files.target(out, "--out", False, "folder")
    (out / "NOTES.txt").unlink()
    (out / "sub" / "drafts").mkdir()  # even an empty folder of the user's is not ours to delete
    with pytest.raises(UserError, match="sub/drafts/ was not written by this command"):
        files.target(out, "--out", False, "folder")
    (out / "sub" / "drafts").rmdir()
    (out / "sub" / "tokenizer.json").write_text('{"edited": true}')
    with pytest.raises(UserError, match="sub/tokenizer.json changed since"):
        files.target(out, "--out", False, "folder")
    (out / "sub" / "tokenizer.json").write_text("{}")
    (out / "model.safetensors").unlink()
    with pytest.raises(UserError, match="model.safetensors was removed"):
        files.target(out, "--out", False, "folder")
    (out / proof.MARKER).write_text('{"written_by": "an older version, without a list"}')
    with pytest.raises(UserError, match="listing the files"):
        files.target(out, "--out", False, "folder")
    files.target(out, "--out", True, "folder")


@pytest.mark.parametrize("name, message", [("a\0b", "cannot be checked or written"), ("n" * 250, "name is too long")])
def test_a_path_no_file_system_takes_is_one_message_before_the_work(in_tmp, name, message):
    from stages.io import files

    with pytest.raises(UserError, match=message):
        files.target(in_tmp / name, "--out", True)


@pytest.mark.parametrize("leads_to", ["loop", "nowhere/at/all"])
def test_a_folder_on_the_path_that_is_a_link_to_nowhere_is_named_before_the_work(in_tmp, leads_to):
    """A looping link was taken for a missing folder: the work ran, then "File exists ... free space or fix
    permissions there"."""
    from stages.io import files

    (in_tmp / "loop").symlink_to(leads_to)
    with pytest.raises(UserError, match="loop is a symbolic link that leads nowhere"):
        files.target(in_tmp / "loop" / "sub" / "x.png", "--plot", False)
