"""Whether a version can be fetched. `dvc artifacts get GIT_URL NAME --rev V` clones the git URL, finds the
artifact's path in dvc.lock at the version's commit, and downloads its files from the DVC remote that the
commit's .dvc/config names: no clone's .dvc/config.local is there, and a relative path is read from the clone's
root (`/`). So at that commit the artifact must be a DVC output, no DVC output may be a file in git, and the files
must be in that remote: each is checked at the commit and in that remote (with this clone's credentials), never
taken from this workspace's settings.
"""
import os

from ..io.errors import UserError
from . import artifacts, tags


def check(path: str, commit: str = "HEAD") -> None:
    """Refuse `commit` as a version of the artifact at `path` unless `dvc artifacts get` could fetch it."""
    commit = tags.git("rev-parse", commit).strip()
    check_dvc_tracked(path, commit)
    check_in_remote(commit, path)


def check_dvc_tracked(path: str, commit: str) -> None:
    """`path` is an output in dvc.lock at `commit`, and git holds no file of any cached output there."""
    short = commit[:7]
    if artifacts.locked_md5(tags.show(commit, artifacts.DVC_LOCK), path) is None:
        raise UserError(f"{path} is not a DVC output at commit {short} (its dvc.lock has no entry for it), so "
                        "`dvc artifacts get` would find nothing to fetch: run `dvc repro`, commit dvc.lock "
                        "(`git add -A && git commit`), `dvc push`, then register.")
    outputs = cached_outputs(commit)
    # (with no path at all, ls-tree would list every file)
    in_git = tags.git("ls-tree", "-r", "-z", "--name-only", commit, "--", *outputs).split("\0") if outputs else []
    in_git = [file for file in in_git if file]
    if in_git:
        tops = sorted({top for top in outputs for file in in_git if file == top or file.startswith(top + "/")})
        listed = " ".join(tops)
        raise UserError(f"commit {short} holds {', '.join(tops)} in git ({len(in_git)} file(s)), but "
                        f"{'they are DVC outputs' if len(tops) > 1 else 'it is a DVC output'}: `dvc artifacts get` "
                        "and `dvc pull` read outputs from the DVC remote, and `dvc repro` stops on an output git "
                        "tracks. Usually a .gitignore that lists it was lost (`dvc exp apply` can drop one) and "
                        f"`git add -A` took it. Take it out of git: `git rm -r -q --cached {listed} && dvc commit "
                        "--force && git add -A && git commit -m 'outputs back to DVC'` (dvc commit writes the "
                        ".gitignore entries again), `dvc push`, then register.")


def cached_outputs(commit: str) -> list[str]:
    """The outputs that `commit`'s dvc.yaml gives DVC cache (not `cache: false`), as paths from the project root."""
    from dvc.repo import Repo

    with Repo(".", rev=commit) as repo:
        return sorted(os.path.relpath(out.fs_path, repo.root_dir) for out in repo.index.outs
                      if out.use_cache and out.is_in_repo)


def committed_remote(commit: str) -> tuple[str, str]:
    """(name, URL) of the default DVC remote that .dvc/config names at `commit`, as a fetch from the git URL reads
    it; refused where it names none, or a relative path."""
    from dvc.config_schema import RelPath
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    short = commit[:7]
    try:
        with Repo(".", rev=commit) as at:  # DVC's own reading of the committed file, not this workspace's config
            config = at.config.read("repo")
    except DvcException as error:  # no .dvc/ committed, a config DVC cannot read
        raise UserError(f"DVC could not read the .dvc/config of commit {short} ({type(error).__name__}: "
                        f"{str(error)[:300]}), which `dvc artifacts get` reads: commit the project's .dvc/ folder "
                        "with the team's remote (`git add .dvc/config && git commit`), then register.") from None
    name = config.get("core", {}).get("remote")
    url = (config.get("remote", {}).get(name) or {}).get("url") if name else None
    if not url:
        what = f"no URL for its default DVC remote {name!r}" if name else "no default DVC remote"
        raise UserError(f"the .dvc/config of commit {short} names {what}, so `dvc artifacts get` would have "
                        "nowhere to fetch from: commit your team's remote (`dvc remote add -d storage "
                        "s3://bucket/path`, then `git commit .dvc/config`), `dvc push`, then register.")
    if isinstance(url, RelPath):  # DVC resolved it from the commit's root, as it does in a fetcher's clone
        raise UserError(f"the .dvc/config of commit {short} points DVC remote {name!r} at a relative path, which "
                        f"`dvc artifacts get` reads from its clone's root ({url}): nobody could fetch this version. "
                        f"Commit your team's remote (`dvc remote modify {name} url s3://bucket/path`, or an absolute "
                        "path on a shared disk, then `git commit .dvc/config`), `dvc push`, then register. After "
                        "`dvc exp apply`, `git checkout HEAD -- .dvc/config` keeps the remote this branch committed.")
    return name, str(url)


def check_in_remote(commit: str, path: str | None = None) -> None:
    """Every cached output is in the remote that `commit`'s .dvc/config names: asked of that remote. The
    artifact's `path`, when missing, is named first."""
    from ..shipping import stale

    name, url = committed_remote(commit)
    # the outputs of `commit` (a promoted version's, not only HEAD's), asked of the remote that commit names
    _, missing = stale.missing_outputs("register", rev=commit, remote=name, remote_config={"url": url})
    if not missing:
        return
    here, there = this_clone_pushes_to()
    if here != name:  # .dvc/config.local names another default remote
        fix = f"`dvc push -r {name}` (this clone's DVC config, .dvc/config.local or a global one, makes {here!r} " \
              "the default)"
    elif there != url:  # or gives the remote another URL
        fix = (f"`dvc push`, to that URL: this clone's .dvc/config.local sends it to {there} instead (`dvc remote "
               f"modify --local --unset {name} url` removes that)")
    else:
        fix = "`dvc push`"
    partial = sorted({out for out in cached_outputs(commit) if out not in missing and
                      any(file.startswith(out + "/") for file in missing)})
    if partial:  # files lost from the remote under a folder whose listing is still there
        listings = [f"{url.rstrip('/')}/files/md5/{md5[:2]}/{md5[2:]}" for md5 in
                    (artifacts.locked_md5(tags.show(commit, artifacts.DVC_LOCK), out) for out in partial) if md5]
        fix = (f"{fix} once {' and '.join(listings)} is deleted from the remote (a push skips a folder whose "
               "listing, the .dir object, the remote has already)")
    missing.sort(key=lambda out: not (path and (out == path or out.startswith(path + "/"))))
    listed = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    raise UserError(f"{len(missing)} output(s) are not in DVC remote {name!r} at {url}, the one commit "
                    f"{commit[:7]}'s .dvc/config names and `dvc artifacts get` reads: {listed}. Nobody could fetch "
                    f"this version: run {fix}, then register.")


def this_clone_pushes_to() -> tuple[str | None, str | None]:
    """(name, URL) of the remote a plain `dvc push` uses here: .dvc/config.local may name another one."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        name = repo.config["core"].get("remote")
        return name, str(repo.config["remote"].get(name, {}).get("url")) if name else None
