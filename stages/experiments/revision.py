"""One side of a comparison: a run at a git revision, branch, tag or DVC experiment (or the workspace), its files
read through DVC's Python API from the cache or pulled from the remote; every way that fails is one message."""
import json
from contextlib import contextmanager
from pathlib import Path

from dvc.exceptions import DvcException
from scmrepo.exceptions import SCMError

from ..data import dialogsum
from ..io.errors import UserError
from ..scoring import records
from .runs import flat_params

WORKSPACE = "workspace"
DVC_ERRORS = (DvcException, SCMError)  # what reading a rev raises for the user's mistakes


class Run:
    """One side of a comparison: a rev (None = the workspace) read through DVCFileSystem."""

    def __init__(self, rev: str | None, scratch: Path):
        from dvc.api import DVCFileSystem

        self.rev, self.scratch = rev, scratch
        self.name = rev or WORKSPACE
        try:
            self.fs = DVCFileSystem(".", rev=rev)
        except DVC_ERRORS as error:  # an unknown rev, not a DVC repo: both the user's to fix
            raise UserError(_unreadable(self.name, error)) from None
        self.params = flat_params(_params_show(rev, self.name))
        self.commit = self.fs.repo.get_rev() if rev else None  # None: the workspace, which no commit names

    def get(self, path: str, output: str | None = None) -> Path:
        """`path` (inside the DVC output `output`, default itself) at this rev, copied to the scratch folder;
        DVC pulls it when the cache lacks it."""
        local = self.scratch / path
        if not self.produced(output or path):
            raise UserError(f"{self.name} has no {output or path}: that run has not produced it (its dvc.lock "
                            "does not list it). Run the pipeline there (`dvc repro` and commit, or `dvc exp "
                            "run`), or compare other runs.")
        with self.reading(path):
            self.fs.get(path, str(local), recursive=self.fs.isdir(path))
        return local

    @contextmanager
    def reading(self, path: str):
        """Every read of DVC's files at this rev: what DVC raises for an object that is neither cached nor on the
        remote (a fresh clone, nothing pulled), or a remote it cannot reach, is one message."""
        from dvc_data.index.index import DataIndexError

        try:
            yield
        except (OSError, DvcException, DataIndexError) as error:
            raise UserError(f"cannot read {path} of {self.name} from DVC's cache or remote "
                            f"({type(error).__name__}: {_first_line(error)}): it is recorded in that run's "
                            "dvc.lock but is in neither. Fetch it (`dvc pull`, or `dvc exp pull origin NAME` for "
                            "an experiment), push it from the machine that made it (`dvc push`), or check the "
                            "remote with `dvc remote list`.") from None

    def produced(self, path: str) -> bool:
        """A file in the workspace, or an output with a hash in the rev's dvc.lock (declared in dvc.yaml alone,
        DVCFileSystem lists it empty)."""
        with self.reading(path):
            if not self.fs.exists(path):
                return False
            info = self.fs.info(path)
        return "fs_info" in info or "md5" in info or "md5" in (info.get("dvc_info") or {})

    def references(self) -> list[dict]:
        import datasets

        split = self.params.get("generate.split", "test")
        # only the scored split: the train split of the real data set is far larger and not needed here
        path = f"{dialogsum.PREPARED.as_posix()}/{split}"
        with self.reading(path):
            missing = not self.fs.isdir(path)
        if missing and self.produced(dialogsum.PREPARED.as_posix()):
            raise UserError(f"{self.name}'s {dialogsum.PREPARED} has no split {split!r} (generate.split there).")
        table = datasets.load_from_disk(str(self.get(path, output=dialogsum.PREPARED.as_posix())))
        return [{"id": i, "dialogue": d, "summary": s} for i, d, s in zip(table["id"], table["dialogue"],
                                                                           table["summary"])]

    def predictions(self, model: str, references: list[dict]) -> list[str] | None:
        path = f"{dialogsum.PREDICTIONS.as_posix()}/{model}.jsonl"
        if not self.produced(path):
            return None
        local = self.get(path)
        return records.match(records.read_predictions(local), references, f"{self.name}:{path}",
                             f"{self.name}'s {self.params.get('generate.split', 'test')} split")


    def generation(self, model: str) -> dict | None:
        """The generate stage's speed and engine (metrics/generate_<model>.json), or None where there is none."""
        from dvc_data.index.index import DataIndexError

        path = f"metrics/generate_{model}.json"
        try:
            with self.fs.open(path) as handle:
                found = json.load(handle)
        except (OSError, ValueError, DvcException, DataIndexError):
            return None
        keep = ("s_per_dialogue", "engine", "compute_type", "precision", "device", "threads", "cpu_model", "gpu",
                "cpu_count", "load_average_1min")
        return {key: found[key] for key in keep if key in found} if isinstance(found, dict) else None


def _params_show(rev, name) -> dict:
    import dvc.api

    try:
        return dvc.api.params_show(repo=".", rev=rev)
    except DVC_ERRORS as error:
        raise UserError(_unreadable(name, error)) from None


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _unreadable(name, error) -> str:
    return (f"cannot read revision {name!r} ({type(error).__name__}: {_first_line(error)}). Give a git commit, "
            "branch or tag (`git log --oneline`, `git branch -a`) or an experiment name (`dvc exp list -A`), "
            "from inside the project's folder.")
