"""Versions and stages as GTO's git tags, the convention `dvc artifacts get` and `dvc.api.artifacts_show` read.

A version is an annotated tag `NAME@vMAJOR.MINOR.PATCH` on the commit that holds it; a stage assignment is an
annotated tag `NAME#STAGE#N` (N counts the assignments, so a stage can move back and forth). DVC resolves
`--rev v1.0.0` to the commit of `NAME@v1.0.0`, and `--stage prod` to the newest `NAME#prod...` tag.
"""
import subprocess
import time
from pathlib import Path

from ..io import secrets
from ..io.errors import UserError


def check_version(version: str) -> None:
    from gto.versions import SemVer

    if not SemVer.is_valid(version):
        raise UserError(f"version {version!r} is not of the form vMAJOR.MINOR.PATCH (e.g. v1.0.0): GTO's tags, "
                        "which `dvc artifacts get --rev` reads, need the leading 'v' and three numbers.")
    if "+" in version:  # semantic versioning orders v1.0.0+x equal to v1.0.0: two tags, one place in the order
        plain = version.partition("+")[0]
        raise UserError(f"version {version!r} has build metadata ('+{version.partition('+')[2]}'), which semantic "
                        f"versioning ignores when it orders versions: it would stand level with {plain} and could "
                        f"be taken for the newest. Give a version without '+...', e.g. {plain} or a higher one.")


def check_stage(stage: str) -> None:
    from gto.constants import check_string_is_valid

    if not check_string_is_valid(stage):
        raise UserError(f"stage {stage!r} is not a valid stage name: use letters, digits, '-' and '_', starting "
                        "and ending with a letter or digit (e.g. prod, staging).")


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"`git {' '.join(args)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def lock_path() -> Path:
    """Where `stages.register` takes its turn: in git's common folder, shared by the repository's worktrees
    (which share its tags too); lock.hold adds `.lock`."""
    return Path(git("rev-parse", "--path-format=absolute", "--git-common-dir").strip()) / "stages-register"


def upstream() -> tuple[str, str]:
    """(branch, its git remote): HEAD's branch ('HEAD' when detached) and the remote it tracks, origin if none."""
    branch = git("rev-parse", "--abbrev-ref", "HEAD").strip()
    return branch, git("config", "--default", "origin", "--get", f"branch.{branch}.remote").strip()


def fetch() -> str | None:
    """Bring the current branch's remote's tags, so that a version a teammate registered and pushed counts; a note
    for the user where there is a remote and not all of its tags came: it could not be reached, or some of its tags
    point elsewhere than this clone's tags of the same name (git keeps this clone's, and fetches the others)."""
    import os

    remote = upstream()[1]
    if remote not in git("remote").split():
        return None
    # not --quiet: it hides the rejected tags; LC_ALL=C: git's own words, to find them; no prompt for a password
    # (stdin is not the user's to answer here): a remote that needs one is a note, not a hang
    try:
        done = subprocess.run(["git", "fetch", "--tags", remote], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120,
                              env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
                                   "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")})
    except subprocess.TimeoutExpired:
        return (f"could not fetch {remote}'s tags (no answer in 120 s): versions registered elsewhere since the "
                "last fetch are not checked.")
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    differ = [line.split()[2] for line in lines if line.startswith("! [rejected]") and "clobber" in line]
    if differ:
        return (f"{remote} has {', '.join(differ)} on another commit than this clone's tag of the same name; this "
                f"clone's is kept and counts here (compare: git ls-remote --tags {remote}); {remote}'s other tags "
                "were fetched.")
    reason = next((line.partition(":")[2].strip() for line in lines if line.startswith(("fatal:", "error:"))),
                  lines[-1] if lines else f"git fetch exited {done.returncode}")
    return (f"could not fetch {remote}'s tags ({secrets.scrub(reason)}): versions registered elsewhere since the last "
            "fetch are not checked.")


def show(tag: str, path) -> str:
    """A file as committed at `tag`; "" where that commit has no such file."""
    done = subprocess.run(["git", "show", f"{tag}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def gto_tags(name: str, annotated: bool = True) -> list[tuple[str, dict]]:
    """(tag, GTO's reading of it) for the tags of artifact `name`, oldest first; annotated ones only (the only
    ones GTO and DVC read), or with annotated=False the lightweight ones."""
    from gto.constants import NAME
    from gto.tag import parse_name

    found = []
    for line in git("for-each-ref", "--sort=creatordate", "--format=%(objecttype) %(refname:strip=2)",
                    "refs/tags").splitlines():
        kind, _, tag = line.partition(" ")
        parsed = parse_name(tag, raise_on_fail=False)
        if parsed.get(NAME) == name and (kind == "tag") == annotated:
            found.append((tag, parsed))
    return found


def check_lightweight(name: str) -> None:
    """Refuse lightweight tags named like this artifact's versions or stages: DVC and GTO ignore them, while git
    refuses a second tag of the same name, so the registry would contradict itself."""
    found = [tag for tag, _ in gto_tags(name, annotated=False)]
    if found:
        listed = " ".join(f"'{tag}'" for tag in found)
        what = "is a lightweight git tag" if len(found) == 1 else "are lightweight git tags"
        remote = upstream()[1]
        pushed = f"; on {remote} too if it was pushed: `git push {remote} --delete {listed}`" \
            if remote in git("remote").split() else ""
        raise UserError(f"{' and '.join(found)} {what} (made by `git tag` without -a) named like a version or "
                        f"stage of {name}. DVC and GTO read only annotated tags, so it registers nothing, yet it "
                        f"takes the name the registry would use. Delete it (`git tag -d {listed}`{pushed}), then "
                        "register again.")


def versions(name: str) -> dict[str, str]:
    """{version: tag name} of every version of `name` registered and not deregistered since."""
    from gto.constants import ACTION, VERSION, Action

    found: dict[str, str] = {}
    for tag, parsed in gto_tags(name):  # oldest first: a later deregistration wins
        if VERSION not in parsed:
            continue
        if parsed[ACTION] == Action.REGISTER:
            found[parsed[VERSION]] = tag
        else:
            found.pop(parsed[VERSION], None)
    return found


def stage_tag(name: str, stage: str) -> str | None:
    """The assignment that puts a version of `name` in `stage` now, as DVC resolves `--stage`: the newest
    `name#stage...` tag, unless that one is an unassignment (`!`)."""
    from gto.constants import ACTION, STAGE, Action

    last = None
    for tag, parsed in gto_tags(name):
        if parsed.get(STAGE) == stage:
            last = tag if parsed[ACTION] == Action.ASSIGN else None
    return last


def later_than(name: str, stage: str) -> None:
    """Wait for the next second where a tag of `name`'s `stage` was made in this one: DVC takes the stage's
    newest tag by tag time, which git keeps in whole seconds, so two in one second would leave it a tie."""
    from gto.constants import STAGE

    refs = [f"refs/tags/{tag}" for tag, parsed in gto_tags(name) if parsed.get(STAGE) == stage]
    if not refs:  # (for-each-ref with no pattern would list every ref)
        return
    newest = max(int(t) for t in git("for-each-ref", "--format=%(creatordate:unix)", *refs).split())
    while time.time() < newest + 1:
        time.sleep(newest + 1 - time.time())


def commit_of(tag: str) -> str:
    return git("rev-list", "-n", "1", tag).strip()


def newest(found) -> str | None:
    from gto.versions import SemVer

    return max(found, key=SemVer, default=None)


def register(name: str, version: str) -> str:
    """Tag HEAD as `name@version`; returns the tag."""
    import gto.api
    from gto.exceptions import GTOException

    try:
        return gto.api.register(".", name, "HEAD", version=version).tag
    except GTOException as error:
        raise UserError(f"GTO did not register {name}@{version}: {error}") from None


def assign(name: str, version: str, stage: str) -> str:
    """Tag the commit of `name@version` as being in `stage`; returns the tag. The caller has checked that the
    version is not in `stage` now: GTO's own check also counts past assignments, so a rollback (back to a
    version that was in `stage` before) needs force=True."""
    import gto.api
    from gto.exceptions import GTOException

    later_than(name, stage)
    try:
        return gto.api.assign(".", name, stage, version=version, force=True).tag
    except GTOException as error:
        raise UserError(f"GTO did not assign {stage} to {name}@{version}: {error}") from None
