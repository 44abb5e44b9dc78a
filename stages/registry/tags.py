"""Versions and stages as GTO's git tags, the convention `dvc artifacts get` and `dvc.api.artifacts_show` read.

A version is an annotated tag `NAME@vMAJOR.MINOR.PATCH` on the commit that holds it; a stage assignment is an
annotated tag `NAME#STAGE#N` (N counts the assignments, so a stage can move back and forth). DVC resolves
`--rev v1.0.0` to the commit of `NAME@v1.0.0`, and `--stage prod` to the newest `NAME#prod...` tag.
"""
import subprocess

from ..io import net
from ..io.errors import UserError


def check_version(version: str) -> None:
    from gto.versions import SemVer

    if not SemVer.is_valid(version):
        raise UserError(f"version {version!r} is not of the form vMAJOR.MINOR.PATCH (e.g. v1.0.0): GTO's tags, "
                        "which `dvc artifacts get --rev` reads, need the leading 'v' and three numbers.")


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
    return (f"could not fetch {remote}'s tags ({net.scrub(reason)}): versions registered elsewhere since the last "
            "fetch are not checked.")


def show(tag: str, path) -> str:
    """A file as committed at `tag`; "" where that commit has no such file."""
    done = subprocess.run(["git", "show", f"{tag}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def versions(name: str) -> dict[str, str]:
    """{version: tag name} of every version of `name` registered and not deregistered since."""
    from gto.constants import ACTION, NAME, VERSION, Action
    from gto.tag import parse_name

    found: dict[str, str] = {}
    for tag in git("tag", "--list", "--sort=creatordate").split():  # oldest first: a later deregistration wins
        parsed = parse_name(tag, raise_on_fail=False)
        if parsed.get(NAME) != name or VERSION not in parsed:
            continue
        if parsed[ACTION] == Action.REGISTER:
            found[parsed[VERSION]] = tag
        else:
            found.pop(parsed[VERSION], None)
    return found


def stage_tag(name: str, stage: str) -> str | None:
    """The assignment that puts a version of `name` in `stage` now, as DVC resolves `--stage`: the newest
    `name#stage...` tag, unless that one is an unassignment (`!`)."""
    from gto.constants import ACTION, NAME, STAGE, Action
    from gto.tag import parse_name

    last = None
    for tag in git("tag", "--list", "--sort=creatordate").split():
        parsed = parse_name(tag, raise_on_fail=False)
        if parsed.get(NAME) == name and parsed.get(STAGE) == stage:
            last = tag if parsed[ACTION] == Action.ASSIGN else None
    return last


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
    """Tag the commit of `name@version` as being in `stage`; returns the tag."""
    import gto.api
    from gto.exceptions import GTOException

    try:
        return gto.api.assign(".", name, stage, version=version).tag
    except GTOException as error:
        raise UserError(f"GTO did not assign {stage} to {name}@{version}: {error}") from None
