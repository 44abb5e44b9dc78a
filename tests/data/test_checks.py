"""What prepare warns about: cut summaries and prompts counted in dialogues, and test dialogues train holds."""
from stages.data import checks


def test_cut_summaries_are_counted_in_distinct_dialogues(capsys):
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    over = [2, 0, 1, 0, 0, 0, 5, 5, 5]  # rows cut: 5, in 2 of 3 dialogues
    assert checks.warn_cut_targets("validation", groups, over, 12) == 2
    err = capsys.readouterr().err
    assert "validation: 5 summaries of 2 of 3 dialogues are longer than data.max_target_length (12 tokens" in err
    assert "up to 5 tokens" in err and "is validated on cut summaries" in err


def test_no_warning_when_nothing_is_cut_or_for_the_unscored_test_labels(capsys):
    assert checks.warn_cut_targets("train", [[0], [1]], [0, 0], 12) == 0
    assert checks.warn_cut_targets("test", [[0, 1]], [3, 0], 12) == 1
    assert capsys.readouterr().err == ""


def test_test_dialogues_copied_into_train_are_counted_whitespace_aside(capsys):
    train = ["#Person1#: hi.\n#Person2#: hello.", "something else"]
    test = ["#Person1#: hi. \n#Person2#:  hello.", "#Person1#: hi.\n#Person2#: hello.", "new", "new"]
    ids = ["test_0_1", "test_0_2", "test_1_1", "test_1_2"]
    assert checks.warn_overlap("test", train, ids, test, [[0, 1], [2, 3]]) == 1
    err = capsys.readouterr().err
    assert "test: 1 of 2 dialogues (first 'test_0') are also in train" in err
    assert checks.warn_overlap("test", train, ids[2:], test[2:], [[0, 1]]) == 0
    assert capsys.readouterr().err == ""
