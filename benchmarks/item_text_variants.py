"""Write item-text folders that mix the template's item texts with imported LLM descriptions.

What does real LLM item knowledge add on cold items (docs/text-value.md)? Imported alone (``texts.item_dir``)
the prototype's descriptions place new items worse than the template's; this script builds the
two other ways to use them as folders that ``texts.item_dir`` can import:

- ``template_llm``: the template's item text, then the LLM description (one string, one vector);
- ``catalogue_llm``: the template's first sentence only (title, genres, era: what
  ``texts.item_statistics: false`` writes on ML-100K, whose graph is not used), then the LLM
  description.

Items without an LLM description keep their template part alone. Usage (the template folder is
the ``dir`` in a run's ``texts.json``, e.g. a ``model=text_to_id`` run's)::

    python benchmarks/item_text_variants.py TEMPLATE_DIR ../shared/data/ml-100k-llm --out runs/item_texts
    python benchmarks/bench_train.py configs/sasrec_ml100k.yaml --out runs/cold --seeds 1 2 3 \\
        --tag map_VARIANT --set data.cold_items=0.1 --set model=text_to_id \\
        --set texts.item_dir=runs/item_texts/VARIANT --init-from 'runs/cold/sasrec/seed{seed}/checkpoints/final.pt'
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ITEM_FILE = "item_descriptions.json"
# the template's sentences that come from training statistics (ur4rec.text.template.item_text)
STATISTICS_START = re.compile(r" (?=It is |Nobody has rated it yet|Viewers who liked it)")
STATISTICS_WORDS = re.compile(r"\bviewers?\b|of 5 stars|also liked|rated it")


def catalogue_sentence(template_text: str) -> str:
    """The template text up to its first training-statistics sentence."""
    return STATISTICS_START.split(template_text, maxsplit=1)[0]


def variants(template: dict[str, str], llm: dict[str, str]) -> dict[str, dict[str, str]]:
    """Variant name → {item id: text}, over the template's ids."""
    def joined(first: str, item: str) -> str:
        return f"{first} {llm[item]}" if item in llm else first

    return {
        "template_llm": {item: joined(text, item) for item, text in template.items()},
        "catalogue_llm": {item: joined(catalogue_sentence(text), item)
                          for item, text in template.items()},
    }


def read_items(folder: Path) -> dict[str, str]:
    path = folder / ITEM_FILE
    if not path.is_file():
        sys.exit(f"{path}: not found (expected a JSON object of item id → text)")
    try:
        items = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        sys.exit(f"{path}: not valid JSON ({error})")
    if not isinstance(items, dict):
        sys.exit(f"{path}: expected a JSON object of item id → text")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template_dir", type=Path, help="folder with the template's " + ITEM_FILE)
    parser.add_argument("llm_dir", type=Path, help="folder with the LLM's " + ITEM_FILE)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    template, llm = read_items(args.template_dir), read_items(args.llm_dir)
    built = variants(template, llm)
    for item, text in template.items():
        # a statistic left means the template's wording changed: fix STATISTICS_START
        if STATISTICS_WORDS.search(catalogue_sentence(text)):
            sys.exit(f"{args.template_dir / ITEM_FILE}: item {item}: a training statistic is "
                     f"left after the cut: {catalogue_sentence(text)!r}")
    for name, texts in built.items():
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ITEM_FILE).write_text(json.dumps(texts, ensure_ascii=False, indent=0))
        with_llm = sum(item in llm for item in texts)
        print(f"{folder}: {len(texts)} items ({with_llm} with an LLM description)")


if __name__ == "__main__":
    main()
