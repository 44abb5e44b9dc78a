"""Whether a local base model is the Hub model the publisher says it is (`--base-model ID[@REVISION]`).

prepare records the sha256 and git blob id of every file of a local base model folder in data/sources.json; the
Hub gives, for each file of a commit, the sha256 of an LFS file (weights) and the git blob id of the others. A
publish compares the two before anything is uploaded: every weight file the run read must be in that commit
with the same bytes, and every other file both hold must match. A dry run asks no Hub, so its card marks the
claim as not verified.
"""
from dataclasses import replace

from ..io.errors import UserError
from .subjects import HubRef

WEIGHTS = ".safetensors"


def differences(local: dict, hub: dict) -> list[str]:
    """Why the files `local` ({path: {sha256, git}}) are not a copy of the Hub files `hub` ({path: {sha256 or
    None, git}}); [] when they are."""
    problems = []
    if not any(name.endswith(WEIGHTS) for name in local):
        problems.append(f"the folder prepare read held no {WEIGHTS} weights to compare")
    for name, ours in sorted(local.items()):
        theirs = hub.get(name)
        if theirs is None:
            if name.endswith(WEIGHTS):
                problems.append(f"{name} is not in that commit")
            continue  # a file of the local folder alone (a note, a record): not part of the model
        if theirs.get("sha256"):
            same = ours.get("sha256") == theirs["sha256"]
        elif theirs.get("git"):
            same = ours.get("git") == theirs["git"]
        else:
            problems.append(f"the Hub gives no hash of {name}")
            continue
        if not same:
            problems.append(f"{name} differs")
    return problems


def verify(hub, ref: HubRef, entry: dict) -> HubRef:
    """`ref` (a declared Hub id for the local base model `entry` of data/sources.json) at the commit it names,
    verified; a UserError saying what differs where the Hub's files are not the ones the run read."""
    local = entry.get("files")
    if not isinstance(local, dict) or not local or not all(isinstance(v, dict) for v in local.values()):
        raise UserError("data/sources.json does not record the files of the local base model (written by an older "
                        "version of prepare), so --base-model cannot be checked against the Hub: run `dvc repro "
                        "prepare` (the outputs it rewrites are the same bytes), commit, then publish.")
    commit, files = hub.files_at(ref.id, ref.revision or "main")
    problems = differences(local, files)
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise UserError(f"--base-model {ref.id}@{ref.revision or 'main'} is not the base model this run read "
                        f"({entry.get('name')!r}): against the Hub's commit {commit[:12]}, {shown}. Give the Hub id "
                        "and commit that folder was downloaded from. A model built from random weights (stages."
                        "demo, the tests) is no Hub model: publish it as `full` or `lora --merged` without "
                        "--base-model; nothing was uploaded.")
    return replace(ref, revision=commit, verified=True)
