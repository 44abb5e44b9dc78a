"""Every writing command against every kind of target it must never replace (stages/io/files.py target()).

Each command runs in-process in a scratch project and is stopped by a stand-in for its first step of real work,
right after the door: a refusal is a UserError, a target the door lets through reaches that step. Every file in
the scratch folder, .git and the other repository included, is compared byte for byte before and after.
"""
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from project import ROOT, env
from stages.io import files, proof
from stages.io.errors import UserError

NEVER = "not even with --force"  # the door's answer for what --force must not replace either
FORCE = "add --force"  # not provably ours: --force replaces it
OK = None  # written (here: the command reaches its work)


class Passed(Exception):
    """The stand-in for a command's first step of work after the door."""


def git(*args, cwd) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env(), check=True, capture_output=True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A project (git, .dvc, dvc.yaml, tracked files, pipeline outputs, nested repositories, links) beside another
    git repository; returns the project folder."""
    root = tmp_path_factory.mktemp("door")
    proj = root / "project"
    proj.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, proj / name)
    git("init", "-q", "--template=", cwd=proj)
    (proj / ".dvc" / "cache").mkdir(parents=True)
    (proj / ".dvc" / "config").write_text("[core]\n    remote = storage\n[cache]\n    dir = ../../cache\n"
                                          "['remote \"storage\"']\n    url = ../../store\n")  # beside the project
    for name, text in (("notes/tracked.txt", "the project's own notes\n"), ("notes/empty.py", ""),
                       ("empties/__init__.py", ""), ("metrics/rouge.json", '{"rougeL": 0.3}\n'),
                       ("models/lora/adapter_config.json", "{}\n"), ("data/prepared/x.arrow", "rows"),
                       ("box/inner/work.txt", "uncommitted work\n"), ("box2/inner/work.txt", "more work\n"),
                       ("../store/files/md5/ab/cdef", "a pushed model"), ("../cache/files/md5/12/3456", "cached"),
                       ("exps.json", "[]"), ("pred.jsonl", '{"id": "a", "prediction": "b"}\n')):
        (proj / name).parent.mkdir(parents=True, exist_ok=True)
        (proj / name).write_text(text)
    git("add", "notes", "empties", cwd=proj)
    git("init", "-q", "--template=", cwd=proj / "box" / "inner")
    (proj / "box2" / "inner" / ".git").write_text("gitdir: ../../elsewhere/.git/worktrees/inner\n")
    git("init", "-q", "--template=", "--bare", "vault.git", cwd=proj)
    git("init", "-q", "--template=", "--bare", "box3/deep/backup", cwd=proj)  # a bare repository under any name
    (proj / "box4" / "sub" / ".dvc" / "cache").mkdir(parents=True)
    other = root / "other"
    (other / "sub").mkdir(parents=True)
    (other / "sub" / "a.txt").write_text("another repository's file\n")
    git("init", "-q", "--template=", cwd=other)
    git("add", "sub", cwd=other)
    for link, to in (("link-config", ".git/config"), ("link-git", ".git"), ("link-tracked", "notes/tracked.txt"),
                     ("link-notes", "notes")):
        (proj / link).symlink_to(proj / to)
    return proj


def snapshot(root: Path) -> dict:
    """Every entry under `root`: a file's bytes (hashed), a link's target, a folder."""
    seen = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            key = path.relative_to(root).as_posix()
            seen[key] = (f"-> {os.readlink(path)}" if path.is_symlink() else "dir" if path.is_dir()
                         else hashlib.sha256(path.read_bytes()).hexdigest())
    return seen


# ---- the targets: (name, file command's path, folder command's path, expected without and with --force) --------

def _new(proj: Path, path: str) -> str:
    return path


def _user_file(proj: Path, path: str) -> str:
    (proj / path).parent.mkdir(parents=True, exist_ok=True)
    (proj / path).write_text("the user's own, by hand\n")
    return path


def _user_folder(proj: Path, path: str) -> str:
    (proj / path).mkdir(parents=True)
    (proj / path / "thesis.tex").write_text("years of work\n")
    return path


TARGETS = [
    # name, file path, folder path, expected (no --force, --force) for a file, for a folder
    ("the project folder", ".", ".", (NEVER, NEVER), (NEVER, NEVER)),
    (".git", ".git", ".git", (NEVER, NEVER), (NEVER, NEVER)),
    (".git/config", ".git/config", ".git/hooks", (NEVER, NEVER), (NEVER, NEVER)),
    ("a new path in .git", ".git/plot.png", ".git/export", (NEVER, NEVER), (NEVER, NEVER)),
    (".dvc/config", ".dvc/config", ".dvc", (NEVER, NEVER), (NEVER, NEVER)),
    ("DVC's cache outside the project", "../cache/files/md5/12/3456", "../cache/files", (NEVER, NEVER),
     (NEVER, NEVER)),
    ("DVC's local remote", "../store/files/md5/ab/cdef", "../store", (NEVER, NEVER), (NEVER, NEVER)),
    ("a bare repository", "vault.git/config", "vault.git", (NEVER, NEVER), (NEVER, NEVER)),
    ("a pipeline output", "metrics/rouge.json", "models/lora", (NEVER, NEVER), (NEVER, NEVER)),
    ("a path in a pipeline output", "models/lora/notes.txt", "data/prepared/sub", (NEVER, NEVER), (NEVER, NEVER)),
    ("a folder holding pipeline outputs", "models", "models", (NEVER, NEVER), (NEVER, NEVER)),
    ("a tracked project file", "notes/tracked.txt", "notes", (NEVER, NEVER), (NEVER, NEVER)),
    ("an empty tracked file", "notes/empty.py", "empties", (NEVER, NEVER), (NEVER, NEVER)),
    ("a folder holding a git repository", "box", "box", ("is a directory",) * 2, (NEVER, NEVER)),
    ("a folder holding a .git file", "box2", "box2", ("is a directory",) * 2, (NEVER, NEVER)),
    ("a folder holding a bare repository", "box3", "box3", ("is a directory",) * 2, (NEVER, NEVER)),
    ("a folder holding a DVC project", "box4", "box4", ("is a directory",) * 2, (NEVER, NEVER)),
    ("another repository's tracked files", "../other/sub/a.txt", "../other/sub", (NEVER, NEVER), (NEVER, NEVER)),
    ("a symlink to .git", "link-config", "link-git", (NEVER, NEVER), (NEVER, NEVER)),
    ("a path through a symlink to .git", "link-git/config", "link-git/hooks", (NEVER, NEVER), (NEVER, NEVER)),
    ("a symlink to tracked files", "link-tracked", "link-notes", (NEVER, NEVER), (NEVER, NEVER)),
    ("a file in a repository git cannot read", "box2/inner/work.txt", "box2/inner", (NEVER, NEVER), (NEVER, NEVER)),
    ("a new path", _new, _new, (OK, OK), (OK, OK)),
    ("the user's own", _user_file, _user_folder, (FORCE, OK), (FORCE, OK)),
    ("what this command wrote", "ours", "ours", (OK, OK), (OK, OK)),
]


# ---- the commands --------------------------------------------------------------------------------------------

def _sign(proj, path):
    _user_file(proj, path)
    files.sign(proj / path, "test")


def _mark(proj, path):
    _user_folder(proj, path)
    files.mark(proj / path, "test")


def _page(proj, path):
    from stages import params_doc

    (proj / path).write_text(f"# Params\n\n{params_doc.GENERATED}\n")


def _dry_run_folder(proj, path):
    from stages.shipping import signature

    (proj / path).mkdir()
    (proj / path / "config.json").write_text("{}\n")
    (proj / path / "README.md").write_text(signature.sign("---\nlicense: mit\n---\n\n# a model\n"))
    files.sign_folder(proj / path, "test")


def summarize_out(patch, path, force):
    from stages import summarize
    from stages.modeling import models

    patch.setattr(models, "load_tokenizer", _stop)
    summarize.main(["--model", "base", "--jsonl", "pred.jsonl", "--out", path] + ["--force"] * force)


def summarize_export(patch, path, force):
    from stages import summarize
    from stages.inference import specs

    patch.setattr(specs, "tokenizer", _stop)
    summarize.main(["export", "--out", path] + ["--force"] * force)


def evaluate_output(patch, path, force):
    from stages import evaluate

    patch.setattr(evaluate, "references_from", _stop)
    evaluate.main(["--predictions", "pred.jsonl", "--output", path] + ["--force"] * force)


def params_doc_out(patch, path, force):
    from stages import params_doc

    patch.setattr(params_doc, "render", lambda: params_doc.GENERATED)  # the page itself is not the point here
    patch.setattr(files, "write_text", _stop)
    params_doc.main(["--out", path] + ["--force"] * force)


def compare_plot(patch, path, force):
    from stages import compare
    from stages.io import params

    patch.setattr(params, "load", _stop)
    compare.main(["--plot", path] + ["--force"] * force)


def publish_dry_run(patch, path, force):
    from stages import publish
    from stages.shipping import stale

    patch.delenv("HF_ENDPOINT", raising=False)
    patch.setattr(stale, "check_current", _stop)
    publish.main(["full", "--repo-id", "me/model", "--dry-run", path] + ["--force"] * force)


def sweep_outputs(patch, path, force):
    from stages import sweep

    patch.setattr(sweep.dvc_runs, "parse", _stop)
    sweep.main(["--json", "exps.json"] + ["--force"] * force)


def demo_model(patch, path, force):
    from stages import demo

    patch.setattr(demo, "corpus", _stop)
    demo.main(["--data", "no-data-needed", "--build-only"] + ["--force"] * force)


def _stop(*args, **kwargs):
    raise Passed


# name, kind, run, where its output goes when the user cannot choose (None: the path given), how to make a file or
# folder it wrote (None: it keeps no proof of its own, so only --force replaces what is there)
COMMANDS = [
    ("summarize --out", "file", summarize_out, None, _sign),
    ("summarize export --out", "folder", summarize_export, None, _mark),
    ("evaluate --output", "file", evaluate_output, None, _sign),
    ("params_doc --out", "file", params_doc_out, None, _page),
    ("compare --plot", "file", compare_plot, None, _sign),
    ("publish --dry-run", "folder", publish_dry_run, None, _dry_run_folder),
    ("sweep", "file", sweep_outputs, "plots/sweep.csv", _sign),
    ("demo", "folder", demo_model, "demo/model", None),
]


def place(proj: Path, fixed: str | None, kind: str, made, name: str) -> tuple[str, list[Path]]:
    """The path to hand the command for target `made`, and what to remove afterwards. A command with a fixed
    output finds the protected target there through a symlink (or through its folder, a symlink)."""
    if fixed is None:
        return (made(proj, f"{name}.{kind}") if callable(made) else made), [proj / f"{name}.{kind}"]
    slot = proj / fixed
    if callable(made):
        made(proj, fixed)
        return fixed, [slot.parent]
    slot.parent.mkdir(exist_ok=True)
    if made.startswith("link-git/"):  # the folder the output goes in is the link
        slot.parent.rmdir()
        slot.parent.symlink_to(proj / ".git")
    else:
        slot.symlink_to((proj / made).resolve() if made != "." else proj)
    return fixed, [slot.parent]


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    record = proof.record_of(path)
    if record.exists():
        record.unlink()


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_writing_command_refuses_every_protected_target(sandbox, monkeypatch, command):
    name, kind, run, fixed, prove = command
    monkeypatch.chdir(sandbox)
    wrong = []
    for target, file_path, folder_path, on_file, on_folder in TARGETS:
        made = file_path if kind == "file" else folder_path
        if made == "ours":
            if prove is None:
                continue  # nothing proves this command wrote it: the user's own row covers it
            made = lambda proj, path: prove(proj, path) or path  # noqa: E731
        for force, expected in zip((False, True), on_file if kind == "file" else on_folder):
            path, made_here = place(sandbox, fixed, kind, made, "t")
            before = snapshot(sandbox.parent)
            try:
                with monkeypatch.context() as patch:
                    run(patch, path, force)
                outcome = "no stop: the stand-in for its work was not reached"
            except Passed:
                outcome = OK
            except UserError as error:
                outcome = str(error)
            after = snapshot(sandbox.parent)
            for leftover in made_here:
                remove(leftover)
            if not (outcome is expected is OK or (expected is not OK and outcome is not OK and expected in outcome
                                                  and "\n" not in outcome)):  # one paragraph
                wrong.append(f"{target} ({path}, force={force}): expected {expected!r}, got {outcome!r}")
            if after != before:
                changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
                wrong.append(f"{target} ({path}, force={force}): changed {changed}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)
