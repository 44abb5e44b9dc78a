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
    gap = {f"{key}_{part}": 0.01 for key in KEYS for part in ("diff", "low", "high", "p")}
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


def test_ordinary_dialogue_text_stays_readable_in_the_markdown():
    assert report._quote("#Person1#: Hello, Mr. Smith. It's 5 p.m.\n#Person2#: Fine.") == \
        "#Person1#: Hello, Mr. Smith. It's 5 p.m.<br>#Person2#: Fine."
