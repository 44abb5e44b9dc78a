"""Where a CLI may write: a path the user named is replaced only when it holds what that command wrote.

Stages replace their own declared outputs (DVC owns them). A CLI's --out/--output is the user's: an
existing file or folder there is replaced only if it is recognisably this command's earlier output (a JSON
or JSONL file of its shape, a folder carrying MARKER) or --force is given; a pipeline output is never a
CLI's target, and a folder never stands in for a file. Every check runs before any heavy work.
"""
import json
import tempfile
from pathlib import Path

from .errors import UserError

MARKER = "written_by_stages.json"  # in a folder a CLI writes: proof that replacing it loses nothing else
PIPELINE = ("data/prepared", "data/predictions", "data/sources.json", "models/base", "models/full",
            "models/lora", "metrics", "plots")  # dvc.yaml's outputs: only their stages write there


def _pipeline_output(path: Path) -> str | None:
    """The pipeline output `path` is, lies in or holds; the project itself when it is the project root or
    one of its parents (replacing it would delete the project)."""
    here = Path.cwd().resolve()
    target = path.resolve()
    if target == here or target in here.parents:
        return f"the project folder {here}"
    for out in PIPELINE:
        owned = here / out
        if target == owned or owned in target.parents or target in owned.parents:
            return f"the pipeline's output {out} (dvc.yaml), which only its stage writes"
    return None


def writable(path: Path, option: str) -> None:
    """The folder that will hold `path` exists or can be made, and this user may write there."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, so nothing can be written under it.")
    try:  # a real file, not os.access: root passes that check on read-only and virtual file systems
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as error:
        raise UserError(f"{option} {path}: cannot write in {parent} ({error.strerror or error}); choose another "
                        "path.") from None


def file(path, option: str, ours, force: bool) -> Path:
    """A file target; `ours(path)` says whether an existing file is this command's earlier output."""
    path = Path(path)
    owner = _pipeline_output(path)
    if owner:
        raise UserError(f"{option} {path} is or holds {owner}; it is never replaced here: give a path outside it.")
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a file path (it is never replaced by a file).")
    if path.exists() and path.stat().st_size and not force and not ours(path):
        raise UserError(f"{option} {path} already exists and does not look like this command's output, so it "
                        "is not overwritten: give a new path, or add --force to replace it.")
    writable(path, option)
    return path


def folder(path, option: str, force: bool) -> Path:
    """A folder target: absent, empty, marked as ours, or replaced only with --force."""
    path = Path(path)
    owner = _pipeline_output(path)
    if owner:
        raise UserError(f"{option} {path} is or holds {owner}; it is never replaced here: give a folder outside "
                        "it, such as models/merged.")
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file; give a folder path (a file is never replaced by a folder).")
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).is_file() and not force:
        raise UserError(f"{option} {path} is a folder that holds other files (it has no {MARKER}, so this command "
                        "did not write it); they are not deleted: give a new or empty folder, or add --force to "
                        "replace it.")
    writable(path, option)
    return path


def mark(folder_path, command: str, **facts) -> None:
    """Sign a folder as written by `command`, so the next run may replace it."""
    (Path(folder_path) / MARKER).write_text(json.dumps({"written_by": command, **facts}, indent=2) + "\n",
                                            encoding="utf-8")


def json_with(keys) -> callable:
    """`ours` for a JSON object whose top-level keys are all among `keys`."""
    def ours(path: Path) -> bool:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        return isinstance(value, dict) and bool(value) and set(value) <= set(keys)
    return ours


def jsonl_with(required, allowed) -> callable:
    """`ours` for JSON Lines whose every row has the `required` keys and no key outside `allowed`."""
    def ours(path: Path) -> bool:
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        return bool(rows) and all(isinstance(r, dict) and set(required) <= set(r) <= set(allowed) for r in rows)
    return ours
