"""Helpers for the publishing tests: a clone of the shared tiny run, and `python -m stages.publish` runs."""
import os
import subprocess
import sys

from project import env, run

# The tests' run read a local tiny model and corpus: the card needs the Hub ids they stand for.
BASE_ID, BASE_REVISION = "google/flan-t5-base", "7bcac572ce56db69c1ea7c8af255c5d7c9672fc2"
CLAIMS = ["--base-model", f"{BASE_ID}@{BASE_REVISION}", "--dataset", "knkarthick/dialogsum"]
TOKEN = "hf_TESTtoken0123456789DoNotPrintMe"  # recognizable: no output may ever contain it
KINDS = {"full": ["full"], "adapter": ["lora"], "merged": ["lora", "--merged"]}


def clone_of(repo, dest, push=True):
    """A git clone of the shared run sharing its DVC cache, outputs checked out; pushed to its own remote."""
    run(["git", "clone", "-q", str(repo), str(dest)], dest.parent)
    run(["dvc", "config", "--local", "cache.dir", str(repo / ".dvc" / "cache")], dest)
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(dest.parent / f"{dest.name}-storage")], dest)
    run(["dvc", "checkout", "-q"], dest)
    if push:
        run(["dvc", "push", "-q"], dest)
    return dest


def hub_env(hub=None, token=TOKEN, home=None) -> dict:
    """The environment of a user publishing to `hub` (the stand-in) with `token`; nothing from this machine's
    own Hugging Face login can leak in (HF_HOME is a fresh folder)."""
    values = {**env(), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN"):
        values.pop(key, None)
    if home is not None:
        values["HF_HOME"] = str(home)
    if hub is not None:
        values["HF_ENDPOINT"] = hub.url
    if token:
        values["HF_TOKEN"] = token
    return values


def publish(args, cwd, environ, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stages.publish", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def popen(args, cwd, environ) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stages.publish", *args], cwd=cwd, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def one_paragraph(done) -> str:
    """The error of a refused publish: exit 1, one `error:` paragraph, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def same_but_the_check(uploaded: dict, dry: dict) -> None:
    """What a publish uploaded is the dry run's folder, but for the card's word on --base-model: the dry run asks
    no Hub (not verified), the publish checked the local base's files against the Hub commit (verified)."""
    assert {k: v for k, v in uploaded.items() if k != "README.md"} == {k: v for k, v in dry.items() if k != "README.md"}
    published, planned = uploaded["README.md"].decode(), dry["README.md"].decode()
    assert "**not verified**" in planned and "not verified" not in published
    assert "publishing checked that its files are this commit's" in published
    said = ("verified", "checked that", "sha256 outside the notes", "Summarizes English dialogues",
            "The base model is not a pretrained model")
    strip = lambda text: [line for line in text.splitlines() if not any(s in line for s in said)]  # noqa: E731
    assert strip(published) == strip(planned)


def folder_bytes(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def no_secret(*texts) -> None:
    for text in texts:
        assert TOKEN not in (text if isinstance(text, str) else text.decode("utf-8", "replace"))


def files_of(folder):
    return sorted(os.listdir(folder))
