"""User texts of cold-item cases, written from each user's interactions before the case's target.

A model's user text is written from the user's whole training part, which often postdates a
cold-item case's target (:mod:`ur4rec.evaluation.cold`): on ``ml-100k`` with ``cold_items: 0.1``
573 of 926 such texts name a film the user rated after it. Each case gets its own text instead:

- **what it reads**: :func:`cold_case_view` cuts, for every user with a case, the training part
  before the case's target (validation and test items never reach a user text, as everywhere
  else: :mod:`ur4rec.text.history`); other users stay as they are. Catalogue statistics the text
  quotes (the typical viewer's genres, the mean rating) are computed from the same view, so no
  case user's later interaction reaches them either;
- **how**: one template generation per case set (all cold items, each half), written and cached
  like the training view's texts (:func:`ur4rec.text.training_view.training_view_user_vectors`; the
  view's fingerprint names its cut), encoded through the embedding cache — seconds on
  ``ml-100k``, and nothing once cached;
- **which backend**: always the template. For a run whose user texts are template texts that is
  the same writer. Texts an LLM wrote (one call per case would be needed) or imported texts
  (their history is unknown, so they cannot be cut) fall back to it, and the record says so
  (``results.json["cold"]["user_texts"]``: ``fallback: true`` and why) — a case never reads
  the full-history text.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ur4rec.config import RunConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.evaluation.cold import ColdCases
from ur4rec.text.encode import encode_texts
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import has_texts, read_provenance, read_text_folder
from ur4rec.text.sources import default_texts_dir
from ur4rec.text.versions import backend_identity

log = logging.getLogger(__name__)

CASE_TEXT_RULE = ("each cold case's user text is written by the template from the user's "
                  "training interactions strictly before the target (timestamp), with catalogue "
                  "statistics from the same cut data; never from the whole training part")


def cold_case_view(data: PreparedData, cases: ColdCases) -> PreparedData:
    """``data`` whose training parts end, for each case's user, before the case's target.

    A case's history (:attr:`ColdCases.histories`) is the user's warm interactions before the
    target; of those, at most the training part is kept (validation and test rows stay last, so
    :func:`~ur4rec.text.history.training_interactions` still cuts the training part), and at
    least one training interaction is (a case always has a warm interaction before its target,
    and the first of a user's warm interactions is a training one)."""
    train_size = np.array([max(len(seq) - 2, 0) for seq in data.sequences], dtype=np.int64)
    keep = train_size.copy()
    for user, history in zip(cases.users, cases.histories, strict=True):
        keep[user] = min(len(history), train_size[user])
    frame = data.interactions
    users = frame["user_idx"].to_numpy()
    position = frame.groupby("user_idx", sort=False).cumcount().to_numpy()
    dropped = (position >= keep[users]) & (position < train_size[users])
    kept = frame[~dropped].reset_index(drop=True)
    meta = {**data.meta, "fingerprint": f"{data.meta.get('fingerprint')}-cold{_content(kept)}",
            "view": "training parts cut before each user's cold-item case target"}
    return replace(data, meta=meta, interactions=kept, folder=None)


def _content(frame: pd.DataFrame) -> str:
    """12 hex digits of the interactions' content: the view's texts are cached under it, so
    texts of one cut are never read as another's, whatever the data's own fingerprint keys."""
    rows = pd.util.hash_pandas_object(frame[["user_idx", "item_idx", "timestamp", "rating"]],
                                      index=False).to_numpy()
    return hashlib.sha256(rows.tobytes()).hexdigest()[:12]


def case_text_policy(config: RunConfig, run_texts: dict[str, Any] | None) -> dict[str, Any]:
    """Whether the cases' template texts are the run's own kind of user text or a fallback.

    ``run_texts``: the run's ``results.json["texts"]`` (None: judged from ``texts.backend``)."""
    users = ((run_texts or {}).get("sides") or {}).get("users") or {}
    backend = users.get("backend") or (run_texts or {}).get("backend") or config.texts.backend
    origin = users.get("origin") or (run_texts or {}).get("origin")
    if backend == "template":
        return {"fallback": False, "run_user_texts": {"backend": backend, "origin": origin}}
    why = ("imported user texts come from an unknown history and cannot be cut before a target"
           if backend == "import" else f"the run's user texts are written by {backend!r}, which "
           "would need one generation per case")
    return {"fallback": True, "why": why + "; cold cases read template texts instead",
            "run_user_texts": {"backend": backend, "origin": origin}}


def cold_case_user_vectors(config: RunConfig, data: PreparedData, cases: ColdCases,
                           run_texts: dict[str, Any] | None = None
                           ) -> tuple[np.ndarray, dict[str, Any]]:
    """``([C, E] float32 vectors, record)``: each case's user text (module docstring), encoded
    with ``texts.encoder_model``; the record goes to ``results.json["cold"]["user_texts"]``."""
    texts_config = config.texts
    policy = case_text_policy(config, run_texts)
    if not len(cases.users):
        return np.zeros((0, texts_config.embedding_dim), dtype=np.float32), {
            "backend": "template", "rule": CASE_TEXT_RULE, "cases": 0, **policy}
    view = cold_case_view(data, cases)
    model, version = backend_identity("template", texts_config)
    folder = default_texts_dir(view, "template", model, version)
    provenance = read_provenance(folder) if has_texts(folder) else None
    if not provenance or provenance.get("fingerprint") != view.meta.get("fingerprint"):
        generate_texts(view, "template", texts_config, folder, items=[], force=True,
                       progress=False)
    written = read_text_folder(folder, view).users.texts  # the template writes every user
    texts = [written[int(user)] for user in cases.users]
    vectors, report = encode_texts(texts, texts_config.encoder_model,
                                   texts_config.encode_batch_size)
    if policy["fallback"]:
        log.warning("cold cases: %s (results.json cold.user_texts)", policy["why"])
    record = {"backend": "template", "rule": CASE_TEXT_RULE, "dir": str(folder),
              "cases": len(texts), **policy, "encoding": report.as_dict()}
    return np.asarray(vectors, dtype=np.float32), record
