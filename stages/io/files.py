"""Writing files: atomic writes, so no stage leaves a half-written output; and where a CLI may write, so no
command replaces a file the user made."""
import errno
import glob
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import proof as proof_of
from . import protected
from .errors import UserError
from .hashing import sha256
from .proof import record_of


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a temp file named after a live writer is not stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder, name: str = "*") -> None:
    """The temp copies of `name` (of anything, by default) in `folder` that a killed process left (a
    half-written model can be a gigabyte)."""
    for tmp in Path(folder).glob(f".{glob.escape(name) if name != '*' else name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not alive(int(pid)):
            _remove(tmp)


def discard(folder) -> None:
    """Remove `folder`, renaming it aside first: a kill mid-delete never leaves a half-deleted folder under its
    name, looking current."""
    folder = Path(folder)
    trash = folder.with_name(f".{folder.name}.discard-{os.getpid()}")
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


@contextmanager
def atomic_path(path):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path.parent, path.name)
        tmp = _tmp_sibling(path)
        _remove(tmp)
    except OSError as error:
        raise _unwritable(path, error) from None
    try:
        yield tmp
        if path.exists() and not path.is_symlink() and path.is_dir() != tmp.is_dir():
            # A file never replaces a folder, nor a folder a file: that path is something else.
            raise UserError(f"{path} is a {'folder' if path.is_dir() else 'file'} where a "
                            f"{'folder' if tmp.is_dir() else 'file'} was to be written; it is left as it is: "
                            "move it away or choose another path.")
        _remove(path)
        os.replace(tmp, path)
    except Exception as error:
        unwritable = write_failure(path, error)
        if unwritable is None:
            raise
        raise unwritable from None
    finally:
        if tmp.exists():
            _remove(tmp)


_CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


# How torch (a short zip write) and safetensors (the Rust io error) report a full disk: neither is an OSError.
_NO_SPACE = ("unexpected pos", "os error 28", "No space left", "PytorchStreamWriter failed writing")


def write_failure(path, error: BaseException) -> UserError | None:
    """The UserError for a write that failed for lack of space or permission, however the library said so; None
    for any other error."""
    if isinstance(error, OSError):
        return _unwritable(Path(path), error) if error.errno in _CANNOT_WRITE else None
    if isinstance(error, RuntimeError) or type(error).__name__ == "SafetensorError":
        if any(sign in str(error) for sign in _NO_SPACE):
            return UserError(f"cannot write {path}: no space left on the device ({str(error).strip()[:200]}); "
                             "free space there and run again.")
    return None


def _unwritable(path: Path, error: OSError) -> UserError:
    return UserError(f"cannot write {path}: {error.strerror or error} ({error.filename or path}); free space or "
                     "fix permissions there, or choose another path.")


def _human(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def wrote(*paths) -> None:
    """A stage's last line: what it wrote and how large it is. A path may be a glob ("plots/*.png")."""
    sizes = {str(p): sum(map(dir_size, Path().glob(str(p)))) if "*" in str(p) else dir_size(p) for p in paths}
    print("wrote " + ", ".join(f"{p} ({_human(n)})" for p, n in sizes.items()), flush=True)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    """Strict JSON: NaN and Infinity are not JSON, and a metric that is not a number must never look like one."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        raise UserError(f"refusing to write {path}: it would hold NaN or infinity instead of a number; the run "
                        "that produced it went wrong (see the messages above).") from None
    write_text(path, text + "\n")


def write_jsonl(path, rows) -> None:
    write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def dir_size(path) -> int:
    """Bytes on disk of a file or of every file under a directory."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# Where a CLI may write: one door, target(), for every file or folder a command writes that no DVC stage owns
# (every --out, --output, --plot and --dry-run, export, sweep's and the demo's outputs).
#
# The rule: what exists there is replaced only with proof that this project wrote it as it is now
# (stages/io/proof.py), or with --force when it holds nothing git alone could bring back: no git repository at
# any depth and no file any git repository tracks; what stages/io/protected.py names, never. The path is checked
# before the work and again right before the replace. A file of the right shape proves nothing (a user's own
# {id, summary} file looks like ours), nor does a marker alone (a user may have added a file since); a folder
# never stands in for a file.
KINDS = ("file", "folder")


def target(path, option: str, force: bool, kind: str = "file", proof=None) -> Path:
    """Check that a command may write the `kind` ("file" or "folder") at `path`; raise the UserError saying why
    not and what to do. `proof(path)` says why what exists there is not provably this command's (None: it is);
    by default a file's record beside it (sign) or a folder's MARKER (mark)."""
    assert kind in KINDS, kind
    path = Path(path)
    try:
        return _target(path, option, force, kind, proof)
    except (ValueError, OSError) as error:  # a NUL byte, a name too long, a folder that cannot be listed
        raise UserError(f"{option} {str(path)!r} cannot be checked or written ({error}); give another path.") from None


def _target(path: Path, option: str, force: bool, kind: str, proof) -> Path:
    never = protected.never(path)
    if never:
        raise UserError(f"{option} {path}{never}: that is never replaced here, not even with --force; give a path "
                        "outside it.")
    if kind == "file" and path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a file path (a folder is never replaced by a file).")
    if kind == "file" and path.exists() and not path.is_file():
        raise UserError(f"{option} {path} is not a regular file (a device, pipe or socket); it is never replaced: "
                        "give a file path.")
    if kind == "folder" and (path.exists() or path.is_symlink()) and not path.is_dir():
        raise UserError(f"{option} {path} is a file; give a folder path (a file is never replaced by a folder).")
    if path.exists() or path.is_symlink():
        why = (proof or (_unsigned_file if kind == "file" else proof_of.unclaimed))(path)
        held = why and protected.held_by_git(path, kind)  # first: --force would not help, so it is not offered
        if held:
            raise UserError(f"{option} {path} {held}: it is never replaced here, not even with --force, since "
                            "that could lose what git has not committed or cannot restore; give another path, or "
                            "move it away yourself if you are sure.")
        if why and not (force or _empty(path)):
            if kind == "file":
                raise UserError(f"{option} {path} already exists and nothing shows this command wrote it as it is "
                                f"now ({why}), so it is not overwritten: write to a new path or move it away, or "
                                "add --force to replace it.")
            raise UserError(f"{option} {path} is a folder that holds other files ({why}); nothing in it is deleted: "
                            "give a new or empty folder or move it away, or add --force to replace it.")
    writable(path, option)
    return path


def _empty(path: Path) -> bool:
    if path.is_symlink():
        return False
    return not any(path.iterdir()) if path.is_dir() else path.is_file() and not path.stat().st_size


def _unsigned_file(path: Path) -> str | None:
    return None if proof_of.ours(path) else f"no {record_of(path).name} beside it holding its hash, or the file changed since"


def writable(path: Path, option: str) -> None:
    """The folder that will hold `path` exists or can be made, and this user may write there."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        if parent.is_symlink():  # dangling or a loop: no folder can be made there
            raise UserError(f"{option} {path}: {parent} is a symbolic link that leads nowhere (to a missing path, or "
                            "round in a loop); fix or remove the link, or choose another path.")
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, so nothing can be written under it.")
    longest = max(len(os.fsencode(name)) for name in (_tmp_sibling(path).name, record_of(path).name))
    try:
        most = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        most = 255
    if longest > most:  # the temp copy and the record beside it add to the name
        raise UserError(f"{option} {path}: the name is too long for this file system (its temp copy and record "
                        f"take {longest} bytes, at most {most} fit); give a shorter name.")
    try:  # a real file, not os.access: root passes that check on read-only and virtual file systems
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as error:
        raise UserError(f"{option} {path}: cannot write in {parent} ({error.strerror or error}); choose another "
                        "path.") from None


def sign(path, command: str) -> None:
    """Record that `command` wrote file `path` as it is now, so the next run may replace it."""
    path = Path(path)
    write_text(record_of(path), json.dumps({"written_by": command, "file": path.name, "sha256": sha256(path)},
                                           indent=2) + "\n")


def sign_folder(folder_path, command: str) -> None:
    """Record beside `folder_path` (as .NAME.written_by_stages.json) each of its files' hashes: the proof for a
    folder that must hold exactly what was made and no MARKER, such as the folder `stages.publish --dry-run`
    writes, which is what an upload would send."""
    folder = Path(folder_path)
    listed = {name: sha256(file) for name, file in proof_of.files_in(folder).items()}
    write_text(record_of(folder), json.dumps({"written_by": command, "folder": folder.name, "files": listed},
                                             indent=2) + "\n")


def mark(folder_path, command: str, **facts) -> None:
    """Sign a folder as written by `command`, listing each file's hash, so the next run may replace it as long
    as nothing in it was added or changed."""
    folder = Path(folder_path)
    listed = {name: sha256(file) for name, file in proof_of.files_in(folder).items()}
    (folder / proof_of.MARKER).write_text(json.dumps({"written_by": command, **facts, "files": listed}, indent=2) + "\n",
                                 encoding="utf-8")
