"""The pipeline's outputs on the tests' tiny fixtures, as sha256 per file: run before and after a refactoring that
must not change them, and diff the two listings.

Builds the tests' tiny corpus and T5 (tests/tiny.py), copies the project into a temp git repo pointed at them
(tests/project.py, as the tests' shared `pipeline_run` does), runs the real `dvc repro`, then hashes every file
under every output dvc.yaml declares. What the clock, the machine or git decide is replaced by a placeholder
first (the masks are listed at the end of the output), so two runs of the same code print the same lines.

    python benchmarks/outputs.py              # about a minute on 2 CPU cores
    python benchmarks/outputs.py --keep       # and leave the temp folder (its path on stderr) to look at
    python benchmarks/outputs.py --rehash DIR # hash what --keep left in DIR, after changing the masks

The temp folder's path is masked, but its length shows in the stored sizes (the LoRA adapter's README names the
base model's path): compare runs made with the same TMPDIR.
"""
import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import yaml  # noqa: E402

import tiny  # noqa: E402
from project import TIMINGS, make_project, run  # noqa: E402

MASK = "<masked>"
# JSON keys whose values are measured or depend on the machine, at any depth: the tests' TIMINGS, the machine
# generate records, and the timings DVCLive logs during training (plots/train_*/metrics.json and their .tsv files)
MASKED_KEYS = sorted(TIMINGS | {"cpu_model", "cpu_count", "runtime", "samples_per_second", "steps_per_second",
                                "generate_s"})
# Report columns that hold measured values (metrics/report.md tables), by their header
MASKED_COLUMNS = re.compile(r"time|memory|/s\b|s/dialogue|checkpoint writes")
# Prose: the git commit the run was made from (it changes with any committed file), the date, the machine
TEXT_MASKS = [
    (re.compile(r"git commit [0-9a-f]{7,40}"), "git commit <commit>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"), "<date>"),
    (re.compile(r"Machine: [^<\n]*"), "Machine: <machine>"),
]
# peft writes target_modules from a set: its order follows string hashing, which changes per process
SORTED_LISTS = {"target_modules"}


def declared_outputs(repo: Path) -> list[str]:
    """Every out and metric path in dvc.yaml, foreach stages expanded."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in stages.values():
        keys = list(stage["foreach"]) if "foreach" in stage else [None]
        body = stage.get("do", stage)
        for key in keys:
            for kind in ("outs", "metrics", "plots"):
                for out in body.get(kind, []):
                    path = out if isinstance(out, str) else next(iter(out))
                    paths.append(path.replace("${key}", key) if key else path)
    return paths


def masked_json(value, masked: set):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in MASKED_KEYS:
                masked.add(f"{key} (JSON)")
                out[key] = MASK
            elif key in SORTED_LISTS and isinstance(item, list):
                out[key] = sorted(item)
            else:
                out[key] = masked_json(item, masked)
        return out
    if isinstance(value, list):
        return [masked_json(item, masked) for item in value]
    return value


def masked_tables(text: str, masked: set) -> str:
    """Markdown table cells under a header that names a measured value."""
    lines, columns = text.split("\n"), set()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            columns = set()
            continue
        cells = line.split("|")
        if i + 1 < len(lines) and lines[i + 1].startswith("|---"):  # a header
            columns = {n for n, cell in enumerate(cells) if MASKED_COLUMNS.search(cell)}
            masked.update(f"{cells[n].strip()} (report column)" for n in columns)
        elif not line.startswith("|---"):
            lines[i] = "|".join(MASK if n in columns and cell.strip() not in ("", "—") else cell
                                for n, cell in enumerate(cells))
    return "\n".join(lines)


def masked_text(path: Path, text: str, masked: set) -> str:
    for pattern, placeholder in TEXT_MASKS:
        text, count = pattern.subn(placeholder, text)
        if count:
            masked.add(f"{placeholder} (text)")
    if path.suffix == ".md":
        text = masked_tables(text, masked)
    if path.suffix == ".tsv" and path.stem in MASKED_KEYS:  # DVCLive: step, value
        masked.add(f"{path.stem} (DVCLive .tsv)")
        text = "\n".join(line.split("\t")[0] + "\t" + MASK for line in text.splitlines()[1:])
    return text


def digest(path: Path, work: Path, masked: set) -> str:
    """sha256 of the file, or of its masked text; the temp folder's path is one more mask."""
    data = path.read_bytes()
    if path.suffix in {".json", ".md", ".html", ".csv", ".tsv", ".txt"}:
        text = data.decode("utf-8").replace(str(work), "<work>")
        if path.suffix == ".json":
            text = json.dumps(masked_json(json.loads(text), masked), sort_keys=True)
        data = masked_text(path, text, masked).encode()
    return hashlib.sha256(data).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the temp folder and print its path")
    parser.add_argument("--rehash", type=Path, help="hash the repo a --keep run left in this folder, run nothing")
    args = parser.parse_args(argv)
    # Always a fresh mkdtemp folder, whose path has the same length on every run: the LoRA adapter's README names
    # the base model's path, and the stored sizes in metrics/*.json count it.
    work = args.rehash.resolve() if args.rehash else Path(tempfile.mkdtemp(prefix="pipeline-outputs-"))
    repo = work / "repo"
    try:
        if not args.rehash:
            corpus = tiny.write_corpus(work / "corpus")
            make_project(repo, tiny.write_model(work / "model", corpus), corpus)
            run(["dvc", "repro"], repo)
        masked: set = set()
        files = 0
        for out in declared_outputs(repo):
            target = repo / out
            found = sorted(p for p in (target.rglob("*") if target.is_dir() else [target]) if p.is_file())
            if not found:
                print(f"MISSING  {out}")
            for path in found:
                print(f"{digest(path, work, masked)}  {path.relative_to(repo)}")
                files += 1
        print(f"# {files} files; masked: {'; '.join(sorted(masked))}")
    finally:
        if args.keep:
            print(f"# kept in {work}", file=sys.stderr)
        elif not args.rehash:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
