"""Apply the fusion-share selection to finished runs and print test metrics before and after.

    python benchmarks/fusion_selection.py runs/bench/ur4rec_ml100k/seed1 …
    python benchmarks/fusion_selection.py --text-score-history-len 3 runs/ur4rec_beauty/seed1 …
    python benchmarks/fusion_selection.py --text-score-lexical-share 0.5 runs/ur4rec_beauty/seed1 …
    python benchmarks/fusion_selection.py --text-score-rarity 0.05 runs/ur4rec_beauty/seed1 …
    python benchmarks/fusion_selection.py --select-text-score-rarity runs/ur4rec_beauty/seed1 …

The same function training calls after training (shares chosen on the validation split only),
applied to runs trained without it; the runs are not modified. A UR4Rec run selects its
``fusion.select_weights`` share; a SASRec run is rebuilt with
``sasrec.select_text_score_share: true`` — the same weights, since training never reads the text
score — and selects the share of the text zero-shot score (with ``--text-score-lexical-share``, of
the MiniLM + TF-IDF text score). "Before" is the run as it ranks now. Columns: the SASRec share before and
chosen, and test full NDCG@10, Recall@10 and full NDCG@10 on the tail-item and short-history
slices, before and after.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ur4rec import api
from ur4rec.evaluation.evaluator import Evaluator, SplitResult
from ur4rec.models.base import Recommender
from ur4rec.models.factory import build_model
from ur4rec.runs.inputs import model_inputs
from ur4rec.training.fusion_selection import select_fusion_weights

SLICES = ("item_tail", "user_short")


def selecting_model(run: Any, history_len: int | None, lexical_share: float | None = None,
                    rarity: float | None = None, select_rarity: bool | None = None
                    ) -> Recommender:
    """The run's model where it selects already and nothing is overridden, or — for a SASRec
    run — the same weights rebuilt with ``sasrec.select_text_score_share``,
    ``text_score_history_len``, ``text_score_lexical_share``, ``text_score_rarity`` and
    ``select_text_score_rarity`` (None: the run's)."""
    overrides = {"text_score_history_len": history_len,
                 "text_score_lexical_share": lexical_share, "text_score_rarity": rarity,
                 "select_text_score_rarity": select_rarity}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if run.config.model != "sasrec" or (run.model.selects_fusion_weights and not overrides):
        return run.model
    sasrec = run.config.sasrec.model_copy(update={"select_text_score_share": True, **overrides})
    config = run.config.model_copy(update={"sasrec": sasrec})
    model = build_model(config, run.data,
                        model_inputs(config, run.data, run.run_dir, None).vectors)
    missing, unexpected = model.load_state_dict(run.model.state_dict(), strict=False)
    if set(missing) - {"text_score_share", "text_score_rarity"} or unexpected:
        raise RuntimeError(f"{run.run_dir}: rebuilt model differs ({missing}, {unexpected})")
    return model.to(run.device).eval()


def cells(result: SplitResult) -> list[str]:
    full = result.metrics["full"]
    return ([f"{full['ndcg@10']:.4f}", f"{full['hit@10']:.4f}"]
            + [f"{result.slices['full'][name]['ndcg@10']:.4f}" for name in SLICES])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--text-score-history-len", type=int, default=None,
                        help="SASRec runs: the text score's history length (default: the run's)")
    parser.add_argument("--text-score-lexical-share", type=float, default=None,
                        help="SASRec runs: the TF-IDF view's share in the text score "
                             "(default: the run's)")
    parser.add_argument("--text-score-rarity", type=float, default=None,
                        help="SASRec runs: how much rare items lean on the text score "
                             "(sasrec.text_score_rarity; default: the run's)")
    parser.add_argument("--select-text-score-rarity", action="store_true", default=None,
                        help="SASRec runs: choose that lean with the share on validation "
                             "(sasrec.select_text_score_rarity)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures = "test N@10 | R@10 | tail N@10 | short N@10"
    print(f"| run | SASRec share | {figures} | chosen share | valid | {figures} |")
    print("|---" * 12 + "|")
    for run_dir in args.runs:
        run = api.load_run(run_dir)
        evaluator = Evaluator(run.data, run.config.evaluation)
        before = evaluator.evaluate(run.model, "test", run.device)
        model = selecting_model(run, args.text_score_history_len, args.text_score_lexical_share,
                                args.text_score_rarity, args.select_text_score_rarity)
        chosen = select_fusion_weights(model, evaluator, run.device,
                                       (run.config.evaluation.protocol,
                                        run.config.evaluation.metric))
        after = evaluator.evaluate(model, "test", run.device)
        best_valid = chosen["valid"][f"{chosen['sasrec_weight']:.2f}"]
        lean = ""
        if "rarity_lean" in chosen:  # the chosen β, and the best validation figure per β
            per_lean = chosen["valid_by_rarity_lean"]
            lean = (f", β {chosen['rarity_lean']:g} (valid at β {' / '.join(per_lean)}: "
                    + " / ".join(f"{v:.4f}" for v in per_lean.values()) + ")")
        row = ([f"{run.model.sasrec_share():.2f}"] + cells(before)
               + [f"{chosen['sasrec_weight']:.2f}" + lean, f"{best_valid:.4f}"] + cells(after))
        print(f"| {run_dir} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
