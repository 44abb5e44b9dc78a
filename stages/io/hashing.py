"""sha256 of files and folders: the one way every stage hashes what it reads.

A folder's weights (its *.safetensors, the gigabytes) are hashed once per process while unchanged (same path,
file, size, mtime and ctime: mtime alone can be set back, ctime cannot), in the form base_model.json records;
the CTranslate2 cache key and a training checkpoint's fingerprint reuse that hash, so a command that checks an
adapter's base and converts it reads the base once."""
import hashlib
from pathlib import Path

_CHUNK = 1 << 20
_streamed: dict[tuple, str] = {}


def _read(path: Path, *digests) -> None:
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_CHUNK), b""):
            for digest in digests:
                digest.update(block)


def sha256(path) -> str:
    """The sha256 (hex) of file `path`'s bytes; read each time, since it checks that a file is unchanged."""
    digest = hashlib.sha256()
    _read(Path(path), digest)
    return digest.hexdigest()


def blob_ids(path) -> dict:
    """{sha256, git} of file `path` in one read: `git` is git's blob id, which the Hub gives for files not in
    LFS, `sha256` what it gives for LFS files."""
    content, blob = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % Path(path).stat().st_size)  # noqa: S324 - git's id
    _read(Path(path), content, blob)
    return {"sha256": content.hexdigest(), "git": blob.hexdigest()}


def digest(folder, names, form=None) -> str:
    """sha256 of the files `names` (paths in `folder`) in that order, each entering as form(name, its sha256 hex)
    (bytes); without `form`, as its name, a NUL and its bytes, kept for the process while the files are
    unchanged."""
    paths = [Path(folder) / name for name in names]
    if form is not None:
        return hashlib.sha256(b"".join(form(name, sha256(path)) for name, path in zip(names, paths))).hexdigest()
    key = _state(folder, names, paths)
    if key in _streamed:
        return _streamed[key]
    total = hashlib.sha256()
    for name, path in zip(names, paths):
        total.update(name.encode() + b"\0")
        _read(path, total)
    if _state(folder, names, paths) == key:  # kept only if no file changed while it was read
        _streamed[key] = total.hexdigest()
    return total.hexdigest()


def _state(folder, names, paths) -> tuple:
    """What tells that the files are the ones hashed before: a file rewritten in place with its size and mtime
    put back (`touch -d`), or replaced by another (a `dvc checkout` relinks to another cache file), has another
    inode or ctime, which no user can set."""
    stats = [path.stat() for path in paths]
    return (str(Path(folder).resolve()),
            tuple((name, s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for name, s in zip(names, stats)))


def weights(folder) -> list[str]:
    """The names of the weight files in `folder`, in name order."""
    return sorted(path.name for path in Path(folder).glob("*.safetensors"))


def folder(path, pattern: str = "*") -> str:
    """A fingerprint of every file under folder `path` whose name matches `pattern`: its weights as digest()
    hashes them by default (reused), every other file by its path in the folder and its sha256."""
    path = Path(path)
    top = set(weights(path))
    names = sorted(p.relative_to(path).as_posix() for p in path.rglob(pattern) if p.is_file())
    rest = digest(path, [name for name in names if name not in top], lambda name, hex: f"{name}\0{hex}\0".encode())
    return hashlib.sha256(f"{digest(path, sorted(top & set(names)))}\0{rest}".encode()).hexdigest()
