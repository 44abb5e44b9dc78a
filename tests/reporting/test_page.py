"""metrics/summaries.html: built in-process, then opened in headless Chromium (Debian's `chromium`)."""
import re
import shutil
import subprocess

import numpy as np
import pytest

from stages.reporting import page
from stages.scoring.rouge import KEYS

MODELS = ("base", "full", "lora")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dataset(count: int, seed=0):
    """`count` dialogues of three references each (ids test_{i}_{k}); base writes nothing on every 7th."""
    rng = np.random.default_rng(seed)
    references, groups = [], []
    for i in range(count):
        dialogue = f"#Person1#: Hi </script><b>bold</b> & <!--<script> more, dialogue {i}.\n#Person2#: " + "word " * 120
        groups.append(list(range(len(references), len(references) + 3)))
        references += [{"id": f"test_{i}_{k}", "dialogue": dialogue, "summary": f"They talk about topic {i}, take {k}."}
                       for k in (1, 2, 3)]
    texts = {m: ["" if m == "base" and (r // 3) % 7 == 0 else f"{m} says dialogue {r // 3} is about a topic."
                 for r in range(len(references))] for m in MODELS}
    scores = {m: rng.random((count, len(KEYS))).round(3) for m in MODELS}
    return references, groups, texts, scores


def test_rows_name_dialogues_and_carry_each_models_summary_and_scores():
    references, groups, texts, scores = dataset(3)
    rows = page.rows(references, groups, texts, scores)
    assert [r["id"] for r in rows] == ["test_0", "test_1", "test_2"]
    assert rows[1]["r"] == ["They talk about topic 1, take 1.", "They talk about topic 1, take 2.",
                            "They talk about topic 1, take 3."]
    assert rows[0]["s"]["base"] == "" and rows[1]["s"]["lora"] == "lora says dialogue 1 is about a topic."
    assert rows[2]["x"]["full"] == [scores["full"][2, KEYS.index(k)] for k in page.SHOWN]


def test_page_is_self_contained_and_escapes_what_would_end_a_script():
    html = page.render(*dataset(3), {"split": "test"})
    assert "</script><b>" not in html and "\\u003c/script>\\u003cb>" in html  # the dialogue's own text, made safe
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html), "nothing loaded from elsewhere"


def test_page_for_500_dialogues_is_little_more_than_its_text():
    references, groups, texts, scores = dataset(500)
    html = page.render(references, groups, texts, scores, {"split": "test"}).encode()
    text = sum(len(references[g[0]]["dialogue"].encode()) + sum(len(references[i]["summary"]) for i in g)
               + sum(len(texts[m][g[0]]) for m in MODELS) for g in groups)
    # per dialogue: its id, nine 3-digit scores and the JSON keys (~190 bytes); plus the page's code once
    assert len(html) - text < 500 * 200 + 12_000, (len(html), text)


def browse(path, fragment="") -> tuple[str, str]:
    """The DOM after the page's scripts ran, and Chromium's log (console messages are logged as CONSOLE)."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", "--virtual-time-budget=5000", "--dump-dom", f"{path.as_uri()}{fragment}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def shown(dom: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-n="(\d+)"', dom)]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it")
def test_page_in_a_real_browser_shows_sorts_and_filters_without_errors(tmp_path):
    references, groups, texts, scores = dataset(60)
    path = tmp_path / "summaries.html"
    path.write_text(page.render(references, groups, texts, scores, {"split": "test"}), encoding="utf-8")

    dom, log = browse(path)
    assert 'data-ready="1"' in dom and "showing 60 of 60 dialogues" in dom
    assert shown(dom) == list(range(60))
    assert "&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &lt;!--&lt;script&gt; more, dialogue 59." in dom  # text, not markup
    body = dom[dom.index('<tbody id="rows">'):dom.index("</tbody>")]
    assert body.count("(empty)</span>") == 9  # base on dialogues 0, 7, ..., 56
    assert not re.findall(r"CONSOLE.*", log), re.findall(r"CONSOLE.*", log)

    dom, log = browse(path, "#sort=full-rouge-l&order=asc")
    full = scores["full"][:, KEYS.index("rougeL")]
    assert shown(dom) == sorted(range(60), key=lambda n: (full[n], n))
    assert not re.findall(r"CONSOLE.*", log)

    dom, _ = browse(path, "#sort=full-lora-rouge-l-disagree-most&filter=base-wrote-nothing")
    gap = np.abs(scores["full"][:, KEYS.index("rougeL")] - scores["lora"][:, KEYS.index("rougeL")])
    assert shown(dom) == sorted(range(0, 60, 7), key=lambda n: (-gap[n], n))
    assert "showing 9 of 60 dialogues" in dom
