"""What a cold-item case's user text could know of the time after its target (docs/text-value.md).

    python benchmarks/cold_case_texts.py --dataset ml-100k --cold-items 0.1

For every cold case (all cold items; ``ur4rec.evaluation.cold``): whether the user has warm
training items rated after the target — strictly later by timestamp, and at or after it (ML-100K
rates many films in one second, which the case rule does not count as before) — and whether a
template user text names such a film by title: the text written from the whole training part
(what UR4Rec read before cold cases had their own texts) and the case's own text (``ur4rec.text.case_texts``). A title
only counts when no film before the target carries it within its own title (as in
``training_target_exposure``).
"""

from __future__ import annotations

import argparse

import numpy as np

from ur4rec.config import DataConfig
from ur4rec.data.prepared import prepare_dataset
from ur4rec.evaluation.cold import cold_cases
from ur4rec.text.case_texts import cold_case_view
from ur4rec.text.catalog import display_title
from ur4rec.text.template import template_texts


def names_a_later_film(text: str, later: np.ndarray, before: set[int], titles: list[str]) -> bool:
    """Whether ``text`` names one of the ``later`` items by a title no ``before`` item holds."""
    return any(titles[item] and titles[item] in text
               and not any(titles[item] in titles[other] for other in before)
               for item in set(later.tolist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--cold-items", type=float, default=0.1)
    args = parser.parse_args()
    data = prepare_dataset(DataConfig(dataset=args.dataset, cold_items=args.cold_items))
    cases = cold_cases(data)
    items = data.items.sort_values("item_idx")[["title", "year", "item"]]
    titles = [""] + [display_title(t, y, i, alternate_wanted=False)
                     for t, y, i in items.itertuples(index=False)]
    whole = template_texts(data)[0]
    own = template_texts(cold_case_view(data, cases))[0]
    targets = data.cold_interactions.groupby("user_idx").tail(1).set_index("user_idx")
    counts = dict.fromkeys(("strictly later", "at or after", "whole text names strictly later",
                            "whole text names at or after", "case text names at or after"), 0)
    for user, history in zip(cases.users, cases.histories, strict=True):
        train = data.train_sequences[user]
        before = set(train[:len(history)].tolist())
        at_or_after = train[len(history):]
        strictly = train[data.timestamps[user][:len(train)] > targets.loc[user, "timestamp"]]
        counts["strictly later"] += len(strictly) > 0
        counts["at or after"] += len(at_or_after) > 0
        counts["whole text names strictly later"] += names_a_later_film(
            whole[user], strictly, before, titles)
        counts["whole text names at or after"] += names_a_later_film(
            whole[user], at_or_after, before, titles)
        counts["case text names at or after"] += names_a_later_film(
            own[user], at_or_after, before, titles)
    print(f"| {args.dataset}, cold_items {args.cold_items}: {len(cases.users)} cases | cases |")
    print("|---|---|")
    for name, count in counts.items():
        print(f"| {name} | {count} |")


if __name__ == "__main__":
    main()
