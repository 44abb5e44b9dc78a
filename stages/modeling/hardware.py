"""Which device the stages run on, in which precision, and how much memory they peaked at.

The decision is a pure function of a Capabilities record (decide), so it is table-tested over machines this
project never runs on (T4, V100, A100, H100, Apple silicon, CPUs with and without native bf16); detect() is
the only part that asks this machine. Rules:
- CUDA first, then Apple's GPU (MPS), then the CPU.
- bf16 only where the hardware multiplies it natively: NVIDIA compute capability >= 8.0 (on 7.x
  torch.cuda.is_bf16_supported() is True, but emulated), x86 CPUs with amx_bf16 or avx512_bf16 whose torch
  build has oneDNN's bf16 kernels (benchmarks/precision.py, flan-t5-small shape on avx512_bf16: training 1.5-1.8x,
  greedy generation 1.3x faster than fp32). fp32 everywhere else, also on MPS; fp16 never (T5 overflows to NaN).
- TF32 only with bf16 on CUDA (so only from 8.0, where it exists; asking for it on 7.x makes TrainingArguments
  raise). An explicit `fp32` means plain fp32 matmuls.
bf16 means autocast in training (weights stay fp32) and bf16 weights in generation.
"""
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..io.errors import UserError

SETTINGS = ("auto", "bf16", "fp32")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # x86 instructions that multiply bf16 natively
NATIVE_BF16_CUDA = (8, 0)  # Ampere


@dataclass(frozen=True)
class Capabilities:
    cuda_capability: tuple[int, int] | None = None  # lowest of the visible GPUs; None: no usable CUDA
    gpu: str | None = None
    mps: bool = False  # an Apple GPU that ran a first operation
    cpu_flags: frozenset[str] | None = None  # from /proc/cpuinfo; None: unknown (macOS, no such file)
    onednn_bf16: bool = True  # this PyTorch build's CPU kernels (oneDNN) do bf16 matmuls


@dataclass(frozen=True)
class Decision:
    device: str  # cuda | mps | cpu
    precision: str  # bf16 | fp32
    tf32: bool
    reason: str  # why this precision, in words, for the metrics

    @property
    def dtype(self) -> torch.dtype:
        """Weights' dtype for generation; training keeps fp32 weights and autocasts."""
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def record(self) -> dict:
        return {"device": self.device, "precision": self.precision, "tf32": self.tf32,
                "precision_reason": self.reason}


def choose_device(caps: Capabilities) -> str:
    return "cuda" if caps.cuda_capability is not None else "mps" if caps.mps else "cpu"


def native_bf16(caps: Capabilities) -> tuple[bool, str]:
    """(whether the chosen device multiplies bf16 natively, why in words)."""
    device = choose_device(caps)
    if device == "cuda":
        major, minor = caps.cuda_capability
        gpu = f"{caps.gpu or 'the GPU'} (compute capability {major}.{minor})"
        if caps.cuda_capability >= NATIVE_BF16_CUDA:
            return True, f"{gpu} multiplies bf16 natively"
        return False, f"{gpu} has no native bf16 (it needs compute capability 8.0, Ampere, or newer)"
    if device == "mps":
        return False, "T5 runs in fp32 on Apple GPUs (MPS)"
    if caps.cpu_flags is None:
        return False, "the CPU's instruction set is unknown (no readable /proc/cpuinfo)"
    found = [flag for flag in CPU_BF16_FLAGS if flag in caps.cpu_flags]
    if found and not caps.onednn_bf16:
        return False, f"the CPU has {', '.join(found)}, but this PyTorch build's oneDNN has no bf16 kernels"
    if found:
        return True, f"the CPU multiplies bf16 natively ({', '.join(found)})"
    return False, f"the CPU has no native bf16 ({' or '.join(CPU_BF16_FLAGS)})"


def tf32(precision: str, device: str) -> bool:
    """TF32 for the fp32 matmuls left under bf16 autocast; bf16 on CUDA implies compute capability >= 8.0."""
    return precision == "bf16" and device == "cuda"


def decide(caps: Capabilities, setting: str) -> Decision:
    """Device and precision for params' `precision` setting (auto | bf16 | fp32) on a machine like `caps`."""
    if setting not in SETTINGS:
        raise ValueError(f"precision must be one of {', '.join(SETTINGS)} (never fp16 for T5), got {setting!r}")
    device = choose_device(caps)
    native, why = native_bf16(caps)
    if setting == "bf16" and not native:
        raise UserError(f"precision bf16 was asked for, but {why}; set precision to auto or fp32 in params.yaml.")
    if setting == "fp32":
        precision, reason = "fp32", "fp32 asked for in params.yaml"
    else:
        precision = "bf16" if native else "fp32"
        reason = ("bf16 asked for: " if setting == "bf16" else "auto: ") + why
    return Decision(device, precision, tf32(precision, device), reason)


def cpu_flags(path=Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The CPU's feature flags (x86 `flags`, aarch64 `Features`, of the first processor); None if unknown."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def lowest_capability(capabilities) -> tuple[int, int] | None:
    """A run uses every visible GPU: it may use bf16 only if the weakest one has it."""
    return min((tuple(c) for c in capabilities), default=None)


def mps_works() -> bool:
    """An Apple GPU that can run a first operation (a broken or half-supported MPS falls back to the CPU)."""
    try:
        if not torch.backends.mps.is_available():
            return False
        return float(torch.ones(2, device="mps").sum().cpu()) == 2.0
    except Exception:  # any failure at all means: do not train on it
        return False


@lru_cache(maxsize=1)
def detect() -> Capabilities:
    """This machine's capabilities (CUDA_VISIBLE_DEVICES="" hides the GPUs: then the CPU is used)."""
    capability, gpu = None, None
    if torch.cuda.is_available():
        try:
            capability = lowest_capability(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
            gpu = torch.cuda.get_device_name(0)
        except (RuntimeError, AssertionError):  # a driver that lists GPUs it cannot open
            capability, gpu = None, None
    return Capabilities(capability, gpu, capability is None and mps_works(), cpu_flags(), onednn_bf16())


def onednn_bf16() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private torch function: gone in some build or version
        return False


def decision(setting: str) -> Decision:
    """decide() on this machine."""
    return decide(detect(), setting)


def peak_memory_record(device: str, local: dict[str, int], reduce_max=None, ranks: int = 1) -> dict:
    """The metrics' peak-memory entries from this process's figures, each the maximum over the `ranks`
    processes of the run: reduce_max maps this process's list of values to the element-wise maximum over all
    (None for a single process). CUDA: {"allocated", "reserved"} (torch.cuda.max_memory_*); otherwise {"rss"}."""
    names = sorted(local)
    values = [int(local[name]) for name in names]
    if reduce_max is not None:
        values = [int(v) for v in reduce_max(values)]
    peak = dict(zip(names, values))
    if device == "cuda":
        return {"peak_memory_bytes": peak["allocated"], "peak_memory_kind": "cuda_max_allocated",
                "peak_memory_reserved_bytes": peak["reserved"], "peak_memory_ranks": ranks}
    # On Apple silicon the GPU's allocations are not in the process's RSS: say so in the kind.
    return {"peak_memory_bytes": peak["rss"], "peak_memory_kind": "cpu_peak_rss" if device == "cpu" else
            f"cpu_peak_rss_without_{device}", "peak_memory_ranks": ranks}


def all_reduce_max(values: list[int]) -> list[int]:
    """Element-wise maximum over the processes of the initialized process group (a collective: every rank calls)."""
    import torch.distributed as dist

    where = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.int64, device=where)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()
