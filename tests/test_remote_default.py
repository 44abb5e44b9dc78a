"""The committed default remote works on a fresh machine with no credentials, and the cache links, not copies."""
import os
import re

import remotes
from project import DEFAULT_REMOTE, make_project, run


def test_default_remote_is_a_folder_beside_the_repo_and_links_outputs(tmp_path):
    repo = make_project(tmp_path / "repo", tmp_path / "model", tmp_path / "corpus")
    run(["dvc", "config", "--local", "--unset", f"remote.{DEFAULT_REMOTE}.url"], repo)  # as committed
    assert run(["dvc", "config", f"remote.{DEFAULT_REMOTE}.verify"], repo).stdout.strip() == "true"
    (repo / "weights.bin").write_bytes(os.urandom(200_000))
    run(["dvc", "add", "-q", "weights.bin"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "weights"], repo)
    run(["dvc", "push", "weights.bin.dvc"], repo)
    assert any((tmp_path / "dialogsum-dvc-storage" / "files" / "md5").rglob("*"))  # beside the repo

    clone = remotes.clone(repo, tmp_path / "clone")  # a sibling: same relative url, same storage
    run(["dvc", "pull", "weights.bin.dvc"], clone)  # the pipeline has not run in this copy
    assert remotes.digests(clone, ["weights.bin"]) == remotes.digests(repo, ["weights.bin"])

    pulled = clone / "weights.bin"
    cached = next(p for p in (clone / ".dvc" / "cache" / "files" / "md5").rglob("*") if p.is_file())
    doctor = run(["dvc", "doctor"], clone).stdout
    supported = re.search(r"Cache types: (.*)", doctor).group(1)
    if "reflink" not in supported:  # a reflink is a copy to stat(); only hard and symbolic links show
        assert pulled.is_symlink() or os.path.samefile(pulled, cached), supported
