"""The upload to the Hugging Face Hub through huggingface_hub's HTTP API (HF_ENDPOINT, when set, is the Hub).

The token comes from where huggingface_hub looks (HF_TOKEN, HF_TOKEN_PATH, the file `hf auth login` writes)
and is never printed: every message that leaves here has it replaced (stages/io/secrets.py's scrub, which also
hides a password in HF_ENDPOINT). Every request has net.timeout_s() to answer: a Hub that never answers is
one error, not a hang. A publish is one commit holding the
whole folder, so an interrupted one leaves the repo as it was, and a rerun uploads only what is missing; a
folder identical to what the repo holds commits nothing. Files this command once wrote but the folder no
longer has (an adapter's files after a full model is published to the same repo) are deleted in that commit;
any other file in the repo is left alone.
"""
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..io import net, secrets
from ..io.errors import UserError
from ..io.text import terminal
from . import folder as published

NO_TOKEN = ("no Hugging Face token found, and publishing needs one with write access: create one at "
            "https://huggingface.co/settings/tokens and either set HF_TOKEN=<token> in the environment or run "
            "`hf auth login` once (it stores the token for later runs); then run the same command again.")
HIDDEN = secrets.TOKEN_HIDDEN


def check_endpoint() -> None:
    """HF_ENDPOINT, when set, is an http(s) URL (checked at start-up too: stages/io/startup.py), and
    STAGES_NET_TIMEOUT a number of seconds: both before any work."""
    from ..io.startup import endpoint_problem

    problem = endpoint_problem()
    if problem:
        raise UserError(problem)
    net.timeout_s()


def token() -> str:
    """The user's token; refuses offline mode and a missing token before any work is done."""
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise UserError("HF_HUB_OFFLINE is set, so nothing may reach the Hub: unset it (and TRANSFORMERS_OFFLINE) to "
                        "publish, or use --dry-run DIR to write the folder without uploading.")
    found = get_token()
    if not found:
        raise UserError(NO_TOKEN)
    if not (found.isascii() and found.isprintable()):  # an HTTP header carries no other character
        raise UserError("the Hugging Face token holds characters a token never has (not printable ASCII, as when "
                        "other text was pasted in with it): set HF_TOKEN to the token alone (hf_...), or run "
                        "`hf auth login --force`; then run the same command again.")
    return found


def endpoint() -> str:
    """The Hub's URL as it may be printed (a password in HF_ENDPOINT replaced)."""
    from huggingface_hub import constants

    return net.shown_url(constants.ENDPOINT)


@dataclass(frozen=True)
class Remote:
    head: str            # the commit the revision points at before publishing
    files: list[str]     # every file in the repo at that commit
    private: bool | None
    readme: str | None   # its README.md, None when it has none


def _explain(error: Exception, repo_id: str, doing: str, secret: str) -> str:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if net.timed_out(error):
        return net.unreachable(f"the Hub at {endpoint()} while {doing}", error,
                               "check the network, a proxy, or HF_ENDPOINT if you set it, then run the same command "
                               "again; a commit lands whole or not at all, so nothing half-done is left.")
    for cause in net.causes(error):
        if isinstance(cause, OfflineModeIsEnabled):
            return "HF_HUB_OFFLINE is set: unset it to publish."
        if isinstance(cause, HfHubHTTPError) and cause.response is not None:
            status = cause.response.status_code
            # what the Hub said, scrubbed before it is cut short (a cut token would no longer match)
            said = " ".join(secrets.scrub(cause.server_message or str(cause) or "no detail", secret).split())[:300]
            if status == 401:
                return (f"the Hub did not accept the token (HTTP 401 while {doing}): it is wrong, expired or revoked. "
                        "Set a valid token with write access in HF_TOKEN, or run `hf auth login --force`; then run "
                        "the same command again.")
            if status == 403:
                return (f"the token may not write to {repo_id} (HTTP 403 while {doing}): use a token with write "
                        "access to that namespace (a fine-grained token needs write permission on it), or publish "
                        "under a namespace you own.")
            if status in (409, 412):
                return (f"{repo_id} changed on the Hub while this command ran (HTTP {status} while {doing}): run the "
                        "same command again; it compares with the repo's new state.")
            if status == 429 or status >= 500:
                return (f"the Hub answered HTTP {status} while {doing} ({said}): try again later. Nothing half-done "
                        "is left: a commit lands whole or not at all.")
            return f"the Hub refused {doing} (HTTP {status}: {said}); check --repo-id {repo_id} and --revision."
        module = type(cause).__module__ or ""
        if type(cause).__name__ in ("ConnectError", "ConnectionRefusedError"):
            return net.unreachable(f"the Hub at {endpoint()} while {doing}", cause,
                                   "check the network, a proxy, or HF_ENDPOINT if you set it; nothing was uploaded.")
        if module.startswith(("httpx", "httpcore", "ssl")) or isinstance(cause, (ConnectionError, TimeoutError)):
            return (f"the connection to {endpoint()} broke while {doing} ({type(cause).__name__}: "
                    f"{str(cause).splitlines()[0] if str(cause) else 'no detail'}). The Hub takes a publish as one "
                    f"commit, whole or not at all, so {repo_id} holds its previous state or this one: run the same "
                    "command again; it uploads only what is missing, and commits nothing if all is already there.")
        if type(cause).__name__ == "JSONDecodeError":  # an HTML page, a proxy's or another server's answer
            return not_a_hub(doing)
        if isinstance(cause, ValueError) and "README.md" in str(cause):
            return f"the Hub rejected the card's metadata while {doing}: {str(cause).strip()}"
    return f"{doing} failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def not_a_hub(doing: str) -> str:
    return (f"the server at {endpoint()} did not answer as the Hub does while {doing} (not the JSON the Hub sends): "
            "check HF_ENDPOINT (unset it to publish to huggingface.co, or set it to the Hub's URL), then run the same "
            "command again; a commit lands whole or not at all, so nothing half-done is left.")


@contextmanager
def _talking(secret: str, repo_id: str, doing: str):
    """Hub errors as one paragraph that says what to do, without the token in it."""
    try:
        yield
    except UserError:
        raise
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001 - every failure of a network call becomes one message
        raise UserError(secrets.scrub(_explain(error, repo_id, doing, secret), secret)) from None


@contextmanager
def _quiet_no_op():
    """huggingface_hub warns when a commit would change nothing; publish says so itself, once."""
    import logging

    def keep(record) -> bool:
        return "No files have been modified" not in record.getMessage()

    logger = logging.getLogger("huggingface_hub.hf_api")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


class Hub:
    def __init__(self, secret: str):
        from huggingface_hub import HfApi

        self.timeout = net.configure_hub()
        self.secret = secret
        self.api = HfApi(token=secret)

    def user(self) -> str:
        with _talking(self.secret, "the repo", "checking the token (whoami)"):
            found = self.api.whoami()
        if not isinstance(found, dict) or not isinstance(found.get("name"), str) or not found["name"]:
            raise UserError(not_a_hub("checking the token (whoami)"))
        auth = found.get("auth")
        token = auth.get("accessToken") if isinstance(auth, dict) else None
        if isinstance(token, dict) and token.get("role") == "read":
            raise UserError("the token is read-only, and publishing writes: create a token with write access at "
                            "https://huggingface.co/settings/tokens, set it in HF_TOKEN or with `hf auth login "
                            "--force`, then run again.")
        return terminal(found["name"])  # the server's text: it is printed

    def open(self, repo_id: str, revision: str, private: bool) -> Remote:
        """Create the repo (and branch) if need be; what the revision holds now."""
        with _talking(self.secret, repo_id, f"creating {repo_id}"):
            self.api.create_repo(repo_id, private=True if private else None, exist_ok=True)
            if revision != "main":
                self.api.create_branch(repo_id, branch=revision, exist_ok=True)
        with _talking(self.secret, repo_id, f"reading {repo_id} at {revision}"):
            info = self.api.repo_info(repo_id, revision=revision, timeout=self.timeout)  # None would mean none
            files = [sibling.rfilename for sibling in info.siblings or []]
            readme = None
            if published.README in files:
                with tempfile.TemporaryDirectory() as cache:
                    path = self.api.hf_hub_download(repo_id, published.README, revision=info.sha, cache_dir=cache)
                    # not UTF-8: no card of ours, so "not written by this command" (--force replaces it)
                    readme = Path(path).read_bytes().decode("utf-8", "replace")
        if private and info.private is False:
            raise UserError(f"{repo_id} already exists and is public; --private does not change an existing repo, so "
                            "this would publish in public. Make it private in its settings on the Hub, or drop "
                            "--private; then run again.")
        return Remote(info.sha, files, info.private, readme)

    def files_at(self, repo_id: str, revision: str) -> tuple[str, dict[str, dict]]:
        """(commit, {path: {sha256, git}}) of the Hub model `repo_id` at `revision`: the sha256 the Hub records of
        each LFS file (None for the others) and each file's git blob id."""
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        with _talking(self.secret, repo_id, f"reading the file hashes of {repo_id} at {revision}"):
            try:
                info = self.api.model_info(repo_id, revision=revision, files_metadata=True, timeout=self.timeout)
            except (RepositoryNotFoundError, RevisionNotFoundError):
                raise UserError(f"the Hub has no model {repo_id} at revision {revision} (or the token may not read "
                                "it), so --base-model cannot be checked: give the Hub id and commit the local base "
                                "model was downloaded from.") from None
        return info.sha, {s.rfilename: {"sha256": s.lfs.sha256 if s.lfs else None, "git": s.blob_id}
                          for s in info.siblings or []}

    def commit(self, local: Path, repo_id: str, revision: str, remote: Remote, message: str):
        """One commit: every file of `local`, and deletions of files this command wrote that `local` lacks."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        names = [p.name for p in published.files(local)]
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(local / name)) for name in names]
        operations += [CommitOperationDelete(path_in_repo=name) for name in remote.files
                       if "/" not in name and published.is_ours(name) and name not in names]
        with _talking(self.secret, repo_id, f"uploading to {repo_id}"), _quiet_no_op():
            return self.api.create_commit(repo_id, operations, commit_message=message, revision=revision,
                                          parent_commit=remote.head)
