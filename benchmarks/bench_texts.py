"""The text pipeline's figures on ML-100K (943 users, 1,682 items).

    python benchmarks/bench_texts.py [--threads 0] [--backend auto|torch|torch-bf16|onnx]
                                     [--no-reference] [--openai-texts 400] [--delay-ms 50]
                                     [--concurrency 8]

Measures, each in a fresh cache folder (so nothing is warm from earlier runs):
1. template texts for every user and item, written as a text folder (target ≤ 10 s);
2. encoding them and the training-view user texts (written without each user's last
   ``retriever.train_positions`` training items) with all-MiniLM-L6-v2 on ``--backend`` (sets
   ``UR4REC_ENCODER_BACKEND``), model load and any ONNX export included (target ≤ 30 s on 2 cores);
3. the same again, everything cached (target ≤ 2 s), and ``texts_for_run`` with warm caches;
4. unless ``--no-reference``: the same texts with the float32 torch backend in another fresh
   cache (the figure before the faster backends), and the cosine of every vector of step 2 to
   its float32 one (min and mean; target ≥ 0.995 for every text);
5. the ``openai`` backend against a loopback fake server answering in ``--delay-ms`` with
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
# the test double of an OpenAI-compatible server (in a clone: it does not ship in the wheel)
FAKE_SERVER = Path(__file__).resolve().parents[1] / "tests" / "text" / "fake_openai.py"


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
    parser.add_argument("--backend", default="auto",
                        choices=["auto", "torch", "torch-bf16", "onnx"],
                        help="encoder backend for step 2 (UR4REC_ENCODER_BACKEND)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the float32 torch reference encoding and the cosines")
    parser.add_argument("--reference-threads", type=int, default=0,
                        help="threads for the reference (0: torch's count, as before the "
                             "encoder chose its own)")
    parser.add_argument("--openai-texts", type=int, default=400)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-texts-"))
    data_cache = os.environ.get("UR4REC_CACHE_DIR")
    load_before = os.getloadavg()

    import torch

    from ur4rec.config import DataConfig, RetrieverConfig, RunConfig, TextsConfig
    from ur4rec.data.prepared import default_prepared_dir, prepare_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    data = prepare_dataset(DataConfig(dataset="ml-100k"))  # from the usual cache
    prepared = str(default_prepared_dir(DataConfig(dataset="ml-100k")))
    os.environ["UR4REC_CACHE_DIR"] = str(scratch / "cache")  # texts and vectors start cold
    os.environ.setdefault("TQDM_DISABLE", "1")

    from ur4rec.text.encode import BACKEND_ENV, THREADS_ENV, encode_texts, encoder_threads
    from ur4rec.text.generate import generate_texts
    from ur4rec.text.io import read_text_folder
    from ur4rec.text.openai_backend import OpenAIBackend
    from ur4rec.text.pipeline import fill_missing_with_template, texts_for_run
    from ur4rec.text.template import template_texts

    rows = []
    result, seconds = timed(generate_texts, data, "template", TextsConfig(), scratch / "template")
    rows.append(("template texts, 943 users + 1,682 items", seconds, "≤ 10 s"))

    complete = fill_missing_with_template(read_text_folder(scratch / "template", data), data)
    users, items = complete.users, complete.items
    holdout = RetrieverConfig().train_positions
    view_users = template_texts(data.without_recent_training(holdout))[0]
    texts = users + items[1:] + view_users
    os.environ[BACKEND_ENV] = args.backend
    threads = encoder_threads()
    (vectors, report), seconds = timed(encode_texts, texts)
    rows.append((f"encode {len(texts)} texts ({len(users)} users, {len(items) - 1} items, "
                 f"{len(view_users)} training-view users; "
                 f"{np.mean([len(t.split()) for t in texts]):.0f} words each) on "
                 f"{report.backend}, {threads} thread(s), model load included → "
                 f"{report.encoded / seconds:.0f} texts/s", seconds, "≤ 30 s"))
    (_, cached_report), seconds = timed(encode_texts, texts)
    assert cached_report.encoded == 0
    rows.append(("encode again, all cached", seconds, "≤ 2 s"))
    config = RunConfig(model="ur4rec", texts=TextsConfig(dir=scratch / "template"))
    texts_for_run(config, data, scratch / "run0", None)
    run, seconds = timed(texts_for_run, config, data, scratch / "run1", None)
    assert run.info["encoding"]["encoded"] == 0
    rows.append(("texts_for_run, texts and vectors cached", seconds, "≤ 2 s"))

    agreement = None
    if not args.no_reference:
        os.environ[BACKEND_ENV] = "torch"
        previous = os.environ.get(THREADS_ENV)
        os.environ[THREADS_ENV] = str(args.reference_threads or torch.get_num_threads())
        (reference, reference_report), seconds = timed(
            encode_texts, texts, cache_path=scratch / "reference" / "embeddings.sqlite")
        reference_threads = encoder_threads()
        if previous is None:
            os.environ.pop(THREADS_ENV)
        else:
            os.environ[THREADS_ENV] = previous
        rows.append((f"before: the same {len(texts)} texts on torch float32, "
                     f"{reference_threads} thread(s), model load included → "
                     f"{reference_report.encoded / seconds:.0f} texts/s", seconds, "reference"))
        a, b = vectors.astype(np.float64), reference.astype(np.float64)
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        agreement = {"min": round(float(cosine.min()), 6), "mean": round(float(cosine.mean()), 6),
                     "below_0.995": int((cosine < 0.995).sum())}
        rows.append((f"cosine of {report.backend} to float32 vectors: min {agreement['min']:.5f}, "
                     f"mean {agreement['mean']:.5f}, {agreement['below_0.995']} below 0.995",
                     0.0, "min ≥ 0.995"))
        CPU_SECONDS.append(0.0)
    os.environ.pop(BACKEND_ENV)

    half = args.openai_texts // 2
    user_list, item_list = list(range(half)), list(range(1, args.openai_texts - half + 1))
    # the fake server runs in its own process, as a real endpoint would
    server = subprocess.Popen([sys.executable, str(FAKE_SERVER), str(args.delay_ms)],
                              stdout=subprocess.PIPE, text=True)
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
        "backend": report.backend, "requested_backend": args.backend, "encoder_threads": threads,
        "cosine_to_float32": agreement,
        "prepared": prepared,
        "data_cache": data_cache,
        "rows": [{"step": n, "seconds": round(s, 3), "cpu_seconds": round(c, 3), "target": t}
                 for (n, s, t), c in zip(rows, cpu, strict=True)],
    }, indent=2))


if __name__ == "__main__":
    main()
