"""What every pipeline stage does around its work: load params.yaml, and never write outputs made with inputs
that changed under it.

DVC hashes a stage's params and deps again after the stage exits, and records those in dvc.lock. So an edit
made while a stage runs (`dvc exp run -S lora.r=8` in the same folder fails "busy" but leaves r: 8 behind) would
be recorded as what an adapter trained with r=32 ran with, and the next `dvc repro` would skip it. A stage
therefore notes the params and deps dvc.yaml declares for it when it starts, and checks them again right before
its first output is moved into place and once more after its last: if anything differs it stops with an error,
and DVC, seeing the stage fail, records nothing.

    p = stage.start("train_lora")     # instead of params.load()
    with stage.writing():             # around the writes of the stage's outputs
        ...
"""
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from . import declared, errors, hashing, params
from .errors import UserError

SMALL = 1 << 20  # files up to 1 MiB (code, params, JSON) are compared by content; larger ones as DVC's state
# cache does, by size, modification time and inode, so a gigabyte of weights is not read twice per stage

_watch = None  # the running stage's Watch: one stage per process


class Watch:
    """The declared params' values and the deps' signatures of stage `name`, as it started."""

    def __init__(self, name: str, raw: dict, what: declared.Declared):
        self.name, self.what = name, what
        self.params = self._params(raw)
        self.deps = _signatures(what.deps)

    def _params(self, raw: dict) -> dict:
        if not self.what.found:  # no dvc.yaml entry: every value in params.yaml counts
            return {declared.PARAMS_FILE: raw}
        out = {}
        for file, keys in self.what.params.items():
            values = raw if file == declared.PARAMS_FILE else _read_yaml(Path(file))
            out[file] = {key: declared.select(values, key) for key in keys} if keys else values
        return out

    def changes(self) -> list[str]:
        """What differs now from the start, in words; [] when nothing does."""
        found = []
        try:
            now = self._params(params.read(declared.PARAMS_FILE))
        except UserError as error:
            return [f"{declared.PARAMS_FILE} no longer reads ({error})"]
        for file, values in self.params.items():
            if now.get(file) != values:
                found.append(_param_change(file, values, now.get(file)))
        deps = _signatures(self.what.deps)
        for path in sorted(set(deps) | set(self.deps)):
            before, after = self.deps.get(path), deps.get(path)
            if before != after:
                verb = "appeared" if before is None else "was deleted" if after is None else "changed"
                found.append(f"{path} {verb}")
        return found

    def check(self, written: bool, note: str = "") -> None:
        changes = self.changes()
        if not changes:
            return
        listed = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        if written:
            outcome = ("Its outputs were written from the old values, so the stage fails and DVC records none of "
                       "them under the new ones.")
        else:
            outcome = "It writes no outputs, so nothing made with the old values is recorded under the new ones."
        kept = f" {note}" if note else ""
        raise UserError(f"the inputs of stage {self.name} changed while it ran: {listed}. {outcome}{kept} Run it "
                        f"again (`dvc repro {self.name}`) when nothing else is editing the project; to try other "
                        "params while a stage runs, queue them (`dvc exp run --queue -S ...` leaves params.yaml as "
                        "it is)."
                        + restore_hint(self.name, self.what))


def start(name: str) -> params.Params:
    """Begin stage `name` (as dvc.yaml names it: prepare, generate@lora, ...): read and validate params.yaml
    once, and note what the stage declares in dvc.yaml as it is now. (Under DVC the `stages` package has
    already tied the process to its parent: stages/io/parent.py.)"""
    global _watch
    command_line(name)
    _watch, errors.hint = None, running_hint
    try:
        raw = params.read()
        values = params.parse(raw)
    except UserError as error:
        hint = restore_hint(name, declared.stage(name, {}))
        if hint:
            error.args = (f"{error.args[0]}{hint}",)
        raise
    _watch = Watch(name, raw, declared.stage(name, raw))
    return values


def command_line(name: str) -> None:
    """A stage typed by hand with an option (`python -m stages.prepare --help`) says what it is and stops, rather
    than running (prepare downloads a model) with the option ignored: its settings are params.yaml's."""
    module, *arguments = name.split("@")  # generate@lora: generate takes the model's name, and only it
    if Path(sys.argv[0]).stem != module:  # called in-process (the tests), not as the command
        return
    extra = sys.argv[1 + len(arguments):]
    if not extra and not {"-h", "--help"} & set(sys.argv[1:]):
        return
    usage = (f"usage: python -m stages.{module}{' MODEL' if arguments else ''}: a DVC stage, run by `dvc repro "
             f"{module}`; its settings are in params.yaml (docs/params.md), and it takes no options.")
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(usage)
        sys.exit(0)
    raise UserError(f"{usage} Got {' '.join(extra)}; to run it with other settings, `dvc exp run -S key=value`.")


def unchanged(note: str = "") -> None:
    """Stop with an error, writing nothing, if an input of the running stage changed since it started."""
    if _watch is not None:
        _watch.check(written=False, note=note)


@contextmanager
def writing(note: str = ""):
    """Around the writes of a stage's outputs: refuse before the first if an input changed, and fail after the
    last if one changed meanwhile; `note` adds what is kept. Outside a started stage it checks nothing."""
    watch = _watch
    if watch is not None:
        watch.check(written=False, note=note)
    yield
    if watch is not None:
        watch.check(written=True, note=note)


def running_hint() -> str:
    """restore_hint() of the stage running in this process, for any error that stops it after it started (a
    params value only the model can refuse, a full disk): DVC deleted its outputs all the same."""
    return restore_hint(_watch.name, _watch.what) if _watch is not None else ""


def restore_hint(name: str, what: declared.Declared) -> str:
    """Under `dvc repro`, which deletes a stage's outputs before running it: how to get the last recorded
    ones back (`dvc checkout` restores cached outputs from dvc.lock; git holds the `cache: false` ones)."""
    if not os.environ.get("DVC_STAGE") or not _locked(name):
        return ""
    parts = []
    if what.outs:
        parts.append(f"`dvc checkout {name}` (from DVC's cache: {', '.join(what.outs)})")
    if what.uncached:
        parts.append(f"`git checkout -- {' '.join(what.uncached)}` (outputs DVC does not cache: git's committed "
                     "copies)")
    if not parts:
        return ""
    return (f" DVC deleted this stage's previous outputs before running it; to get them back as last recorded, run "
            f"{' and '.join(parts)}.")


def _locked(name: str) -> bool:
    """dvc.lock records stage `name`: there are previous outputs to restore."""
    return isinstance((_read_yaml(Path("dvc.lock")).get("stages") or {}).get(name), dict)


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) else {}


def _param_change(file: str, before, after) -> str:
    before, after = _flat(before), _flat(after)
    keys = [key for key in {**before, **after} if before.get(key, declared.MISSING) != after.get(key, declared.MISSING)]
    return "; ".join(f"{file}: {key or '(the whole file)'} was {_short(before.get(key, declared.MISSING))}, is now "
                     f"{_short(after.get(key, declared.MISSING))}" for key in keys)


def _flat(value, prefix="") -> dict:
    """{dotted key: value} of nested mappings, so a message names `lora.r`, not the whole section."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    out = {}
    for key, item in value.items():
        out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ignored():
    """.dvcignore's patterns (bytecode, temp files), which DVC leaves out of a folder's hash too."""
    import pathspec

    try:
        lines = Path(".dvcignore").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        lines = []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _signatures(paths: list[str]) -> dict[str, tuple | None]:
    """path of every file under each dep -> its signature; a missing dep -> None."""
    ignored = _ignored()
    out = {}
    for dep in paths:
        root = Path(dep)
        if not root.exists():
            out[dep] = None
        elif root.is_dir():
            for folder, subfolders, names in os.walk(root):
                subfolders[:] = sorted(d for d in subfolders
                                       if not ignored.match_file(f"{Path(folder, d).as_posix()}/"))
                for file in sorted(names):
                    path = Path(folder, file).as_posix()
                    if not ignored.match_file(path):
                        out[path] = _signature(Path(path))
        else:
            out[dep] = _signature(root)
    return out


def _signature(path: Path) -> tuple:
    try:
        info = path.stat()
        if info.st_size > SMALL:
            return ("stat", info.st_size, info.st_mtime_ns, info.st_ino)
        return ("sha256", hashing.sha256(path))
    except OSError as error:
        return ("unreadable", error.errno)
