"""docs/data.md's presets stay true: each params.yaml block is valid params, its `dvc exp run -S` flags set the
same values, and the data it describes loads through the same code prepare runs."""
import copy
import re
import shlex

import pytest
import yaml

from project import ROOT
from stages.data import loading
from stages.io import params

PAGE = (ROOT / "docs/data.md").read_text(encoding="utf-8")
PRESETS = dict(re.findall(r"^### (.+?)\n.*?```yaml\n(.*?)```", PAGE.split("## Presets", 1)[1], re.M | re.S))
FLAGS = {title: block for title, block in re.findall(r"^### (.+?)\n.*?```\n(dvc exp run .*?)\n```",
                                                     PAGE.split("## Presets", 1)[1], re.M | re.S)}
COMMITTED = yaml.safe_load((ROOT / "params.yaml").read_text())


def preset(title: str) -> dict:
    """params.yaml with the preset's data lines applied, as a user pastes them."""
    raw = copy.deepcopy(COMMITTED)
    raw["data"].update(yaml.safe_load(PRESETS[title])["data"])
    return raw


def test_the_page_has_the_three_presets_and_the_default_is_the_committed_params():
    assert list(PRESETS) == ["DialogSum (the default)", "SAMSum, from the `knkarthick/samsum` mirror",
                             "A CSV of your own"]
    assert preset("DialogSum (the default)") == COMMITTED  # every line of it is params.yaml's value


@pytest.mark.parametrize("title", FLAGS)
def test_each_presets_flags_set_what_its_lines_set(tmp_path, title):
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides

    words = shlex.split(FLAGS[title])
    flags = [words[i + 1] for i, word in enumerate(words) if word == "-S"]
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(path, to_path_overrides(flags)["params.yaml"])
    raw = yaml.safe_load(path.read_text())
    params.parse(raw)
    wanted = preset(title)
    differs = {key for key in wanted["data"] if wanted["data"][key] != COMMITTED["data"][key]}
    assert {key: raw["data"][key] for key in differs} == {key: wanted["data"][key] for key in differs}


def test_the_samsum_preset_loads_the_mirrors_layout_through_the_hub_path(monkeypatch):
    import datasets

    p = params.parse(preset("SAMSum, from the `knkarthick/samsum` mirror"))
    rows = [{"id": f"1373{i}", "dialogue": f"Amanda: I baked cookies {i}. Do you want some?\r\nJerry: Sure!",
             "summary": f"Amanda baked cookies {i} and will bring Jerry some."} for i in range(6)]
    split = datasets.Dataset.from_list(rows)
    asked = {}

    def hub_load(source, config, revision):
        asked.update(source=source, config=config)
        return datasets.DatasetDict(train=split, validation=split.select([0, 1]), test=split.select([2, 3]))

    monkeypatch.setattr(loading, "hub_load", hub_load)
    splits, _ = loading.load(p.data.source, "main", loading.layout_of(p.data), p.data.seed)
    assert asked == {"source": "knkarthick/samsum", "config": None}
    assert splits["test"][0] == {"id": "13732", "dialogue": rows[2]["dialogue"], "summary": rows[2]["summary"]}


def test_the_csv_preset_loads_the_documented_csv(tmp_path):
    p = params.parse(preset("A CSV of your own"))
    example = re.search(r"```csv\n(.*?)```", PAGE, re.S).group(1)
    header, row = example.split("\n", 1)
    more = "".join(f'c{i},"Agent: Hi {i}\nCustomer: A question {i}.",They talk {i}.,\n' for i in range(2, 12))
    (tmp_path / "chats.csv").write_text(header + "\n" + more, encoding="utf-8")
    (tmp_path / "heldout.csv").write_text(example, encoding="utf-8")
    splits, record = loading.load(str(tmp_path), "main", loading.layout_of(p.data), p.data.seed)
    assert [r["id"] for r in splits["test"]] == ["c1_1", "c1_2"]  # two references: gist and gist_2
    assert splits["test"][0]["dialogue"] == "Agent: Hello, how can I help?\nCustomer: My card was charged twice."
    assert record["validation"]["dialogues"] == 1 and len(splits["train"]) == 9  # a tenth carved
