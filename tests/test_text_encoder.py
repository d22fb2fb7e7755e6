"""BertFeatureExtractor: a tiny BERT built from a config, saved to disk, loaded back offline."""

import os

import numpy as np
import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"

from transformers import BertConfig, BertModel  # noqa: E402

from mmal import Pool, Task  # noqa: E402
from mmal.nn import MultiTaskLateFusion  # noqa: E402
from mmal.nn.text import BertFeatureExtractor  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "very", "not", "fun", "boring"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-bert")
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertModel(config).eval()
    model.save_pretrained(path)
    return path, model


def test_features_match_the_model_on_valid_tokens(tiny_bert):
    path, model = tiny_bert
    bert = BertFeatureExtractor(path, max_length=8, batch_size=2, device="cpu")
    texts = ["good movie", "very very boring movie", "not fun"]
    feats, lengths = bert(texts)
    assert feats.shape == (3, 8, 16) and feats.dtype == np.float32
    np.testing.assert_array_equal(lengths, [4, 6, 4])  # [CLS] + words + [SEP]
    # direct computation: the saved model on the hand-tokenized ids, one text at a time
    ids = {w: i for i, w in enumerate(VOCAB)}
    for j, text in enumerate(texts):
        tok = torch.tensor([[ids["[CLS]"], *(ids[w] for w in text.split()), ids["[SEP]"]]])
        with torch.no_grad():
            want = model(input_ids=tok).last_hidden_state[0].numpy()
        np.testing.assert_allclose(feats[j, : lengths[j]], want, rtol=1e-4, atol=1e-5)
        assert np.all(feats[j, lengths[j]:] == 0)
    np.testing.assert_allclose(bert.pooled(texts, "cls"), feats[:, 0])
    np.testing.assert_allclose(bert.pooled(texts, "mean")[1], feats[1, :6].mean(0), rtol=1e-6)
    with pytest.raises(TypeError, match="strings"):
        bert(["ok", 3])


def test_features_feed_the_task_model(tiny_bert):
    path, _ = tiny_bert
    bert = BertFeatureExtractor(path, max_length=6, device="cpu")
    rng = np.random.default_rng(0)
    words = VOCAB[5:]
    texts = [" ".join(rng.choice(words, rng.integers(1, 4))) for _ in range(12)]
    feats, lengths = bert(texts)
    y = np.array([float("good" in t) for t in texts])
    pool = Pool({"text": feats, "audio": rng.normal(size=(12, 3)).astype(np.float32)},
                Task("classification", n_classes=2), labels={"M": y}, lengths={"text": lengths})
    model = MultiTaskLateFusion(feature_dim=4, hidden=4, epochs=1, device="cpu").fit(pool, seed=0)
    assert model.predict(pool)["M"].shape == (12,)


def test_missing_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="local path only"):
        BertFeatureExtractor(tmp_path / "nothing-here")
