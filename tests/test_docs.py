"""The docs stay true: the params page matches the code, and every command they show exists with its options."""
import argparse
import ast
import dataclasses
import importlib.util
import re
import runpy
import shlex
import sys
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from project import ROOT
from stages import params_doc
from stages.io import params

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_params_page_matches_the_code():
    page = (ROOT / "docs/params.md").read_text(encoding="utf-8")
    assert page == params_doc.render(ROOT / "params.yaml"), "run `python -m stages.params_doc`"


def test_params_page_lists_every_key_with_its_default_and_bounds():
    page = (ROOT / "docs/params.md").read_text(encoding="utf-8")
    hints = typing.get_type_hints(params.Params)
    for section in dataclasses.fields(params.Params):
        for field in dataclasses.fields(hints[section.name]):
            row = next((line for line in page.splitlines() if line.startswith(f"| `{section.name}.{field.name}` |")),
                       None)
            assert row, f"{section.name}.{field.name} missing from docs/params.md"
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[2:-1]]
            for line in page.splitlines() if line.startswith("| `")}
    # bounds from check() come first; an upper bound from a ceilings table may follow after "; "
    assert rows["lora.r"][1] == "`32`" and rows["lora.r"][2].split("; ")[0] == "> 0"
    assert rows["train_full.warmup_ratio"][2].split("; ")[0] == "in [0, 1)"
    assert rows["data.max_test_samples"][2].split("; ")[0] == "> 0, or null"
    assert rows["train_full.epochs"][2].split("; ")[0] == "> 0 when max_steps <= 0"
    assert "one of auto, bf16, fp32" in rows["generate.precision"][2]
    assert rows["evaluate.resamples"][2].startswith("use at least 100 resamples")


def test_bounds_of_checks_the_generator_has_never_seen():
    """Another module adds a key with a new helper or a raise: the page shows it without edits here."""
    @dataclass(frozen=True)
    class Future:
        rate: float  # how fast
        name: str
        depth: int

        def check(self, key):
            _at_most(key, self, "rate", 10.0)  # noqa: F821 - read as code, never run
            if self.name not in ("a", "b"):
                raise params.ParamsError(f"{key}.name", f"must be 'a' or 'b', got {self.name!r}.")
            for field in ("depth",):
                _within(key, self, field, 1, 2**20)  # noqa: F821

    found = params_doc.bounds(Future, "future")
    assert found == {"rate": ["at most 10.0"], "name": ["must be 'a' or 'b'"], "depth": ["in [1, 2 ** 20 = 1,048,576]"]}
    assert params_doc.field_comments(Future) == {"rate": "how fast"}


def test_a_ceilings_table_in_params_shows_as_upper_bounds(monkeypatch):
    """params.py may hold a declarative CEILINGS table (key name -> (largest value, why)) beside check()."""
    monkeypatch.setattr(params, "CEILINGS", {"r": (1024, "wider than the model"), "learning_rate": 1.0},
                        raising=False)
    rows = {line.split("|")[1].strip(" `"): line for line in params_doc.render(ROOT / "params.yaml").splitlines()
            if line.startswith("| `")}
    assert "> 0; <= 1,024" in rows["lora.r"] and "at most 1,024: wider than the model" in rows["lora.r"]
    assert "<= 1 |" in rows["train_lora.learning_rate"]


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
