"""A built-in English-like corpus generated from the project's own probabilistic grammar.

Every sentence comes with the factors that generated it (construction, topic, sentiment,
negation, subject number, tense, attractor number), so the corpus needs no download and
later work can measure what a latent code encodes.

Sentences are lower-cased, whitespace-tokenized and end with " .".  They are always
grammatical: subjects agree with their verbs (is/are, was/were, has/have, does/do, -s),
reflexives with their antecedent, determiners with their noun.  The finite verb of the
main clause sits at a fixed token position for each construction (after an optional
"never", "always" or "ever"), which keeps agreement checkable from the tokens alone:

========================  ====================================================  ==========
construction              example                                               verb index
========================  ====================================================  ==========
simple                    the soup tasted great last night .                    2
pp_attractor              the waiter near the tables is friendly .              5
subject_relative          the chef who cooks the steaks is rude .               6 (inner 3)
object_relative           the bill that the guests paid was steep .             6 (inner 5)
object_relative_bare      the bill the guests paid was steep .                  5 (inner 4)
vp_coordination           the bill was cheap and pleased us .                   2
s_coordination            the soup was cold and the salads were bland .         2
reflexive                 the manager conducted herself professionally .        2
npi                       no customer has ever complained about the prices .    2
========================  ====================================================  ==========

The inner verb of a subject relative agrees with the subject, that of an object relative
with the attractor.  A second clause ("and the salads were bland") agrees with its own subject.

The sentiment factor is the polarity of what the sentence says: the lexical polarity of
its evaluative word (listed in POSITIVE_WORDS / NEGATIVE_WORDS), flipped by negation.
"""

from textvae.data.synthetic.grammar import GeneratedSentence, generate_sentences
from textvae.data.synthetic.lexicon import (
    CONSTRUCTIONS, CONTENT_WORDS, FACTOR_NAMES, FACTOR_VALUES, MAX_TOKENS, NEGATIVE_WORDS, POSITIVE_WORDS, TOPICS,
)
from textvae.data.synthetic.writer import CorpusSplits, read_factors, write_corpus

__all__ = [
    "CONSTRUCTIONS", "CONTENT_WORDS", "FACTOR_NAMES", "FACTOR_VALUES", "MAX_TOKENS", "NEGATIVE_WORDS",
    "POSITIVE_WORDS", "TOPICS", "CorpusSplits", "GeneratedSentence", "generate_sentences", "read_factors",
    "write_corpus",
]
