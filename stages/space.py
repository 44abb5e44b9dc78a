"""A full or unwritable disk while training saves is one message naming where, not a torch traceback; the
half-written checkpoint it leaves is removed (it would fill the disk further and is never resumed)."""
import errno
import shutil
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError

FULL = (errno.ENOSPC, errno.EDQUOT)
DENIED = (errno.EACCES, errno.EROFS, errno.EPERM)
# What torch's and safetensors' writers say when the OS refused a write: no errno reaches Python.
FULL_TEXT = ("No space left", "os error 28", "StorageFull", "Disk quota", "unexpected pos")


def kind(error: BaseException) -> str | None:
    """'full', 'denied' or None for anything else."""
    if isinstance(error, OSError) and error.errno in FULL:
        return "full"
    if isinstance(error, OSError) and error.errno in DENIED:
        return "denied"
    if isinstance(error, (RuntimeError, OSError)) or type(error).__name__ == "SafetensorError":
        if any(text in str(error) for text in FULL_TEXT):
            return "full"
    return None


def _free(where: Path) -> str:
    for folder in [where, *where.parents]:
        if folder.exists():
            return f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free"
    return "free space unknown"


@contextmanager
def writes_to(where, scratch=None):
    """Turn a full or read-only disk under the block into a UserError naming `where`."""
    where = Path(where)
    try:
        yield
    except Exception as error:
        what = kind(error)
        if what is None:
            raise
        if scratch is not None:
            remove_incomplete(Path(scratch))
        if what == "full":
            raise UserError(f"the disk holding {where} is full ({_free(where)}) while writing: no half-written model "
                            f"was kept. Free space there (or point models/ at a bigger disk) and rerun; training "
                            f"resumes from its last complete checkpoint.") from None
        raise UserError(f"cannot write {where} ({error.strerror if isinstance(error, OSError) else error}): make it "
                        f"writable or run from a project copy you own.") from None


def remove_incomplete(scratch: Path) -> None:
    from .checkpoints import _complete  # a checkpoint without trainer_state.json was cut off

    for path in scratch.glob("checkpoint-*"):
        if path.is_dir() and not _complete(path):
            shutil.rmtree(path, ignore_errors=True)
