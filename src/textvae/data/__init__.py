"""Corpora: reading, vocabularies, length-grouped batches, and a built-in generated corpus."""

from textvae.data.batching import Batch, collate, length_grouped_batches, padding_fraction
from textvae.data.corpus import EncodedCorpus, encode_corpus, load_corpus, read_sentences
from textvae.data.subword import SubwordVocabulary
from textvae.data.vocab import EOS, PAD, UNK, TokenVocabulary, Vocabulary

__all__ = [
    "EOS", "PAD", "UNK", "Batch", "EncodedCorpus", "SubwordVocabulary", "TokenVocabulary", "Vocabulary", "collate",
    "encode_corpus",
    "length_grouped_batches", "load_corpus", "padding_fraction", "read_sentences",
]
