"""The retriever's training view of the user texts: each user written without the items the
retriever trains on, and a count of the training targets the texts could still see.

Generated with the backend of the run's texts into a cache folder of its own (the view has its
own fingerprint), read, filled with the template where a text is missing, encoded — the steps of
:mod:`ur4rec.text.pipeline`, for the users of the view only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ur4rec.config import RunConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.text.catalog import display_title
from ur4rec.text.domain import domain_of
from ur4rec.text.encode import encode_texts
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import has_texts, read_provenance, read_text_folder
from ur4rec.text.sources import default_texts_dir
from ur4rec.text.template import template_texts
from ur4rec.text.versions import backend_identity


def training_view_user_vectors(config: RunConfig, data: PreparedData, holdout: int
                               ) -> tuple[np.ndarray, dict[str, Any]]:
    """User vectors written *before* each user's last ``holdout`` training items.

    The retriever trains only on targets among those items (``retriever.train_window``); if it
    read text written from them ("recently enjoyed …" names them), training would teach it to
    read answers out of the text, which no evaluation text offers. Generated with the same
    backend as the evaluation texts, cached like them (the view has its own fingerprint). The
    record says how many training targets the texts name: by construction none.
    """
    texts_config = config.texts
    view = data.without_recent_training(holdout)
    model, version = backend_identity(texts_config.backend, texts_config,
                                      domain=domain_of(view))
    folder = default_texts_dir(view, texts_config.backend, model, version)
    provenance = read_provenance(folder) if has_texts(folder) else None
    if not provenance or provenance.get("fingerprint") != view.meta.get("fingerprint"):
        generate_texts(view, texts_config.backend, texts_config, folder, items=[], force=True,
                       progress=False)
    source = read_text_folder(folder, view)
    missing = [u for u in range(view.num_users) if not source.users.texts.get(u)]
    templates = template_texts(view)[0] if missing else []
    texts = [source.users.texts.get(u) or templates[u] for u in range(view.num_users)]
    vectors, report = encode_texts(texts, texts_config.encoder_model,
                                   texts_config.encode_batch_size)
    return vectors, {"holdout": holdout, "dir": str(folder), "fallback_users": len(missing),
                     "encoding": report.as_dict(),
                     "targets": training_target_exposure(data, view, texts),
                     "meaning": f"training reads user texts written without each user's last "
                                f"{holdout} training items, the only positions the retriever "
                                "trains on (retriever.train_window)"}


def training_target_exposure(data: PreparedData, view: PreparedData, texts: list[str]
                             ) -> dict[str, Any]:
    """How many of the retriever's possible training targets (the training items ``view`` left
    out) the training-view texts could see: inside the items they were written from, or named
    verbatim by title. Both must be 0 for a leak-free training view.

    A title only counts as naming the target when no item the text was written from carries it
    within its own title: ML-100K lists some films twice under one title (two ids for "Chasing
    Amy (1997)"), and "Fear (1996)" is part of "Primal Fear (1996)". Raw matches are reported too.
    """
    titles = [""] + [display_title(t, y, i, alternate_wanted=False) for t, y, i in
                     data.items[["title", "year", "item"]].itertuples(index=False)]
    targets = in_window = named = raw = 0
    for user, (full, cut) in enumerate(zip(data.train_sequences, view.train_sequences,
                                           strict=True)):
        held_out = full[len(cut):]
        source_items = set(cut.tolist())
        source_titles = [titles[item] for item in source_items]
        text = texts[user]
        targets += len(held_out)
        in_window += sum(int(item) in source_items for item in held_out)
        for item in held_out:
            title = titles[item]
            if title and title in text:
                raw += 1
                named += not any(title in other for other in source_titles)
    def share(count: int) -> float:
        return round(count / targets, 6) if targets else 0.0

    return {"possible_targets": targets, "in_text_source": in_window,
            "named_in_text": named, "share_named": share(named),
            "share_in_source": share(in_window), "title_matches_raw": raw}
