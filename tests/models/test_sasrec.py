import torch

from ur4rec.config import SASRecConfig
from ur4rec.models.base import UserBatch
from ur4rec.models.sasrec import SASRec


def test_future_items_cannot_change_past_positions():
    torch.manual_seed(0)
    model = SASRec(50, SASRecConfig(hidden_dim=16, num_heads=2, max_seq_len=8)).eval()
    seq = torch.tensor([[3, 7, 9, 11, 0, 0, 0, 0]])
    changed = seq.clone()
    changed[0, 3] = 42  # a later item
    a, b = model.encoder(seq), model.encoder(changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3], b[:, 3])


def test_user_state_reads_the_newest_item_whatever_the_length():
    torch.manual_seed(0)
    model = SASRec(50, SASRecConfig(hidden_dim=16, max_seq_len=8)).eval()
    short = torch.tensor([[5, 6, 0, 0, 0, 0, 0, 0]])
    other_newest = torch.tensor([[5, 8, 0, 0, 0, 0, 0, 0]])
    users = torch.tensor([0])
    a = model.user_state(UserBatch(users, short))
    b = model.user_state(UserBatch(users, other_newest))
    assert not torch.allclose(a, b)  # the prototype read a padding slot: identical outputs
    # trailing padding does not matter
    torch.testing.assert_close(a, model.user_state(UserBatch(users, short[:, :2])))


def test_scores_tie_item_embeddings():
    model = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=4)).eval()
    batch = UserBatch(torch.tensor([0]), torch.tensor([[1, 2, 3, 0]]))
    scores = model.score_all(batch)
    assert scores.shape == (1, 21)
    torch.testing.assert_close(scores, model.user_state(batch) @ model.item_embeddings.T)
