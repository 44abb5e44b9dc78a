"""`python -m stages.publish` against a stand-in for the Hub's HTTP API (tests/hub_standin.py, HF_ENDPOINT), as a
user would run it: no token, a wrong token, a stale or unpushed model, twice in a row, a card edited on the Hub,
a dropped connection, a killed upload. The token must never appear in any output or file."""
import os
import signal

import pytest

from hub_standin import Hub
from project import run
from publishing import (BASE_ID, BASE_REVISION, CLAIMS, TOKEN, clone_of, folder_bytes, hub_env, no_secret,
                        one_paragraph, popen, publish, same_but_the_check)
from servers import Silent
from stages.shipping import signature

REPO_ID = "tester/flan-t5-dialogsum"


@pytest.fixture(scope="module")
def repo(pipeline_run, tmp_path_factory):
    """A clone of the shared run, pushed to its own DVC remote: publishable."""
    return clone_of(pipeline_run.repo, tmp_path_factory.mktemp("publish") / "repo")


@pytest.fixture
def hub(tiny_model):
    """The stand-in Hub, holding the model the tests' --base-model names: the files of the tests' local base."""
    with Hub(TOKEN) as stand_in:
        stand_in.add_model(BASE_ID, folder_bytes(tiny_model), BASE_REVISION)
        yield stand_in


def hub_calls(hub) -> list:
    return [call for call in hub.calls if call[1] != "/api/agent-harnesses"]  # huggingface_hub's own telemetry


def uploaded(hub, repo_id=REPO_ID, revision="main") -> dict:
    return {name: data for name, data in hub.files(repo_id, revision).items() if name != ".gitattributes"}


def test_without_a_token_one_error_says_how_to_set_one_and_nothing_is_sent(repo, hub, tmp_path):
    done = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, hub_env(hub, token=None, home=tmp_path))
    message = one_paragraph(done)
    assert "HF_TOKEN" in message and "hf auth login" in message
    assert hub_calls(hub) == []


def test_offline_mode_and_a_bad_repo_id_are_refused_before_any_request(repo, hub, tmp_path):
    environ = {**hub_env(hub, home=tmp_path), "HF_HUB_OFFLINE": "1"}
    assert "HF_HUB_OFFLINE" in one_paragraph(publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ))
    for bad in ("tester/two words", "no-namespace", "tester/a..b"):
        message = one_paragraph(publish(["full", "--repo-id", bad, *CLAIMS], repo, hub_env(hub, home=tmp_path)))
        assert "--repo-id" in message
    assert hub_calls(hub) == []


def test_a_wrong_token_is_named_as_such_and_never_printed(repo, hub, tmp_path):
    wrong = TOKEN[::-1]
    done = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, hub_env(hub, token=wrong, home=tmp_path))
    message = one_paragraph(done)
    assert "did not accept the token" in message and "HF_TOKEN" in message
    assert wrong not in done.stdout + done.stderr
    assert REPO_ID not in hub.repos


def test_publish_uploads_exactly_the_dry_run_folder_and_again_commits_nothing(repo, hub, tmp_path):
    environ = hub_env(hub, home=tmp_path / "home")
    dry = tmp_path / "dry"
    assert publish(["lora", "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(dry)], repo, environ).returncode == 0
    first = publish(["lora", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    assert first.returncode == 0, first.stderr
    assert f"published {REPO_ID} at main" in first.stdout
    same_but_the_check(uploaded(hub), folder_bytes(dry))  # the bytes that arrived are the dry run's, file for file
    assert f"--base-model checked: the local base model's files are {BASE_ID} at {BASE_REVISION}" in first.stdout
    methods = {call[0] + " " + call[1].split("/")[1] for call in hub_calls(hub)}
    assert "PUT lfs-upload" in methods  # the weights went through LFS, the small files in the commit itself
    commits = hub.commit_count(REPO_ID)

    again = publish(["lora", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    assert again.returncode == 0, again.stderr
    assert "nothing was committed" in again.stdout
    assert "No files have been modified" not in again.stderr  # said once, by publish
    assert hub.commit_count(REPO_ID) == commits
    no_secret(first.stdout, first.stderr, again.stdout, again.stderr, *uploaded(hub).values(), *folder_bytes(dry).values())


def test_the_token_is_hidden_even_in_a_hub_error_that_repeats_it(repo, hub, tmp_path):
    hub.echo_auth = True  # a server whose error page repeats the request's Authorization header
    done = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, hub_env(hub, home=tmp_path))
    message = one_paragraph(done)
    assert "HTTP 500" in message and "hf_***" in message
    no_secret(done.stdout, done.stderr)


def test_a_card_edited_on_the_hub_is_not_overwritten_and_its_notes_are_kept(repo, hub, tmp_path):
    environ = hub_env(hub, home=tmp_path)
    assert publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ).returncode == 0
    files = hub.files(REPO_ID)
    original = files["README.md"].decode()

    # Text in the Notes section is the user's: it survives a publish, which then has nothing to change.
    noted = original.replace(signature.NOTES_END, "Also tried on our support chats: fine.\n" + signature.NOTES_END)
    hub._new_commit(REPO_ID, "main", {**files, "README.md": noted.encode()}, hub.head(REPO_ID))
    done = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    assert done.returncode == 0 and "nothing was committed" in done.stdout, done.stderr

    # An edit anywhere else is refused, and kept, until --force.
    edited = noted.replace("## Limitations", "## Limitations\n\n- Our lawyer says: internal use only.")
    hub._new_commit(REPO_ID, "main", {**files, "README.md": edited.encode()}, hub.head(REPO_ID))
    message = one_paragraph(publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ))
    assert "edited by hand" in message and "--force" in message and "Notes" in message
    assert hub.files(REPO_ID)["README.md"].decode() == edited
    forced = publish(["full", "--repo-id", REPO_ID, *CLAIMS, "--force"], repo, environ)
    assert forced.returncode == 0, forced.stderr
    now = hub.files(REPO_ID)["README.md"].decode()
    assert "lawyer" not in now and "Also tried on our support chats: fine." in now
    assert signature.state(now) == "generated"


def test_publishing_another_kind_to_the_repo_replaces_the_model_files_and_keeps_the_users(repo, hub, tmp_path):
    environ = hub_env(hub, home=tmp_path)
    assert publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ).returncode == 0
    files = hub.files(REPO_ID)
    hub._new_commit(REPO_ID, "main", {**files, "eval/our_chats.csv": b"id,score\n"}, hub.head(REPO_ID))
    done = publish(["lora", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    assert done.returncode == 0, done.stderr
    names = set(hub.files(REPO_ID))
    assert {"adapter_config.json", "adapter_model.safetensors", "eval/our_chats.csv"} <= names
    assert not {"config.json", "model.safetensors", "generation_config.json"} & names  # no stale full model


def test_a_branch_and_a_private_repo(repo, hub, tmp_path):
    environ = hub_env(hub, home=tmp_path)
    done = publish(["full", "--repo-id", "tester/private-one", "--private", "--revision", "v1", *CLAIMS], repo, environ)
    assert done.returncode == 0, done.stderr
    assert hub.repos["tester/private-one"]["private"] is True
    assert "model.safetensors" in hub.files("tester/private-one", "v1")
    assert "model.safetensors" not in hub.files("tester/private-one", "main")
    assert publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ).returncode == 0
    message = one_paragraph(publish(["full", "--repo-id", REPO_ID, "--private", *CLAIMS], repo, environ))
    assert "is public" in message  # --private would not make it private: nothing is published in public


def test_a_stale_or_uncommitted_run_is_refused_naming_the_fix(pipeline_run, hub, tmp_path):
    clone = clone_of(pipeline_run.repo, tmp_path / "stale")
    environ = hub_env(hub, home=tmp_path / "home")
    args = ["full", "--repo-id", REPO_ID, *CLAIMS]
    params = clone / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("num_beams: 1", "num_beams: 2"))
    message = one_paragraph(publish(args, clone, environ))
    assert "stale" in message and "dvc repro" in message and "generate.num_beams" in message
    params.write_text(original)

    weights = clone / "models/full/model.safetensors"
    data = weights.read_bytes()
    weights.unlink()  # a link into the shared cache: replaced, never written through
    weights.write_bytes(data[:-8] + b"\0" * 8)
    message = one_paragraph(publish(args, clone, environ))
    assert "models/full modified" in message and "dvc repro" in message and "dvc checkout" in message
    run(["dvc", "checkout", "-q", "--force", "models/full"], clone)

    lock = clone / "dvc.lock"
    lock.write_text(lock.read_text() + "# reformatted by hand\n")
    message = one_paragraph(publish(args, clone, environ))
    assert "dvc.lock" in message and "git commit" in message
    assert hub_calls(hub) == []  # every refusal before the Hub was asked anything


def test_outputs_missing_from_the_dvc_remote_are_refused_naming_dvc_push(pipeline_run, hub, tmp_path):
    clone = clone_of(pipeline_run.repo, tmp_path / "unpushed", push=False)
    message = one_paragraph(publish(["lora", "--repo-id", REPO_ID, *CLAIMS], clone, hub_env(hub, home=tmp_path)))
    assert "dvc push" in message and "models/lora" in message
    assert hub_calls(hub) == []
    run(["dvc", "push", "-q"], clone)
    assert publish(["lora", "--repo-id", REPO_ID, *CLAIMS], clone, hub_env(hub, home=tmp_path)).returncode == 0


def test_a_dropped_connection_leaves_the_repo_as_it_was_and_a_rerun_publishes(repo, hub, tmp_path):
    environ = hub_env(hub, home=tmp_path / "home")
    dry = tmp_path / "dry"
    assert publish(["full", "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(dry)], repo, environ).returncode == 0
    hub.drop = {"put", "commit"}  # the weights' upload is cut halfway (huggingface_hub retries it), then the commit
    done = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    message = one_paragraph(done)
    assert "connection" in message and "run the same command again" in message
    assert uploaded(hub) == {}  # no commit landed: the repo holds what it held
    again = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    assert again.returncode == 0, again.stderr
    same_but_the_check(uploaded(hub), folder_bytes(dry))
    no_secret(done.stdout, done.stderr, again.stdout, again.stderr)


def test_a_publish_killed_mid_upload_leaves_no_commit_and_a_rerun_publishes(repo, hub, tmp_path):
    environ = hub_env(hub, home=tmp_path / "home")
    dry = tmp_path / "dry"
    assert publish(["full", "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(dry)], repo, environ).returncode == 0
    import threading
    hub.hold = threading.Event()
    process = popen(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    try:
        assert hub.holding.wait(120), "the upload never started"
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the publish and nothing else
        process.wait(30)
    finally:
        hub.hold.set()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    assert uploaded(hub) == {}
    hub.hold = None
    again = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ)
    assert again.returncode == 0, again.stderr
    same_but_the_check(uploaded(hub), folder_bytes(dry))


def test_a_hub_that_never_answers_is_one_error_after_the_timeout_and_its_password_is_never_printed(repo, tmp_path):
    """publish hung forever without a word (huggingface_hub's client has no timeout), and a password in
    HF_ENDPOINT was printed in its messages."""
    password = "Pa55-w0rd-never-shown"
    # 5 s, not less: the same timeout bounds publish's DVC remote check (3x it), which a loaded machine can need
    with Silent() as silent:
        environ = {**hub_env(home=tmp_path), "HF_ENDPOINT": silent.url(f"user:{password}"), "STAGES_NET_TIMEOUT": "5"}
        done = publish(["full", "--repo-id", REPO_ID, *CLAIMS], repo, environ, timeout=120)
    message = one_paragraph(done)
    assert "could not reach the Hub at http://***@127.0.0.1" in message and "no answer in 5 s" in message
    assert password not in done.stdout + done.stderr
    no_secret(done.stdout, done.stderr)


def test_a_false_or_unknown_base_model_claim_is_refused_before_anything_is_uploaded(repo, hub, tmp_path):
    """The issue's case: a base built from random weights published as google/flan-t5-base@<commit>."""
    environ = hub_env(hub, home=tmp_path)
    pretrained = {**folder_bytes(repo / "models/base"), "model.safetensors": b"the real flan-t5-base weights"}
    hub.add_model("google/flan-t5-small", pretrained, "d" * 40)
    claims = ["--dataset", "knkarthick/dialogsum", "--base-model"]
    message = one_paragraph(publish(["lora", "--repo-id", REPO_ID, *claims, f"google/flan-t5-small@{'d' * 40}"],
                                    repo, environ))
    assert "is not the base model this run read" in message and "model.safetensors differs" in message
    message = one_paragraph(publish(["lora", "--repo-id", REPO_ID, *claims, f"{BASE_ID}@{'e' * 40}"], repo, environ))
    assert f"the Hub has no model {BASE_ID} at revision {'e' * 40}" in message
    assert REPO_ID not in hub.repos  # refused before the repo was created
