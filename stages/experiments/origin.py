"""Where the runs of a distributed sweep start: the commit checked out here, which must be on the git remote
every machine clones, with a DVC remote every machine reaches. Each check refuses with what to do."""
import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from ..io.errors import UserError

GIT_TIMEOUT = 120  # seconds for one git command that talks to the remote


def git(*args: str, timeout: float = 30, check: bool = True) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        raise UserError(f"`git {' '.join(args)}` took over {timeout:.0f} s; check that the git remote "
                        "answers (`git fetch`), then run this again.") from None
    except FileNotFoundError:
        raise UserError("git is not installed or not on PATH; install git.") from None
    if check and done.returncode != 0:
        raise UserError(f"`git {' '.join(args)}` failed: {done.stderr.strip()[-600:]}")
    return done.stdout


def launch_point(remote: str) -> dict:
    """{commit, git_url, identity} of a clean work tree whose HEAD the git remote `remote` holds."""
    if not git("rev-parse", "--is-inside-work-tree", check=False).strip() == "true":
        raise UserError("this is not a git work tree: run the sweep from the project's folder.")
    if Path(git("rev-parse", "--show-toplevel").strip()).resolve() != Path.cwd().resolve():
        raise UserError("run the sweep from the project's top folder (where dvc.yaml is).")
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    if changed:
        raise UserError(f"the work tree has uncommitted changes ({', '.join(c[3:] for c in changed[:5])}"
                        f"{' ...' if len(changed) > 5 else ''}): every run starts from a commit on the git "
                        "remote, so commit them (`git commit -am ...`) and push (`git push`), or set them per "
                        "run with -S.")
    commit = git("rev-parse", "--verify", "HEAD^{commit}").strip()
    url = git("remote", "get-url", remote, check=False).strip()
    if not url:
        raise UserError(f"this repository has no git remote {remote!r}: every machine clones the sweep's commit "
                        f"from it. Add one (`git remote add {remote} URL`) and push, or name another with "
                        "--git-remote.")
    git("fetch", "--quiet", remote, timeout=GIT_TIMEOUT)
    if not git("branch", "--remotes", "--contains", commit, "--list", f"{remote}/*").strip():
        raise UserError(f"commit {commit[:10]} is not on the git remote {remote!r}, so the machines of the "
                        f"cluster cannot start from it: `git push {remote} HEAD` first.")
    identity = (git("config", "user.name", check=False).strip(), git("config", "user.email", check=False).strip())
    return {"commit": commit, "git_url": _absolute(url), "identity": identity if all(identity) else None}


def _absolute(url: str) -> str:
    """A remote given as a relative folder means nothing on a worker: made absolute."""
    if "://" in url or (":" in url.split("/")[0] and not os.path.isabs(url)):
        return url  # https://, ssh://, user@host:path
    return str(Path(url).resolve())


def dvc_remote() -> str:
    """The default DVC remote's URL as committed, which the workers use; refused where it would differ between
    machines: none, a relative folder, or overridden here by .dvc/config.local (the workers never see that)."""
    from dvc.config import Config
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(".") as repo:
            name = repo.config["core"].get("remote")
            here = repo.config["remote"].get(name, {}).get("url") if name else None
        committed = Config.load_file(os.path.join(".dvc", "config"))  # as written: a relative folder stays one
    except (DvcException, OSError) as error:
        raise UserError(f"cannot read the DVC config here ({error}); run the sweep from the project's folder.") \
            from None
    if not name:
        raise UserError("no default DVC remote: the runs pull their inputs from it and push their outputs to it. "
                        "Set one every machine reaches and commit it: `dvc remote add -d storage s3://bucket/path` "
                        "and `git commit .dvc/config`.")
    shared = committed.get("remote", {}).get(name, {}).get("url")
    if shared is None or committed.get("core", {}).get("remote") != name:
        raise UserError(f"the default DVC remote {name!r} is not the one committed in .dvc/config, and the "
                        "machines of the cluster see only that file. Commit it: `dvc remote add --project -d "
                        f"{name} URL` (credentials stay in config.local), then `git commit` and `git push`.")
    if _local_relative(shared):
        raise UserError(f"the committed DVC remote {name!r} is the relative folder {shared!r}: each machine "
                        "would read it beside its own clone. Commit a URL every machine reaches (s3://..., "
                        "ssh://..., or an absolute folder on a shared disk).")
    if _normal(shared) != _normal(here):
        raise UserError(f"the DVC remote {name!r} is {here!r} here but {shared!r} as committed, which the "
                        "machines of the cluster use: the outputs of their runs would not come back here. "
                        f"Remove the local override (`dvc remote modify --local --unset {name} url`) or commit it.")
    return shared


def _local_relative(url: str) -> bool:
    return not urlparse(url).scheme and not os.path.isabs(url)


def _normal(url):
    return str(Path(url).resolve()) if url and not urlparse(url).scheme else url
