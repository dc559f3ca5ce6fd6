"""Plot the headline figures of docs/headline.json into docs/headline.png.

Why: README's first screen shows the headline results as a table and as this picture. Both come
from one file, docs/headline.json, whose every value is copied from the table row of the doc it
names (tests/test_docs.py checks that), so the picture cannot drift from the measured figures.
It runs no model: it only reads the JSON. One panel per dataset, bars grouped by metric and
protocol, one bar per model, the seed spread as an error bar.

    python benchmarks/plot_headline.py [--json docs/headline.json] [--out docs/headline.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHORT = {"sampled (1 + 99)": "sampled", "full (history masked)": "full"}


def plot(entries: list[dict], out: Path) -> None:
    datasets = list(dict.fromkeys(e["dataset"] for e in entries))
    models = list(dict.fromkeys(e["model"] for e in entries))
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    widths = [len({(e["protocol"], e["metric"]) for e in entries if e["dataset"] == d})
              for d in datasets]
    fig, axes = plt.subplots(1, len(datasets), figsize=(11, 3.2),
                             width_ratios=widths, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        rows = [e for e in entries if e["dataset"] == dataset]
        groups = list(dict.fromkeys((e["protocol"], e["metric"]) for e in rows))
        present = list(dict.fromkeys(e["model"] for e in rows))
        bar = 0.8 / len(present)
        for k, model in enumerate(present):
            for g, (protocol, metric) in enumerate(groups):
                hit = [e for e in rows if (e["model"], e["protocol"], e["metric"])
                       == (model, protocol, metric)]
                if not hit:
                    continue
                value, std = float(hit[0]["value"]), hit[0]["std"]
                ax.bar(g - 0.4 + bar * (k + 0.5), value, bar, color=colours[model],
                       yerr=float(std) if std else None, capsize=2)
        ax.set_xticks(range(len(groups)),
                      [f"{m}\n{SHORT.get(p, p)}" for p, m in groups], fontsize=8)
        ax.set_title(dataset, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in models]
    fig.legend(handles, models, loc="upper center", ncol=len(models), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "docs" / "headline.json")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "headline.png")
    args = parser.parse_args()
    plot(json.loads(args.json.read_text(encoding="utf-8"))["entries"], args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
