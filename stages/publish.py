"""Publish a trained model to the Hugging Face Hub, with a model card built from the run's own files.

    python -m stages.publish full --repo-id USER/NAME            models/full, the fully fine-tuned model
    python -m stages.publish lora --repo-id USER/NAME            models/lora as a PEFT adapter
    python -m stages.publish lora --merged --repo-id USER/NAME   the adapter merged into the base: standalone
    python -m stages.publish full --repo-id USER/NAME --dry-run DIR   write the folder, upload nothing

Run it from the project root after `dvc repro`, with the run committed to git and pushed (`dvc push`): a model
whose outputs are stale against dvc.lock, uncommitted, or missing from the DVC remote is refused, since its card
would cite a run nobody can get back. The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT, when set,
names the Hub. The card's Notes section is the place for hand-written text: it is kept on every publish. A card
on the Hub edited elsewhere is not overwritten without --force.
"""
import argparse
import re
from dataclasses import replace
import sys
import tempfile
from pathlib import Path

from .io import files, net
from .io.errors import UserError, run
from .io.files import atomic_path, dir_size
from .io.text import revision_problem
from .shipping import card, claim, folder, hub, licence, record, signature, stale, subjects

KINDS = ("full", "lora")
BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,99}")


def branch_name(name: str) -> bool:
    """A name git takes for a branch (`git check-ref-format --branch`), in the characters the Hub's URLs carry."""
    parts = name.split("/")
    return (BRANCH.fullmatch(name) is not None and name != "HEAD" and not name.startswith("refs/")
            and all(part and not part.startswith(".") and not part.endswith((".", ".lock")) for part in parts)
            and ".." not in name)


def _valid_id(value: str, option: str, example: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError as error:
        raise UserError(f"{option} {value!r} is not a valid Hub repo id ({str(error).splitlines()[0]}); write it "
                        f"as {example}: letters, digits, '-', '_' and '.', at most 96 characters.") from None
    if "/" not in value:
        raise UserError(f"{option} {value!r} has no namespace: write it as {example}.")


def _valid_revision(revision: str | None, where: str, fix: str) -> None:
    """A revision the card and adapter_config.json name: a git branch or tag name, or a commit hash; no other text
    (HTML, a link, a line break) goes into them."""
    if revision is None:
        return
    problem = revision_problem(revision) if isinstance(revision, str) else f"it is a {type(revision).__name__}"
    if problem:
        raise UserError(f"{where}: the revision {revision!r} is not a git branch or tag name or a commit hash "
                        f"({problem}); {fix}.")


def hub_ref(entry: dict, given: str | None, option: str, key: str, example: str) -> subjects.HubRef:
    """The Hub id and revision the run read (data/sources.json), or the publisher's word for a local copy."""
    claimed = None
    if given == "none" and option == "--dataset" and entry.get("local"):
        return subjects.HubRef(None, None, declared=True)  # data of one's own: the card names no Hub dataset
    if given:
        name, at, revision = given.partition("@")
        _valid_id(name, option, example)
        _valid_revision(revision if at else None, f"{option} {given!r}", f"write it as {example}, or drop '@...'")
        claimed = subjects.HubRef(name, revision or None, declared=True)
    if entry.get("local"):
        if claimed is None:
            none = (f", or {option} none for data of your own that is on no Hub (the card then names it by data.name)"
                    if option == "--dataset" else "")
            raise UserError(f"{key} was a local folder, so the card cannot name the Hub repo it is a copy of: give "
                            f"{option} ID[@REVISION], for example {option} {example}{none}.")
        return claimed
    ref = subjects.HubRef(entry["name"], entry.get("sha") or entry.get("revision"), declared=False)
    _valid_id(ref.id, f"data/sources.json's {key}", example)  # a hand-edited record: the card prints it
    _valid_revision(ref.revision, f"data/sources.json's {key} entry", "rerun `dvc repro prepare`, commit, then publish")
    if claimed and (claimed.id != ref.id or (claimed.revision and claimed.revision != ref.revision)):
        raise UserError(f"{option} {given} is not what the run read ({ref.id} at {ref.revision}, data/sources.json); "
                        f"drop {option}: it is only for a {key} that was a local folder.")
    return ref


def subject_of(args, sources: dict) -> subjects.Subject:
    for part in ("model", "data"):
        if not isinstance(sources.get(part), dict) or not (sources[part].get("local") or sources[part].get("name")):
            raise UserError(f"data/sources.json has no {part} entry: rerun `dvc repro prepare`, commit, then publish.")
    kind = "merged" if args.merged else ("adapter" if args.model == "lora" else "full")
    scratch = record.built(sources)
    if scratch and sources["model"].get("local") and not args.base_model:
        if kind == "adapter":
            raise UserError(f"the adapter's base model was built from random weights ({scratch['parameters']:,} "
                            "parameters, stages/scratch) and is on no Hub, so nobody could load the adapter: publish "
                            "`lora --merged` (the adapter merged into it: a standalone model) or `full`; or upload "
                            "that base model to the Hub and give --base-model ID@COMMIT.")
        base = subjects.HubRef(None, None, declared=False)  # the card names it as what it is: random weights
    else:
        base = hub_ref(sources["model"], args.base_model, "--base-model", "model.name",
                       "google/flan-t5-base@7bcac572ce56db69c1ea7c8af255c5d7c9672fc2")
    dataset = hub_ref(sources["data"], args.dataset, "--dataset", "data.source", "knkarthick/dialogsum")
    return subjects.Subject(kind, args.repo_id, base, dataset)


def dry_run(args, target: Path, run_record, subject) -> None:
    with atomic_path(target) as tmp:
        tmp.mkdir()
        folder.write(tmp, subject.kind, subject.base, card.render(run_record, subject))
        files.target(target, "--dry-run", args.force, "folder", proof=folder.not_written_here)  # again, right
        # before it is replaced: files may have been put there while the model merged
    files.sign_folder(target, "python -m stages.publish --dry-run")  # the next dry run may replace it as it is
    names = [p.name for p in folder.files(target)]
    checked = (" and marks --base-model as verified once it has checked the local base model's files against that "
               "Hub commit (the dry run marks it not verified)" if subject.base.declared else "")
    print(f"wrote {target} ({dir_size(target):,} bytes): {', '.join(names)}; nothing was uploaded. "
          f"`python -m stages.publish {args.model}{' --merged' if args.merged else ''} --repo-id {args.repo_id}` "
          f"uploads exactly these files (the card also keeps the Notes of a card already on the Hub{checked}).")


def publish(args, secret, run_record, subject) -> None:
    api = hub.Hub(secret)
    user = api.user()  # a bad token stops here, before a merge or an upload
    if subject.base.declared:  # before a merge or an upload: a false claim stops here
        subject = replace(subject, base=claim.verify(api, subject.base, run_record.sources["model"]))
        print(f"--base-model checked: the local base model's files are {subject.base.id} at "
              f"{subject.base.revision}", flush=True)
    print(f"publishing {subject.kind} model to {hub.endpoint()}/{args.repo_id} (revision {args.revision}) as {user}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="publish-") as scratch:
        local = Path(scratch) / "upload"
        local.mkdir()
        folder.write(local, subject.kind, subject.base, card.render(run_record, subject))
        remote = api.open(args.repo_id, args.revision, args.private)
        found = signature.state(remote.readme)
        if found in ("edited", "foreign") and not args.force:
            why = ("was edited by hand outside its Notes section" if found == "edited"
                   else "was not written by this command")
            raise UserError(f"README.md on {args.repo_id} (revision {args.revision}, commit {remote.head[:12]}) {why}; "
                            "publishing would overwrite that text. Put text you want kept in the card's Notes "
                            "section (between its notes lines), which every publish carries over, or add --force to "
                            "replace the card (its Notes are still kept).")
        kept = signature.notes(remote.readme)
        (local / folder.README).write_text(card.render(run_record, subject, kept), encoding="utf-8")
        message = f"Publish {subject.kind} model from git {run_record.commit[:12]} (python -m stages.publish)"
        done = api.commit(local, args.repo_id, args.revision, remote, message)
    if done.oid == remote.head:
        print(f"{args.repo_id} at {args.revision} already holds exactly these files: nothing was committed.")
    else:
        print(f"published {args.repo_id} at {args.revision}: commit {done.oid}"
              f"{'; the Notes section of the card on the Hub was kept' if kept else ''}\n"
              f"{net.shown_url(done.commit_url)}")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m stages.publish", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("model", choices=KINDS, help="full (models/full) or lora (models/lora)")
    cli.add_argument("--repo-id", required=True, metavar="USER/NAME", help="the Hub model repo to publish to")
    cli.add_argument("--merged", action="store_true",
                     help="lora only: publish the adapter merged into the base model (a standalone model)")
    cli.add_argument("--private", action="store_true", help="create the repo private (an existing public repo is "
                                                            "refused, not changed)")
    cli.add_argument("--revision", default="main", metavar="BRANCH",
                     help="the branch to commit to (default main; created if missing)")
    cli.add_argument("--dry-run", type=Path, metavar="DIR",
                     help="write the folder that would be uploaded to DIR and upload nothing (no token needed; the "
                          "DVC remote is not checked)")
    cli.add_argument("--base-model", metavar="ID[@REVISION]",
                     help="the Hub id of the base model, needed only when model.name was a local folder")
    cli.add_argument("--dataset", metavar="ID[@REVISION]",
                     help="the Hub id of the data, needed only when data.source was a local folder; none for "
                          "data of your own that is on no Hub")
    cli.add_argument("--force", action="store_true",
                     help="replace a --dry-run folder this command did not write, or a card on the Hub that was "
                          "edited outside its Notes section")
    return cli


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    hub.check_endpoint()
    if args.merged and args.model != "lora":
        raise UserError("--merged merges a LoRA adapter into its base model: use it with `lora`, not `full`.")
    _valid_id(args.repo_id, "--repo-id", "your-name/flan-t5-dialogsum")
    if not branch_name(args.revision):
        raise UserError(f"--revision {args.revision!r} is not a branch name this command commits to: use letters, "
                        "digits and . _ - / (such as main or v1); not HEAD, refs/..., '..' or '//', nor a part "
                        "that starts with '.' or ends with '.' or '.lock', as git requires.")
    if args.dry_run:  # where it may write, and whether it may upload, are checked before anything else
        target = files.target(args.dry_run, "--dry-run", args.force, "folder", proof=folder.not_written_here)
    else:
        secret = hub.token()
    stale.check_current()
    commit = stale.check_committed()
    if not args.dry_run:
        stale.check_pushed()
    stale.warn_unpublished(commit)
    run_record = record.read(commit, stale.dirty())
    subject = subject_of(args, run_record.sources)
    licence.warn(run_record.sources)  # a model of non-commercial data is non-commercial too: said before uploading
    if args.dry_run:
        dry_run(args, target, run_record, subject)
    else:
        publish(args, secret, run_record, subject)


if __name__ == "__main__":
    run(main, sys.argv[1:])
