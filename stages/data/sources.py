"""Which Hub commits prepare read: revisions resolved to commit shas, recorded in data/sources.json.

`data.revision: main` names a branch, which moves when the dataset's owners push: the same params could
then give other data. prepare asks the Hub which commit the revision is now, loads exactly that commit, and
writes it to data/sources.json (git-tracked, `cache: false` in dvc.yaml), so `git log -p data/sources.json`
says what every run read. A branch name gets a warning: pin the sha to make the run reproducible.

A local model folder is recorded with the sha256 and git blob id of each of its files (`files`: a claim that it
is a copy of a Hub commit is checked against them when publishing) and, for a model stages/scratch built from
random weights, its record of that (`built`). prepare adds each split's size in dialogues (`dialogues`), so a
score on a subsample can say what share of the split it covers.
"""
import hashlib
import re
import sys
from pathlib import Path

from ..io import hashing, net
from ..io.errors import UserError
from ..io.files import write_json
from ..io.jsonl import read_object
from ..scratch import model as scratch

SOURCES = Path("data/sources.json")
SHA = re.compile(r"[0-9a-f]{40}")
PIN = re.compile(r"sha256:[0-9a-f]{64}")  # a local folder's revision: the fingerprint of its content


def hub_sha(kind: str, repo: str, revision: str) -> str:
    """The commit sha a revision of a Hub model or dataset points at now (network)."""
    from huggingface_hub import HfApi

    seconds = net.configure_hub()
    info = HfApi().model_info if kind == "model" else HfApi().dataset_info
    return info(repo, revision=revision, timeout=seconds).sha  # its default, None, would wait forever


def resolve(kind: str, name: str, revision: str, local: bool, resolver=hub_sha, files=None) -> dict:
    """{name, revision, sha} for a Hub id ({name, local: true} for a folder: `files`, a dataset's split files in
    it, default train/validation/test.jsonl); warns about branch names."""
    if local:
        return local_entry(kind, name, revision, files)
    if PIN.fullmatch(revision):  # e.g. the try-it experiment's params, with the source set back to the Hub
        key = "model" if kind == "model" else "data"
        raise UserError(f"{key}.revision {revision} is a local folder's fingerprint, but {key}."
                        f"{'name' if kind == 'model' else 'source'} {name!r} is a Hub id: give a Hub revision (a "
                        "commit sha, or a branch or tag name), as params.yaml's committed value does.")
    sha = revision if SHA.fullmatch(revision) else None
    if sha is None:
        try:
            sha = resolver(kind, name, revision)
        except Exception as error:  # noqa: BLE001 - offline or unreachable: the load itself says what is wrong
            why = net.reason(error) if net.timed_out(error) else type(error).__name__
            print(f"warning: could not resolve {kind} {name!r} revision {revision!r} to a commit ({why}); it is "
                  f"recorded unresolved in {SOURCES}.", file=sys.stderr)
        key = "model.revision" if kind == "model" else "data.revision"
        print(f"warning: {key} is {revision!r}, a name that can move to other commits"
              f"{f' (now {sha})' if sha else ''}: set {key} to a 40-character commit sha to pin what "
              "this pipeline reads.", file=sys.stderr)
    return {"name": name, "revision": revision, "sha": sha}


def hub_card(repo: str, revision: str) -> dict:
    """{license, title} from a Hub dataset's card (network); empty where the card says nothing or cannot be read."""
    from huggingface_hub import HfApi

    try:
        seconds = net.configure_hub()
        card = HfApi().dataset_info(repo, revision=revision, timeout=seconds).card_data
    except Exception as error:  # noqa: BLE001 - offline: the run goes on, the card then says it is not known
        print(f"warning: could not read the card of dataset {repo!r} ({type(error).__name__}): set data.license "
              "and data.name so the model card can name the data's licence.", file=sys.stderr)
        return {}
    card = card.to_dict() if card is not None else {}
    found = {"license": card.get("license"), "title": card.get("pretty_name")}
    if isinstance(found["license"], list):
        found["license"] = found["license"][0] if len(found["license"]) == 1 else "other"
    return {key: value for key, value in found.items() if isinstance(value, str) and value}


def record(sources: dict) -> None:
    write_json(SOURCES, sources)


def used(entry: dict) -> str | None:
    """The revision to load: the resolved sha where there is one."""
    return entry.get("sha") or entry.get("revision")


def _files(kind: str, folder: Path, files=None) -> list[Path]:
    from .dialogsum import SPLITS

    if kind == "dataset":
        return [Path(path) for path in files] if files else [folder / f"{split}.jsonl" for split in SPLITS]
    return sorted(path for path in folder.rglob("*") if path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def file_hashes(kind: str, folder, files=None) -> dict[str, dict]:
    """{path in the folder: {sha256, git}} of what prepare reads from a local folder (see fingerprint): `git` is
    the git blob id, which the Hub gives for its files that are not in LFS, `sha256` what it gives for LFS files;
    so a claim that the folder is a copy of a Hub commit can be checked file by file (stages/shipping/claim.py)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return {path.relative_to(folder).as_posix(): hashing.blob_ids(path) for path in _files(kind, folder, files)}


def fingerprint(kind: str, folder, hashes: dict | None = None) -> str:
    """'sha256:<hex>' of what prepare reads from a local folder: a dataset's three split files, or every file of
    a model folder but hidden ones (.git, caches), each by its path in the folder and its content."""
    hashes = file_hashes(kind, folder) if hashes is None else hashes
    return "sha256:" + hashlib.sha256("".join(f"{name}\0{found['sha256']}\n" for name, found in hashes.items())
                                      .encode()).hexdigest()


def built(folder) -> dict | None:
    """What stages/scratch recorded of a model it built from random weights ({weights, parameters, seed}), or
    None: a folder without that record, or with one that is not what scratch writes."""
    found = read_object(Path(folder).expanduser() / scratch.RECORD)
    if found is None or found.get("weights") != "random":
        return None
    parameters, seed = found.get("parameters"), found.get("seed")
    if type(parameters) is not int or parameters <= 0 or type(seed) is not int:
        return None
    return {"weights": "random", "parameters": parameters, "seed": seed}


def local_entry(kind: str, name: str, revision: str, files=None) -> dict:
    """A local folder has no commit: its revision may pin the fingerprint of its content instead, which makes a
    changed folder a changed param (DVC reruns prepare) and a folder changed under an old pin an error."""
    key = "model.revision" if kind == "model" else "data.revision"
    try:
        hashes = file_hashes(kind, name, files)
        now = fingerprint(kind, name, hashes)
    except OSError:  # not a folder, a split missing: loading it names what is wrong
        return {"name": name, "local": True}
    entry = {"name": name, "local": True}
    if kind == "model":  # what the card names the base model by (stages/shipping): its files, how it was made
        entry["files"] = hashes
        origin = built(name)
        if origin:
            entry["built"] = origin
    if PIN.fullmatch(revision):
        if revision != now:
            raise UserError(f"{key} pins the folder {name} at {revision}, but its files are {now} now: they "
                            f"changed after the pin was set. Set {key} to {now} to use them as they are (DVC then "
                            "reruns prepare and what follows), or put the pinned files back.")
        return {**entry, "revision": revision}
    print(f"warning: {key} is {revision!r}, which a local folder ignores, so DVC will not notice when {name} "
          f"changes: set {key} to {now} (its content now) to pin it; prepare then checks it.", file=sys.stderr)
    return entry
