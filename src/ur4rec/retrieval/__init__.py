"""Top-K retrieval over a vector index, for catalogues too large to score densely.

- :mod:`ur4rec.retrieval.faiss_index` — an inner-product item index (exact, or approximate when
  asked): top-K with each user's history excluded, and exact full-catalogue ranks;
- :mod:`ur4rec.retrieval.search` — the index applied to a model or a trained run: ``recommend``
  for many users, and the scorer the evaluator is given for a large catalogue;
- :mod:`ur4rec.retrieval.cli` — ``ur4rec recommend`` and ``ur4rec recommend-all``.

FAISS is the optional extra ``ur4rec[scale]``; it is imported only when an index is built.
"""
