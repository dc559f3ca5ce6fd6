"""Top-10 for every ML-100K user: FAISS (exact inner-product index) against torch brute force.

    python benchmarks/bench_faiss.py [--run RUN_DIR] [--k 10] [--repeats 5] [--catalogue N]
                                     [--kind exact|ivf]

Without ``--run`` a freshly initialised SASRec (configs/sasrec_ml100k.yaml) supplies the vectors:
the time of a search does not depend on how well the vectors were trained. Both sides start
from the same user states (computed once, timed apart) and exclude each user's whole history.
Prints the median over ``--repeats`` runs of: index build, FAISS top-K (search + history filter),
torch brute force (``[U, N]`` scores, history set to -inf, ``topk``), and how many users got the
same top-K from both. Target (docs/scale.md): FAISS top-10 for all ML-100K users ≤ 1 s.
``--catalogue N`` replaces the items by N random vectors (same users and histories) to see
where FAISS overtakes dense scoring; brute force scores as many users at a time as fit in
2^27 scores (512 MB). ``--kind ivf`` times the APPROXIMATE index instead (``same top-K`` then
measures its recall); its build includes k-means training.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ur4rec import api
from ur4rec.config import load_config
from ur4rec.models.factory import build_model
from ur4rec.retrieval.faiss_index import ItemIndex, import_faiss
from ur4rec.retrieval.search import user_vectors


def median_seconds(work: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``work()`` over ``repeats`` calls, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def brute_force(users: torch.Tensor, items: torch.Tensor, histories: list[np.ndarray],
                k: int) -> torch.Tensor:
    """Dense scores ``[B, N + 1]`` per batch of users (≤ 2^27 scores), history at -inf, ``topk``."""
    batch_size = max(1, 2**27 // len(items))
    out = []
    for start in range(0, len(users), batch_size):
        chunk = histories[start:start + batch_size]
        rows = torch.from_numpy(np.repeat(np.arange(len(chunk)), [len(h) for h in chunk]))
        scores = users[start:start + batch_size] @ items.T
        scores[:, 0] = -torch.inf
        scores[rows, torch.from_numpy(np.concatenate(chunk))] = -torch.inf
        out.append(torch.topk(scores, k).indices)
    return torch.cat(out)


def model_and_data(run_dir: str | None) -> tuple[torch.nn.Module, Any]:
    if run_dir:
        run = api.load_run(run_dir)
        return run.model, run.data
    config = load_config("configs/sasrec_ml100k.yaml")
    data = api.prepare_data(config)
    torch.manual_seed(0)
    return build_model(config, data, None).eval(), data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained SASRec run (default: fresh weights)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--catalogue", type=int, help="N random item vectors instead")
    parser.add_argument("--kind", choices=["exact", "ivf"], default="exact")
    args = parser.parse_args()
    model, data = model_and_data(args.run)
    histories = data.sequences
    started = time.perf_counter()
    vectors = user_vectors(model, histories, np.arange(data.num_users))
    states_s = time.perf_counter() - started
    table = model.item_embeddings.detach().float()
    if args.catalogue:
        generator = torch.Generator().manual_seed(1)
        table = torch.randn(args.catalogue + 1, table.shape[1], generator=generator) * table.std()
    build_s, index = median_seconds(
        lambda: ItemIndex.from_embedding_table(table.numpy(), kind=args.kind), args.repeats)
    faiss_s, (found, _) = median_seconds(lambda: index.top_k(vectors, args.k, histories),
                                         args.repeats)
    users = torch.from_numpy(vectors)
    torch_s, dense = median_seconds(lambda: brute_force(users, table, histories, args.k),
                                    args.repeats)
    same = int((torch.from_numpy(found) == dense).all(dim=1).sum())
    recall = np.mean([len(np.intersect1d(a, b)) / args.k
                      for a, b in zip(found, dense.numpy(), strict=True)])
    faiss = import_faiss()
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), faiss {faiss.__version__} "
          f"({faiss.omp_get_max_threads()} threads)")
    print(f"command: {' '.join([sys.executable.rsplit('/', 1)[-1], *sys.argv])}")
    print(f"data: {data.name}, {data.num_users} users, {len(table) - 1} items; "
          f"vectors: {args.run or 'fresh SASRec'} (D={vectors.shape[1]}); k={args.k}; "
          f"median of {args.repeats}")
    print(f"user states (shared, once): {states_s:.3f} s")
    print(f"FAISS {args.kind} index build: {build_s * 1000:.1f} ms")
    print(f"FAISS {args.kind} top-{args.k}, all users, history excluded: {faiss_s:.3f} s")
    print(f"torch brute force top-{args.k}, same: {torch_s:.3f} s")
    print(f"same top-{args.k} from both: {same}/{data.num_users} users; "
          f"FAISS recall@{args.k}: {recall:.3f}")


if __name__ == "__main__":
    main()
