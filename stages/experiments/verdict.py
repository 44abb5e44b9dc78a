"""A comparison in words: the table of differences, which are significant after Holm's correction (the only
conclusion drawn), degenerate output and models below the better baseline, and generation speed where the two
runs ran on one machine under like load."""
from ..io.text import terminal
from ..reporting import verdicts
from ..reporting.report import TITLES
from ..scoring import rouge, stats
from .pairing import listed


def significant(result: dict, mode: str) -> list[str]:
    """'<model> <variant> (<run> higher)' for each difference whose Holm-adjusted p is below the level that
    goes with the intervals' confidence: the only conclusion drawn (the interval is a size estimate)."""
    level, found = stats.alpha(result["confidence"]), []
    for model, modes in result["models"].items():
        for key in rouge.KEYS:
            m = modes[mode]
            if m[key + "_p_holm"] < level:
                side = "b" if m[key + "_diff"] > 0 else "a"
                # a run whose model writes one summary for most dialogues is never called higher without saying so
                counts = result.get("outputs", {}).get(model, {}).get(side)
                clause = verdicts.caveat(f"{model} in {result[side]}", counts)
                found.append(f"{model} {key} ({result[side]} higher{', ' + clause if clause else ''})")
    return found


def output_lines(result: dict, mode: str) -> list[str]:
    """Degenerate output of either run, and each model that scores below the better baseline (point estimates of
    the same dialogues: stages.evaluate's report tests it)."""
    lines = []
    for model, sides in result.get("outputs", {}).items():
        for side in ("a", "b"):
            note = verdicts.degenerate_note(f"{model} in {result[side]}", sides[side])
            lines += [f"note: {note}"] if note else []
    found = result.get("baselines") or {}
    best = verdicts.better_baseline(found, mode)
    if not best:
        return lines
    key = verdicts.DECIDING
    lines.append(f"baselines on these dialogues, {mode}: " + "; ".join(
        f"{name} " + " ".join(f"{k} {scores[mode][k]:.4f}" for k in rouge.KEYS) for name, scores in found.items()))
    for model, modes in result["models"].items():
        for side in ("a", "b"):
            score = modes[mode][f"{key}_{side}"]
            if score <= found[best][mode][key]:
                lines.append(f"note: {model} in {result[side]} does not beat the better baseline, {best}: "
                             f"{TITLES[key]} {score:.4f} against {found[best][mode][key]:.4f}")
    return lines


def table(result: dict, mode: str) -> str:
    family = len(result["models"]) * len(rouge.KEYS)
    level = stats.alpha(result["confidence"])
    lines = [f"{result['b']} minus {result['a']}, {mode}, {result['dialogues']} dialogues ({result['rows']} "
             f"reference rows): {result['confidence']:.0%} bootstrap interval over dialogues (an estimate of the "
             f"size), sign-flip p-value, and p_holm: p after Holm's correction for these {family} comparisons; "
             f"A = {result['a']}, B = {result['b']}",
             f"{'model':6} {'variant':9} {'A':>8} {'B':>8} {'B-A':>8}  {'interval':>19} {'p':>7} {'p_holm':>7}"]
    for model, modes in result["models"].items():
        m = modes[mode]
        for key in rouge.KEYS:
            lines.append(f"{model:6} {key:9} {m[key + '_a']:8.4f} {m[key + '_b']:8.4f} {m[key + '_diff']:+8.4f}  "
                         f"[{m[key + '_low']:+.4f}, {m[key + '_high']:+.4f}] {m[key + '_p']:7.4f} "
                         f"{m[key + '_p_holm']:7.4f}")
    found = significant(result, mode)
    lines.append(f"significant after Holm's correction (p_holm < {level:g}): {'; '.join(found)}" if found else
                 f"none of the {family} differences is significant after Holm's correction (p_holm < {level:g})")
    lines += output_lines(result, mode)
    lines += speed_lines(result.get("generation", {}))
    lines.append(f"params that differ: {listed(result['params_diff'])}")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(map(terminal, lines))  # run names, params and engines are data: no escape or line of their own


def speed_lines(generation: dict) -> list[str]:
    """Per model, the generation speed of A and B with the engine each ran, where both runs recorded it; the ratio
    only where they are comparable (comparable()), with a caveat where the runs did not record where they ran."""
    lines = []
    for model, runs in generation.items():
        a, b = runs["a"] or {}, runs["b"] or {}
        if a.get("s_per_dialogue") and b.get("s_per_dialogue"):
            why = comparable(a, b)
            ratio = f"B {a['s_per_dialogue'] / b['s_per_dialogue']:.2f}x as fast"
            if why is not None:
                ratio = f"not comparable: {why}"
            elif not all(run.get("cpu_model") for run in (a, b)):
                ratio += (" (the machine is not recorded for " + " and ".join(
                    side for side, run in (("A", a), ("B", b)) if not run.get("cpu_model")) +
                    ": comparable only if both ran on one machine under like load)")
            lines.append(f"speed  {model:6} A {a['s_per_dialogue']:.4f} s/dialogue ({_engine(a)}), B "
                         f"{b['s_per_dialogue']:.4f} s/dialogue ({_engine(b)}): {ratio}")
    return lines


LOAD_GAP = 0.25  # load averages per CPU further apart than this: one run shared its CPUs with other work


def comparable(a: dict, b: dict) -> str | None:
    """Why two generation timings are not comparable, or None: recorded on different machines (GPU, or CPU model
    and count), or under different load (the 1-minute load average per CPU just before generating, more than
    LOAD_GAP apart). What a run did not record cannot be told apart: None."""
    if not all(run.get("cpu_model") for run in (a, b)):
        return None
    where_a, where_b = ((run.get("gpu"), run["cpu_model"], run.get("cpu_count")) for run in (a, b))
    if where_a != where_b:
        return f"different machines (A {_machine(a)}, B {_machine(b)})"
    loads = [run["load_average_1min"] / run["cpu_count"] for run in (a, b)
             if run.get("load_average_1min") is not None and run.get("cpu_count")]
    if len(loads) == 2 and abs(loads[0] - loads[1]) > LOAD_GAP:
        return (f"measured under different load (1-minute load average per CPU before generating: A "
                f"{loads[0]:.2f}, B {loads[1]:.2f})")
    return None


def _machine(run: dict) -> str:
    return (run.get("gpu") or f"{run['cpu_model']}, {run.get('cpu_count') or '?'} CPUs")


def _engine(run: dict) -> str:
    return " ".join(str(run[k]) for k in ("engine", "compute_type") if run.get(k)) or \
        f"torch {run.get('precision', '')}".strip()
