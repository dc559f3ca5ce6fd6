"""What a run reads: its prepared data and, for a text model, text (and image) vectors; and the
writer of the cold cases' user texts.

Text models — the retriever, UR4Rec, the text floors and SASRec with ``sasrec.item_text:
adapter`` — read a user and an item vector each (:mod:`ur4rec.text.pipeline`). A retriever that
reads user texts trains on the training view of them, written before its training targets
(docs/texts.md); the run states what that view is, and what the item texts' statistics give away
(``results.json["texts"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ur4rec.config import RunConfig
from ur4rec.data.features import load_item_features
from ur4rec.data.prepared import (
    PreparedData,
    data_config_of,
    default_prepared_dir,
    prepare_dataset,
)
from ur4rec.errors import ConfigError
from ur4rec.evaluation.cold import CaseUserTexts
from ur4rec.models.base import Recommender
from ur4rec.models.ur4rec import TextInputs
from ur4rec.text.case_texts import cold_case_user_vectors
from ur4rec.text.item_exposure import item_exposure_for_run
from ur4rec.text.lexical import item_term_vectors
from ur4rec.text.pipeline import texts_for_run
from ur4rec.text.training_view import training_view_user_vectors

log = logging.getLogger(__name__)

TEXT_MODELS = ("retriever", "ur4rec", "text_zero_shot", "text_to_id")
RETRIEVER_MODELS = ("retriever", "ur4rec")


@dataclass
class ModelInputs:
    """``summary``: the run's texts record (``results.json["texts"]``, None without texts);
    ``vectors``: what the model is built from (None without texts)."""

    summary: dict[str, Any] | None = None
    vectors: TextInputs | None = None


def data_from_folder(config: RunConfig, data_dir: Path, explicit: Iterable[str] = ()
                     ) -> RunConfig:
    """``config`` with the data section ``data_dir`` was prepared with: ``--data_dir`` decides
    the data, so any model preset runs on a folder prepared from the user's own files.

    ``explicit`` are the keys the user set on purpose (``--set data.…``): one that differs from
    the folder is refused, naming it, rather than silently overruled. A folder of an older ur4rec
    records no data section: the config's own is used, as before."""
    recorded = data_config_of(data_dir)
    if recorded is None:
        return config
    wanted = config.data.model_dump(mode="json", exclude={"prepared_dir"})
    there = recorded.model_dump(mode="json", exclude={"prepared_dir"})
    for key in sorted(explicit):
        field = key.removeprefix("data.").split(".", 1)[0]
        if key.startswith("data.") and field in there and wanted[field] != there[field]:
            raise ConfigError(
                f"--set {key} asks for {wanted[field]!r}, but {data_dir} was prepared with "
                f"{there[field]!r}; prepare a folder with it (ur4rec data prepare ... --out DIR) "
                "or leave the setting out")
    differing = [key for key in there if wanted.get(key) != there[key]]
    if differing:
        log.info("data from --data_dir %s (dataset %r, as it was prepared); the config's data "
                 "section differs in %s and is not used", data_dir, recorded.dataset,
                 ", ".join(differing))
    return config.model_copy(update={"data": recorded})


def prepare_data(config: RunConfig, data_dir: Path | None = None) -> PreparedData:
    """The prepared dataset the run uses (prepared now if it is not on disk yet)."""
    return prepare_dataset(config.data, data_dir or default_prepared_dir(config.data))


def reads_texts(config: RunConfig) -> bool:
    """Whether the configured model reads text vectors."""
    return config.model in TEXT_MODELS or (config.model == "sasrec"
                                            and (config.sasrec.item_text == "adapter"
                                                 or config.sasrec.blends_text_score))


def lexical_setting(config: RunConfig) -> tuple[str, float]:
    """The key and value of the TF-IDF view's share in the configured model's text score
    (0: the model reads no term vectors)."""
    if config.model in ("sasrec", "text_to_id"):
        return "sasrec.text_score_lexical_share", config.sasrec.text_score_lexical_share
    if config.model == "text_zero_shot":
        return "text_baselines.lexical_share", config.text_baselines.lexical_share
    return "", 0.0


def model_inputs(config: RunConfig, data: PreparedData, run_dir: Path,
                 llm_data_dir: Path | None) -> ModelInputs:
    """Text (and image) vectors for a text model, and their summary; nothing for the others."""
    if not reads_texts(config):
        return ModelInputs()
    texts = texts_for_run(config, data, run_dir, llm_data_dir,
                          encode_users=config.model in RETRIEVER_MODELS)
    summary = texts.describe()
    train_view = _training_view(config, data, summary)
    image = None
    if config.retriever.image_features is not None:
        image, counts = load_item_features(config.retriever.image_features, data)
        summary["image_features"] = {"path": str(config.retriever.image_features), **counts}
    terms = None
    key, share = lexical_setting(config)
    if share > 0:
        terms = item_term_vectors(texts.item_texts, key)
        summary["item_terms"] = {"items": terms.shape[0] - 1, "terms": terms.shape[1]}
    return ModelInputs(summary, TextInputs(texts.user_vectors, texts.item_vectors, image,
                                           train_view, item_terms=terms))


def _training_view(config: RunConfig, data: PreparedData, summary: dict[str, Any]
                   ) -> Any:
    """``[U, E]`` user vectors written before the retriever's training window, recorded in
    ``summary["training_view"]``; None where the model reads no user text, or the texts were
    imported (written from a history we do not know: said, never silent)."""
    reads_user_text = (config.model in RETRIEVER_MODELS
                       and "user_text" in config.retriever.experts)
    if not reads_user_text:
        return None
    if summary.get("origin") != "imported":
        view, summary["training_view"] = training_view_user_vectors(
            config, data, config.retriever.train_window)
        return view
    summary["training_view"] = {
        "status": "not built: imported user texts come from an unknown history, so "
                  "training positions read the same imported text as evaluation",
        "leak_free": False}
    log.warning("imported user texts: no training view can be written before the "
                "retriever's training targets; training reads the imported texts as they "
                "are (results.json texts.training_view)")
    return None


def record_item_exposure(config: RunConfig, data: PreparedData, inputs: ModelInputs) -> None:
    """What the item texts' statistics give away at the retriever's training positions, into
    the texts record (docs/texts.md)."""
    if inputs.summary is not None and config.model in RETRIEVER_MODELS:
        inputs.summary["item_exposure"] = item_exposure_for_run(config, data, inputs.summary)


def case_user_texts(config: RunConfig, data: PreparedData, model: Recommender,
                    run_texts: dict[str, Any] | None) -> CaseUserTexts | None:
    """What writes each cold case's user text from the interactions before its target
    (:mod:`ur4rec.text.case_texts`), for a model that reads per-user state on data with cold
    items; None otherwise. ``run_texts``: the run's texts record (``results.json["texts"]``)."""
    if not model.reads_user_state or not len(data.cold_items):
        return None
    return partial(cold_case_user_vectors, config, data, run_texts=run_texts)
