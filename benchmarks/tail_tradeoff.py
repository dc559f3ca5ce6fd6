"""How far a finished text-score run can lift rare items, and what the lift costs overall.

    python benchmarks/tail_tradeoff.py runs/ur4rec_scientific/seed1
    python benchmarks/tail_tradeoff.py --shares 0.2 0.3 0.4 --rarity 0 0.1 0.2 RUN
    python benchmarks/tail_tradeoff.py --text-score-lexical-share 0.5 runs/ur4rec_beauty/seed1

A SASRec run that blends the text score ranks by ``(1 − s)·z(SASRec) + s·z(text)``; with
``sasrec.text_score_rarity`` β the text share leans towards rare items: item ``i`` gets
``w_i = clip(s + β·(mean_j log(1 + c_j) − log(1 + c_i)), 0, 1)``, ``c`` the training counts —
an id trained on few interactions is trusted less than its text
(:func:`ur4rec.models.sasrec.blend_text_score`).

Every (s, β) of a grid is scored on the run's checkpoint, on both splits, in one pass per split
(the branch scores are computed once); the rows give validation and test full NDCG@10 overall,
on tail-item targets and on short-history users. ``--text-score-lexical-share`` rebuilds the
run's text score with that TF-IDF share first (as ``fusion_selection.py`` does; the same
weights). ``--overall-floor F`` marks the row a validation-only rule picks: the most validation
tail NDCG@10 among rows whose validation NDCG@10 is at least ``F``. The run is not modified;
nothing here trains.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from fusion_selection import selecting_model  # the sibling script (sys.path[0] when run)

from ur4rec import api
from ur4rec.evaluation.evaluator import Evaluator, SplitResult
from ur4rec.models.base import UserBatch
from ur4rec.models.sasrec import SASRec, blend_text_score, rarity_offsets


def blend_variants(model: SASRec, offsets: torch.Tensor, grid: list[tuple[float, float]]
                   ) -> Callable[[UserBatch], dict[str, torch.Tensor]]:
    """``batch → {"s,β": [B, N + 1] scores}`` for every (share, rarity) of ``grid``."""
    def variants(batch: UserBatch) -> dict[str, torch.Tensor]:
        ids = model.user_state(batch) @ model.item_embeddings.T
        text = model.text_similarity(batch.history, batch.lengths)
        return {f"{share},{rarity}": blend_text_score(ids, text, share, rarity * offsets)
                for share, rarity in grid}
    return variants


def figures(result: SplitResult) -> tuple[float, float, float]:
    slices = result.slices["full"]
    return (result.metrics["full"]["ndcg@10"], slices["item_tail"]["ndcg@10"],
            slices["user_short"]["ndcg@10"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--rarity", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.15, 0.2])
    parser.add_argument("--text-score-lexical-share", type=float, default=None,
                        help="rebuild the text score with this TF-IDF share (default: the run's)")
    parser.add_argument("--overall-floor", type=float, default=None,
                        help="mark the row with the most validation tail NDCG@10 among those "
                             "with validation NDCG@10 >= this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = api.load_run(args.run)
    model = run.model
    if isinstance(model, SASRec) and args.text_score_lexical_share is not None:
        model = selecting_model(run, None, args.text_score_lexical_share)
    if not isinstance(model, SASRec) or model.text_similarity is None:
        raise SystemExit(f"{args.run}: not a SASRec run that blends the text score "
                         "(sasrec.select_text_score_share or text_score_share)")
    grid = [(s, b) for s in args.shares for b in args.rarity]
    variants = blend_variants(model, rarity_offsets(run.data.train_item_counts), grid)
    evaluator = Evaluator(run.data, run.config.evaluation)
    results = {split: evaluator.evaluate_many(model, split, run.device, variants)
               for split in ("valid", "test")}
    rows = {key: figures(results["valid"][key]) + figures(results["test"][key])
            for key in results["valid"]}
    chosen = None
    if args.overall_floor is not None:
        allowed = [key for key, row in rows.items() if row[0] >= args.overall_floor]
        chosen = max(allowed, key=lambda key: rows[key][1]) if allowed else None
    print("| text share s | rarity β | valid N@10 | valid tail | valid short | test N@10 "
          "| test tail | test short |")
    print("|---" * 8 + "|")
    for key, row in rows.items():
        share, rarity = key.split(",")
        mark = " ←" if key == chosen else ""
        print(f"| {share} | {rarity}{mark} | " + " | ".join(f"{v:.4f}" for v in row) + " |",
              flush=True)


if __name__ == "__main__":
    main()
