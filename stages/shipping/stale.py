"""A model is published only as the pipeline recorded it: every stage up to date with dvc.lock, the files the
card cites committed to git, and every cached output in the DVC remote, so that the commit named on the card
gives back the very model with `git checkout` + `dvc pull`."""
import subprocess
import sys

from ..io import net, secrets
from ..io.errors import UserError

# What the card reads and cites (stages/shipping/record.py): they must be what the named git commit holds.
# The remote comparison ends after this many network timeouts (STAGES_NET_TIMEOUT); opening the project before it,
# local work in a fresh Python, gets STARTUP_S more.
DEADLINE_FACTOR = 3
STARTUP_S = 120.0
RECORDS = ("dvc.lock", "dvc.yaml", "params.yaml", "data/sources.json", "metrics")


def _repo(**options):
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo
    from dvc.scm import SCMError

    try:
        repo = Repo(".", **options)
        repo.scm  # noqa: B018 - DVC opens git lazily: a project without .git (a downloaded archive) fails here
        return repo
    except NotDvcRepoError:
        raise UserError("this folder is not a DVC project: run `python -m stages.publish` from the project root "
                        "(where dvc.yaml is), after `dvc repro`.") from None
    except SCMError:
        raise UserError("this folder is not a git repository, and the card names the git commit that holds the run: "
                        "publish from a `git clone` of the project (not a downloaded archive), after `dvc repro` "
                        "and a commit.") from None


def _changes(entries) -> list[str]:
    """dvc status entries of one stage as short phrases: 'params.yaml: lora.r modified', 'models/full modified'."""
    said = []
    for entry in entries:
        if isinstance(entry, str):  # "changed command", "always changed", "changed checksum"
            said.append(entry)
            continue
        for _kind, paths in entry.items():
            for path, state in paths.items():
                if isinstance(state, dict):
                    said += [f"{path}: {key} {value}" for key, value in state.items()]
                else:
                    said.append(f"{path} {state}")
    return said


def _first(said: list[str], most: int) -> str:
    """A few of a stage's changes: a fresh checkout can list every dependency of every stage."""
    return ", ".join(said[:most]) + (f" and {len(said) - most} more" if len(said) > most else "")


def check_current() -> None:
    """Every stage matches dvc.lock: nothing to rerun, no output changed since it was recorded."""
    from dvc.exceptions import DvcException

    repo = _repo()
    try:
        status = repo.status()
    except DvcException as error:
        raise UserError(f"`dvc status` failed ({error}); fix what it names, then publish.") from None
    finally:
        repo.close()
    if status:
        lines = "; ".join(f"{stage}: {_first(_changes(entries), 4) or 'changed'}" for stage, entries in
                          list(status.items())[:3])
        lines += f"; and {len(status) - 3} more stage(s)" if len(status) > 3 else ""
        raise UserError(f"the pipeline's outputs are stale against dvc.lock ({lines}), so the model and its card "
                        "would not match the recorded run. Run `dvc repro` to bring them up to date (or `dvc "
                        "checkout` to restore outputs changed by hand), commit dvc.lock, then publish again.")


def check_committed() -> str:
    """The git commit the card names; the run's record files must not differ from it."""
    head = _git("rev-parse", "HEAD")
    if head is None:
        raise UserError("the card names the git commit that holds the run, but this folder is not a git repository "
                        "with a commit: commit the project (git add -A && git commit), then publish.")
    changed = _git("status", "--porcelain", "--", *RECORDS)
    if changed:
        paths = sorted({line[3:] for line in changed.splitlines()})
        raise UserError(f"{', '.join(paths)} differ from git commit {head[:12]}, which the card would name as the "
                        "run's record: commit them first (git add dvc.lock params.yaml metrics plots "
                        "data/sources.json && git commit), then publish.")
    return head


def warn_unpublished(head: str) -> None:
    """The card names `head`: say so when no remote branch holds it, since nobody else could check it out."""
    if _git("remote") and not _git("branch", "-r", "--contains", head):
        print(f"warning: git commit {head[:12]}, which the card names, is on no remote branch yet: `git push` it so "
              "others can check it out.", file=sys.stderr)


def dirty() -> bool:
    """Whether other tracked files differ from HEAD (recorded on the card; they do not change the model)."""
    return bool(_git("status", "--porcelain", "--untracked-files=no"))


def _git(*args) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or ['no detail'])[0][:300]}"


def missing_outputs(then: str = "publish", **options) -> tuple[str | None, list[str]]:
    """(the default DVC remote's name, the outputs not in it, top-level paths only). `options` go to DVC's Repo:
    register passes the remote and URL that the commit's .dvc/config names (remote=, remote_config=). A remote DVC
    cannot reach is one UserError, ending in `then <then>`.

    Asked in a child process, killed after remote_deadline_s(): DVC's own timeouts and retries ignore
    STAGES_NET_TIMEOUT, so a remote that accepts the connection and never answers held the command for tens of
    minutes, and a thread stuck in DVC's network calls cannot be stopped."""
    import multiprocessing

    deadline = remote_deadline_s()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked locks, threads or sockets
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_compare, args=(send, options), daemon=True)
    child.start()
    send.close()  # the child's copy alone is left: its end (or death) is seen as EOF
    remote, asked = None, False
    try:
        while True:
            # opening the project is local work; the deadline counts from the moment the remote is asked
            if not receive.poll(deadline if asked else STARTUP_S + deadline):
                raise UserError(f"could not compare the outputs with the DVC remote{f' {remote!r}' if remote else ''} "
                                f"(no answer in {deadline:g} s): the remote accepts connections but does not answer. "
                                "Check that its server is up (`dvc status -c`), or for a slow remote raise "
                                f"{net.VARIABLE} (seconds without an answer, now {net.timeout_s():g}; the check "
                                f"waits {DEADLINE_FACTOR}x that), then {then}.")
            try:
                kind, value = receive.recv()
            except EOFError:
                child.join(5)
                raise UserError(f"could not compare the outputs with the DVC remote{f' {remote!r}' if remote else ''} "
                                f"(the comparison stopped with exit code {child.exitcode}); check its URL and "
                                f"credentials (`dvc remote list`, `dvc status -c`), then {then}.") from None
            if kind == "remote":
                remote, asked = value, True
            elif kind == "user":
                raise UserError(value)
            elif kind == "error":
                raise UserError(f"could not compare the outputs with the DVC remote{f' {remote!r}' if remote else ''} "
                                f"({value}); check its URL and credentials (`dvc remote list`, `dvc status -c`), "
                                f"then {then}.")
            else:
                missing = value
                break
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receive.close()
    # Folders and the files in them are both listed: name the top-level outputs.
    return remote, sorted({p for p in missing if not any(p.startswith(q + "/") for q in missing)})


def remote_deadline_s() -> float:
    """Seconds the DVC remote may take to answer the whole comparison: a few network timeouts, so that a slow
    remote that answers still passes."""
    return DEADLINE_FACTOR * net.timeout_s()


def _compare(send, options: dict) -> None:
    """In the child process: ("remote", its name), then ("done", missing paths), or ("user", a UserError's message)
    or ("error", the first line of DVC's error)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops this one
    secrets.scrub_logs()  # DVC's warnings go to the same stderr as the command's: no credentials in them
    try:
        repo = _repo(**options)
    except UserError as error:
        send.send(("user", str(error)))
        return
    try:
        send.send(("remote", repo.config["core"].get("remote")))
        send.send(("done", sorted(not_in_remote(repo))))
    except Exception as error:  # noqa: BLE001 - DVC's own errors, and the remote's: refused, no credentials
        send.send(("error", _first_line(error)))
    finally:
        repo.close()
        send.close()


def not_in_remote(repo) -> set[str]:
    """The outputs' objects (a folder's .dir and each of its files, by path) that the default remote lacks, each
    asked of the remote. Not `dvc status -c`: it trusts DVC's local record of what was pushed, where a folder whose
    .dir is in the remote counts as whole, so a file deleted from the remote since went unseen."""
    by_hash: dict[str, list] = {}
    for odb, oids in repo.used_objs(force=True, push=True).items():
        if odb is None:  # (imports have their own source)
            for oid in oids:
                by_hash.setdefault(oid.name, []).append(oid)
    missing = set()
    for hash_name, oids in by_hash.items():  # md5, or DVC 2's md5-dos2unix, kept apart in the remote
        remote = repo.cloud.get_remote_odb(None, "status", hash_name=hash_name)
        present = set(remote.oids_exist({oid.value for oid in oids}))
        missing |= {oid.obj_name for oid in oids if oid.value not in present}
    return missing


def check_pushed() -> None:
    """Every cached output is in the default DVC remote, so others can pull what the card cites."""
    remote, tops = missing_outputs()
    if tops:
        raise UserError(f"{len(tops)} output(s) are not in the DVC remote{f' {remote!r}' if remote else ''}: "
                        f"{', '.join(tops)}. Others could not `dvc pull` what the card cites: run `dvc push`, "
                        "then publish again.")
