"""A full disk while saving is one message naming where; nothing half-written is kept."""
import subprocess

import pytest
import torch
from safetensors.torch import save_file

from stages import space
from stages.errors import UserError
from stages.files import atomic_path

BIG = 10**6  # 4 MB of float32: more than the 1 MiB disk holds


@pytest.fixture
def full(tmp_path):
    """A real 1 MiB file system (tmpfs; needs root, else skipped): writes fail as on a full disk."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)  # lazy: a failed writer may still hold a handle


def write_text(path):
    with open(path, "w") as handle:
        handle.write("x" * 4 * BIG)


@pytest.mark.parametrize("writer", [lambda path: torch.save(torch.zeros(BIG), path),  # unexpected pos
                                    lambda path: save_file({"w": torch.zeros(BIG)}, path),  # SafetensorError
                                    write_text])  # OSError ENOSPC
def test_real_disk_full_errors_become_one_message(writer, full):
    with pytest.raises(UserError) as caught:
        with space.writes_to(full / "models" / "full"):
            writer(full / "x")
    message = str(caught.value)
    assert "\n" not in message and "is full" in message and str(full / "models" / "full") in message


def test_disk_full_while_saving_keeps_no_model_and_no_temp(full):
    out = full / "models" / "full"
    with pytest.raises(UserError, match="is full"):
        with space.writes_to(out), atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "config.json").write_text("{}")
            torch.save(torch.zeros(BIG), tmp / "model.pt")
    assert list((full / "models").iterdir()) == []


def test_disk_full_while_checkpointing_removes_the_cut_off_checkpoint(full):
    scratch = full / "scratch"
    (scratch / "checkpoint-10").mkdir(parents=True)
    (scratch / "checkpoint-10" / "trainer_state.json").write_text("{}")
    (scratch / "checkpoint-20").mkdir()
    (scratch / "checkpoint-20" / "model.safetensors").write_bytes(b"half")
    with pytest.raises(UserError, match="is full"):
        with space.writes_to(scratch, scratch):
            torch.save(torch.zeros(BIG), scratch / "checkpoint-20" / "optimizer.pt")
    assert sorted(p.name for p in scratch.iterdir()) == ["checkpoint-10"]


def test_other_errors_pass_through():
    with pytest.raises(RuntimeError, match="something else"):
        with space.writes_to("x"):
            raise RuntimeError("something else")
