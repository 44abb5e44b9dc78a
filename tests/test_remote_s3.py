"""S3 remote against a real SeaweedFS server on 127.0.0.1, through dvc-s3: round trip and faults."""
import subprocess
import time

import pytest

import remotes
from project import env, run
from servers import BUCKET, S3_KEY, S3_SECRET, Seaweed, free_port, missing_weed, wait_until

pytestmark = pytest.mark.skipif(bool(missing_weed()), reason=missing_weed() or "weed found")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = Seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server.start()
    finally:
        server.stop()


def use_s3(repo, server, prefix="store", default=True, **options):
    options = {"endpointurl": server.endpoint, "access_key_id": S3_KEY, "secret_access_key": S3_SECRET, **options}
    remotes.use_remote(repo, "s3", f"s3://{BUCKET}/{prefix}", default, **options)


@pytest.fixture(scope="module")
def pushed(s3, trained_with_experiment):
    use_s3(trained_with_experiment, s3, default=False)  # the SSH tests add theirs beside it
    remotes.push_everything(trained_with_experiment, "s3")
    return trained_with_experiment


def fresh_clone(trained, server, dest):
    repo = remotes.clone(trained.parent / "origin.git", dest)
    use_s3(repo, server)
    return repo


def test_pull_gives_identical_outputs_and_nothing_to_run(pushed, s3, tmp_path):
    remotes.check_pull(pushed, fresh_clone(pushed, s3, tmp_path / "clone"))


def test_repro_pull_restores_without_training(pushed, s3, tmp_path):
    remotes.check_repro_pull(pushed, fresh_clone(pushed, s3, tmp_path / "clone"))


def test_experiment_travels(pushed, s3, tmp_path):
    remotes.check_experiment(pushed, fresh_clone(pushed, s3, tmp_path / "clone"))


def test_server_killed_mid_push_loses_nothing(tmp_path):
    """SIGKILL the server while `dvc push` uploads: the push fails fast and clearly, the local cache is
    intact, and after a restart on the same data folder a second push completes and a fresh pull verifies."""
    server = Seaweed(tmp_path / "seaweed")
    try:
        server.start()
        repo = remotes.data_repo(tmp_path / "repo", files=64, size=1_000_000)
        use_s3(repo, server)
        stored = remotes.tree_size(server.data)
        # One botocore attempt per request (s3fs still retries a few times): the README's advice.
        push = subprocess.Popen(["dvc", "push", "-j", "2"], cwd=repo, env={**env(), "AWS_MAX_ATTEMPTS": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_until(lambda: push.poll() is not None or remotes.tree_size(server.data) > stored + 2_000_000,
                   "upload progress", timeout=120)
        assert push.poll() is None, "the push ended before the kill; make the blob bigger"
        server.kill()
        killed = time.monotonic()
        output, _ = push.communicate(timeout=300)
        elapsed = time.monotonic() - killed
        print(f"push after SIGKILL: exit {push.returncode} after {elapsed:.1f} s\n{output[-1500:]}")
        assert push.returncode != 0
        assert "failed to push data to the cloud" in output and "Could not connect to the endpoint URL" in output
        assert elapsed < 60
        assert remotes.cache_intact(repo) == 65  # 64 files + the directory manifest

        server.start()  # same folder, same ports
        second = run(["dvc", "push"], repo)
        print("second push:", second.stdout.strip())
        assert "Cache and remote 's3' are in sync" in run(["dvc", "status", "--cloud"], repo).stdout
        fresh = remotes.clone(repo, tmp_path / "fresh")
        use_s3(fresh, server)
        run(["dvc", "pull"], fresh)
        assert remotes.digests(fresh, ["blob"]) == remotes.digests(repo, ["blob"])
    finally:
        server.stop()


@pytest.fixture
def small_repo(tmp_path):
    return remotes.data_repo(tmp_path / "repo", files=1, size=100_000)


def test_wrong_credentials_fail_in_seconds(s3, small_repo):
    use_s3(small_repo, s3, prefix="denied", secret_access_key="not-the-secret")
    push, elapsed = remotes.timed(["dvc", "push"], small_repo)
    print(f"wrong secret: exit {push.returncode} after {elapsed:.1f} s: {push.stderr.strip()[:300]}")
    assert push.returncode != 0 and "Forbidden" in push.stderr
    assert elapsed < 20


def test_refused_endpoint_fails_in_seconds_with_default_retries(small_repo):
    with_nothing_listening = free_port()
    remotes.use_remote(small_repo, "s3", f"s3://{BUCKET}/store", endpointurl=f"http://127.0.0.1:{with_nothing_listening}",
                       access_key_id=S3_KEY, secret_access_key=S3_SECRET)
    push, elapsed = remotes.timed(["dvc", "push"], small_repo)
    print(f"refused endpoint: exit {push.returncode} after {elapsed:.1f} s: {push.stderr.strip()[:300]}")
    assert push.returncode != 0 and "Could not connect to the endpoint URL" in push.stderr
    assert elapsed < 45  # botocore's default 5 attempts with backoff, per object


def test_silent_endpoint_times_out_with_configured_timeouts(small_repo):
    """A host that accepts connections and never answers (a stuck proxy) is the case that hangs for minutes
    with the defaults (60 s read timeout x retries); the README's timeouts bound it."""
    import socket
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes handshakes; nobody ever reads or answers
        port = silent.getsockname()[1]
        remotes.use_remote(small_repo, "s3", f"s3://{BUCKET}/store", endpointurl=f"http://127.0.0.1:{port}",
                           access_key_id=S3_KEY, secret_access_key=S3_SECRET, connect_timeout=1, read_timeout=1)
        push, elapsed = remotes.timed(["dvc", "push"], small_repo, timeout=120, AWS_MAX_ATTEMPTS="1")
    print(f"silent endpoint: exit {push.returncode} after {elapsed:.1f} s: {push.stderr.strip()[:300]}")
    assert push.returncode != 0 and "timeout" in push.stderr.lower()
    assert elapsed < 40
