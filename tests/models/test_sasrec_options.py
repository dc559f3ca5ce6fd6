"""The SASRec backbone options (docs/backbone.md): each changes the computation it names; defaults
keep the original one."""

import math

import pytest
import torch
from torch import nn

from ur4rec.config import SASRecConfig
from ur4rec.errors import ConfigError
from ur4rec.models.sasrec import SASRec

SEQ = torch.tensor([[3, 7, 9, 11, 0, 0], [5, 2, 0, 0, 0, 0]])


def _model(**options) -> SASRec:
    torch.manual_seed(0)
    return SASRec(20, SASRecConfig(hidden_dim=16, max_seq_len=6, dropout=0.0, **options))


def _embedded(model: SASRec, seq: torch.Tensor) -> torch.Tensor:
    """What enters the first block (the input of the embedding dropout)."""
    seen = []
    handle = model.encoder.emb_drop.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    model.encoder(seq)
    handle.remove()
    return seen[0]


def test_defaults_are_the_original_backbone():
    config = SASRecConfig()
    assert (config.ffn_dim, config.activation, config.attention_dropout,
            config.scale_embeddings, config.position_init_std) == (None, "gelu", 0.0, True, 0.02)
    block = _model().encoder.blocks[0]
    assert block.ffn[0].weight.shape == (16, 16) and isinstance(block.ffn[1], nn.GELU)


def test_ffn_dim_sets_the_feed_forward_width():
    block = _model(ffn_dim=40).encoder.blocks[0]
    assert block.ffn[0].weight.shape == (40, 16)
    assert block.ffn[2].weight.shape == (16, 40)


def test_relu_activation_is_used_and_changes_the_output():
    gelu, relu = _model().eval(), _model(activation="relu").eval()
    assert isinstance(relu.encoder.blocks[0].ffn[1], nn.ReLU)
    relu.load_state_dict(gelu.state_dict())  # same weights: only the activation differs
    assert not torch.allclose(gelu.encoder(SEQ), relu.encoder(SEQ))
    with pytest.raises(ValueError):
        SASRecConfig(activation="tanh")


def test_attention_dropout_is_random_in_training_only():
    model = _model(attention_dropout=0.5)
    model.train()
    torch.manual_seed(1)
    a = model.encoder(SEQ)
    torch.manual_seed(2)
    b = model.encoder(SEQ)
    assert not torch.allclose(a, b)  # residual and embedding dropout are 0: only attention
    model.eval()
    torch.testing.assert_close(model.encoder(SEQ), model.encoder(SEQ))
    plain = _model().train()
    torch.manual_seed(1)
    c = plain.encoder(SEQ)
    torch.manual_seed(2)
    torch.testing.assert_close(c, plain.encoder(SEQ))  # without it the training pass is fixed


def test_scale_embeddings_multiplies_items_by_sqrt_dim():
    for scale, factor in ((True, math.sqrt(16)), (False, 1.0)):
        model = _model(scale_embeddings=scale, positions="absolute").eval()
        encoder = model.encoder
        expected = encoder.item_emb(SEQ) * factor + encoder.pos_emb(torch.arange(6))[None]
        torch.testing.assert_close(_embedded(model, SEQ), expected)


def test_position_init_std_sets_the_position_embedding_scale():
    torch.manual_seed(0)
    weak = SASRec(20, SASRecConfig(hidden_dim=64, max_seq_len=200)).encoder.pos_emb.weight.detach()
    torch.manual_seed(0)
    matched = SASRec(20, SASRecConfig(hidden_dim=64, max_seq_len=200,
                                      position_init_std=1.0)).encoder.pos_emb.weight.detach()
    assert float(weak.std()) == pytest.approx(0.02, rel=0.05)
    assert float(matched.std()) == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError):
        SASRecConfig(position_init_std=0.0)


def test_options_load_from_a_config_file(tmp_path):
    from ur4rec.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("sasrec:\n  ffn_dim: 128\n  activation: relu\n  attention_dropout: 0.1\n"
                    "  scale_embeddings: false\n  position_init_std: 1.0\n"
                    "training:\n  batching: tokens\n  adam_betas: [0.9, 0.999]\n")
    config = load_config(path)
    assert config.sasrec.ffn_dim == 128 and config.sasrec.activation == "relu"
    assert config.training.batching == "tokens"
    assert config.training.adam_betas == (0.9, 0.999)
    path.write_text("training:\n  adam_betas: [0.9, 1.0]\n")
    with pytest.raises(ConfigError):
        load_config(path)
