"""The typed configuration schema: one section per component, unknown keys are errors.

A YAML config is nested by section (``data``, ``sasrec``, ``retriever``, ``memory``, ``fusion``,
``texts``, ``training``, ``evaluation``). The prototype's flat keys (``sasrec_hidden_dim``,
``fusion_method`` …) are accepted anywhere at the top level and mapped onto their section by
:data:`LEGACY_KEYS`, so its config files load unchanged.
"""

from __future__ import annotations

import codecs
import difflib
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ur4rec.data.presets import PRESETS, preset_filters
from ur4rec.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ColumnNames(_Section):
    """Column names of a user-supplied interaction file."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str = "timestamp"
    rating: str | None = None


class DataConfig(_Section):
    """Which interactions, how they are filtered, and the evaluation candidates."""

    dataset: str = "ml-100k"
    path: Path | None = None
    format: Literal["auto", "csv", "tsv", "parquet", "recbole"] = "auto"
    columns: ColumnNames = Field(default_factory=ColumnNames)
    item_metadata: Path | None = None
    min_rating: float | None = None
    min_user_interactions: int = Field(default=3, ge=3)
    min_item_interactions: int = Field(default=1, ge=1)
    num_candidates: int = Field(default=100, ge=2)
    candidate_seed: int = 2024
    prepared_dir: Path | None = None
    # cold-item protocol (docs/data.md): this share of the catalogue, chosen by candidate_seed,
    # loses every interaction from the training data and is ranked apart; 0 = off
    cold_items: float = Field(default=0.0, ge=0.0, lt=0.5)
    # what the items are, for the template texts' words (data/domains.py); auto: the preset's,
    # or for your own data film when most items have a release year, else generic
    domain: Literal["auto", "film", "product", "business", "generic"] = "auto"
    # text encoding of data.path and data.item_metadata; null: UTF-8 (MovieLens .dat files:
    # Latin-1). A byte that does not decode is an error naming line and offset, never replaced
    encoding: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown text encoding {value!r} (e.g. utf-8, latin-1, "
                                 "cp1252)") from None
        return value


def data_config_from_dict(raw: dict[str, Any], source: str) -> DataConfig:
    """A :class:`DataConfig` from a mapping (command-line options), one-line errors."""
    try:
        return DataConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


class SASRecConfig(_Section):
    """Causal self-attention over the last ``max_seq_len`` items (Kang & McAuley, 2018)."""

    hidden_dim: int = Field(default=64, ge=1)
    num_blocks: int = Field(default=2, ge=1)
    num_heads: int = Field(default=1, ge=1)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    max_seq_len: int = Field(default=200, ge=1)
    positions: Literal["recency", "absolute"] = "recency"
    # backbone variants (the A/Bs of docs/backbone.md); the defaults are the original computation
    ffn_dim: int | None = Field(default=None, ge=1)  # None: hidden_dim
    activation: Literal["gelu", "relu"] = "gelu"
    attention_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    scale_embeddings: bool = True  # item embeddings × sqrt(hidden_dim)
    position_init_std: float = Field(default=0.02, gt=0.0)
    # item text inside the item table: e_i = id_i + g·A(t_i) (models/item_text.py); needs texts
    item_text: Literal["none", "adapter"] = "none"
    item_text_gate_init: float = 0.1
    item_text_pca_init: bool = True
    # DropoutNet-style: in training, each item's id part is dropped with this probability each
    # time the item table is built (input and output side of a step draw separately), so the
    # text view learns to carry an item alone (as it must for a cold item)
    item_text_id_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    # weight of the adapter's alignment term, mean 1 − cos(A(t_i), id_i) over trained items
    # (ids detached), added to SASRec's loss; 0 = off
    item_text_align_weight: float = Field(default=0.0, ge=0.0)
    # projections of the text view: 1 = one linear map; K > 1 = UniSRec's MoE adaptor (K
    # whitening experts mixed per item by a gate over its text)
    item_text_experts: int = Field(default=1, ge=1)
    # the ranking blends SASRec's scores with the text zero-shot score (models/text_similarity.py):
    # (1 − s)·z(SASRec) + s·z(text), z a per-user z-score over the items; 0 = SASRec alone.
    # Training never reads it; it needs item texts, not the adapter
    text_score_share: float = Field(default=0.0, ge=0.0, le=1.0)
    # after training, choose the share on the validation split (0.0–1.0 in steps of 0.1)
    select_text_score_share: bool = False
    # the text score's user: the mean text of this many most recent items
    text_score_history_len: int = Field(default=50, ge=1)
    # share of the lexical view (TF-IDF term vectors of the item texts, text/lexical.py) in the
    # text score: z((1 − λ)·z(MiniLM cosine) + λ·z(TF-IDF cosine)); 0 = MiniLM alone, 1 = terms alone
    text_score_lexical_share: float = Field(default=0.0, ge=0.0, le=1.0)
    # rare items lean on their text: item i's text share is clip(s + β·(mean log(1 + c) −
    # log(1 + c_i)), 0, 1), c the training counts — an id trained on few interactions is trusted
    # less than its text. Applies while the text share s > 0 (s = 0 stays SASRec alone); 0 = off
    text_score_rarity: float = Field(default=0.0, ge=0.0, le=1.0)
    # with select_text_score_share: choose β too, jointly with the share, on validation
    # (β in 0, 0.05, 0.1 and the configured one; training/fusion_selection.py)
    select_text_score_rarity: bool = False

    @property
    def blends_text_score(self) -> bool:
        """Whether the ranking reads the text zero-shot score (now or after selection)."""
        return self.text_score_share > 0 or self.select_text_score_share

    @model_validator(mode="after")
    def _text_options_need_the_adapter(self) -> SASRecConfig:
        for key in ("item_text_id_dropout", "item_text_align_weight", "item_text_experts"):
            default = 1 if key == "item_text_experts" else 0
            if getattr(self, key) != default and self.item_text != "adapter":
                raise ValueError(f"sasrec.{key} acts on the item-text adapter: set "
                                 f"sasrec.item_text: adapter, or leave {key} at {default}")
        if self.select_text_score_rarity and not self.select_text_score_share:
            raise ValueError("sasrec.select_text_score_rarity chooses β with the share: set "
                             "sasrec.select_text_score_share: true, or leave it false")
        for key in ("text_score_lexical_share", "text_score_rarity"):
            if getattr(self, key) > 0 and not self.blends_text_score:
                raise ValueError(f"sasrec.{key} shapes the text score SASRec blends in: set "
                                 "sasrec.text_score_share or select_text_score_share, or leave "
                                 f"{key} at 0")
        return self

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> SASRecConfig:
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"sasrec.hidden_dim ({self.hidden_dim}) must be divisible by "
                f"sasrec.num_heads ({self.num_heads})"
            )
        return self


class RetrieverConfig(_Section):
    """The MoE preference retriever (docs/configuration.md, ``retriever``)."""

    output_dim: int = Field(default=64, ge=1)
    num_heads: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    num_proxies: int = Field(default=4, ge=1)
    experts: list[Literal["user_text", "history_text", "item_id", "image"]] = Field(
        default_factory=lambda: ["user_text", "history_text", "item_id"]
    )
    temperature: float = Field(default=0.1, gt=0.0)
    learn_temperature: bool = True
    history_len: int = Field(default=50, ge=1)
    train_positions: int = Field(default=8, ge=1)
    train_position_sampling: Literal["random", "last"] = "random"
    # the retriever trains on targets among each user's last `train_window` training positions;
    # the user text and the memory it reads in training are written from the items before them
    train_window: int = Field(default=32, ge=1)
    # candidate side: vector = id embedding (item_id) + projected item text (item_text) (+ image)
    item_text: bool = True
    item_id: bool = True
    single_expert: bool = False
    image_features: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> RetrieverConfig:
        if not self.experts:
            raise ValueError("retriever.experts must name at least one expert")
        if len(set(self.experts)) != len(self.experts):
            raise ValueError(f"retriever.experts has duplicates: {self.experts}")
        if "image" in self.experts and self.image_features is None:
            raise ValueError("retriever.experts has 'image' but retriever.image_features is not set")
        if not (self.item_text or self.item_id or "image" in self.experts):
            raise ValueError("retriever.item_text and retriever.item_id are both false: the "
                             "candidates would have no representation")
        if self.train_window < self.train_positions:
            raise ValueError(f"retriever.train_window ({self.train_window}) must be at least "
                             f"retriever.train_positions ({self.train_positions})")
        if self.output_dim % self.num_heads:
            raise ValueError(
                f"retriever.output_dim ({self.output_dim}) must be divisible by "
                f"retriever.num_heads ({self.num_heads})"
            )
        return self


class UpdateTrigger(str, Enum):
    """When a user's memory is rewritten (the prototype's names)."""

    INTERACTION_COUNT = "INTERACTION_COUNT"
    DRIFT_THRESHOLD = "DRIFT_THRESHOLD"
    TIME_BASED = "TIME_BASED"
    EXPLICIT = "EXPLICIT"


class MemoryConfig(_Section):
    """Per-user memory updated by a GRU cell with decay (docs/configuration.md, ``memory``)."""

    enabled: bool = True
    max_memory_size: int = Field(default=10, ge=1)
    update_trigger: UpdateTrigger = UpdateTrigger.INTERACTION_COUNT
    interaction_threshold: int = Field(default=5, ge=1)
    drift_threshold: float = Field(default=0.3, ge=0.0)
    time_threshold: int = Field(default=1, ge=1)
    decay_factor: float = Field(default=0.95, gt=0.0, le=1.0)

    @field_validator("update_trigger", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().upper().removeprefix("UPDATETRIGGER.")
        return value


class FusionConfig(_Section):
    """How the SASRec and retriever scores are combined (docs/configuration.md, ``fusion``)."""

    method: Literal["weighted", "learned", "adaptive"] = "weighted"
    sasrec_weight: float = Field(default=0.5, ge=0.0)
    retriever_weight: float = Field(default=0.5, ge=0.0)
    normalize: bool = True
    select_weights: bool = False

    @model_validator(mode="after")
    def _weights(self) -> FusionConfig:
        if self.sasrec_weight + self.retriever_weight <= 0:
            raise ValueError(
                "fusion.sasrec_weight + fusion.retriever_weight must be > 0 "
                f"(got {self.sasrec_weight} + {self.retriever_weight})"
            )
        return self


class TextsConfig(_Section):
    """Where the user/item texts come from and how they are encoded (docs/texts.md)."""

    backend: Literal["template", "openai", "local", "import"] = "template"
    dir: Path | None = None
    # item descriptions imported from this folder's item_descriptions.json while the user texts
    # still come from `backend` (item texts describe the film only: they cannot leak)
    item_dir: Path | None = None
    ignore_unknown_item_ids: bool = False
    # item texts quote training statistics (viewer counts, mean rating, "also liked" films);
    # false: title, genres, era and knowledge-graph facts only, so a trained item is described
    # like a new one (better for new items: docs/text-value.md). Template and LLM prompts alike
    item_statistics: bool = True
    encoder_model: str = "all-MiniLM-L6-v2"
    embedding_dim: int = Field(default=384, ge=1)
    encode_batch_size: int = Field(default=128, ge=1)
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_concurrency: int = Field(default=8, ge=1)
    openai_timeout_s: float = Field(default=60.0, gt=0)
    openai_max_retries: int = Field(default=4, ge=0)
    local_model_path: Path | None = None
    max_new_tokens: int = Field(default=120, ge=1)
    history_items_in_prompt: int = Field(default=20, ge=1)


Stage = Literal["pretrain_sasrec", "pretrain_retriever", "joint_finetune", "end_to_end"]
STAGES: tuple[str, ...] = ("pretrain_sasrec", "pretrain_retriever", "joint_finetune", "end_to_end")


class TrainingConfig(_Section):
    """Optimisation, schedules, stopping and the stage plan (docs/configuration.md, ``training``)."""

    loss: Literal["ce", "bce", "bpr", "sampled_softmax", "shared_softmax"] = "ce"
    num_negatives: int = Field(default=1, ge=1)
    # shared_softmax (large catalogues): num_negatives items per batch shared by all its
    # targets, drawn by popularity (count + 1) or uniformly, with the log-Q correction
    negative_distribution: Literal["popularity", "uniform"] = "popularity"
    logq_correction: bool = True
    sampling: Literal["seq2seq", "last_item"] = "seq2seq"
    sasrec_lr: float = Field(default=2e-3, gt=0)
    retriever_lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    batch_size: int = Field(default=128, ge=1)
    epochs_per_stage: int = Field(default=200, ge=1)
    patience: int = Field(default=10, ge=1)
    warmup_steps: int = Field(default=50, ge=0)
    schedule: Literal["constant", "cosine"] = "constant"
    # how users are grouped into batches (training/batches.py): ``length`` groups similar
    # lengths (a short user's target weighs more); ``random``; ``tokens``: length buckets sized
    # to about batch_size × mean targets per user, so every target weighs about the same
    batching: Literal["length", "random", "tokens"] = "length"
    adam_betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float | None = Field(default=5.0, gt=0)
    ema_decay: float | None = Field(default=None, gt=0, lt=1)
    seed: int = 42
    init_from: Path | None = None
    # init_from a checkpoint of other prepared data (another fingerprint or cold set): refused
    # unless true, and then only when it trained none of this run's cold items
    init_from_other_data: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    num_workers: int = Field(default=0, ge=0)
    stages: list[Stage] | None = None
    use_adaptive_alternating: bool = False
    adaptive_switch_threshold: float = Field(default=0.01, ge=0)
    adaptive_min_steps: int = Field(default=2, ge=1)
    alternate_every: int = Field(default=1, ge=1)
    use_uncertainty_weighting: bool = False
    # a non-finite loss or gradient norm in an epoch: "fail" ends the run with an error (exit 2)
    # after restoring the stage's last finite best; "stop_stage" ends only that stage and goes on
    on_divergence: Literal["fail", "stop_stage"] = "fail"
    # deterministic kernels (torch.use_deterministic_algorithms, warn-only): on CPU the backward
    # of tensor indexing otherwise sums in thread order, so two runs of one seed could differ
    deterministic: bool = True

    @field_validator("adam_betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= beta < 1.0 for beta in value):
            raise ValueError(f"training.adam_betas must each be in [0, 1), got {list(value)}")
        return value

    @field_validator("stages")
    @classmethod
    def _stage_order(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("training.stages is empty: name at least one of " + ", ".join(STAGES))
        order = [STAGES.index(stage) for stage in value]
        if order != sorted(order) or len(set(order)) != len(order):
            raise ValueError(
                f"training.stages must be a subset of {list(STAGES)} in that order, got {value}"
            )
        return value


class EvaluationConfig(_Section):
    """Model selection and reporting (docs/data.md: the protocols and metrics)."""

    metric: str = "ndcg@10"
    protocol: Literal["sampled", "full"] = "sampled"
    ks: list[int] = Field(default_factory=lambda: [5, 10, 20])
    # users of similar history length share a batch, cropped to its longest: small batches pad
    # less (64: 1.35–1.45x faster than 256 on ML-100K, the same numbers)
    batch_size: int = Field(default=64, ge=1)
    ties: Literal["pessimistic", "expected", "optimistic"] = "pessimistic"
    mask_history: bool = True

    @field_validator("ks")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError(f"evaluation.ks must be positive integers, got {value}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _metric_known(self) -> EvaluationConfig:
        known = {f"{m}@{k}" for m in ("hit", "ndcg") for k in self.ks} | {"mrr"}
        if self.metric not in known:
            raise ValueError(f"evaluation.metric {self.metric!r} is not one of {sorted(known)}")
        return self


class TextBaselineConfig(_Section):
    """The text floors ``text_zero_shot`` and ``text_to_id`` (models/text_baselines.py)."""

    history_len: int = Field(default=50, ge=1)  # zero-shot: the user = mean of these items' texts
    # zero-shot: share of the lexical view (TF-IDF cosine, text/lexical.py) in its score, as
    # sasrec.text_score_lexical_share does for the text score SASRec blends in; 0 = MiniLM alone
    lexical_share: float = Field(default=0.0, ge=0.0, le=1.0)
    # text→id map: L2 strength of the ridge fit, or "loo": the strength of RIDGE_GRID with the
    # least leave-one-out error over the trained items (closed form; training data only)
    ridge: float | Literal["loo"] = "loo"

    @field_validator("ridge", mode="before")
    @classmethod
    def _ridge_number_or_loo(cls, value: Any) -> float | str:
        if value == "loo":
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not number > 0:  # NaN fails too
            raise ValueError("expected a number > 0 or 'loo'")
        return number


ModelName = Literal["random", "pop", "sasrec", "retriever", "ur4rec", "text_zero_shot",
                    "text_to_id"]


class RunConfig(_Section):
    """Everything one training run needs."""

    name: str = "run"
    model: ModelName = "sasrec"
    data: DataConfig = Field(default_factory=DataConfig)
    sasrec: SASRecConfig = Field(default_factory=SASRecConfig)
    retriever: RetrieverConfig = Field(default_factory=RetrieverConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    texts: TextsConfig = Field(default_factory=TextsConfig)
    text_baselines: TextBaselineConfig = Field(default_factory=TextBaselineConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="after")
    def _text_score_is_for_sasrec(self) -> RunConfig:
        """Refused at load time, before any data or text is prepared."""
        if self.sasrec.blends_text_score and self.model not in ("sasrec", "text_to_id"):
            raise ValueError("sasrec.text_score_share / select_text_score_share blend the text "
                             "score into model: sasrec's (or text_to_id's) ranking, not model: "
                             f"{self.model}; leave them at 0 / false")
        if self.model == "text_to_id" and self.sasrec.item_text == "adapter":
            raise ValueError("model: text_to_id maps texts onto an id-only SASRec's item "
                             "embeddings; sasrec.item_text: adapter already puts text in them "
                             "(train it as model: sasrec) — leave item_text at none")
        if self.text_baselines.lexical_share > 0 and self.model != "text_zero_shot":
            raise ValueError("text_baselines.lexical_share mixes TF-IDF into model: "
                             f"text_zero_shot's score, not model: {self.model}; leave it at 0")
        return self

    def resolved_stages(self) -> list[str]:
        """The stage plan: the configured one, else the natural plan for the model."""
        if self.training.stages is not None:
            return list(self.training.stages)
        return {
            "random": [],
            "pop": [],
            "text_zero_shot": [],
            "text_to_id": [],
            "sasrec": ["pretrain_sasrec"],
            "retriever": ["pretrain_retriever"],
            "ur4rec": ["pretrain_sasrec", "pretrain_retriever", "end_to_end"],
        }[self.model]


# The prototype's flat keys → (section, key). ``None`` marks a key that is accepted and ignored.
LEGACY_KEYS: dict[str, tuple[str, str] | None] = {
    "max_seq_len": ("sasrec", "max_seq_len"),
    "sasrec_hidden_dim": ("sasrec", "hidden_dim"),
    "sasrec_num_blocks": ("sasrec", "num_blocks"),
    "sasrec_num_heads": ("sasrec", "num_heads"),
    "sasrec_dropout": ("sasrec", "dropout"),
    "text_model_name": ("texts", "encoder_model"),
    "text_embedding_dim": ("texts", "embedding_dim"),
    "retriever_output_dim": ("retriever", "output_dim"),
    "moe_num_heads": ("retriever", "num_heads"),
    "moe_dropout": ("retriever", "dropout"),
    "moe_num_proxies": ("retriever", "num_proxies"),
    "max_memory_size": ("memory", "max_memory_size"),
    "update_trigger": ("memory", "update_trigger"),
    "interaction_threshold": ("memory", "interaction_threshold"),
    "drift_threshold": ("memory", "drift_threshold"),
    "decay_factor": ("memory", "decay_factor"),
    "fusion_method": ("fusion", "method"),
    "sasrec_weight": ("fusion", "sasrec_weight"),
    "retriever_weight": ("fusion", "retriever_weight"),
    "sasrec_lr": ("training", "sasrec_lr"),
    "retriever_lr": ("training", "retriever_lr"),
    "use_uncertainty_weighting": ("training", "use_uncertainty_weighting"),
    "use_adaptive_alternating": ("training", "use_adaptive_alternating"),
    "adaptive_switch_threshold": ("training", "adaptive_switch_threshold"),
    "adaptive_min_steps": ("training", "adaptive_min_steps"),
    "stages": ("training", "stages"),
    "epochs_per_stage": ("training", "epochs_per_stage"),
    "patience": ("training", "patience"),
    "batch_size": ("training", "batch_size"),
    "num_workers": ("training", "num_workers"),
    "seed": ("training", "seed"),
    "num_negatives": ("training", "num_negatives"),
    "weight_decay": ("training", "weight_decay"),
    "num_items": None,  # derived from the data here
}

_SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in RunConfig.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}


def valid_keys() -> list[str]:
    """Every dotted key a config may set, plus the prototype's flat keys."""
    keys = [name for name in RunConfig.model_fields if name not in _SECTIONS]
    for section, model in _SECTIONS.items():
        keys += [f"{section}.{key}" for key in model.model_fields]
    keys += [f"data.columns.{key}" for key in ColumnNames.model_fields]
    return keys + list(LEGACY_KEYS)


def _closest(key: str) -> str:
    candidates = valid_keys()
    leaf = key.rsplit(".", 1)[-1]
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5) or difflib.get_close_matches(
        leaf, candidates + [c.rsplit(".", 1)[-1] for c in candidates], n=1, cutoff=0.5
    )
    return f"; did you mean {match[0]!r}?" if match else ""


def _nest_legacy(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Move the prototype's flat keys into their sections; a nested value wins over a flat one."""
    nested: dict[str, Any] = {}
    for key, value in raw.items():
        if key in LEGACY_KEYS and key not in RunConfig.model_fields:
            target = LEGACY_KEYS[key]
            if target is None:
                continue
            section, field = target
            nested.setdefault(section, {})
            if not isinstance(nested[section], dict):
                raise ConfigError(f"{source}: section {section!r} must be a mapping")
            nested[section].setdefault(field, value)
        elif key in _SECTIONS and isinstance(value, dict):
            merged = dict(nested.get(key, {}))
            merged.update(value)
            nested[key] = merged
        else:
            nested[key] = value
    return nested


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {key!r}{_closest(key)}")
        else:
            got = item.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            where = f"key {key!r}: " if key else ""
            lines.append(f"{source}: {where}{item['msg']}{shown}")
    return "; ".join(lines)


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a (possibly flat, prototype-style) mapping into a :class:`RunConfig`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(raw).__name__}")
    try:
        return RunConfig.model_validate(_nest_legacy(raw, source))
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
"""The example configs that ship inside the package (in a clone, ``configs/`` links here)."""


def packaged_configs() -> dict[str, Path]:
    """``{name: file}`` of the packaged configs (``ur4rec configs`` lists them)."""
    return {path.stem: path for path in sorted(PACKAGED_CONFIGS.glob("*.yaml"))}


def config_file(name_or_path: str | Path, what: str = "config file") -> Path:
    """The YAML file ``name_or_path`` means: a file that exists there, else the packaged config
    of that name (``ur4rec_ml100k`` or ``ur4rec_ml100k.yaml``), else a one-line error naming
    both. A path wins over a packaged name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = packaged_configs()
    name = path.name.removesuffix(".yaml")
    if path.parent == Path(".") and name in packaged:
        return packaged[name]
    raise ConfigError(f"{what} {path} does not exist, and no packaged config has that name "
                      f"(packaged: {', '.join(packaged)}; `ur4rec configs` shows them)")


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config (a file, or a packaged config by name: :func:`config_file`), apply
    dotted ``overrides`` (CLI flags win), and validate it."""
    path = config_file(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    raw = _nest_legacy(raw, str(path))
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value, source="command line")
    return config_from_dict(raw, str(path))


def set_dotted(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    """Set ``a.b.c`` in a nested dict; a flat prototype key is routed to its section."""
    if key in LEGACY_KEYS:
        target = LEGACY_KEYS[key]
        if target is None:
            return
        key = ".".join(target)
    if key not in valid_keys():
        raise ConfigError(f"{source}: unknown key {key!r}{_closest(key)}")
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from ``--set``; the value is parsed as YAML (numbers, lists, booleans)."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def resolved_dict(config: RunConfig) -> dict[str, Any]:
    """Every value spelled out, with a dataset preset's filters written as the values it uses,
    so the dump reloads to the same data (a preset's filters apply only where not set)."""
    resolved = config.model_dump(mode="json")
    data = config.data
    if data.dataset in PRESETS:
        explicit = {key: getattr(data, key) for key in data.model_fields_set}
        resolved["data"].update(preset_filters(data.dataset, explicit))
    return resolved


def dump_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config (every default spelled out) next to a run."""
    path.write_text(yaml.safe_dump(resolved_dict(config), sort_keys=False), encoding="utf-8")
