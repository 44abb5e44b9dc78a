"""Writing files: atomic writes and line-checked JSONL, so no stage leaves a half-written output; and where a
CLI may write, so no command replaces a file the user made."""
import errno
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import declared
from .errors import UserError
from .hashing import sha256


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


def _size(path: Path) -> int:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files)


def _human(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def wrote(*paths) -> None:
    """A stage's last line: what it wrote and how large it is. A path may be a glob ("plots/*.png")."""
    sizes = {str(p): sum(map(_size, Path().glob(str(p)))) if "*" in str(p) else _size(Path(p)) for p in paths}
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


class BadJSON(ValueError):
    """Why a text is no JSON value to read: words that follow the thing's name ("line 3: ...", "the body ...")."""


def loads(text: str):
    """The JSON value `text` holds, or BadJSON saying why none, for every JSON a user gives (JSONL files, the
    server's bodies, saved runs): json.loads raises RecursionError for deep nesting and a plain ValueError for
    an integer of over 4,300 digits, which were tracebacks; and a key given twice in one object is refused, since
    which of its values counts is undefined (Python keeps the last, another reader the first)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except BadJSON:
        raise
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}" if "\n" in text.strip() else f"column {error.colno}"
        raise BadJSON(f"not valid JSON ({error.msg} at {where})") from None
    except RecursionError:
        raise BadJSON("not JSON that can be read: nested too deeply (arrays or objects some thousand levels "
                      "deep)") from None
    except ValueError:
        raise BadJSON("not JSON that can be read: it holds a number of over 4,300 digits") from None


def _unique_keys(pairs: list) -> dict:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        shown = repr(twice) if len(twice) <= 60 else repr(twice[:57] + "...")
        raise BadJSON(f"not JSON that can be read one way: an object holds the key {shown} twice (which value "
                      "counts is undefined); keep one")
    return found


def jsonl_lines(text: str) -> list[str]:
    """The lines of JSON Lines text: split at "\n", "\r\n" or "\r" only, which JSON never holds raw inside a
    string. JSON written with ensure_ascii=False keeps U+2028, U+2029 and U+0085 raw inside strings, and
    str.splitlines() would cut a record there."""
    return _LINE_END.split(text)


_LINE_END = re.compile(r"\r\n|\r|\n")


def _lone_surrogate(value, where: str = "") -> str | None:
    """Where in a parsed JSON value a string holds a lone surrogate ("\\ud800" escaped in the file): no
    character, so it can be neither tokenized nor written as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "a string"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _lone_surrogate(key, where or "a key") if isinstance(key, str) else None
        found = found or _lone_surrogate(item, f"{where}[{key!r}]" if where else repr(key))
        if found:
            return found
    return None


def read_jsonl(path) -> list[dict]:
    """Read JSON Lines, naming the file and line of anything that does not parse."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM (as Windows editors write) is not data
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: not valid UTF-8 ({error.reason}); re-encode the file as UTF-8.")
    rows = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except BadJSON as error:
            raise UserError(f"{path}, line {number}: {error}; each line must be one JSON object.") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
        try:
            broken = _lone_surrogate(row)
        except RecursionError:  # as deep as json.loads could go: deeper than this walk can
            raise UserError(f"{path}, line {number}: not JSON that can be read: nested too deeply; each line must "
                            "be one JSON object.") from None
        if broken:
            raise UserError(f"{path}, line {number}: {broken} holds a lone surrogate (an escape such as \\ud800 "
                            "without its pair), which is no character; fix or drop that text.")
        rows.append(row)
    if not rows:
        raise UserError(f"{path} is empty: expected one JSON object per line.")
    return rows


def dir_size(path) -> int:
    """Bytes on disk of a file or of every file under a directory."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# Where a CLI may write: one door, target(), for every file or folder a command writes that no DVC stage owns
# (every --out, --output, --plot and --dry-run, export, sweep's and the demo's outputs).
#
# The rule: what exists there is replaced only with proof that this project wrote it as it is now (a file's
# record beside it, .NAME.written_by_stages.json, holds its hash; a folder's MARKER lists exactly its files with
# their hashes), or with --force when it holds nothing git alone could bring back: no git repository at any depth
# and no file any git repository tracks. Never, not even with --force: the project folder or one holding it,
# .git and .dvc folders and anything in them (or in any git directory), and the pipeline's outputs (dvc.yaml).
# The path is checked as given and with every symlink in it resolved, before the work and again right before
# the replace. A file of the right shape proves nothing (a user's own {id, summary} file looks like ours), nor
# does a marker alone (a user may have added a file since); a folder never stands in for a file.

MARKER = "written_by_stages.json"  # in a folder a CLI writes, and beside a file as .NAME.<MARKER>: the proof
# The pipeline's outputs even where dvc.yaml cannot be read; target() adds every output dvc.yaml declares.
PIPELINE = ("data/prepared", "data/predictions", "data/sources.json", "models/base", "models/full",
            "models/lora", "metrics")
_NEVER_IN = {".git": "git's own files", ".dvc": "DVC's config and cache"}
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
    spots = _spots(path)
    here = Path.cwd().resolve()
    outs = sorted(set(PIPELINE) | set(declared.outputs(here / "dvc.yaml") or ()))
    stores = _dvc_stores(here / ".dvc")
    for spot in spots:
        never = _never(spot, here, outs) or _store(spot, stores)
        if never:
            through = f" (through a symlink, it is {spot})" if spot != spots[0] else ""
            raise UserError(f"{option} {path}{through} {never}: that is never replaced here, not even with --force; "
                            "give a path outside it.")
    if kind == "file" and path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a file path (a folder is never replaced by a file).")
    if kind == "file" and path.exists() and not path.is_file():
        raise UserError(f"{option} {path} is not a regular file (a device, pipe or socket); it is never replaced: "
                        "give a file path.")
    if kind == "folder" and (path.exists() or path.is_symlink()) and not path.is_dir():
        raise UserError(f"{option} {path} is a file; give a folder path (a file is never replaced by a folder).")
    if path.exists() or path.is_symlink():
        why = (proof or (_unsigned_file if kind == "file" else unclaimed))(path)
        held = why and _held_by_git(path, kind)  # first: --force would not help, so it is not offered
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


def _spots(path: Path) -> list[Path]:
    """Where writing `path` lands: as written (made absolute), then the real places: with the folders above it
    resolved (where the rename happens) and through a symlink at `path` itself (where it leads)."""
    return list(dict.fromkeys([Path(os.path.abspath(path)), *_real(path)]))


def _real(path: Path) -> list[Path]:
    real = [Path(os.path.realpath(path))]
    if path.name not in ("", ".", ".."):
        real.insert(0, Path(os.path.realpath(path.parent)) / path.name)
    return list(dict.fromkeys(real))


def _git_dir(folder: Path) -> bool:
    """A git directory under any name: a bare repository, or one kept apart from its work tree."""
    return (folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir()


def _never(spot: Path, here: Path, outs: list[str]) -> str | None:
    """What `spot` (absolute) is, lies in or holds that is never replaced, or None: the project folder `here`,
    what git or DVC keep, or one of the pipeline's `outs`."""
    if spot == here or spot in here.parents:
        return f"{'is' if spot == here else 'holds'} the project folder {here}"
    for folder in (spot, *spot.parents):
        what = _NEVER_IN.get(folder.name.lower()) or (_git_dir(folder) and "a git directory")  # .GIT on macOS
        if what:  # git's history, DVC's config and cache: nothing could bring them back
            return f"{'is' if folder == spot else 'lies in'} {folder}, {what}"
    for out in outs:
        out = out.split("${")[0].rstrip("/")  # a path left unresolved: all of the folder it starts in
        for owned in dict.fromkeys((here / out, (here / out).resolve())) if out else ():
            relation = ("is" if spot == owned else "lies in" if owned in spot.parents
                        else "holds" if spot in owned.parents else None)
            if relation:
                return f"{relation} the pipeline's output {out} (dvc.yaml; only its stage writes it)"
    return None


def _dvc_stores(config_dir: Path) -> dict[Path, str]:
    """DVC's cache folder and local remotes set in the project's .dvc/config and config.local: DVC's store of
    every version, outside .dvc when they are set elsewhere. Read as text (DVC's own config loader takes a
    second to import): `[cache]` `dir = X`, `['remote "NAME"']` `url = X`, a path relative to .dvc/."""
    stores, section = {}, ""
    for name in ("config", "config.local"):
        try:
            lines = (config_dir / name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.split("#")[0].strip()
            if line.startswith("["):
                section = line.strip("[]'\" ")
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip().strip("'\"")
            local = value.removeprefix("file://") if "://" not in value.removeprefix("file://") else ""
            if local and ((section == "cache" and key == "dir") or (section.startswith("remote") and key == "url")):
                what = "DVC's cache" if section == "cache" else "the DVC remote " + section[6:].strip(" '\"")
                stores[Path(os.path.realpath(config_dir / os.path.expanduser(local)))] = what
    return stores


def _store(spot: Path, stores: dict[Path, str]) -> str | None:
    for store, what in stores.items():
        relation = ("is" if spot == store else "lies in" if store in spot.parents
                    else "holds" if spot in store.parents else None)
        if relation:
            return f"{relation} {store}, {what}"
    return None


def _empty(path: Path) -> bool:
    if path.is_symlink():
        return False
    return not any(path.iterdir()) if path.is_dir() else path.is_file() and not path.stat().st_size


def _unsigned_file(path: Path) -> str | None:
    return None if ours(path) else f"no {record_of(path).name} beside it holding its hash, or the file changed since"


def _held_by_git(path: Path, kind: str) -> str | None:
    """Why replacing `path` could lose what git holds: a git repository (or DVC project) inside it, or a file
    that the git repository it lies in tracks; None when neither. Checked where the path really leads."""
    for spot in _real(path):
        if spot.is_dir() and not spot.is_symlink():
            inside = _repository_inside(spot)
            if inside:
                return inside
        top = next((folder for folder in spot.parents if os.path.lexists(folder / ".git")), None)
        if top is None:
            continue
        try:
            done = subprocess.run(["git", "-C", str(top), "--literal-pathspecs", "ls-files", "-z", "--",
                                   spot.relative_to(top).as_posix()], capture_output=True, timeout=60, env=_git_env())
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"lies in the git repository {top}, and git could not list what it tracks there ({error})"
        if done.returncode:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit {done.returncode}"]
            return f"lies in the git repository {top}, and git could not list what it tracks there ({said[0]})"
        first = done.stdout.split(b"\0")[0].decode("utf-8", "replace")
        if first:
            return (f"holds files the git repository {top} tracks ({first} ...)" if kind == "folder" or spot.is_dir()
                    else f"is a file the git repository {top} tracks")
    return None


def _git_env() -> dict:
    """git looks at the repository the path lies in, never one the environment names."""
    return {key: value for key, value in os.environ.items()
            if key not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")}


def _repository_inside(folder: Path) -> str | None:
    """A git repository, git directory or DVC project at any depth in `folder` (symlinks are not followed:
    removing the folder removes a link, never what it leads to)."""
    unreadable = []
    for root, dirs, names in os.walk(folder, onerror=unreadable.append):
        for name in dirs + names:
            if name.lower() in _NEVER_IN:
                kind = "git repository" if name.lower() == ".git" else "DVC project"
                return f"holds a {kind} ({Path(root) / name})"
        if _git_dir(Path(root)):
            return f"holds a git directory ({root})"
    if unreadable:
        return f"holds {unreadable[0].filename}, which cannot be read to check it ({unreadable[0].strerror})"
    return None


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


def record_of(path) -> Path:
    """Where the proof that a CLI wrote file `path` is kept: a hidden file beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{MARKER}")


def sign(path, command: str) -> None:
    """Record that `command` wrote file `path` as it is now, so the next run may replace it."""
    path = Path(path)
    write_text(record_of(path), json.dumps({"written_by": command, "file": path.name, "sha256": sha256(path)},
                                           indent=2) + "\n")


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


def _folder_files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if (p.is_file() or p.is_symlink()) and p.name != MARKER}


def unclaimed(folder) -> str | None:
    """Why `folder` is not exactly what a CLI here wrote (a file added, changed or removed since); None if it is."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        listed = None
    if not isinstance(listed, dict):
        return f"it has no {MARKER} listing the files this command wrote"
    present = _folder_files(folder)
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


def sign_folder(folder_path, command: str) -> None:
    """Record beside `folder_path` (as .NAME.written_by_stages.json) each of its files' hashes: the proof for a
    folder that must hold exactly what was made and no MARKER, such as the folder `stages.publish --dry-run`
    writes, which is what an upload would send."""
    folder = Path(folder_path)
    listed = {name: sha256(file) for name, file in _folder_files(folder).items()}
    write_text(record_of(folder), json.dumps({"written_by": command, "folder": folder.name, "files": listed},
                                             indent=2) + "\n")


def unsigned(folder_path) -> str | None:
    """Why `folder_path` is not exactly the files its record beside it lists (sign_folder), each unchanged; None
    when it is: no file added, edited or removed since, no folder inside it."""
    folder = Path(folder_path)
    try:
        record = json.loads(record_of(folder).read_text(encoding="utf-8"))
        listed = record["files"] if record.get("folder") == folder.name else None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        listed = None
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


def mark(folder_path, command: str, **facts) -> None:
    """Sign a folder as written by `command`, listing each file's hash, so the next run may replace it as long
    as nothing in it was added or changed."""
    folder = Path(folder_path)
    listed = {name: sha256(file) for name, file in _folder_files(folder).items()}
    (folder / MARKER).write_text(json.dumps({"written_by": command, **facts, "files": listed}, indent=2) + "\n",
                                 encoding="utf-8")
