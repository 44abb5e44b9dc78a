"""Which example dialogues the report picks, that their labels say what is true, and that text from the data
is shown as text."""
import re

import numpy as np
import pytest

from stages.reporting import report
from stages.scoring.rouge import KEYS, MODES


def test_examples_label_only_who_is_ahead():
    scores = {"full": np.array([0.2, 0.5, 0.1, 0.9]), "lora": np.array([0.3, 0.2, 0.4, 0.1])}
    chosen = dict((why.split(" (")[0], index) for index, why in report.choose_examples(scores, ("full", "lora")))
    assert chosen["full ahead of lora the most"] == 3
    assert chosen["lora ahead of full the most"] == 2


def test_no_ahead_label_when_a_model_is_never_ahead():
    scores = {"full": np.array([0.1, 0.2, 0.3, 0.1]), "lora": np.array([0.2, 0.25, 0.3, 0.6])}
    whys = [why for _, why in report.choose_examples(scores, ("full", "lora"))]
    assert not any(why.startswith("full ahead") for why in whys)
    assert any(why.startswith("lora ahead of full the most") for why in whys) and len(whys) == 3
    tied = {"full": np.zeros(3), "lora": np.zeros(3)}
    assert not any("ahead" in why for _, why in report.choose_examples(tied, ("full", "lora")))


HOSTILE = [
    "<img src=x onerror=alert(1)>", "</details>", "# A heading from the data", "## another", "Setext\n===",
    "<script>alert(1)</script>", "a | pipe | in | a | table", "`code` and ```fence```", "*emphasis* and _this_",
    "[a link](http://example.com) ![img](x.png)", "<!-- comment -->", "&amp; &lt;b&gt;", "- a list\n1. item",
    "    indented code", "> quote", "~~struck~~", "line\u2028break\x85here", "<https://autolink.example>",
    "\\* backslash",
]


def report_of(texts: list[str]) -> str:
    """A report whose examples show `texts` as ids, dialogue lines, references and summaries."""
    score = {key: 0.5 for key in KEYS} | {f"{key}_low": 0.4 for key in KEYS} | {f"{key}_high": 0.6 for key in KEYS}
    gap = {f"{key}_{part}": 0.01 for key in KEYS for part in ("diff", "low", "high", "p", "p_holm")}
    models = ("base", "full", "lora")
    examples = [(f"why {n}", {"id": f"{text}_{n}", "dialogue": "\n".join(texts), "references": [text, text],
                              "predictions": {model: text for model in models}, "rougeL": {m: 0.5 for m in models}})
                for n, text in enumerate(texts)]
    setup = {"split": "test", "dialogues": 3, "rows": 9, "confidence": 0.95, "resamples": 100, "seed": 1}
    return report.render({m: {mode: score for mode in MODES} for m in models},
                         {"full_vs_lora": {mode: gap for mode in MODES}}, {m: {} for m in models}, examples, setup)


def test_text_from_the_data_renders_as_literal_text():
    """Rendered by a CommonMark renderer (raw HTML allowed, as GitHub's before it sanitizes), a report of hostile
    text has exactly the elements of a report of plain words: no tag, heading, link, code, emphasis, list or
    table cell comes from the data, and the text itself is all there."""
    markdown_it = pytest.importorskip("markdown_it")
    renderer = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    page = renderer.render(report_of(HOSTILE))
    # the same lines, of plain words
    plain = renderer.render(report_of(["\n".join(f"plain words {n}" for _ in text.splitlines())
                                       for n, text in enumerate(HOSTILE)]))
    tags = lambda html: sorted(re.findall(r"<(/?[a-zA-Z][a-zA-Z0-9]*|!--)", html))  # noqa: E731
    assert tags(page) == tags(plain)
    assert "<img" not in page and "<script" not in page and "<a " not in page
    for text in ("&lt;img src=x onerror=alert(1)&gt;", "# A heading from the data", "a | pipe | in",
                 "`code` and ```fence```", "*emphasis* and _this_", "&amp;amp; &amp;lt;b&amp;gt;",
                 "[a link](http://example.com)", "~~struck~~", "\\* backslash", "&lt;/details&gt;"):
        assert text in page, text


def test_dollar_signs_are_text_not_githubs_math():
    """GitHub typesets $...$ in Markdown as math: "$5/$10" in a dialogue would lose its dollar signs and slant."""
    assert report.literal("It costs $5/$10, or $$x$$.") == "It costs \\$5/\\$10, or \\$\\$x\\$\\$."
    assert "\\$20" in report._quote("#Person1#: $20?\n#Person2#: $30.")


def test_ordinary_dialogue_text_stays_readable_in_the_markdown():
    assert report._quote("#Person1#: Hello, Mr. Smith. It's 5 p.m.\n#Person2#: Fine.") == \
        "#Person1#: Hello, Mr. Smith. It's 5 p.m.<br>#Person2#: Fine."


PAIRS = ("full_vs_lora", "full_vs_base", "lora_vs_base")
SETUP = {"confidence": 0.95, "resamples": 10000}


def paired_of(cells: dict) -> dict:
    """rouge_paired.json's primary mode, every comparison p = 1 unless `cells` {(pair, key): (diff, low, high,
    p, p_holm)} says otherwise."""
    out = {}
    for pair in PAIRS:
        values = {}
        for key in report.KEYS:
            diff, low, high, p, p_holm = cells.get((pair, key), (0.0, -0.01, 0.01, 1.0, 1.0))
            values.update({f"{key}_diff": diff, f"{key}_low": low, f"{key}_high": high, f"{key}_p": p,
                           f"{key}_p_holm": p_holm})
        out[pair] = {report.PRIMARY: values}
    return out


def table_rows(lines: list[str]) -> dict:
    """{(comparison, metric): (p_holm, verdict)} from the report's paired table."""
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] != "comparison" and not cells[0].startswith("---"):
            rows[(cells[0], cells[1])] = (float(cells[5]), cells[6])
    return rows


def test_a_verdict_comes_from_the_holm_adjusted_p_never_from_the_interval():
    lines = report.paired_section(paired_of({
        # the case found: the interval excludes 0 while the test gives p = 0.06; corrected, far from significant
        ("full_vs_lora", "rouge1"): (0.03, 0.01, 0.05, 0.06, 0.6),
        ("full_vs_lora", "rouge2"): (0.03, 0.01, 0.05, 0.004, 0.05),      # exactly alpha after correction: not
        ("lora_vs_base", "rougeL"): (-0.02, -0.03, -0.01, 0.004, 0.0499),  # below it: base is higher
    }), SETUP)
    text = "\n".join(lines)
    rows = table_rows(lines)
    assert len(rows) == 12 and "12 comparisons: 3 model pairs × 4 ROUGE variants" in text
    assert rows[("full − lora", "ROUGE-1")] == (0.6, "not significant")
    assert rows[("full − lora", "ROUGE-2")] == (0.05, "not significant")
    assert rows[("lora − base", "ROUGE-L")] == (0.0499, "significant: base higher")
    assert "Significant after Holm's correction (p (Holm) < 0.05): lora − base ROUGE-L (base higher). " in text
    assert "unlikely to be noise" not in text and "descriptive" in text
    none = "\n".join(report.paired_section(paired_of({}), SETUP))
    assert "None of the 12 differences is significant after Holm's correction" in none
    assert "significant:" not in none


def test_the_report_never_claims_significance_where_the_adjusted_p_is_not_below_alpha():
    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(50):
        cells = {}
        for pair in PAIRS:
            for key in report.KEYS:
                diff = float(rng.normal(0, 0.02))
                p = float(rng.choice([rng.random(), rng.random() / 50, 0.05]))
                cells[(pair, key)] = (diff, diff - 0.01, diff + 0.01, p, min(1.0, p * float(rng.integers(1, 13))))
        lines = report.paired_section(paired_of(cells), SETUP)
        summary = next(line for line in lines if "Holm's correction (p (Holm)" in line)
        for (comparison, metric), (p_holm, said) in table_rows(lines).items():
            claimed = said.startswith("significant:")
            verdicts.append(claimed)
            assert claimed == (p_holm < 0.05) and (f"{comparison} {metric} (" in summary) == claimed
            if claimed:  # and it names the model that is ahead
                first, second = comparison.split(" − ")
                diff = next(v for (pair, key), v in cells.items()
                            if pair == f"{first}_vs_{second}" and report.TITLES[key] == metric)[0]
                assert said == f"significant: {first if diff > 0 else second} higher"
    assert 0 < sum(verdicts) < len(verdicts)  # both kinds of row were checked


def test_cost_table_keeps_evaluation_and_writes_beside_training_time():
    costs = {"full": {"train_runtime_s": 300.0, "train_samples_per_s": 8.0, "eval_runtime_s": 90.0,
                      "checkpoint_s": 40.0},
             "lora": {"train_runtime_s": 100.0}}  # a run from before these figures: dashes, not zeros
    header, rule, full, lora = report.cost_table(costs)
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[4:9] == ["training time (optimizer steps)", "samples/s", "tokens/s", "validation time",
                            "checkpoint writes"]
    assert rule.count("|---") == len(columns)
    assert [cell.strip() for cell in full.strip("|").split("|")][4:9] == ["5.0 min", "8.0", "—", "90.0 s", "40.0 s"]
    assert [cell.strip() for cell in lora.strip("|").split("|")][4:9] == ["100.0 s", "—", "—", "—", "—"]


def test_the_report_says_what_training_time_counts():
    setup = {"split": "test", "dialogues": 1, "rows": 1, "confidence": 0.95, "resamples": 10, "seed": 0}
    text = report.render({}, {}, {}, [], setup)
    assert "Training time counts the optimizer steps alone" in text and "beside it, not in it" in text
