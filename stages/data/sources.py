"""Which Hub commits prepare read: revisions resolved to commit shas, recorded in data/sources.json.

`data.revision: main` names a branch, which moves when the dataset's owners push: the same params could
then give other data. prepare asks the Hub which commit the revision is now, loads exactly that commit, and
writes it to data/sources.json (git-tracked, `cache: false` in dvc.yaml), so `git log -p data/sources.json`
says what every run read. A branch name gets a warning: pin the sha to make the run reproducible.
"""
import re
import sys
from pathlib import Path

from ..io import net
from ..io.files import write_json

SOURCES = Path("data/sources.json")
SHA = re.compile(r"[0-9a-f]{40}")


def hub_sha(kind: str, repo: str, revision: str) -> str:
    """The commit sha a revision of a Hub model or dataset points at now (network)."""
    from huggingface_hub import HfApi

    seconds = net.configure_hub()
    info = HfApi().model_info if kind == "model" else HfApi().dataset_info
    return info(repo, revision=revision, timeout=seconds).sha  # its default, None, would wait forever


def resolve(kind: str, name: str, revision: str, local: bool, resolver=hub_sha) -> dict:
    """{name, revision, sha} for a Hub id ({name, local: true} for a folder); warns about branch names."""
    if local:
        return {"name": name, "local": True}
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


def record(sources: dict) -> None:
    write_json(SOURCES, sources)


def used(entry: dict) -> str | None:
    """The revision to load: the resolved sha where there is one."""
    return entry.get("sha") or entry.get("revision")
