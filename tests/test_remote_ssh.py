"""SSH remote against Debian's OpenSSH server on 127.0.0.1, through dvc-ssh: round trip and faults."""
import json

import pytest
import yaml

import remotes
from project import run
from servers import Sshd, free_port, missing_sshd

pytestmark = pytest.mark.skipif(bool(missing_sshd()), reason=missing_sshd() or "sshd found")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server.start()
    finally:
        server.stop()


def use_ssh(repo, server, folder, default=True, name="ssh", **options):
    options = {"user": server.user, "port": server.port, "keyfile": server.key, **options}
    remotes.use_remote(repo, name, f"ssh://127.0.0.1{folder}", default, **options)


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return tmp_path_factory.mktemp("ssh-storage")


@pytest.fixture(scope="module")
def pushed(sshd, storage, trained_with_experiment):
    use_ssh(trained_with_experiment, sshd, storage, default=False)  # the S3 tests add theirs beside it
    remotes.push_everything(trained_with_experiment, "ssh")
    return trained_with_experiment


def fresh_clone(trained, server, folder, dest, **options):
    repo = remotes.clone(trained.parent / "origin.git", dest)
    use_ssh(repo, server, folder, **options)
    return repo


def adapter_object(repo, folder):
    """models/lora's weights file and the remote object holding it, found through the directory manifest."""
    outs = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train_lora"]["outs"]
    manifest = next(out["md5"] for out in outs if out["path"] == "models/lora")
    entries = json.loads((folder / "files" / "md5" / manifest[:2] / manifest[2:]).read_text())
    entry = next(e for e in entries if e["relpath"].endswith(".safetensors"))
    return entry["relpath"], folder / "files" / "md5" / entry["md5"][:2] / entry["md5"][2:]


def test_pull_gives_identical_outputs_and_nothing_to_run(pushed, sshd, storage, tmp_path):
    remotes.check_pull(pushed, fresh_clone(pushed, sshd, storage, tmp_path / "clone"))


def test_repro_pull_restores_without_training(pushed, sshd, storage, tmp_path):
    remotes.check_repro_pull(pushed, fresh_clone(pushed, sshd, storage, tmp_path / "clone"))


def test_experiment_travels(pushed, sshd, storage, tmp_path):
    remotes.check_experiment(pushed, fresh_clone(pushed, sshd, storage, tmp_path / "clone"))


def lora_status(repo) -> list[str]:
    """What `dvc data status` says is wrong with models/lora (empty: DVC considers it clean)."""
    def flatten(node, where=""):
        if isinstance(node, dict):
            return [item for key, value in node.items() for item in flatten(value, f"{where}{key}:")]
        return [f"{where}{path}" for path in node if path.startswith("models/lora")]
    return flatten(json.loads(run(["dvc", "data", "status", "--json"], repo).stdout))


def test_corrupted_remote_object_is_not_handed_back(pushed, sshd, tmp_path):
    """DVC's default hands a corrupted remote object back silently; with `verify = true` the pull fails."""
    folder = tmp_path / "storage"
    folder.mkdir()
    use_ssh(pushed, sshd, folder, default=False, name="doomed")
    run(["dvc", "push", "-r", "doomed", "models/lora"], pushed)
    relpath, obj = adapter_object(pushed, folder)
    original = (pushed / "models" / "lora" / relpath).read_bytes()
    corrupted = bytearray(obj.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF  # one flipped byte, same size: bit rot
    obj.chmod(0o644)
    obj.write_bytes(corrupted)

    plain = fresh_clone(pushed, sshd, folder, tmp_path / "plain")  # dvc-ssh's default: verify false
    pull = run(["dvc", "pull", "models/lora"], plain, check=False)
    status = lora_status(plain)
    handed = (plain / "models" / "lora" / relpath).read_bytes()
    print(f"verify false: pull exit {pull.returncode}, {pull.stdout.strip()!r}; corrupted bytes in the "
          f"workspace: {handed == bytes(corrupted)}; dvc data status of models/lora: {status}")
    # The danger the setting below removes: wrong bytes, and DVC calls them clean (hashes trusted by name).
    assert pull.returncode == 0 and handed == bytes(corrupted) and status == []

    safe = fresh_clone(pushed, sshd, folder, tmp_path / "safe", verify="true")
    pull = run(["dvc", "pull", "models/lora"], safe, check=False)
    adapter = safe / "models" / "lora" / relpath
    status = lora_status(safe)
    print(f"verify true: pull exit {pull.returncode}: {pull.stderr.strip()!r}; adapter present: "
          f"{adapter.exists()}; dvc data status of models/lora: {status}")
    assert pull.returncode != 0 and "models/lora" in pull.stderr
    assert not adapter.exists() or adapter.read_bytes() == original
    assert status  # reported missing, not clean


@pytest.fixture
def small_repo(tmp_path):
    return remotes.data_repo(tmp_path / "repo", files=1, size=100_000)


def test_wrong_key_fails_in_seconds(sshd, small_repo, tmp_path):
    use_ssh(small_repo, sshd, tmp_path / "denied", keyfile=sshd.wrong_key)
    push, elapsed = remotes.timed(["dvc", "push"], small_repo)
    print(f"wrong key: exit {push.returncode} after {elapsed:.1f} s: {push.stderr.strip()[:300]}")
    assert push.returncode != 0 and "Permission denied" in push.stderr
    assert elapsed < 20


def test_refused_port_fails_in_seconds(sshd, small_repo, tmp_path):
    use_ssh(small_repo, sshd, tmp_path / "nowhere", port=free_port())
    push, elapsed = remotes.timed(["dvc", "push"], small_repo)
    print(f"refused port: exit {push.returncode} after {elapsed:.1f} s: {push.stderr.strip()[:300]}")
    assert push.returncode != 0 and "Connect call failed" in push.stderr
    assert elapsed < 20
