"""Scaling out of one small process: FAISS retrieval, Optuna search, larger datasets.

- :mod:`ur4rec.scale.faiss_index` — an inner-product item index (exact, or approximate when
  asked): top-K with each user's history excluded, and exact full-catalogue ranks;
- :mod:`ur4rec.scale.retrieval` — the index applied to a model or a trained run (the hooks the
  evaluator and ``recommend`` call when the catalogue is large);
- :mod:`ur4rec.scale.tune_space` and :mod:`ur4rec.scale.tune` — ``ur4rec tune``;
- :mod:`ur4rec.scale.datasets` — MovieLens-1M and Amazon files into the generic loader's shape;
- :mod:`ur4rec.scale.cli` — the commands (registered by :mod:`ur4rec.cli_extra`).

FAISS and Optuna are the optional extra ``ur4rec[scale]``; they are imported only when used.
"""
