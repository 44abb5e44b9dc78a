"""The first lines of the report and the page: commit or experiment, params that differ, machine, date; and
text from params shown as text."""
import json
import subprocess
from datetime import datetime, timezone

import yaml

from project import GIT_ENV
from stages.reporting import page, provenance, report

WHEN = datetime(2026, 12, 7, 9, 5, tzinfo=timezone.utc)


def git(*args):
    subprocess.run(["git", *args], check=True, capture_output=True)


def test_commit_experiment_changed_params_machine_and_date(in_tmp, monkeypatch):
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(provenance.EXPERIMENT, raising=False)
    (in_tmp / "params.yaml").write_text(yaml.safe_dump({"lora": {"r": 8, "target_modules": ["q", "v"]},
                                                        "data": {"prompt": "Summarize: {dialogue}"}}))
    git("init", "-q")
    git("add", "params.yaml")
    git("commit", "-qm", "run")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (in_tmp / "metrics").mkdir()
    (in_tmp / "metrics/generate_base.json").write_text(json.dumps({"cpu_model": "AMD EPYC 7B13", "cpu_count": 2}))
    (in_tmp / "metrics/generate_lora.json").write_text(json.dumps({"cpu_model": "AMD EPYC 7B13",
                                                                   "gpu": "NVIDIA H100 80GB HBM3"}))
    run = provenance.collect(["base", "full", "lora"], WHEN)  # full: no generate metrics, left out
    assert provenance.lines(run) == [
        f"Run: git commit {head[:12]}.", "Params: as in the commit's params.yaml.",
        "Machine: summaries generated on base: AMD EPYC 7B13; lora: NVIDIA H100 80GB HBM3.",
        "Date: 2026-12-07 09:05 UTC (this evaluation)."]

    # as under `dvc exp run -S lora.r=4`: the params file changed, DVC names the experiment and its baseline
    (in_tmp / "params.yaml").write_text(yaml.safe_dump({"lora": {"r": 4, "target_modules": ["q", "v"]},
                                                        "data": {"prompt": "Summarize: {dialogue}"}}))
    monkeypatch.setenv(provenance.EXPERIMENT, "lora-r4")
    monkeypatch.setenv(provenance.BASELINE, head)
    lines = provenance.lines(provenance.collect(["base"], WHEN))
    assert lines[:3] == [f"Run: DVC experiment lora-r4, made from git commit {head[:12]}.",
                         "Params that differ from the commit's params.yaml: lora.r 8 -> 4.",
                         "Machine: summaries generated on AMD EPYC 7B13."]

    (in_tmp / "stages").mkdir()
    (in_tmp / "stages/x.py").write_text("")  # code the commit does not hold
    assert "The code (stages/, dvc.yaml) had uncommitted changes" in provenance.lines(provenance.collect([], WHEN))[0]


def test_outside_git_the_run_is_unknown_and_said_so(in_tmp, monkeypatch):
    monkeypatch.delenv(provenance.EXPERIMENT, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(in_tmp.parent))
    assert provenance.lines(provenance.collect(["base"], WHEN)) == [
        "Run: git commit unknown (not a git repository with a commit).",
        "Params: unknown whether they differ from the commit's params.yaml.",
        "Machine: not recorded (summaries generated before the generate stage recorded it).",
        "Date: 2026-12-07 09:05 UTC (this evaluation)."]


def test_hostile_param_text_stays_text_in_the_report_and_the_page():
    hostile = "</div><script>x()</script> {data} # h"
    run = {"commit": "a" * 40, "params_changed": {"data.prompt": ["{dialogue}", hostile]}, "machines": {},
           "date": "2026-12-07 09:05 UTC"}
    lines = provenance.lines(run)
    setup = {"split": "test", "dialogues": 0, "rows": 0, "confidence": 0.95, "resamples": 10, "seed": 0,
             "run": lines, "notes": ["lora writes one summary for most dialogues <b>"]}
    html = page.render([], [], {}, {}, setup)
    assert "<script>x()" not in html and "&lt;/div&gt;&lt;script&gt;x()&lt;/script&gt; {data} # h" in html
    assert html.count('<script type="application/json" id="data">[]</script>') == 1  # {data} was not filled twice
    assert "<li>lora writes one summary for most dialogues &lt;b&gt;</li>" in html
    text = report.render({}, {}, {}, [], setup)
    assert "&lt;/div&gt;&lt;script&gt;x()&lt;/script&gt; {data} # h" in text and "<script>" not in text
    # the run first, then what was scored, then what to know before any table
    assert text.index("Run: git commit aaaaaaaaaaaa.") < text.index("Split `test`") < text.index("## Read this first") \
        < text.index("## Quality and cost")


def test_a_project_in_a_subfolder_of_the_repo_and_a_fixed_date(in_tmp, monkeypatch):
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(provenance.EXPERIMENT, raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796634000")
    git("init", "-q")
    (in_tmp / "project").mkdir()
    (in_tmp / "project/params.yaml").write_text("lora:\n  r: 8\n")
    git("add", "-A")
    git("commit", "-qm", "run")
    monkeypatch.chdir(in_tmp / "project")  # as `dvc init --subdir`: params.yaml is project/params.yaml in git
    (in_tmp / "project/params.yaml").write_text("lora:\n  r: 16\n")
    run = provenance.collect([])
    assert run["params_changed"] == {"lora.r": [8, 16]} and run["date"] == "2026-12-07 09:00 UTC"
