"""The end of a sweep on a Ray cluster: a line per run (done, failed with its log lines, skipped, cancelled) and
the same as JSON."""
from pathlib import Path

from ..io import files
from ..io.net import scrub
from ..io.text import terminal


def summary(plan_: list[dict], model: str, metric: str) -> str:
    lines = ["summary:"]
    for r in plan_:
        score = f"{model} {metric} {r['score']:.4f}" if r.get("score") is not None else "no score"
        where = f" on {r['ip']} GPU {','.join(r['gpus']) or '-'}" if r.get("ip") else ""
        took = f" in {r['seconds']:.0f} s" if r.get("seconds") else ""
        extra = {"skipped": f" (experiment {r.get('existing')} has these params)",
                 "failed": f" at `{r.get('step', '?')}`", "done": f", {score}{where}{took}"}.get(r["status"], "")
        lines.append(terminal(f"  {r['status']:<9} {r['name']}  {r['label']}{extra}"))
        if r["status"] == "failed":
            lines += [terminal(f"      | {scrub(line)}") for line in r.get("tail") or []]  # a URL's token
    return "\n".join(lines)


def write(path: Path, plan_: list[dict], command: str) -> None:
    keep = ("name", "settings", "status", "existing", "score", "node", "ip", "gpus", "cuda", "seconds", "step",
            "tail")
    out = [{k: r[k] for k in keep if k in r} for r in plan_]
    for r in out:
        r["tail"] = [scrub(line) for line in r.get("tail") or []]
    files.write_json(path, out)
    files.sign(path, command)
