"""The built-in grammar: sentences drawn with one seeded random stream, each with the factors that
produced it (the constructions are listed in `textvae.data.synthetic`)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from textvae.data.synthetic import lexicon
from textvae.data.synthetic.lexicon import Noun, Verb, TOPICS, MAX_TOKENS
from textvae.errors import ConfigError


def _flip(polarity: str) -> str:
    return "negative" if polarity == "positive" else "positive"


def _be(number: str, tense: str) -> str:
    return {"present": {"singular": "is", "plural": "are"},
            "past": {"singular": "was", "plural": "were"}}[tense][number]


def _finite(verb: Verb, number: str, tense: str) -> str:
    if tense == "past":
        return verb[2]
    return verb[1] if number == "singular" else verb[0]


_Parse = tuple[list[str], str]  # tokens, attractor number
_DO: Verb = ("do", "does", "did")
_HAVE: Verb = ("have", "has", "had")


@dataclass(frozen=True)
class GeneratedSentence:
    """One generated sentence and the factors that produced it."""

    text: str
    """Tokens joined by single spaces, ending with " ."."""
    factors: dict[str, str]
    """One value per name in FACTOR_NAMES."""


class _Grammar:
    """Expands the grammar with one random.Random; each method returns tokens."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    # ---- small pieces ------------------------------------------------------------------------

    def number(self) -> str:
        return "singular" if self.rng.random() < 0.5 else "plural"

    def noun_phrase(self, nouns: list[Noun], number: str, determiners: dict[str, tuple[str, ...]],
                    negated: bool = False) -> list[str]:
        noun = self.rng.choice(nouns)
        det = self.rng.choice(determiners[number])
        while negated and det == "every":  # "every waiter was not friendly" is ambiguous
            det = self.rng.choice(determiners[number])
        return [det, noun[0] if number == "singular" else noun[1]]

    def lexical(self, verb: Verb, number: str, tense: str, neg: str | None) -> list[str]:
        """A lexical verb with do-support under "not", or an adverb before its finite form."""
        if neg == "not":
            return [_finite(_DO, number, tense), "not", verb[0]]
        if neg == "not_ever":
            return [_finite(_DO, number, tense), "not", "ever", verb[0]]
        finite = _finite(verb, number, tense)
        return [neg, finite] if neg in ("never", "always") else [finite]

    def adjective(self, topic: str, polarity: str, generic_only: bool = False) -> list[str]:
        words = lexicon.GENERIC[polarity] if generic_only else lexicon.ADJECTIVES[topic][polarity]
        out = [self.rng.choice(words)]
        if self.rng.random() < 0.25:
            out.insert(0, self.rng.choice(lexicon.INTENSIFIERS))
        return out

    def predicate(self, topic: str, number: str, tense: str, polarity: str, neg: str | None,
                  kinds: tuple[str, ...] | None = None) -> list[str]:
        """A verb phrase saying something of the given lexical polarity about the subject.

        neg is None, "not", "never" or "not_ever" (the last only for kinds linking/verb/have).
        """
        rng = self.rng
        kind = rng.choice(kinds or lexicon.PREDICATE_KINDS[topic])
        if kind == "perfect" and tense == "past":
            kind = "copula"
        if neg is None and rng.random() < 0.08:
            neg = "always"
        if kind == "copula":
            out = [_be(number, tense)] + ([neg] if neg else [])
            return out + self.adjective(topic, polarity)
        if kind == "perfect":
            out = [_finite(_HAVE, number, tense)] + ([neg] if neg else []) + ["been"]
            return out + self.adjective(topic, polarity)
        if kind == "linking":
            verb, generic_only = rng.choice(lexicon.LINKING[topic])
            return self.lexical(verb, number, tense, neg) + self.adjective(topic, polarity, generic_only)
        if kind == "verb":
            verb, rest = rng.choice(lexicon.VERB_PHRASES[topic][polarity])
            return self.lexical(verb, number, tense, neg) + list(rest)
        nouns, adjectives = lexicon.HAVE_OBJECTS[topic]
        adjective = rng.choice(adjectives[polarity])
        article = "an" if adjective[0] in "aeiou" else "a"
        return self.lexical(_HAVE, number, tense, neg) + [article, adjective, rng.choice(nouns)]

    def negation(self) -> str:
        return "not" if self.rng.random() < 0.7 else "never"

    def adjunct(self, tokens: list[str], tense: str) -> list[str]:
        """Maybe a time adjunct that fits the tense (and aspect) of a simple clause."""
        if self.rng.random() >= 0.35:
            return []
        aspect = "perfect" if "been" in tokens else tense
        return self.rng.choice(lexicon.ADJUNCTS[aspect]).split()

    # ---- constructions -----------------------------------------------------------------------
    # Each takes (topic, sentiment, tense, number, negated) and returns (tokens, attractor number).

    def simple(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        tokens = self.noun_phrase(lexicon.SUBJECTS[topic], number, lexicon.DETERMINERS, negated)
        tokens += self.predicate(topic, number, tense, polarity, neg)
        return tokens + self.adjunct(tokens, tense), "none"

    def pp_attractor(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        attractor = self.number()
        prep, nouns = self.rng.choice(lexicon.PP[topic])
        tokens = self.noun_phrase(lexicon.SUBJECTS[topic], number, lexicon.DETERMINERS, negated) + [prep]
        tokens += self.noun_phrase(nouns, attractor, lexicon.THE_OR_OUR)
        return tokens + self.predicate(topic, number, tense, polarity, neg), attractor

    def subject_relative(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        attractor = self.number()
        verb, objects = self.rng.choice(lexicon.SUBJECT_RELATIVE[topic])
        relativizer = self.rng.choice(("that", "who") if topic == "service" else ("that", "which"))
        tokens = self.noun_phrase(lexicon.SUBJECTS[topic], number, lexicon.DETERMINERS, negated)
        tokens += [relativizer, _finite(verb, number, tense)]
        tokens += self.noun_phrase(objects, attractor, lexicon.THE)
        return tokens + self.predicate(topic, number, tense, polarity, neg), attractor

    def _object_relative(self, topic: str, sentiment: str, tense: str, number: str, negated: bool,
                         relativizers: tuple[str, ...]) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        attractor = self.number()
        verb, subjects = self.rng.choice(lexicon.OBJECT_RELATIVE[topic])
        tokens = self.noun_phrase(lexicon.SUBJECTS[topic], number, lexicon.DETERMINERS, negated)
        if relativizers:
            tokens.append(self.rng.choice(relativizers))
        tokens += self.noun_phrase(subjects, attractor, lexicon.THE_OR_OUR)
        tokens.append(_finite(verb, attractor, tense))
        return tokens + self.predicate(topic, number, tense, polarity, neg), attractor

    def object_relative(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        relativizers = ("that", "who") if topic == "service" else ("that", "which")
        return self._object_relative(topic, sentiment, tense, number, negated, relativizers)

    def object_relative_bare(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        return self._object_relative(topic, sentiment, tense, number, negated, ())

    def vp_coordination(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        negs: list[str | None] = [None, None]
        if negated:
            negs[self.rng.randrange(2)] = self.negation()
        tokens = self.noun_phrase(lexicon.SUBJECTS[topic], number, lexicon.DETERMINERS, negated)
        for i, neg in enumerate(negs):
            if i:
                tokens.append("and")
            polarity = _flip(sentiment) if neg else sentiment
            tokens += self.predicate(topic, number, tense, polarity, neg)
        return tokens, "none"

    def s_coordination(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        negs: list[str | None] = [None, None]
        if negated:
            negs[self.rng.randrange(2)] = self.negation()
        tokens: list[str] = []
        for i, neg in enumerate(negs):
            clause_number = number if i == 0 else self.number()
            if i:
                tokens.append("and")
            polarity = _flip(sentiment) if neg else sentiment
            tokens += self.noun_phrase(lexicon.SUBJECTS[topic], clause_number, lexicon.DETERMINERS, negated)
            tokens += self.predicate(topic, clause_number, tense, polarity, neg)
        return tokens, "none"

    def reflexive(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        rng = self.rng
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        if neg is None and rng.random() < 0.08:
            neg = "always"
        subject = self.noun_phrase(lexicon.SUBJECTS["service"], number, lexicon.DETERMINERS, negated)
        if number == "plural":
            pronoun = "themselves"
        elif subject[1] in lexicon.FEMALE:
            pronoun = "herself"
        else:
            pronoun = rng.choice(("himself", "herself"))
        if topic == "food":  # "the chef outdid herself with the desserts"
            verb = rng.choice(lexicon.REFLEXIVE_POLAR[polarity])
            rest = ["with"] + self.noun_phrase(lexicon.SUBJECTS["food"], self.number(), lexicon.THE)
        elif rng.random() < 0.2:  # "the waiters made themselves useful"
            verb, rest = lexicon.MAKE, [rng.choice(lexicon.MAKE_ADJECTIVES[polarity])]
        else:  # "the manager conducted herself professionally"
            verb, rest = rng.choice(lexicon.REFLEXIVE_MANNER), [rng.choice(lexicon.ADVERBS[polarity])]
        return subject + self.lexical(verb, number, tense, neg) + [pronoun] + rest, "none"

    def npi(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        rng = self.rng
        polarity = _flip(sentiment)  # always negated
        if rng.random() < 0.55:  # "no customer has ever complained about the soup"
            if number == "singular" and rng.random() < 0.2:
                subject = ["no", "one"]
            else:
                subject = ["no", rng.choice(lexicon.AGENTS)[0 if number == "singular" else 1]]
            choices = lexicon.NPI_COMMON[polarity] + [(v, ()) for v in lexicon.NPI_VERBS[topic][polarity]]
            verb, rest = rng.choice(choices)
            if tense == "present" and rng.random() < 0.6:
                verb_tokens = [_finite(_HAVE, number, tense), "ever", verb[2]]
            else:
                verb_tokens = ["ever", _finite(verb, number, tense)]
            obj = self.noun_phrase(lexicon.SUBJECTS[topic], self.number(), lexicon.THE_OR_OUR)
            return subject + verb_tokens + list(rest) + obj, "none"
        # "the waiters do not ever smile at us"
        subject = self.noun_phrase(lexicon.SUBJECTS[topic], number, lexicon.DETERMINERS, True)
        kinds = tuple(k for k in lexicon.PREDICATE_KINDS[topic] if k in ("linking", "verb", "have"))
        return subject + self.predicate(topic, number, tense, polarity, "not_ever", kinds), "none"

    # ---- whole sentences ---------------------------------------------------------------------

    def sentence(self) -> GeneratedSentence:
        rng = self.rng
        weights = lexicon.CONSTRUCTION_WEIGHTS
        construction = rng.choices(list(weights), weights=list(weights.values()))[0]
        topic = rng.choice(("service", "service", "food") if construction == "reflexive" else TOPICS)
        sentiment = rng.choice(("positive", "negative"))
        tense = rng.choice(("present", "past"))
        number = self.number()
        negated = construction == "npi" or rng.random() < 0.3
        tokens, attractor = getattr(self, construction)(topic, sentiment, tense, number, negated)
        tokens.append(".")
        assert len(tokens) <= MAX_TOKENS, tokens
        factors = {
            "construction": construction, "topic": topic, "sentiment": sentiment,
            "negated": "yes" if negated else "no", "subject_number": number, "tense": tense,
            "attractor_number": attractor,
        }
        return GeneratedSentence(" ".join(tokens), factors)


def generate_sentences(n: int, seed: int = 0) -> list[GeneratedSentence]:
    """Generate n sentences with their factors; the same seed always gives the same list."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"number of sentences must be a positive integer, got {n!r}")
    grammar = _Grammar(random.Random(seed))
    return [grammar.sentence() for _ in range(n)]
