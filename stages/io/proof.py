"""The proof that a command here wrote a file or folder as it is now (stages/io/files.py writes it): a file's
record beside it, .NAME.written_by_stages.json, holds its hash; a folder's MARKER lists exactly its files with
their hashes. Without it, what exists at a path is the user's, and is not replaced."""
import json
from pathlib import Path

from .hashing import sha256
from .jsonl import read_object

MARKER = "written_by_stages.json"  # in a folder a CLI writes, and beside a file as .NAME.<MARKER>: the proof


def record_of(path) -> Path:
    """Where the proof that a CLI wrote file `path` is kept: a hidden file beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{MARKER}")


def ours(path) -> bool:
    """File `path` is exactly what a CLI here last wrote there (its record holds its current hash)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        record = json.loads(record_of(path).read_text(encoding="utf-8"))
        return isinstance(record, dict) and record.get("file") == path.name and record.get("sha256") == sha256(path)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def files_in(folder: Path) -> dict[str, Path]:
    """Each file (or link) in `folder` but its MARKER, by its path in the folder."""
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if (p.is_file() or p.is_symlink()) and p.name != MARKER}


def unclaimed(folder) -> str | None:
    """Why `folder` is not exactly what a CLI here wrote (a file added, changed or removed since); None if it is."""
    folder = Path(folder)
    listed = (read_object(folder / MARKER) or {}).get("files")
    if not isinstance(listed, dict):
        return f"it has no {MARKER} listing the files this command wrote"
    present = files_in(folder)
    for name, file in present.items():
        if name not in listed:
            return f"{name} was not written by this command"
        if file.is_symlink() or sha256(file) != listed[name]:
            return f"{name} changed since this command wrote it"
    made = {parent.as_posix() for name in listed for parent in Path(name).parents if parent != Path(".")}
    for sub in sorted(folder.rglob("*")):
        if sub.is_dir() and not sub.is_symlink() and sub.relative_to(folder).as_posix() not in made:
            return f"{sub.relative_to(folder).as_posix()}/ was not written by this command"
    missing = sorted(set(listed) - set(present))
    return f"{missing[0]} was removed since this command wrote the folder" if missing else None


def unsigned(folder_path) -> str | None:
    """Why `folder_path` is not exactly the files its record beside it lists (sign_folder), each unchanged; None
    when it is: no file added, edited or removed since, no folder inside it."""
    folder = Path(folder_path)
    record = read_object(record_of(folder)) or {}
    listed = record.get("files") if record.get("folder") == folder.name else None
    if not isinstance(listed, dict):
        return f"no {record_of(folder).name} beside it listing the files this command wrote"
    present = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))}
    for name, path in present.items():
        if name not in listed or not path.is_file() or path.is_symlink():
            return f"{name} was not written by this command"
        if sha256(path) != listed[name]:
            return f"{name} changed since this command wrote it"
    missing = sorted(set(listed) - set(present))
    return f"{missing[0]} was removed since this command wrote the folder" if missing else None
