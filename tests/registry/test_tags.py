"""GTO's tags: register first fetches the tags of the current branch's remote, and says why where not all came."""
import subprocess

import pytest

from stages.registry import tags


def git(cwd, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A clone of a repo that has lora@v1.0.0; the repo then gets lora@v1.1.0, as a teammate pushes it."""
    up, down = tmp_path / "up", tmp_path / "down"
    git(tmp_path, "init", "-q", "-b", "main", str(up))
    git(up, "commit", "-q", "--allow-empty", "-m", "one")
    git(up, "tag", "-a", "lora@v1.0.0", "-m", "v1.0.0")
    git(tmp_path, "clone", "-q", str(up), str(down))
    git(up, "commit", "-q", "--allow-empty", "-m", "two")
    git(up, "tag", "-a", "lora@v1.1.0", "-m", "v1.1.0")
    monkeypatch.chdir(down)
    return up, down


def test_the_remotes_new_tags_come(clone):
    assert tags.fetch() is None
    assert "lora@v1.1.0" in git(".", "tag", "-l").split()


def test_a_branch_whose_remote_is_not_origin_and_a_detached_head(clone):
    git(".", "remote", "rename", "origin", "upstream")  # branch.main.remote follows the rename
    assert tags.fetch() is None and "lora@v1.1.0" in git(".", "tag", "-l").split()
    git(".", "tag", "-d", "lora@v1.1.0")
    git(".", "checkout", "-q", "--detach")
    assert tags.fetch() is None  # no branch: origin, and there is none
    git(".", "remote", "rename", "upstream", "origin")
    assert tags.fetch() is None and "lora@v1.1.0" in git(".", "tag", "-l").split()


def test_a_remote_that_is_gone_is_named_with_gits_reason(clone, tmp_path):
    git(".", "remote", "set-url", "origin", str(tmp_path / "gone"))
    note = tags.fetch()
    assert note.startswith("could not fetch origin's tags (") and "does not appear to be a git repository" in note


def test_a_tag_that_differs_from_the_remotes_is_named_and_the_others_still_come(clone):
    git(".", "tag", "-d", "lora@v1.0.0")
    git(".", "commit", "-q", "--allow-empty", "-m", "mine")
    git(".", "tag", "-a", "lora@v1.0.0", "-m", "registered here too")  # the same version, another commit
    note = tags.fetch()
    assert "lora@v1.0.0" in note and "could not fetch" not in note
    assert "lora@v1.1.0" in git(".", "tag", "-l").split()  # git fetched every other tag
