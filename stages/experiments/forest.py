"""The comparison drawn: a forest plot of each difference with its interval."""
from pathlib import Path

from ..scoring import rouge


def forest(result: dict, mode: str, path: Path) -> None:
    """Difference with its interval per model and ROUGE variant, zero marked, Holm-adjusted p beside: a forest
    plot. Run names are data: `$` in them is escaped, or matplotlib would parse `$...$` as mathtext."""
    from ..reporting import plots  # matplotlib: only loaded to draw

    rows = [(model, key, values[mode]) for model, values in result["models"].items() for key in rouge.KEYS]
    figure, axes = plots.plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    for y, (model, key, m) in enumerate(reversed(rows)):
        diff = m[key + "_diff"]
        axes.errorbar(diff, y, xerr=[[diff - m[key + "_low"]], [m[key + "_high"] - diff]], fmt="o", capsize=3,
                      color=f"C{list(result['models']).index(model)}")
    axes.axvline(0, color="grey", linewidth=1)
    beside = plots.matplotlib.transforms.blended_transform_factory(axes.transAxes, axes.transData)
    for y, (_, key, m) in enumerate(reversed(rows)):
        axes.text(1.01, y, f"p_holm={m[key + '_p_holm']:.3g}", transform=beside, va="center", fontsize="small")
    axes.set_yticks(range(len(rows)), [f"{model} {key}" for model, key, _ in reversed(rows)])
    axes.set(xlabel=plots.literal(f"{result['b']} minus {result['a']} ({mode}, {result['confidence']:.0%} interval)"),
             title=f"ROUGE difference on {result['dialogues']} dialogues")
    plots.save(figure, path)
