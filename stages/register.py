"""Register a trained model as a version in DVC's model registry, and promote a version to a stage.

    python -m stages.register NAME VERSION [--stage STAGE]

NAME is an artifact of dvc.yaml (`full`, `lora`), VERSION a semantic version such as v1.0.0. A new version is
the current commit: only when the pipeline is up to date (`dvc status` clean), git has nothing uncommitted, and
`dvc artifacts get` could fetch it: the model is a DVC output in the commit's dvc.lock, git holds no DVC output,
and every output is in the DVC remote that the commit's .dvc/config names (asked of that remote). The artifact's
meta in dvc.yaml is then filled in from this run's files and committed, and the commit is tagged NAME@VERSION
(GTO's convention). With --stage the version is also assigned to STAGE (tag NAME#STAGE#N); an already registered
VERSION with --stage is promoted (or rolled back to) once it is checked to be fetchable still, nothing else is done. Nothing is pushed: where there is a
git remote, the last line prints the `git push` that shares the tags. Two runs in one repository take turns (a
lock): the second checks everything again once the first is done.
"""
import argparse
import sys
from pathlib import Path

from .io import files
from .io.errors import UserError, run
from .registry import artifacts, fetchable, tags
from .training import lock


def pipeline_state(path: str) -> None:
    """Refuse this commit as a version of the artifact at `path` where the pipeline is stale, or where
    `dvc artifacts get` could not fetch it (fetchable: a DVC output, in the remote the commit names)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(".") as repo:
            stale = repo.status()
    except DvcException as error:  # not a DVC project, a broken dvc.yaml
        raise UserError(f"DVC could not check the pipeline ({type(error).__name__}: {error}).") from None
    if stale:
        listed = ", ".join(sorted(stale)[:4]) + (" ..." if len(stale) > 4 else "")
        raise UserError(f"the pipeline is not up to date ({listed} changed): run `dvc repro`, commit, `dvc push`.")
    fetchable.check(path)


def git_state() -> str:
    """The current branch, once the working tree is committed."""
    branch = tags.git("rev-parse", "--abbrev-ref", "HEAD").strip()
    if branch == "HEAD":
        raise UserError("HEAD is detached: check out the branch the version belongs on (`git switch main`), so the "
                        "registration commit is not lost.")
    changed = tags.git("status", "--porcelain", "--untracked-files=no").strip()
    if changed:
        raise UserError(f"git has uncommitted changes ({changed.splitlines()[0].strip()} ...): a version is a commit, "
                        "so commit them (after `dvc exp apply`, commit the experiment) or stash them first.")
    return branch


def new_version(name: str, artifact: dict, version: str, registered: dict[str, str]) -> str:
    """Fill the meta, commit it, tag it; returns the tag."""
    from gto.versions import SemVer

    latest = tags.newest(registered)
    if latest and SemVer(version) < SemVer(latest):
        raise UserError(f"{name}@{version} would be older than {name}@{latest}, the newest version: give a higher "
                        f"one, e.g. {SemVer(latest).bump(bump_minor=True).version}.")
    branch = git_state()
    try:
        pipeline_state(artifact["path"])
    except UserError as reason:
        raise UserError(f"{name}@{version} not registered: {reason}") from None
    md5 = artifacts.locked_md5(artifacts.DVC_LOCK.read_text(encoding="utf-8"), artifact["path"])
    for old, tag in registered.items():
        if SemVer.parse(old).prerelease and not SemVer.parse(version).prerelease:
            continue  # the release of a candidate (v1.0.0 after v1.0.0-rc.1) holds the candidate's bytes by design
        if artifacts.locked_md5(tags.show(tag, artifacts.DVC_LOCK), artifact["path"]) == md5:
            raise UserError(f"{name}@{old} holds these exact bytes already ({artifact['path']} md5 {md5}): promote "
                            f"it (`python -m stages.register {name} {old} --stage prod`) instead of a second version.")
    text = artifacts.DVC_YAML.read_text(encoding="utf-8")
    if artifacts.write_meta(name, artifacts.meta(artifact, version)):
        try:
            tags.git("commit", "-q", "-m", f"Register {name}@{version}: meta from this run's files", "--",
                     str(artifacts.DVC_YAML))
        except UserError:  # no git identity, a hook said no: leave dvc.yaml as it was, so git stays clean
            files.write_text(artifacts.DVC_YAML, text)
            raise
    print(f"{name}@{version}: {artifact['path']} of commit {tags.git('rev-parse', '--short', 'HEAD').strip()} "
          f"on {branch}", file=sys.stderr)
    return tags.register(name, version)


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(prog="python -m stages.register", description=__doc__.split("\n\n")[0])
    cli.add_argument("name", help="artifact name in dvc.yaml: full or lora")
    cli.add_argument("version", help="semantic version with a leading v, e.g. v1.0.0")
    cli.add_argument("--stage", help="also assign this stage, e.g. prod (promotes VERSION if it exists)")
    args = cli.parse_args(argv)
    if not artifacts.DVC_YAML.is_file() or not Path(".git").exists():
        raise UserError("run this from the project's folder (where dvc.yaml is), inside its git repository.")
    artifact = artifacts.declared(args.name)
    tags.check_version(args.version)
    if args.stage is not None:
        tags.check_stage(args.stage)
    # Every check below reads the tags and the branch that another run may be changing: one run at a time per
    # repository (worktrees share its tags), each reading them only once it holds the lock.
    held = tags.lock_path()
    lock.hold(held, waiting="another `stages.register` (pid {pid}) is running in this repository: waiting for it "
                            "to finish, then checking again (Ctrl-C stops waiting)")
    try:
        register_or_assign(args, artifact)
    finally:
        lock.release(held)


def register_or_assign(args, artifact: dict) -> None:
    """Register and/or assign, once this process holds the lock."""
    problem = tags.fetch()
    if problem:  # offline, or a tag that differs: go on with the tags this clone has, and say so
        print(f"note: {problem}", file=sys.stderr)
    tags.check_lightweight(args.name)  # after the fetch: a teammate may have pushed one
    registered = tags.versions(args.name)
    made = []
    if args.version in registered:
        if not args.stage:
            raise UserError(f"{args.name}@{args.version} is registered already (tag {registered[args.version]}): give "
                            f"a new version, or --stage to promote this one.")
    else:
        made.append(new_version(args.name, artifact, args.version, registered))
    if args.stage is not None:
        current = tags.stage_tag(args.name, args.stage)
        if current and tags.commit_of(current) == tags.commit_of(f"{args.name}@{args.version}"):
            print(f"{args.name}@{args.version} is in {args.stage} already (tag {current}): nothing to do.")
            return
        if not made:  # an existing version: its files may have left the remote since it was registered
            try:
                fetchable.check(artifact["path"], tags.commit_of(f"{args.name}@{args.version}"))
            except UserError as reason:
                raise UserError(f"{args.name}@{args.version} not promoted to {args.stage}: {reason}") from None
        made.append(tags.assign(args.name, args.version, args.stage))
    branch, remote = tags.upstream()
    print(f"tagged {' '.join(made)}")
    if remote in tags.git("remote").split():
        print(f"share it: git push {remote} {branch + ' ' if branch != 'HEAD' else ''}{' '.join(made)}")
    else:
        print(f"note: this clone has no git remote {remote!r}, so the tags are only here; once it has one "
              "(`git remote add`), push the branch and these tags to it.", file=sys.stderr)


if __name__ == "__main__":
    run(main, sys.argv[1:])
