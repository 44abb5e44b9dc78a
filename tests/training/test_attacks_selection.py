"""A run killed right after the checkpoint of the evaluation where early stopping stopped it: the rerun ends
there too, with the same figures, instead of training on to max_steps."""
import shutil

import pytest

from project import without_timings
from stages.training import selection
from test_selection import project, saved_weights  # noqa: F401 (a fixture and a helper)


class Killed(Exception):
    pass


def test_a_kill_after_the_early_stopped_checkpoint_resumes_to_the_same_end(project):  # noqa: F811
    settings = dict(max_steps=30, eval_steps=5, save_steps=5, select_metric="eval_loss",
                    early_stopping_patience=1, early_stopping_min_delta=100.0)
    expected = project(**settings)
    assert expected["optimizer_steps"] == 10 and expected["stopped_early"]
    expected_weights = saved_weights()
    shutil.rmtree("models/full")

    on_save = selection.Selector.on_save

    def die(self, args, state, control, **kwargs):
        on_save(self, args, state, control, **kwargs)
        if state.global_step == 10:
            raise Killed
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        patch.setattr(selection.Selector, "on_save", die)
        project(**settings)

    resumed = project(**settings)
    assert without_timings(resumed) == without_timings(expected)
    weights = saved_weights()
    assert all(weights[name].equal(tensor) for name, tensor in expected_weights.items())


def test_checkpoints_made_with_other_validation_decoding_are_not_resumed(project, prepared, capsys):  # noqa: F811
    # Validation ROUGE in the restored log history was decoded with the old generate.* params: picking the best
    # over scores from two decodings is not what an uninterrupted run with the new params would choose.
    settings = dict(max_steps=10, eval_steps=5, save_steps=5, select_metric="rougeL")
    on_save = selection.Selector.on_save

    def die(self, args, state, control, **kwargs):
        on_save(self, args, state, control, **kwargs)
        raise Killed
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        patch.setattr(selection.Selector, "on_save", die)
        project(**settings)
    capsys.readouterr()
    raw = prepared[1]
    before = dict(raw["generate"])
    try:
        raw["generate"]["max_new_tokens"] = before["max_new_tokens"] + 3
        project(**settings)
    finally:
        raw["generate"].clear()
        raw["generate"].update(before)
    out = capsys.readouterr().out
    assert "resuming" not in out and "discarding" in out


def test_metrics_that_cannot_be_written_leave_the_old_model_beside_the_old_metrics(project):  # noqa: F811
    from stages.training import loop
    from stages.io.errors import UserError
    project(max_steps=5, eval_steps=5)
    old = saved_weights()

    def unwritable(path, obj):
        raise UserError(f"cannot write {path}: Read-only file system")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(UserError):
        patch.setattr(loop, "write_json", unwritable)
        project(max_steps=5, eval_steps=5, seed=7)
    new = saved_weights()
    assert all(new[name].equal(tensor) for name, tensor in old.items())  # not a new model beside old metrics
