"""Your own data end to end: the real `dvc repro` on sources that are not DialogSum's shape (docs/data.md).

One whole pipeline on Parquet files with other column names, turns as objects, a list of references per row
(unequal: 1 to 3) and no validation split; and `dvc repro prepare` alone on a CSV of one's own."""
import json

from project import make_project, run, tiny_params

def corpus_rows(corpus, split):
    return [json.loads(line) for line in (corpus / f"{split}.jsonl").read_text().splitlines()]


def turns(dialogue: str) -> list[dict]:
    return [{"who": line.split(": ", 1)[0], "said": line.split(": ", 1)[1]} for line in dialogue.splitlines()]


def parquet_source(folder, corpus):
    """The tiny corpus as Parquet: train and validation together (validation is carved), the test split's three
    reference rows per dialogue as one list, cut to 1, 2 or 3 references."""
    import pyarrow
    import pyarrow.parquet

    folder.mkdir()
    train = corpus_rows(corpus, "train") + corpus_rows(corpus, "validation")
    rows = [{"conv": r["id"], "turns": turns(r["dialogue"]), "gists": [r["summary"]]} for r in train]
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), folder / "conversations.parquet")
    by_dialogue: dict[str, dict] = {}
    for r in corpus_rows(corpus, "test"):
        stem = r["id"].rsplit("_", 1)[0]
        by_dialogue.setdefault(stem, {"conv": stem, "turns": turns(r["dialogue"]), "gists": []})["gists"].append(
            r["summary"])
    test = [dict(row, gists=row["gists"][:1 + n % 3]) for n, row in enumerate(by_dialogue.values())]
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(test), folder / "heldout.parquet")
    return folder, [len(row["gists"]) for row in test]


def test_the_pipeline_on_parquet_with_a_list_of_references_and_a_carved_validation(tmp_path, tiny_model,
                                                                                   tiny_corpus):
    source, counts = parquet_source(tmp_path / "own", tiny_corpus)
    params = tiny_params(tiny_model, source)
    params["data"].update(splits={"train": "conversations", "validation": None, "test": "heldout.parquet"},
                          validation_size=0.25, columns={"id": "conv", "dialogue": "turns", "summary": "gists",
                                                         "topic": None},
                          turns="{who}: {said}", name="Tiny chats", license="mit")
    repo = make_project(tmp_path / "repo", tiny_model, source, params)
    done = run(["dvc", "repro"], repo)
    assert "Running stage 'evaluate'" in done.stdout

    recorded = json.loads((repo / "data/sources.json").read_text())["data"]
    assert recorded["validation"] == {"carved_from": "train", "size": 0.25, "seed": 42, "dialogues": 8}
    assert (recorded["title"], recorded["license"]) == ("Tiny chats", "mit")
    predictions = [json.loads(line) for line in (repo / "data/predictions/lora.jsonl").read_text().splitlines()]
    assert len(predictions) == sum(counts) and predictions[0]["id"] == "test_0_1"  # `{id}_{k}` per reference
    generated = json.loads((repo / "metrics/generate_lora.json").read_text())
    assert generated["dialogues"] == len(counts) == 6  # one summary per dialogue, whatever its references
    detail = json.loads((repo / "metrics/rouge_detail.json").read_text())
    assert {"mean_ref", "max_ref", "flat"} <= set(json.dumps(detail).replace('"', " ").split())
    report = (repo / "metrics/report.md").read_text()
    assert f"6 dialogues, {sum(counts)} (dialogue, reference) rows" in report
    page = (repo / "metrics/summaries.html").read_text()
    assert page.count('"r":[') == 6 and "#Person1#: Good morning" in page  # turns joined as `{who}: {said}`


CSV = "chat_id,transcript,gist\n"


def test_prepare_alone_on_a_csv_of_ones_own(tmp_path, tiny_model, tiny_corpus):
    """The docs' CSV preset in small: other column names, an Excel BOM, quoted newlines."""
    import csv
    import io

    source = tmp_path / "support"
    source.mkdir()
    for split, name in (("train", "chats"), ("validation", "dev"), ("test", "heldout")):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["chat_id", "transcript", "gist"])
        for r in corpus_rows(tiny_corpus, split):
            writer.writerow([r["id"], r["dialogue"], r["summary"]])
        (source / f"{name}.csv").write_text("\ufeff" + out.getvalue(), encoding="utf-8")
    params = tiny_params(tiny_model, source)
    params["data"].update(splits={"train": "chats", "validation": "dev", "test": "heldout.csv"},
                          columns={"id": "chat_id", "dialogue": "transcript", "summary": "gist", "topic": None},
                          name="Support chats", license="other")
    repo = make_project(tmp_path / "repo", tiny_model, source, params)
    done = run(["dvc", "repro", "prepare"], repo)
    assert "test: 18 rows, 6 dialogues" in done.stdout
    import datasets

    test = datasets.load_from_disk(str(repo / "data/prepared"))["test"]
    assert test["id"][:3] == ["test_0_1", "test_0_2", "test_0_3"] and "\n" in test["dialogue"][0]
    assert json.loads((repo / "data/sources.json").read_text())["data"]["title"] == "Support chats"
