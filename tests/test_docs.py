"""The docs stay true: the params page matches the code, and every command they show exists with its options."""
import argparse
import dataclasses
import importlib.util
import re
import runpy
import shlex
import sys
import warnings
from pathlib import Path
from typing import Literal
from unittest import mock

import pytest
from pydantic import Field

from project import ROOT
from stages import params_doc
from stages.io import params

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_params_page_matches_the_code():
    page = (ROOT / "docs/params.md").read_text(encoding="utf-8")
    assert page == params_doc.render(ROOT / "params.yaml"), "run `python -m stages.params_doc`"


def test_params_page_lists_every_key_with_its_default_and_bounds():
    page = (ROOT / "docs/params.md").read_text(encoding="utf-8")
    for section in dataclasses.fields(params.Params):
        for field in dataclasses.fields(section.type):
            keys = [f"{field.name}.{sub.name}" for sub in dataclasses.fields(field.type)] \
                if dataclasses.is_dataclass(field.type) else [field.name]  # a nested section: a row per key
            for key in keys:
                row = next((line for line in page.splitlines() if line.startswith(f"| `{section.name}.{key}` |")),
                           None)
                assert row, f"{section.name}.{key} missing from docs/params.md"
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[2:-1]]
            for line in page.splitlines() if line.startswith("| `")}
    # the schema's bounds come first; a ceiling (an upper bound with a reason in CEILINGS) follows after "; "
    assert rows["lora.r"][1] == "`32`" and rows["lora.r"][2] == "> 0; <= 1,024"
    assert "at most 1,024: " + params.CEILINGS["r"] in rows["lora.r"][3]
    assert rows["train_full.warmup_ratio"][2] == "in [0, 1)"
    assert rows["data.max_test_samples"][:3] == ["int or null", "`null`", "> 0, or null"]
    assert rows["train_full.pad_to_multiple_of"][2] == "> 0, or null; <= 512"
    assert rows["train_full.epochs"][2] == "<= 100" and "> 0 unless max_steps > 0" in rows["train_full.epochs"][3]
    assert "one of auto, bf16, fp32" in rows["generate.precision"][2]
    assert "never fp16" in rows["train_lora.precision"][3]
    assert rows["evaluate.resamples"][2] == ">= 100; <= 1,000,000"
    assert rows["model.name"][2] == "not empty" and rows["lora.loraplus_lr_ratio"][2] == "in [1, 1,000], or null"
    assert rows["lora.target_modules"][0] == "list of string or string"


def test_a_new_field_shows_up_with_its_type_bounds_and_meaning(monkeypatch):
    """A later param is one line in its section: the page shows it without edits to the generator."""
    @params.section
    class Future:
        """What the future holds."""
        rate: params.Number = Field(gt=0, le=10, description="how fast")
        depth: int | None = Field(ge=1, le=2**20, description="how deep")
        mode: Literal["a", "b"] = Field(description="which")
        extra: bool = Field(default=False, description="optional")

    monkeypatch.setitem(params.CEILINGS, "rate", "faster diverges")
    lines = params_doc.table("future", Future, {"rate": 2.5})
    assert lines[:3] == ["## `future`", "", "What the future holds."]
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[2:-1]] for line in lines
            if line.startswith("| `")}
    assert rows == {
        "future.rate": ["float", "`2.5`", "> 0; <= 10", "how fast (at most 10: faster diverges)"],
        "future.depth": ["int or null", "none", "in [1, 1,048,576], or null", "how deep"],
        "future.mode": ["string", "none", "one of a, b", "which"],
        "future.extra": ["bool", "`false`", "any", "optional (may be left out: `false`)"]}


def test_check_mode_reports_a_stale_page(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    stale = tmp_path / "params.md"
    stale.write_text(params_doc.HEADER + "an older page\n")
    with pytest.raises(SystemExit) as exit_:
        params_doc.main(["--check", "--out", str(stale)])
    assert exit_.value.code == 1 and "out of date" in capsys.readouterr().err
    params_doc.main(["--out", str(stale)])
    params_doc.main(["--check", "--out", str(stale)])
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"\xff\xfe not UTF-8", b"\xef\xbb\xbf"])
def test_check_mode_calls_a_page_that_is_no_utf8_text_stale_not_a_traceback(content, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    (tmp_path / "params.md").write_bytes(content)
    with pytest.raises(SystemExit) as exit_:
        params_doc.main(["--check", "--out", str(tmp_path / "params.md")])
    assert exit_.value.code == 1 and "out of date" in capsys.readouterr().err


@pytest.mark.parametrize("text", [b"model:\n  name: caf\xe9\n", b"- a list\n", b"model:\n  name: !!binary aGk=\n"])
def test_a_params_file_stages_refuse_is_their_one_message_here_too(text, in_tmp):
    """Found: render() read params.yaml with yaml.safe_load, so a Latin-1 byte, a list or a !!binary value was a
    traceback from `python -m stages.params_doc --check`, not the stages' message."""
    from stages.io.errors import UserError

    (in_tmp / "params.yaml").write_bytes(text)
    with pytest.raises(UserError, match="params.yaml"):
        params_doc.render()


def test_out_replaces_only_a_generated_page(tmp_path, monkeypatch):
    from stages.io.errors import UserError

    monkeypatch.chdir(ROOT)
    notes = tmp_path / "notes.md"
    notes.write_text("# my own notes\n")
    with pytest.raises(UserError, match="nothing shows this command wrote it"):
        params_doc.main(["--out", str(notes)])
    assert notes.read_text() == "# my own notes\n"
    params_doc.main(["--out", str(notes), "--force"])
    params_doc.main(["--out", str(notes)])  # the second run: its own page
    assert notes.read_text() == params_doc.render()


def commands() -> list[tuple[str, list[str]]]:
    """(page, argv) of every `dvc ...` and `python -m stages...` command in the pages' code blocks."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in code_blocks(text):
            block = block.replace("\\\n", " ")
            for line in block.splitlines():
                line = re.sub(r"^\s*\$ ", "", line)
                try:
                    words = shlex.split(line, comments=True)
                except ValueError:
                    continue
                for part in _split_on_operators(words):
                    argv = _command(part)
                    if argv:
                        found.append((page.name, argv))
    return found


def code_blocks(text: str) -> list[str]:
    """The shell code blocks of a markdown page (fenced with ``` and no language, or bash/sh/console)."""
    blocks, current = [], None
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and current is None:
            current = [] if fence.group(1) in ("", "bash", "sh", "shell", "console") else False
        elif fence:
            if current is not False:
                blocks.append("\n".join(current) + "\n")
            current = None
        elif current not in (None, False):
            current.append(line)
    return blocks


def _split_on_operators(words):
    part = []
    for word in words:
        if word in ("&&", "||", ";", "|", "&"):
            yield part
            part = []
        else:
            part.append(word.rstrip(";&") if word.endswith((";", "&")) and len(word) > 1 else word)
    yield part


def _command(words):
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # CUDA_VISIBLE_DEVICES=0 dvc ...
        words = words[1:]
    if words[:1] == ["dvc"] and len(words) > 1:
        return words
    if words[:1] == ["python"] and len(words) > 1 and words[1].endswith(".py"):  # python benchmarks/train.py
        return words[1:]
    if "-m" in words:  # python -m, torchrun ... -m, accelerate launch ... -m
        i = words.index("-m")
        if i + 1 < len(words) and words[i + 1].startswith("stages"):
            return words[i:]
    return None


def test_the_pages_show_the_main_commands():
    shown = {" ".join(argv[:3]) for _, argv in commands()}
    for command in ("dvc repro", "dvc exp show", "dvc plots show", "dvc metrics show", "dvc push",
                    "dvc pull", "-m stages.evaluate --predictions", "-m stages.summarize"):
        assert any(s.startswith(command) for s in shown), command


class _Parsed(BaseException):
    """Raised in place of running the program once its arguments parsed."""


def _check_stages_command(argv):
    """argv: ["-m", module, args...] or [script.py, args...]; the program parses args, then is stopped."""
    if argv[0] == "-m":
        module, args = argv[1], argv[2:]
        assert importlib.util.find_spec(module), f"no module {module}"
        path = Path(importlib.util.find_spec(module).origin)
    else:
        module, args, path = None, argv[1:], ROOT / argv[0]
        assert path.is_file(), f"no script {argv[0]}"
    if "parse_args" not in path.read_text(encoding="utf-8"):  # a DVC stage: no options (generate takes a name)
        assert not [a for a in args if a.startswith("-")], f"{path.name} takes no options: {argv}"
        return
    original = argparse.ArgumentParser.parse_args

    def parse(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    errors = []
    with warnings.catch_warnings(), mock.patch.object(argparse.ArgumentParser, "parse_args", parse), \
            mock.patch.object(argparse.ArgumentParser, "error", lambda self, message: errors.append(message) or
                              (_ for _ in ()).throw(_Parsed)), \
            mock.patch.object(sys, "argv", [str(path), *args]), \
            mock.patch.object(sys, "path", [str(path.parent), *sys.path]):
        try:
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: "found in sys.modules": harmless here
            if module:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            else:
                runpy.run_path(str(path), run_name="__main__")
        except _Parsed:
            pass
    assert not errors, f"{' '.join(argv)}: {errors}"


def _check_dvc_command(argv):
    from dvc.cli import DvcParserError
    from dvc.cli.parser import get_main_parser
    parser = get_main_parser()
    try:
        parser.parse_args(argv[1:])
    except (SystemExit, DvcParserError):  # dvc's parser prints the error and the command's help, then exits
        raise AssertionError(f"{' '.join(argv)}: not a dvc command, or an option it does not have")


@pytest.mark.parametrize("page, argv", commands(), ids=lambda value: value if isinstance(value, str)
                         else " ".join(value)[:60])
def test_every_command_in_the_docs_exists(page, argv):
    if argv[0] == "dvc":
        _check_dvc_command(argv)
    else:
        _check_stages_command(argv)


def test_the_checker_catches_a_wrong_option_and_a_missing_module():
    with pytest.raises(AssertionError):
        _check_dvc_command(["dvc", "exp", "show", "--no-such-option"])
    with pytest.raises(AssertionError):
        _check_dvc_command(["dvc", "no-such-command"])
    with pytest.raises(AssertionError):
        _check_stages_command(["-m", "stages.evaluate", "--no-such-option"])
    with pytest.raises(AssertionError):
        _check_stages_command(["-m", "stages.no_such_module"])
    with pytest.raises(AssertionError):
        _check_stages_command(["-m", "stages.train_full", "--epochs", "3"])
    with pytest.raises(AssertionError):
        _check_stages_command(["benchmarks/train.py", "--no-such-option"])
    with pytest.raises(AssertionError):
        _check_stages_command(["benchmarks/no_such_script.py"])
    _check_stages_command(["benchmarks/generate.py", "--quick", "--threads", "1"])
    _check_stages_command(["-m", "stages.summarize", "export", "--out", "x"])


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_links_between_pages_point_at_files_and_headings_that_exist():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: link to missing {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.name}: no heading for #{anchor} in {path}"
