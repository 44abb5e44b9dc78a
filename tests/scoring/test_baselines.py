"""lead3 and longest3 exactly, and how many different summaries a model wrote."""
import pytest

from stages.scoring import baselines, diversity

DIALOGUE = "\n".join([
    "#Person1#: Hi.",                                    # 2 words
    "#Person2#: Hello, how are you today?",              # 6
    "  #Person1#: Fine, thanks, and you?  ",             # 5, spaces around it
    "",                                                  # blank: no turn
    "#Person2#: I am well, thank you.",                  # 6: as long as the second turn
    "#Person1#: Good.",                                  # 2
])


@pytest.mark.parametrize("dialogue, lead3, longest3", [
    (DIALOGUE,
     "#Person1#: Hi.\n#Person2#: Hello, how are you today?\n#Person1#: Fine, thanks, and you?",
     # the three with most words (6, 6, 5), in dialogue order
     "#Person2#: Hello, how are you today?\n#Person1#: Fine, thanks, and you?\n#Person2#: I am well, thank you."),
    # a tie in length among more than three: the earlier turns
    ("a b\nc d\ne f\ng h", "a b\nc d\ne f", "a b\nc d\ne f"),
    ("x\ny y\nz z\nw w", "x\ny y\nz z", "y y\nz z\nw w"),
    # fewer than three turns: all of them; blank lines, \r\n and \r line ends
    ("#Person1#: Only one turn.", "#Person1#: Only one turn.", "#Person1#: Only one turn."),
    ("one\r\n\r\n  \ntwo two\rthree", "one\ntwo two\nthree", "one\ntwo two\nthree"),
    # nothing but whitespace: an empty summary, not an error
    (" \n\t\n", "", ""),
    # a U+2028 or form feed inside a turn is not a line end: the turn stays whole
    ("a\u2028b c\nd\x0ce\nf", "a\u2028b c\nd\x0ce\nf", "a\u2028b c\nd\x0ce\nf"),
])
def test_lead3_and_longest3(dialogue, lead3, longest3):
    assert baselines.lead3(dialogue) == lead3
    assert baselines.longest3(dialogue) == longest3


def test_every_row_of_a_dialogue_gets_the_summary_of_its_first_rows_text():
    references = [{"dialogue": "a\nb\nc\nd"}, {"dialogue": "a\nb\nc\nd "}, {"dialogue": "x y z\nw"}]
    out = baselines.summaries(references, [[0, 1], [2]])
    assert out == {"lead3": ["a\nb\nc", "a\nb\nc", "x y z\nw"], "longest3": ["a\nb\nc", "a\nb\nc", "x y z\nw"]}


@pytest.mark.parametrize("summaries, expected", [
    (["#Person1#s #Person2# to."] * 100, (100, 1, 1.0, 0.0)),
    (["a", "b", "a ", " a", ""], (5, 3, 0.6, 0.2)),  # whitespace aside, "a" three times
    (["", "  ", "x"], (3, 2, 0.666667, 0.666667)),
    ([], (0, 0, 0.0, 0.0)),
])
def test_distinct_summaries_and_shares(summaries, expected):
    counts = diversity.count(summaries)
    assert (counts["dialogues"], counts["distinct_summaries"], counts["most_common_share"],
            counts["empty_share"]) == expected
