"""Try the pipeline offline in minutes: a small T5 built from scratch on DialogSum's own text, fine-tuned by the
real pipeline as a DVC experiment.

    python -m stages.demo --data DIR     # DIR: DialogSum's train/validation/test .jsonl (the Hub's layout), or
                                         # your files as params.yaml's data.splits and data.columns name them
    python -m stages.demo --data DIR --build-only     # build demo/model, print the `dvc exp run` command

It builds demo/model (a Unigram tokenizer trained on the train split's dialogues and summaries, and a randomly
initialised T5 of flan-t5's architecture), then runs `dvc exp run -n NAME -S ...` with the settings in
stages/scratch/experiment.py, the model's and the data's revision pinned to their content's fingerprint.
params.yaml keeps its committed values; the experiment holds the changes.
"""
import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from .data import dialogue, loading, sources
from .data.layout import Layout
from .io.errors import UserError, run
from .io import files, hashing, params
from .io.files import atomic_path
from .scratch import experiment, model

PROMPT_TEXT = "Summarize the following conversation. Summary:"


def corpus(folder: Path, layout: Layout, seed: int) -> dict[str, list[dict]]:
    """The three splits read as prepare reads them (stages/data/loading.py), each checked as prepare checks them:
    all three now, as prepare would refuse a bad one after the model is built."""
    require_splits(folder, layout)
    return loading.load(str(folder), "", layout, seed)[0]


def corpus_texts(splits: dict[str, list[dict]]) -> list[str]:
    """What the tokenizer is learned from: the train split's dialogues and summaries, and the prompt."""
    return [text for row in splits["train"] for text in (row["dialogue"], row["summary"])] + [PROMPT_TEXT]


def check_readable(folder: Path, splits: dict[str, list[dict]]) -> None:
    """Every dialogue readable by the tokenizer just built in `folder`, as prepare will check them: a dialogue
    of characters the train split never holds is refused now, not after the model is built and kept."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    for split, rows in splits.items():
        dialogue.check_split(split, rows, tokenizer)


def split_files(folder: Path, layout: Layout) -> dict[str, Path]:
    try:
        return loading.split_files(str(folder), layout)
    except UserError as error:
        raise UserError(f"--data {folder}: give a folder holding train.jsonl, validation.jsonl and test.jsonl in the "
                        "layout of the Hub dataset knkarthick/dialogsum (columns id, dialogue, summary), or the files "
                        f"params.yaml's data.splits names ({error})") from None


def require_splits(folder: Path, layout: Layout) -> None:
    split_files(folder, layout)


def build(data: Path, out: Path, force: bool, layout: Layout | None = None, seed: int = 42) -> None:
    layout = layout or Layout()
    if (out / "config.json").is_file() and not force:
        require_splits(data, layout)
        recorded = (out / BUILT_FROM).read_text().strip() if (out / BUILT_FROM).is_file() else None
        if recorded is not None and recorded != fingerprint(data, layout):
            raise UserError(f"{out} was built from another train.jsonl than the one in --data {data} (its tokenizer "
                            "was learned from that text): give the same --data, or --force to rebuild it from this "
                            "one.")
        print(f"{out} exists: using it (--force rebuilds it)", file=sys.stderr)
        return
    if out.is_symlink():  # a link into a protected place is named as that
        files.target(out, "the demo model", force, "folder", proof=no_model)
    if out.is_symlink() or (out.exists() and not out.is_dir()):  # the place is fixed: no other path to advise
        raise UserError(f"{out} is {'a link' if out.is_symlink() else 'a file'}, not the folder the demo builds its "
                        "model in; it is left as it is: move it away (or remove it), then run this again.")
    files.target(out, "the demo model", force, "folder", proof=no_model)  # before the work; again before the replace
    splits = corpus(data, layout, seed)
    texts = corpus_texts(splits)
    print(f"building {out}: tokenizer from {len(texts):,} texts, T5 {experiment.SHAPE}", file=sys.stderr)
    with atomic_path(out) as tmp:
        model.build(tmp, texts, experiment.SHAPE)
        check_readable(tmp, splits)
        (tmp / BUILT_FROM).write_text(fingerprint(data, layout) + "\n")
        files.target(out, "the demo model", force, "folder", proof=no_model)


def no_model(folder: Path) -> str:
    """The demo model has no proof of its own: only --force replaces one (a folder without config.json is not
    even a model)."""
    return ("it holds no model (no config.json)" if not (folder / "config.json").is_file()
            else "a model appeared there while this one was built")


BUILT_FROM = "built_from.sha256"  # the train split the tokenizer was learned from


def fingerprint(data: Path, layout: Layout | None = None) -> str:
    return hashing.sha256(split_files(data, layout or Layout())["train"])


def pins(model_dir: Path, data: Path, layout: Layout | None = None) -> dict[str, str]:
    """The model's and the data's revision: the fingerprint of the folder's content, which prepare checks. A
    rebuilt demo/model or new data at the same path is then a changed param, so DVC reruns the pipeline instead
    of reporting the old run's results."""
    return {"model.revision": sources.fingerprint("model", model_dir),
            "data.revision": sources.fingerprint("dataset", data, sources.file_hashes(
                "dataset", data, list(split_files(data, layout or Layout()).values())))}


def experiments() -> list[str]:
    """Names of the experiments on the current commit: `dvc exp run -n` refuses a name that is taken."""
    done = subprocess.run(["dvc", "exp", "list", "--name-only"], capture_output=True, text=True)
    return done.stdout.split() if done.returncode == 0 else []


def wait_for(command: list[str], grace_s: float = 60) -> int:
    """Run `command`; on Ctrl-C give it `grace_s` to finish its own cleanup first. A terminal's Ctrl-C reaches
    `dvc exp run` too, and dvc then puts the workspace back; killing it at once (as subprocess.call does) left
    params.yaml and dvc.lock changed and DVC's lock taken."""
    child = subprocess.Popen(command)
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        raise


def data_params() -> tuple[Layout, int]:
    """How prepare will read --data: params.yaml's data.splits, .columns, .turns, .validation_size and .seed."""
    if not Path("params.yaml").is_file():
        return Layout(), 42
    p = params.load()
    return loading.layout_of(p.data), p.data.seed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="a local DialogSum copy (train/validation/test.jsonl), or a folder of your files as "
                             "params.yaml's data.splits and data.columns name them")
    parser.add_argument("--name", default="try-it", help="the experiment's name (default: try-it)")
    parser.add_argument("--build-only", action="store_true", help="build demo/model and print the command")
    parser.add_argument("--force", action="store_true", help="rebuild demo/model even if it exists")
    args = parser.parse_args(argv)
    if not Path("dvc.yaml").is_file():
        raise UserError("run this from the project root, where dvc.yaml and params.yaml live.")
    out, data = Path(experiment.MODEL), args.data.resolve()
    layout, seed = data_params()
    build(data, out, args.force, layout, seed)
    command = ["dvc", "exp", "run", "-n", args.name,
               *experiment.set_flags({**experiment.settings(str(data)), **pins(out, data, layout)})]
    if args.build_only:
        print(shlex.join(command))
        return
    if args.name in experiments():
        raise UserError(f"an experiment named {args.name} exists already on this commit (`dvc exp show` lists it): "
                        f"give another --name, or remove it first with `dvc exp remove {args.name}`; demo/model is "
                        "kept, so the next run starts with the pipeline.")
    print(f"$ {shlex.join(command)}", file=sys.stderr, flush=True)
    code = wait_for(command)
    if code:
        raise UserError(f"`dvc exp run` exited {code} (its own message is above); after fixing it, rerun this "
                        "command: demo/model is kept.")
    print("done: read metrics/report.md, open metrics/summaries.html, or run `dvc exp show`.", file=sys.stderr)


if __name__ == "__main__":
    run(main)
