"""What no command replaces, not even with --force (stages/io/files.py target): the project folder or one holding
it, .git and .dvc folders and anything in them (or in any git directory), DVC's cache and local remotes, the
pipeline's outputs (dvc.yaml), and what a git repository holds or tracks. A path is checked as given and with
every symlink in it resolved."""
import os
import subprocess
from pathlib import Path

from . import declared

# The pipeline's outputs even where dvc.yaml cannot be read; never() adds every output dvc.yaml declares.
PIPELINE = ("data/prepared", "data/predictions", "data/sources.json", "models/base", "models/full",
            "models/lora", "metrics")


_NEVER_IN = {".git": "git's own files", ".dvc": "DVC's config and cache"}


def never(path: Path) -> str | None:
    """Why writing `path` would replace what is never replaced (words that follow the path), or None."""
    spots = _spots(path)
    here = Path.cwd().resolve()
    outs = sorted(set(PIPELINE) | set(declared.outputs(here / "dvc.yaml") or ()))
    stores = _dvc_stores(here / ".dvc")
    for spot in spots:
        found = _never(spot, here, outs) or _store(spot, stores)
        if found:
            return f"{f' (through a symlink, it is {spot})' if spot != spots[0] else ''} {found}"
    return None


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


def held_by_git(path: Path, kind: str) -> str | None:
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
