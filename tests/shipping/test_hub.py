"""What `python -m stages.publish` checks before it talks to the Hub, and what it makes of a Hub repo it did not
fill: each a single message, never a traceback, found by attacking it."""
import json
import subprocess
import sys

import pytest

from hub_standin import Hub
from project import env
from publishing import TOKEN
from servers import Silent
from stages import publish
from stages.io.errors import UserError
from stages.shipping import hub, stale


@pytest.mark.parametrize("value", ["http://127.0.0.1:99999", "notaurl", "", "http://127.0.0.1:x", "ftp://hub"])
def test_an_hf_endpoint_that_is_no_url_is_one_error_not_a_traceback_on_import(value, in_tmp):
    done = subprocess.run([sys.executable, "-m", "stages.publish", "full", "--repo-id", "a/b", "--dry-run", "out"],
                          env={**env(), "HF_ENDPOINT": value, "PYTHONPATH": str(publish.__file__).rsplit("/", 2)[0]},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: HF_ENDPOINT is set to") and "not an http(s) URL" in done.stderr
    assert not (in_tmp / "out").exists()


@pytest.mark.parametrize("secret", ["hf_\u00e9t\u00e9", "hf_abc\u200b", "hf_\udce9"])
def test_a_token_no_http_header_can_carry_is_named_as_such(secret, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with pytest.raises(UserError, match="holds characters a token never has") as error:
        hub.token()
    assert secret not in str(error.value)


@pytest.mark.parametrize("name", ["x/", "x.lock", "HEAD", "a//b", ".x", "a/.b", "x.", "x..y", "refs/heads/x", "a b"])
def test_a_revision_git_refuses_as_a_branch_is_refused_before_any_request(name):
    assert not publish.branch_name(name)
    with pytest.raises(UserError, match="not a branch name"):
        publish.main(["full", "--repo-id", "a/b", "--revision", name, "--dry-run", "out"])


def test_branch_names_git_takes_pass():
    assert all(map(publish.branch_name, ["main", "v1", "feature/x", "release-1.0", "a/b/c", "x_y"]))


def test_a_readme_on_the_hub_that_is_not_utf8_is_a_card_of_someone_else():
    """It stopped the publish with a UnicodeDecodeError, even with --force; now it is a foreign card."""
    root = str(publish.__file__).rsplit("/", 2)[0]
    read = ("import sys; sys.path.insert(0, sys.argv[1]); from stages.shipping import hub, signature; "
            "remote = hub.Hub(sys.argv[2]).open('tester/x', 'main', private=False); "
            "print(signature.state(remote.readme), repr(signature.notes(remote.readme)))")
    with Hub(TOKEN) as stand_in:  # HF_ENDPOINT is read when huggingface_hub is imported: a fresh process
        stand_in.create("tester/x", private=False)
        files = {**stand_in.files("tester/x"), "README.md": b"\xff\xfe not UTF-8"}
        stand_in._new_commit("tester/x", "main", files, stand_in.head("tester/x"))
        done = subprocess.run([sys.executable, "-c", read, root, TOKEN], capture_output=True, text=True, timeout=120,
                              env={**env(), "HF_ENDPOINT": stand_in.url, "HF_HUB_OFFLINE": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["foreign", "''"]


def test_a_project_without_git_is_one_error(in_tmp):
    """A downloaded archive: .dvc but no .git; DVC raised SCMError from inside `dvc status`."""
    (in_tmp / ".dvc").mkdir()
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(UserError, match="not a git repository"):
        stale.check_current()


def test_a_stale_fresh_checkout_is_named_in_a_few_lines_not_every_dependency(monkeypatch):
    """A project copied without its outputs listed every dependency of every stage: 4,000 characters."""
    entries = [{"changed deps": {f"stages/m{i}.py": "modified" for i in range(30)}}]

    class Repo:
        def status(self):
            return {f"stage{i}": entries for i in range(8)}

        def close(self):
            pass

    monkeypatch.setattr(stale, "_repo", Repo)
    with pytest.raises(UserError) as error:
        stale.check_current()
    message = str(error.value)
    assert "stage0: stages/m0.py modified, stages/m1.py modified" in message and "and 26 more" in message
    assert "stage3" not in message and "and 5 more stage(s)" in message and len(message) < 800


def _dvc_project(folder, remote_url: str):
    """A committed DVC project in `folder` with one output, whose default remote 'storage' is `remote_url`."""
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, env=env())  # noqa: E731
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    (folder / "data.txt").write_text("x\n")
    run("dvc", "add", "-q", "data.txt")
    run("dvc", "remote", "add", "-d", "storage", remote_url)
    run("git", "add", "-A")
    run("git", "commit", "-qm", "data")
    return folder


@pytest.fixture
def unreachable_remote(in_tmp):
    """A DVC project with one output, whose default remote is a path under a file: DVC raises NotADirectoryError,
    as it raises ConnectionRefusedError for an SSH host that is down, or botocore's NoCredentialsError for S3."""
    return _dvc_project(in_tmp, "/etc/passwd/storage")


def test_a_remote_dvc_cannot_reach_is_one_error_for_publish_and_register(unreachable_remote):
    """Both showed DVC's traceback: they caught DVC's own exceptions only."""
    from stages.registry import fetchable, tags

    with pytest.raises(UserError, match=r"could not compare the outputs with the DVC remote 'storage' "
                                        r"\(NotADirectoryError: .*check its URL and credentials.*then publish\.$"):
        stale.check_pushed()
    with pytest.raises(UserError, match=r"could not compare the outputs with the DVC remote 'storage' "
                                        r"\(NotADirectoryError: .*then register\.$"):
        fetchable.check_in_remote(tags.git("rev-parse", "HEAD").strip())  # the remote the commit names


def test_a_dvc_remote_that_never_answers_is_one_error_after_a_few_network_timeouts(in_tmp, monkeypatch):
    """DVC's own timeouts and retries ignore STAGES_NET_TIMEOUT: the check ran for tens of minutes."""
    import time

    with Silent() as server:
        _dvc_project(in_tmp, server.url())
        monkeypatch.setenv("STAGES_NET_TIMEOUT", "1")
        started = time.monotonic()
        with pytest.raises(UserError, match=r"could not compare the outputs with the DVC remote 'storage' \(no "
                                            r"answer in 3 s\).*STAGES_NET_TIMEOUT.*now 1;.*then publish\.$"):
            stale.check_pushed()
        assert time.monotonic() - started < 100  # unbounded, it took tens of minutes


class _Answers:
    """An HfApi whose whoami and repo_info answer what a server that is no Hub (or a hostile one) may send."""

    def __init__(self, whoami):
        self._whoami = whoami

    def whoami(self):
        if isinstance(self._whoami, Exception):
            raise self._whoami
        return self._whoami


def _hub(whoami) -> hub.Hub:
    found = hub.Hub.__new__(hub.Hub)
    found.secret, found.timeout, found.api = TOKEN, 1.0, _Answers(whoami)
    return found


@pytest.mark.parametrize("answer", [{}, [], "tester", None, {"name": 5}, {"name": ""},
                                    json.JSONDecodeError("Expecting value", "<html>", 0)])
def test_a_whoami_answer_no_hub_gives_is_one_message_naming_the_endpoint(answer):
    """{} and {"auth": 5} were a KeyError / AttributeError traceback; an HTML page a JSONDecodeError blurb."""
    with pytest.raises(UserError, match="HF_ENDPOINT"):
        _hub(answer).user()


def test_the_user_the_hub_names_reaches_the_terminal_as_text():
    """A name holding ESC and a newline forged a `note:` line in publish's output."""
    assert _hub({"name": "tester", "auth": 5}).user() == "tester"
    shown = _hub({"name": "\x1b[2Jtester\nnote: forged", "auth": {"accessToken": "x"}}).user()
    assert "\x1b" not in shown and "\n" not in shown and "tester" in shown
