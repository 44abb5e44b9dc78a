"""Serving under load: `python -m stages.serve` on 127.0.0.1, driven by concurrent clients that each send one
dialogue, wait for its summary, and send the next.

Throughput and p50/p95 latency at 1, 8 and 32 clients with dynamic batching (--max-batch 32) and without
(--max-batch 1); a one-minute soak at 32 clients (every request answered, resident memory sampled); and an
overload run with more clients than the queue and the engine hold, where the surplus must get 503 with
Retry-After and nothing else. The clients run on the same machine as the server and share its CPU.

    python benchmarks/serve.py                                 # a random-weight tiny model: about 5 minutes
    python benchmarks/serve.py --project ../dialogsum --model lora  # a trained project's model
    python benchmarks/serve.py --quick                         # seconds: checks that everything runs
"""
import asyncio
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import httpx
import yaml
from common import ROOT, models, torch


@dataclasses.dataclass
class Settings:
    clients: tuple = (1, 8, 32)
    seconds: float = 20.0  # each measured run
    soak_seconds: float = 60.0
    overload_clients: int = 128
    max_batch: int = 32
    queue_size: int = 32
    max_wait_ms: float = 10.0


QUICK = Settings(clients=(1, 4), seconds=2.0, soak_seconds=3.0, overload_clients=12, max_batch=4, queue_size=4)


def make_project(folder: Path, args, max_new_tokens: int) -> Path:
    """A project root holding params.yaml and models/base: a random-weight model of --shape, the tokenizer
    trained on --data (random weights rarely stop early: every summary is max_new_tokens long)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["generate"]["max_new_tokens"] = max_new_tokens
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    shape = args.shape or "tiny"
    vocab_size = 400 if args.quick else common.SHAPES[shape]["vocab_size"]
    model = common.make_model(shape)
    model.save_pretrained(folder / models.BASE)
    common.tokenizer_for(args.data, vocab_size, args.cache).save_pretrained(folder / models.BASE)
    return folder


class Server:
    """`python -m stages.serve` in `project` on a free loopback port; stop() sends SIGTERM and waits."""

    def __init__(self, project: Path, model: str, log: Path, threads: int, *flags):
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        with open(log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "stages.serve", "--port", "0", "--models", model,
                                             "--max-dialogues", "1", *map(str, flags)],
                                            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while not (found := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        self.url = found.group(1)

    def rss_mb(self) -> float | None:
        """Resident memory of the server process (Linux /proc), in MB."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        return round(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024, 1)

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=60).json()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        return self.process.returncode


async def drive(url: str, dialogues: list[str], clients: int, seconds: float, sample=None) -> dict:
    """`clients` loops of request-then-wait for `seconds`; what came back, and latency of the 200s."""
    latencies, statuses, lost, retry_after = [], {}, [], set()
    end = time.monotonic() + seconds

    async def client(number: int, http: httpx.AsyncClient):
        sent = number
        while time.monotonic() < end:
            body = {"dialogues": [dialogues[sent % len(dialogues)]]}
            sent += clients
            started = time.perf_counter()
            try:
                answer = await http.post("/summarize", json=body)
            except httpx.HTTPError as error:  # no answer at all: a lost request
                lost.append(f"{type(error).__name__}: {error}")
                continue
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - started)
            elif answer.status_code == 503:
                retry_after.add(answer.headers.get("retry-after"))

    async def sampler():
        while time.monotonic() < end:
            sample()
            await asyncio.sleep(min(5.0, seconds / 4))

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=clients)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(n, http) for n in range(clients)), *([sampler()] if sample else []))
        wall = time.perf_counter() - started
    latencies.sort()
    return {"clients": clients, "seconds": round(wall, 2), "requests": sum(statuses.values()) + len(lost),
            "ok": statuses.get(200, 0), "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "lost": len(lost), "lost_errors": sorted(set(lost))[:5], "per_s": round(statuses.get(200, 0) / wall, 2),
            "p50_s": percentile(latencies, 0.50), "p95_s": percentile(latencies, 0.95),
            "retry_after": sorted(v for v in retry_after if v)}


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))], 4)


def measured(server: Server, dialogues, clients: int, seconds: float, label: str, sample=None) -> dict:
    before, rss_start = server.health()["models"], server.rss_mb()
    run = asyncio.run(drive(server.url, dialogues, clients, seconds, sample))
    after = server.health()["models"]
    name = next(iter(after))
    batches = after[name]["batches"] - before[name]["batches"]
    run.update(batching=label, mean_batch=round((after[name]["dialogues"] - before[name]["dialogues"]) / batches, 2)
               if batches else None, rss_start_mb=rss_start, rss_end_mb=server.rss_mb(),
               load_average=common.load_average())
    print(f"{label}, {clients} clients: {run['per_s']} requests/s, p50 {run['p50_s']} s, p95 {run['p95_s']} s, "
          f"mean batch {run['mean_batch']}, statuses {run['statuses']}, lost {run['lost']}, "
          f"RSS {rss_start} -> {run['rss_end_mb']} MB", flush=True)
    return run


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--project", type=Path,
                        help="serve from this project root (params.yaml, models/); default: a temporary one with a "
                             "random-weight model of --shape (default tiny)")
    parser.add_argument("--model", default="base", help="the model to serve: base, full, lora (default base)")
    parser.add_argument("--seconds", type=float, help="each measured run (default 20)")
    parser.add_argument("--soak-seconds", type=float, help="the soak at the most clients (default 60)")
    parser.add_argument("--max-new-tokens", type=int, default=32,
                        help="summary length for the temporary project's model (default 32)")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else Settings()
    settings = dataclasses.replace(settings, seconds=args.seconds or settings.seconds,
                                   soak_seconds=args.soak_seconds or settings.soak_seconds)
    rows = common.load_rows(args.data)["test"]
    dialogues = list(dict.fromkeys(row["dialogue"] for row in rows))[:64]
    record = {"benchmark": "serve", "started": common.now(), "load_average_start": common.load_average(),
              "machine": {**common.machine(), "torch_threads": args.threads},
              "settings": {**dataclasses.asdict(settings), "model": args.model, "quick": args.quick,
                           "project": str(args.project) if args.project else None, "dialogues": len(dialogues),
                           "shape": None if args.project else (args.shape or "tiny"),
                           "max_new_tokens": None if args.project else args.max_new_tokens}}
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        project = args.project or make_project(scratch, args, 8 if args.quick else args.max_new_tokens)
        common_flags = ["--max-wait-ms", settings.max_wait_ms, "--queue-size", settings.queue_size]
        modes = [("dynamic", settings.max_batch), ("none", 1)]
        for label, max_batch in modes:
            server = Server(project, args.model, scratch / f"serve-{label}.log", args.threads,
                            "--max-batch", max_batch, *common_flags)
            try:
                asyncio.run(drive(server.url, dialogues, 1, 0.5))  # warm-up: first calls allocate
                record["engine"] = server.health()["models"][args.model]["engine"]  # precision, device, decoding
                for clients in settings.clients:
                    runs.append(measured(server, dialogues, clients, settings.seconds, label))
                if label == "dynamic":
                    samples = []
                    soak = measured(server, dialogues, max(settings.clients), settings.soak_seconds, label,
                                    sample=lambda: samples.append(server.rss_mb()))
                    soak["rss_samples_mb"] = samples
                    overload = measured(server, dialogues, settings.overload_clients, settings.seconds, label)
            finally:
                exit_code = server.stop()
            record.setdefault("exit_codes_after_sigterm", {})[label] = exit_code
    record["runs"], record["soak"], record["overload"] = runs, soak, overload
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()

    common.print_table("Throughput and latency (one dialogue per request)", runs,
                       ["batching", "clients", "per_s", "p50_s", "p95_s", "mean_batch", "ok", "lost",
                        "rss_start_mb", "rss_end_mb"])
    print(f"\nsoak: {soak['clients']} clients for {soak['seconds']} s: {soak['requests']} requests, statuses "
          f"{soak['statuses']}, lost {soak['lost']}, RSS samples (MB) {soak['rss_samples_mb']}")
    print(f"overload: {overload['clients']} clients, queue {settings.queue_size}, max batch {settings.max_batch}: "
          f"statuses {overload['statuses']}, lost {overload['lost']}, Retry-After {overload['retry_after']}")
    print(f"exit codes after SIGTERM: {record['exit_codes_after_sigterm']}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    common.write_result(args.out / f"serve_{device}{'_quick' if args.quick else ''}.json", record)


if __name__ == "__main__":
    main()
