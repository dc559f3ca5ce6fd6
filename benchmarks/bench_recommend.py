"""Latency of ``ur4rec.api.recommend`` for one user after the run is loaded.

    python benchmarks/bench_recommend.py RUN_DIR [--user ID] [--k 10] [--calls 500]
                                         [--threads 1]

Prints the load time, then the median and 95th percentile of one call (ms) over ``--calls``
calls after ``--warmup`` untimed ones. ``--threads`` sets torch's intra-op threads: for one
user, extra threads only add synchronisation, which on a busy machine costs far more than the
forward pass itself (see docs/diagnosis.md); 0 keeps torch's default.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch

from ur4rec import api


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def time_calls(run: api.LoadedRun, user: str, k: int, calls: int, warmup: int) -> list[float]:
    """Milliseconds per ``recommend`` call, sorted."""
    for _ in range(warmup):
        api.recommend(run, user, k)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        api.recommend(run, user, k)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--user", help="original user id (default: the first user)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    run = api.load_run(args.run_dir)
    load_s = time.perf_counter() - started
    user = args.user or str(run.data.user_ids[0])
    history = len(run.data.sequences[run.data.user_index(user)])
    times = time_calls(run, user, args.k, args.calls, args.warmup)
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"run: {args.run_dir} ({run.config.model}, {run.data.num_items} items); "
          f"user {user} ({history} interactions), k={args.k}")
    print(f"load_run: {load_s:.2f} s")
    print(f"recommend over {args.calls} calls: median {statistics.median(times):.2f} ms, "
          f"p95 {percentile(times, 0.95):.2f} ms, min {times[0]:.2f} ms, "
          f"max {times[-1]:.2f} ms")


if __name__ == "__main__":
    main()
