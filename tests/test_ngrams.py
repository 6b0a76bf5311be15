"""The n-gram half of the heads: featuriser, sparse product, storage and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.classifier.errors import ModelLoadError
from analysis.classifier.heads import LinearHead
from analysis.classifier.ngrams import NgramVocabulary, count_all, count_ngrams
from analysis.classifier.training import fit_logreg, ngram_texts


def test_character_ngrams_stay_inside_padded_words() -> None:
    assert count_ngrams("Hi") == {" h": 1, "hi": 1, "i ": 1, " hi": 1, "hi ": 1, " hi ": 1}
    grams = count_ngrams("down down")
    assert grams[" down"] == 2 and "down " in grams and "n d" not in grams  # never across words
    assert count_ngrams("") == {} and count_ngrams("   ") == {}


def test_huge_words_and_nul_characters_are_bounded() -> None:
    assert len(count_ngrams("x" * 100_000)) <= 4 * 42
    assert all("\x00" not in g for g in count_ngrams("a\x00b"))


def test_vocabulary_is_reproducible_and_drops_rare_grams() -> None:
    counts = count_all(["slack is down", "github is down", "lovely day"])
    vocab = NgramVocabulary.fit(counts, min_df=2)
    assert "down " in vocab.index and " is " in vocab.index
    assert " slack " not in vocab.index  # in one text only
    assert vocab.grams == NgramVocabulary.fit(list(reversed(counts)), min_df=2).grams
    capped = NgramVocabulary.fit(counts, min_df=1, max_features=5)
    assert len(capped) == 5


def test_rows_are_unit_length_and_unknown_text_is_all_zero() -> None:
    vocab = NgramVocabulary.fit(count_all(["slack is down", "github is down"]), min_df=1)
    rows = vocab.transform(["is slack down?", "zzz", ""])
    dense = rows.to_scipy().toarray()
    assert dense.shape == (3, len(vocab))
    assert np.linalg.norm(dense[0]) == pytest.approx(1.0, abs=1e-6)
    assert not dense[1].any() and not dense[2].any()


def test_sparse_product_matches_dense() -> None:
    rng = np.random.default_rng(0)
    texts = ["outage again", "", "love the new update", "again and again", "qqq"]
    vocab = NgramVocabulary.fit(count_all(texts), min_df=1)
    rows = vocab.transform(texts)
    coef = rng.normal(size=(3, len(vocab))).astype(np.float32)
    expected = rows.to_scipy().toarray() @ coef.T
    assert np.allclose(rows.dot_t(coef), expected, atol=1e-5)


def _hybrid_head() -> LinearHead:
    texts = ["down again", "is it down", "love it", "love this"] * 3
    labels = ["complaint", "complaint", "not_complaint", "not_complaint"] * 3
    x = np.zeros((len(texts), 4), dtype=np.float32)  # the vector says nothing: words must
    head, info = fit_logreg(
        x, labels, ("not_complaint", "complaint"), scoring="f1_macro", cs=(10.0,), folds=2,
        texts_for_ngrams=ngram_texts(texts),
    )
    assert info["features"].startswith("vector x")
    return head


def test_a_head_learns_from_ngrams_when_the_vector_is_blind() -> None:
    head = _hybrid_head()
    x = np.zeros((2, 4), dtype=np.float32)
    probs = head.predict_proba(x, ngram_texts(["down down down", "love love"]))
    assert probs[0, 1] > 0.5 > probs[1, 1]
    with pytest.raises(ValueError, match="n-grams"):
        head.predict_proba(x)


def test_hybrid_head_round_trips_through_npz(tmp_path: Path) -> None:
    head = _hybrid_head()
    head.save(tmp_path / "h.npz")
    loaded = LinearHead.load(tmp_path / "h.npz")
    assert loaded.ngrams is not None and loaded.ngrams.grams == head.ngrams.grams  # type: ignore[union-attr]
    x = np.zeros((1, 4), dtype=np.float32)
    grams = ngram_texts(["is it down again"])
    assert np.allclose(loaded.predict_proba(x, grams), head.predict_proba(x, grams))


def test_mismatched_ngram_weights_refuse_to_load(tmp_path: Path) -> None:
    head = _hybrid_head()
    assert head.ngram_coef is not None
    broken = LinearHead(head.labels, head.coef, head.intercept, None, head.ngrams,
                        head.ngram_coef[:, :-1])
    with pytest.raises(ModelLoadError, match="ngram_coef shape"):
        broken.validate("test")
