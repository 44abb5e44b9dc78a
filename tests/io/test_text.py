"""Text from files and users is data (stages/io/text.py): what a terminal, a spreadsheet and a model card get
from hostile names and revisions."""
import csv
import html as html_module
import io

import pandas as pd
import pytest

from stages.io import text

HOSTILE = [
    "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "a\rnote: forged over the line", "a\nnote: forged line", "a\x08\x08b",
    "\x9b2J", "evil\u202egnp.exe", "tab\there", "\x00nul", "\ud800lone", "para\u2029graph",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_terminal_text_has_no_control_character_and_stays_on_one_line(value):
    shown = text.terminal(value)
    assert all(ord(c) >= 0x20 and not 0x7f <= ord(c) <= 0x9f for c in shown), repr(shown)
    assert not set(shown) & text.BIDI and "\u2029" not in shown
    assert shown.isprintable()


def test_a_message_keeps_its_own_line_breaks_only_when_asked():
    assert text.terminal("one\ntwo\x1b", keep_lines=True) == "one\ntwo\\x1b"
    assert text.terminal("one\ntwo") == "one\\x0atwo"
    assert text.terminal("plain ascii, é and 漢字") == "plain ascii, é and 漢字"


FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0",
            "x\r=HYPERLINK(\"http://x\")", "y\n@SUM(A1)"]


def test_no_csv_cell_or_header_is_a_formula_and_numbers_stay_numbers():
    frame = pd.DataFrame({"names": FORMULAS, "score": [-0.5] * len(FORMULAS), "=bad header": ["ok"] * len(FORMULAS)})
    written = text.csv_frame(frame).to_csv(index=False)
    assert "\r" not in written and written.count("\n") == len(FORMULAS) + 1  # no row a reader could split off
    rows = list(csv.reader(io.StringIO(written)))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(text.FORMULA) and cell != "-0.5"], cells
    assert [row[1] for row in rows[1:]] == ["-0.5"] * len(FORMULAS)  # a number is data, never quoted
    assert rows[1][0] == "'" + FORMULAS[0] and "'=bad header" in rows[0]


GOOD = ["main", "v1.0", "refs/pr/1", "feature/x", "a" * 40, "b" * 64, "release-2024.1", "a@b", "#x"]
BAD = ["", "<img src=x onerror=alert(1)>", "javascript:alert(1)", "x\n## Heading", "a..b", "a b", ".hidden",
       "x.lock", "x/", "/x", "a//b", "x.", "@", "a@{1}", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b",
       "<!-- end of notes -->", "a\x1bb", "a\u202eb", "x" * 256, "-x", "--help"]


@pytest.mark.parametrize("revision", GOOD)
def test_git_ref_names_and_commit_hashes_are_revisions(revision):
    assert text.revision_problem(revision) is None


@pytest.mark.parametrize("revision", BAD)
def test_what_git_check_ref_format_refuses_is_no_revision(revision):
    assert text.revision_problem(revision)


@pytest.mark.parametrize("value", ["<b>bold</b>", "[x](javascript:alert(1))", "`tick`", "``two`` ticks",
                                   "<!-- notes: forged -->", "# heading", "a\n# heading", "<img/src=x/onerror=y>",
                                   "*em* _em_"])
def test_a_code_span_is_no_markup_whatever_it_holds(value):
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").render(f"- data: {text.code_span(value)} at revision")
    assert html.count("<code>") == 1 and html.count("<li>") == 1
    inner = html.split("<code>")[1].split("</code>")[0]
    assert "<" not in inner.replace("&lt;", "") and "<a" not in html and "<h1" not in html and "<em" not in html
    assert html_module.unescape(inner) == text.terminal(value)  # shown exactly, escapes aside
