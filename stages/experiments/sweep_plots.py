"""The sweep's two charts: ROUGE against the swept param (one line per group of matching runs), and the
quality-cost view: ROUGE against trainable parameters, training time and peak memory, frontier drawn. Param
names, values and group labels are data: drawn through plots.literal, never as mathtext."""
from matplotlib.ticker import EngFormatter, MaxNLocator

from ..scoring import rouge
from ..reporting.plots import literal, plt, save

COST_LABELS = {"trainable_params": "trainable parameters", "train_runtime_s": "training time, optimizer steps (s)",
               "peak_memory_bytes": "peak memory (MiB)"}
SCALE = {"peak_memory_bytes": 2 ** -20}


def _numeric(points) -> bool:
    return all(isinstance(p["value"], (int, float)) and not isinstance(p["value"], bool) for p in points)


def by_param(series: list[dict], param: str, what: str, path) -> None:
    """One panel per ROUGE variant; error bars: a run's bootstrap interval, or replicates' min to max."""
    figure, axes = plt.subplots(1, len(rouge.KEYS), figsize=(4 * len(rouge.KEYS), 4), squeeze=False)
    for axis, key in zip(axes[0], rouge.KEYS):
        for number, s in enumerate(series):
            points = s["points"]
            x = [p["value"] for p in points] if _numeric(points) else [literal(p["value"]) for p in points]
            y = [p[key] for p in points]
            has = all(p[f"{key}_low"] is not None and p[f"{key}_high"] is not None for p in points)
            errors = [[p[key] - p[f"{key}_low"] for p in points], [p[f"{key}_high"] - p[key] for p in points]] \
                if has else None
            axis.errorbar(x, y, yerr=errors, marker="o" if number == 0 else "x", capsize=3,
                          linestyle="-" if number == 0 else ":", label=literal(s["label"][:60]))
        axis.set(xlabel=literal(param), ylabel=f"{key} F-measure", title=f"{key} ({what})")
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    save(figure, path)


def cost(points: list[dict], metric: str, what: str, param: str, frontiers: dict, path) -> None:
    figure, axes = plt.subplots(1, len(COST_LABELS), figsize=(5 * len(COST_LABELS), 4), squeeze=False)
    for axis, (key, label) in zip(axes[0], COST_LABELS.items()):
        scale = SCALE.get(key, 1)
        usable = [{**p, key: p[key] * scale} for p in points if p.get(key) is not None]
        axis.scatter([p[key] for p in usable], [p[metric] for p in usable])
        for p in usable:
            axis.annotate(literal(f"{param}={p['value']}"), (p[key], p[metric]), textcoords="offset points", xytext=(4, 4),
                          fontsize="small")
        best = [{**p, key: p[key] * scale} for p in frontiers.get(key) or []]
        axis.plot([p[key] for p in best], [p[metric] for p in best], color="C1", label="frontier")
        axis.set(xlabel=label, ylabel=f"{metric} ({what})", title=f"{metric} against {label}")
        if key == "trainable_params":  # 12.5k, 3.54M: long counts would run into each other
            axis.xaxis.set_major_formatter(EngFormatter(sep=""))
            axis.xaxis.set_major_locator(MaxNLocator(5))
        if usable:
            axis.legend(fontsize="small")
        else:
            axis.text(0.5, 0.5, "not recorded", ha="center", transform=axis.transAxes)
    figure.tight_layout()
    save(figure, path)
