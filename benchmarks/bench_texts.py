"""The text pipeline's figures on ML-100K (943 users, 1,682 items).

    python benchmarks/bench_texts.py [--threads 0] [--openai-texts 400] [--delay-ms 50]
                                     [--concurrency 8]

Measures, each in a fresh cache folder (so nothing is warm from earlier runs):
1. template texts for every user and item, written as a text folder (target ≤ 10 s);
2. encoding them with all-MiniLM-L6-v2, model load included (target ≤ 30 s on 2 cores);
3. the same again, everything cached (target ≤ 2 s), and ``texts_for_run`` with warm caches;
4. the ``openai`` backend against a loopback fake server answering in ``--delay-ms`` with
   ``--concurrency`` requests in flight (target ≥ 50 texts/s), then the cached re-run.
Prints a markdown table, then the same as JSON with the machine and its load average (the
machine may be shared: a load above the core count slows every figure).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CPU_SECONDS: list[float] = []  # process CPU time of each timed call, in order


def timed(function, *args, **kwargs):
    """``(value, wall seconds)``; the call's CPU seconds go to :data:`CPU_SECONDS`. With one
    torch thread, CPU seconds are what the step costs on an idle core, whatever the load."""
    started, cpu_started = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    CPU_SECONDS.append(time.process_time() - cpu_started)
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--openai-texts", type=int, default=400)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-texts-"))
    data_cache = os.environ.get("UR4REC_CACHE_DIR")
    load_before = os.getloadavg()

    import torch

    from ur4rec.config import DataConfig, RunConfig, TextsConfig
    from ur4rec.data.prepared import default_prepared_dir, prepare_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    data = prepare_dataset(DataConfig(dataset="ml-100k"))  # from the usual cache
    prepared = str(default_prepared_dir(DataConfig(dataset="ml-100k")))
    os.environ["UR4REC_CACHE_DIR"] = str(scratch / "cache")  # texts and vectors start cold
    os.environ.setdefault("TQDM_DISABLE", "1")

    from ur4rec.text.encode import encode_texts
    from ur4rec.text.generate import generate_texts
    from ur4rec.text.io import read_text_folder
    from ur4rec.text.openai_backend import OpenAIBackend
    from ur4rec.text.pipeline import fill_missing_with_template, texts_for_run

    rows = []
    result, seconds = timed(generate_texts, data, "template", TextsConfig(), scratch / "template")
    rows.append(("template texts, 943 users + 1,682 items", seconds, "≤ 10 s"))

    users, items, _, _ = fill_missing_with_template(read_text_folder(scratch / "template", data),
                                                    data)
    texts = users + items[1:]
    (vectors, report), seconds = timed(encode_texts, texts)
    rows.append((f"encode {len(texts)} texts (model load included, "
                 f"{np.mean([len(t.split()) for t in texts]):.0f} words each)", seconds, "≤ 30 s"))
    (_, cached_report), seconds = timed(encode_texts, texts)
    assert cached_report.encoded == 0
    rows.append(("encode again, all cached", seconds, "≤ 2 s"))
    config = RunConfig(model="ur4rec", texts=TextsConfig(dir=scratch / "template"))
    texts_for_run(config, data, scratch / "run0", None)
    run, seconds = timed(texts_for_run, config, data, scratch / "run1", None)
    assert run.info["encoding"]["encoded"] == 0
    rows.append(("texts_for_run, texts and vectors cached", seconds, "≤ 2 s"))

    half = args.openai_texts // 2
    user_list, item_list = list(range(half)), list(range(1, args.openai_texts - half + 1))
    # the fake server runs in its own process, as a real endpoint would
    server = subprocess.Popen([sys.executable, "-m", "ur4rec.text.fake_openai",
                               str(args.delay_ms)], stdout=subprocess.PIPE, text=True)
    try:
        backend = OpenAIBackend(server.stdout.readline().strip(), "fake", "key",
                                concurrency=args.concurrency)
        generated, seconds = timed(generate_texts, data, "openai", TextsConfig(),
                                   scratch / "openai", users=user_list, items=item_list,
                                   llm=backend, progress=False)
        count = len(generated.users) + len(generated.items)
        assert not generated.failures
        rows.append((f"openai backend, {count} texts, fake server {args.delay_ms:g} ms, "
                     f"concurrency {args.concurrency} → {count / seconds:.0f} texts/s",
                     seconds, "≥ 50 texts/s"))
        again, seconds = timed(generate_texts, data, "openai", TextsConfig(),
                               scratch / "openai", users=user_list, items=item_list,
                               llm=backend, progress=False)
        assert again.provenance["generated"] == 0
        rows.append((f"openai backend again, {count} texts all cached (0 requests)", seconds,
                     "free"))
    finally:
        server.terminate()
        server.wait()

    cpu = CPU_SECONDS
    print("| step | wall s | CPU s | target |\n|---|---:|---:|---|")
    for (name, seconds, target), cpu_s in zip(rows, cpu, strict=True):
        print(f"| {name} | {seconds:.2f} | {cpu_s:.2f} | {target} |")
    print(json.dumps({
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "encoder": report.encoder, "dim": int(vectors.shape[1]),
        "prepared": prepared,
        "data_cache": data_cache,
        "rows": [{"step": n, "seconds": round(s, 3), "cpu_seconds": round(c, 3), "target": t}
                 for (n, s, t), c in zip(rows, cpu, strict=True)],
    }, indent=2))


if __name__ == "__main__":
    main()
