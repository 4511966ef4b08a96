"""Plots for the benchmark scripts (issue #20): each measuring script draws its own figures
into docs/img/ with matplotlib, which scripts/bench-common.sh installs into .tools/matplotlib
from PyPI when it is missing. SVG, so the files diff as text and scale in any viewer.
Without matplotlib the scripts still measure and write their tables; they say the plot was
skipped.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMG = os.path.join(ROOT, "docs", "img")


def pyplot():
    """matplotlib.pyplot with a file-only backend, or None when it is not installed."""
    sys.path.insert(0, os.path.join(ROOT, ".tools", "matplotlib"))
    try:
        import matplotlib
    except ImportError:
        print("!! matplotlib not installed (.tools/matplotlib): plot skipped", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "vaultgate", "font.size": 9})
    return plt


def save(plt, fig, name, caption):
    """Writes docs/img/NAME with CAPTION as a small footer (when and how it was measured)."""
    os.makedirs(IMG, exist_ok=True)
    path = os.path.join(IMG, name)
    fig.text(0.01, 0.005, caption, fontsize=7, color="#555555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    # No timestamp in the file, so an unchanged figure is an unchanged file.
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    print(f"==> plot {os.path.relpath(path, ROOT)}")


def latency_percentiles(rows, caption, name="bench-latency.svg"):
    """rows: [(label, {"p50": ms, "p90": ms, "p99": ms, "p99.9": ms})], one group of bars each."""
    plt = pyplot()
    if plt is None or not rows:
        return
    keys = ["p50", "p90", "p99", "p99.9"]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        xs = [i + (k - (len(keys) - 1) / 2) * width for i in range(len(rows))]
        ax.bar(xs, [r[1].get(key, float("nan")) for r in rows], width, label=key)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[0] for r in rows], rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency percentiles per target (median of rounds)")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(ncol=len(keys), fontsize=8)
    save(plt, fig, name, caption)


def tenant_curve(points, caption, name="bench-tenants.svg"):
    """points: [(callers, rps, p99_ms, rss_mib)]: req/s and RSS against distinct callers."""
    plt = pyplot()
    if plt is None or not points:
        return
    callers = [p[0] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(callers, [p[1] for p in points], "o-", label="req/s (median)")
    ax.set_xscale("log")
    ax.set_xlabel("distinct callers (one mTLS connection each, at least 16)")
    ax.set_ylabel("req/s")
    ax.set_ylim(bottom=0)
    if points[0][1]:
        ax.axhline(0.85 * points[0][1], color="#999999", ls="--", lw=0.8,
                   label="0.85 × the 1-caller figure (target)")
    rss = ax.twinx()
    rss.plot(callers, [p[3] for p in points], "s:", color="tab:red", label="peak RSS (MiB)")
    rss.set_ylabel("peak RSS MiB")
    rss.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    more = rss.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower left", fontsize=8)
    ax.set_title("Cached reads vs distinct callers")
    ax.grid(alpha=0.3)
    save(plt, fig, name, caption)


def cost_curve(series, xlabel, title, caption, name):
    """series: {label: [(x, median_ns, low_ns, high_ns)]}: cost against size, log x."""
    plt = pyplot()
    if plt is None or not series:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, pts in series.items():
        pts = sorted(pts)
        xs = [p[0] for p in pts]
        med = [p[1] for p in pts]
        err = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
        ax.errorbar(xs, med, yerr=err, fmt="o-", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("ns per call (median, 95% CI)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(plt, fig, name, caption)
