"""The text→id map on two item texts at once: [catalogue sentence ; LLM description] vectors.

What does real LLM item knowledge add (docs/text-value.md)? Joined to the template's sentence as one
string (``item_text_variants.py``) the generic LLM paragraph dilutes it; here each text keeps its
own sentence vector and the ridge map (``model: text_to_id``, ``ridge: loo``) reads both, side by
side (768-d), optionally with the LLM half scaled by ``--llm-weights`` (ridge shrinks both halves
alike, so the scale sets how much the LLM half may say). No training: each cold SASRec of
``--runs`` (a ``{seed}`` / ``{set}`` pattern of checkpoints) is mapped again and evaluated on its
cold items, all of them and each half (select on valid)::

    python benchmarks/cold_text_concat.py --llm ../shared/data/ml-100k-llm \\
        --runs 'runs/coldsets/sasrec_c{set}/seed{seed}/checkpoints/final.pt' --sets 7 99

(set 2024's SASRecs are in ``runs/cold/sasrec``: ``ln -s ../cold/sasrec runs/coldsets/sasrec_c2024``
puts all three sets under one pattern.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ur4rec.config import load_config
from ur4rec.data.prepared import prepare_dataset
from ur4rec.evaluation.cold import cold_results
from ur4rec.models.text_baselines import TextToIdMap
from ur4rec.text.encode import encode_texts
from ur4rec.text.io import ITEM_FILE
from ur4rec.text.template import template_texts
from ur4rec.training.checkpoint import load_checkpoint

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sasrec_ml100k.yaml"


def item_vectors(data, llm: dict[str, str], encoder: str) -> tuple[np.ndarray, np.ndarray]:
    """``([N, E] catalogue sentences, [N, E] LLM descriptions)``; an item the LLM file lacks
    gets its catalogue sentence on both sides."""
    _, catalogue = template_texts(data, item_statistics=False)
    ids = data.item_ids
    described = [llm.get(str(ids[item]), catalogue[item]) for item in range(1, data.num_items + 1)]
    return encode_texts(catalogue[1:], encoder)[0], encode_texts(described, encoder)[0]


def cold_figures(data, config, vectors: np.ndarray, checkpoint: Path) -> tuple[float, ...]:
    """``(all cold, valid half, test half)`` full NDCG@10 and the ridge strength chosen."""
    table = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])  # padding row
    model = TextToIdMap(data.num_items, config.sasrec, config.text_baselines, table,
                        data.train_item_counts)
    model.load_state_dict(load_checkpoint(checkpoint)["model"], strict=False)
    model.eval()
    cold = cold_results(model, data, config.evaluation)["cold"]
    return (cold["metrics"]["full"]["ndcg@10"], cold["valid"]["metrics"]["full"]["ndcg@10"],
            cold["test"]["metrics"]["full"]["ndcg@10"], float(model.strength))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", type=Path, required=True, help="folder with " + ITEM_FILE)
    parser.add_argument("--runs", required=True, help="checkpoint pattern with {seed}, {set}")
    parser.add_argument("--sets", type=int, nargs="+", default=[2024],
                        help="data.candidate_seed of each cold item set")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--llm-weights", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--cold-items", type=float, default=0.1)
    args = parser.parse_args()
    path = args.llm / ITEM_FILE
    if not path.is_file():
        sys.exit(f"{path}: not found (expected a JSON object of item id → description)")
    llm = json.loads(path.read_text())
    print("| set | item vectors | cold full NDCG@10 | valid half | test half | ridge |")
    print("|---|---|---|---|---|---|")
    for cold_set in args.sets:
        config = load_config(CONFIG, {"data.cold_items": args.cold_items,
                                      "data.candidate_seed": cold_set, "model": "text_to_id"})
        data = prepare_dataset(config.data)
        catalogue, described = item_vectors(data, llm, config.texts.encoder_model)
        variants = {"catalogue": catalogue, "LLM": described}
        variants.update({f"[catalogue ; {w:g} × LLM]": np.hstack([catalogue, w * described])
                         for w in args.llm_weights})
        for name, vectors in variants.items():
            runs = []
            for seed in args.seeds:
                checkpoint = Path(args.runs.format(seed=seed, set=cold_set))
                if not checkpoint.is_file():
                    sys.exit(f"{checkpoint}: no such checkpoint (--runs {args.runs!r})")
                runs.append(cold_figures(data, config, vectors, checkpoint))
            values = np.asarray(runs)
            spread = values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
            cells = [f"{m:.4f} ± {s:.4f}" for m, s in zip(values.mean(0)[:3], spread[:3],
                                                          strict=True)]
            print(f"| {cold_set} | {name} | " + " | ".join(cells)
                  + f" | {', '.join(f'{v:g}' for v in sorted(set(values[:, 3])))} |")


if __name__ == "__main__":
    main()
