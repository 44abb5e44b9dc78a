import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return tiny.write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_corpus) -> Path:
    return tiny.write_model(tmp_path_factory.mktemp("model"), tiny_corpus)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run a test from an empty folder, as a stage runs from the project root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def trained_with_experiment(tmp_path_factory, tiny_model, tiny_corpus) -> Path:
    """The tiny pipeline run once and committed on main, experiment `lora-r4` (lora.r=4) beside it,
    main pushed to a bare git `origin` that clones come from. Shared by the remote tests: one training."""
    from project import make_project, run
    root = tmp_path_factory.mktemp("trained")
    repo = make_project(root / "repo", tiny_model, tiny_corpus)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "trained"], repo)
    run(["dvc", "exp", "run", "--temp", "-n", "lora-r4", "-S", "lora.r=4"], repo)
    run(["git", "init", "-q", "--bare", "-b", "main", str(root / "origin.git")], root)
    run(["git", "remote", "add", "origin", str(root / "origin.git")], repo)
    run(["git", "push", "-q", "origin", "main"], repo)
    return repo
