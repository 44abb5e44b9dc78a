import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

# One thread in every test process, set before torch loads (it reads these once) and inherited by every subprocess a
# test starts: on a shared CPU, OpenMP threads spin against each other (40 tiny training steps: 6 s at one thread,
# 37 s at two on a loaded 2-core machine), and one thread keeps float sums in one order. A test that needs more
# says so with @pytest.mark.threads(n).
os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

import pytest  # noqa: E402
import torch  # noqa: E402

import absl.logging  # noqa: E402,F401 - see below
import gto.log  # noqa: E402,F401

# Both at once, before any test: gto's import runs logging.config.dictConfig, which closes every logging handler
# that exists then, and absl's (rouge_score imports absl) closes its stream unless that is sys.stderr at the time.
# Imported in that order inside a test, the stream was pytest's capture file, not the test's, so the whole run's
# capture broke ("lost sys.stderr") after a register test ran in one process with a scoring one.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tiny  # noqa: E402

torch.set_num_threads(1)  # in case a plugin loaded torch before the variables above were set


def pytest_configure(config):
    config.addinivalue_line("markers", "threads(n): run this test with n torch threads (every other test: one)")


@pytest.fixture(autouse=True)
def _torch_threads(request):
    """n threads for a test marked threads(n); back to one after every test, whatever the test set."""
    marker = request.node.get_closest_marker("threads")
    torch.set_num_threads(marker.args[0] if marker else 1)
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return tiny.write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_corpus) -> Path:
    return tiny.write_model(tmp_path_factory.mktemp("model"), tiny_corpus)


@pytest.fixture(scope="session")
def lively_model(tmp_path_factory, tiny_model) -> Path:
    """The tiny model with decisive random weights (tiny.liven, seed 2): summaries of varied words and lengths,
    where the untrained one writes only padding and a briefly trained one a single string for every input. Tests
    that compare summaries use it, so a broken comparison cannot pass on empty or identical strings. Read-only."""
    import shutil

    return tiny.liven(shutil.copytree(tiny_model, tmp_path_factory.mktemp("lively") / "model"), seed=2)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run a test from an empty folder, as a stage runs from the project root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, tiny_model, tiny_corpus) -> SimpleNamespace:
    """The tiny pipeline run once by the real `dvc repro` and committed on main: `.repo`, and `.repro`, that
    run's output. Every test that only reads a finished run shares it (one training for the whole session);
    a test that changes the repo works in `clone_of(pipeline_run.repo, ...)` instead."""
    from project import make_project, run
    repo = make_project(tmp_path_factory.mktemp("trained") / "repo", tiny_model, tiny_corpus)
    first = run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "trained"], repo)
    return SimpleNamespace(repo=repo, repro=first)


@pytest.fixture(scope="session")
def decoded_again(pipeline_run, tmp_path_factory) -> SimpleNamespace:
    """The shared run decoded another way on branch `short-summaries` of a clone sharing its DVC cache: summaries
    cut at 3 tokens, by CTranslate2 in float32 with 2 beams stopping early, committed after `dvc repro`. `.repo`,
    `.status` (`dvc status` of the clone before the change), `.repro` (the rerun). One rerun of training and
    generation serves two slow tests: what a decoding change reruns and what `dvc metrics/plots diff` show
    (test_pipeline.py), and a CTranslate2 beam-search run published (shipping/test_card.py)."""
    import yaml

    from project import run, write_params
    from publishing import clone_of
    repo = clone_of(pipeline_run.repo, tmp_path_factory.mktemp("decoded") / "repo", push=False)
    status = run(["dvc", "status"], repo).stdout
    run(["git", "checkout", "-q", "-b", "short-summaries"], repo)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["generate"].update(max_new_tokens=3, engine="ctranslate2", compute_type="float32", num_beams=2,
                           early_stopping=True)
    write_params(repo, raw)
    rerun = run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "short summaries, decoded by CTranslate2 with 2 beams"], repo)
    return SimpleNamespace(repo=repo, status=status, repro=rerun)


@pytest.fixture(scope="session")
def lora_experiment(pipeline_run) -> subprocess.CompletedProcess:
    """Experiment `lora-r4` (lora.r=4) beside the shared run, made in a temp copy: the workspace stays main."""
    from project import run
    return run(["dvc", "exp", "run", "--temp", "-n", "lora-r4", "-S", "lora.r=4"], pipeline_run.repo)


@pytest.fixture(scope="session")
def trained_with_experiment(pipeline_run, lora_experiment) -> Path:
    """The shared run with experiment `lora-r4`, main pushed to a bare git `origin` that clones come from."""
    from project import run
    repo = pipeline_run.repo
    origin = repo.parent / "origin.git"
    if not origin.exists():
        run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], repo.parent)
        run(["git", "remote", "add", "origin", str(origin)], repo)
        run(["git", "push", "-q", "origin", "main"], repo)
    return repo


# Slower than ~20 s each, or needing real servers or several processes: `pytest -m "not slow"` leaves them out,
# CI runs everything. Listed here rather than in each file so the list is in one place; a name that no longer
# matches any test fails the session instead of silently leaving a slow test in the fast set.
SLOW = (
    "test_remote_s3.py",
    "test_remote_ssh.py",
    "test_remote_default.py",
    "test_queue.py",
    "test_resume.py",
    "test_benchmarks.py",
    "test_stage_errors.py",  # a fresh `python -m stages.<stage>` per case: 15-30 s each of imports
    "test_distributed.py::test_two_processes_train_like_one",
    # each runs stages beyond the shared run (the lora experiment's 3, decoded_again's 6: both session fixtures,
    # shared with test_team/test_register and test_card); the shared run itself stays in the fast set
    "test_pipeline.py::test_lora_experiment_reruns_only_lora_stages",
    "test_pipeline.py::test_decoding_params_rerun_what_decodes_and_metrics_diff_lists_rouge",
    # whole stages run in-process or as subprocesses on a fresh project, 8-13 s each
    "test_attacks_inputs.py::test_the_base_snapshot_is_the_same_bytes_online_offline_and_from_the_hub_cache",
    "test_progress.py::test_killed_after_its_last_checkpoint_the_run_is_saved_not_trained_on",
    "test_guard.py::test_a_diverging_stage_exits_1_with_one_message_and_writes_nothing",
    # three to four publishes each against the stand-in Hub, a retried upload, a killed one
    "test_publish.py::test_a_stale_or_uncommitted_run_is_refused_naming_the_fix",
    "test_publish.py::test_a_card_edited_on_the_hub_is_not_overwritten_and_its_notes_are_kept",
    "test_publish.py::test_outputs_missing_from_the_dvc_remote_are_refused_naming_dvc_push",
    "test_publish.py::test_a_branch_and_a_private_repo",
    "test_publish.py::test_a_dropped_connection_leaves_the_repo_as_it_was_and_a_rerun_publishes",
    "test_publish.py::test_a_publish_killed_mid_upload_leaves_no_commit_and_a_rerun_publishes",
    # the shared run decoded again (decoded_again: `dvc repro` of training and generation), then published
    "test_card.py::test_a_ctranslate2_beam_search_run_publishes_and_its_snippet_gives_the_scored_summaries",
    # the real `dvc repro` and a `dvc exp run` beside it, then `dvc checkout`: 15-25 s of DVC start-ups
    "test_stage.py::test_dvc_exp_run_beside_a_running_stage_is_never_recorded_as_its_params",
    "test_serve_process.py",  # `python -m stages.serve` as a process: 15-30 s of imports and model loading
    # the model registry and a team's experiments end to end: pushes, clones, a LoRA retrain (1-3 minutes each)
    "test_register.py::test_two_versions_come_back_byte_for_byte_and_prod_resolves",
    "test_team.py",
    # your own data end to end: a whole `dvc repro` on Parquet with lists of references (docs/data.md)
    "test_own_data.py::test_the_pipeline_on_parquet_with_a_list_of_references_and_a_carved_validation",
)


def pytest_collection_modifyitems(config, items):
    matched = set()
    for item in items:
        name = f"{item.path.name}::{item.name}"  # not the nodeid: parameter ids may hold "/"
        for slow in SLOW:
            if name.startswith(slow + "::") or name == slow or name.startswith(slow + "["):
                item.add_marker(pytest.mark.slow)
                matched.add(slow)
    files = {item.path.name for item in items}
    chosen = any("::" in arg for arg in config.args)  # a test named by its id: the others were never collected
    missing = [s for s in SLOW if s not in matched and s.split("::")[0] in files and not chosen]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py SLOW names tests that do not exist: {missing}")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, tiny_model, tiny_corpus):
    """A folder with params.yaml pointed at the tiny fixtures and `prepare` run in it (data/prepared, models/base),
    made once per session: tests copy what they change; returns (folder, raw params)."""
    import yaml

    from project import tiny_params
    from stages import prepare

    root = tmp_path_factory.mktemp("prepared")
    raw = tiny_params(tiny_model, tiny_corpus)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        prepare.main()
    return root, raw
