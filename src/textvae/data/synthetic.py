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

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from textvae.errors import ConfigError, DataError

__all__ = [
    "CONTENT_WORDS", "FACTOR_NAMES", "FACTOR_VALUES", "NEGATIVE_WORDS", "POSITIVE_WORDS", "CorpusSplits",
    "GeneratedSentence", "generate_sentences", "read_factors", "write_corpus",
]

CONSTRUCTIONS = (
    "simple", "pp_attractor", "subject_relative", "object_relative", "object_relative_bare",
    "vp_coordination", "s_coordination", "reflexive", "npi",
)
TOPICS = ("food", "service", "place", "price")

FACTOR_NAMES: tuple[str, ...] = (
    "construction", "topic", "sentiment", "negated", "subject_number", "tense", "attractor_number",
)
"""The factor keys every generated sentence carries, in this order."""

FACTOR_VALUES: dict[str, tuple[str, ...]] = {
    "construction": CONSTRUCTIONS,
    "topic": TOPICS,
    "sentiment": ("positive", "negative"),
    "negated": ("yes", "no"),
    "subject_number": ("singular", "plural"),
    "tense": ("present", "past"),
    "attractor_number": ("singular", "plural", "none"),
}
"""The values each factor can take.  attractor_number is the number of the noun between the
subject and its verb (PP object, relative-clause object or subject), "none" where there is none."""

MAX_TOKENS = 25

# --------------------------------------------------------------------------------------------
# Lexicon.  Nouns are "singular/plural" (plural defaults to singular + "s"); verbs are
# "base/third-person-singular/past" (the past form doubles as the participle where used).
# --------------------------------------------------------------------------------------------

Noun = tuple[str, str]
Verb = tuple[str, str, str]


def _nouns(spec: str) -> list[Noun]:
    out = []
    for item in spec.split():
        singular, _, plural = item.partition("/")
        out.append((singular, plural or singular + "s"))
    return out


def _verbs(spec: str) -> list[Verb]:
    out = []
    for item in spec.split():
        base, third, past = item.split("/")
        out.append((base, third, past))
    return out


def _words(spec: str) -> list[str]:
    return spec.split()


_SUBJECTS: dict[str, list[Noun]] = {
    "food": _nouns(
        "dish/dishes soup burger salad steak pizza sandwich/sandwiches dessert cake pie taco "
        "curry/curries sauce appetizer entree meal pancake coffee cocktail"),
    "service": _nouns(
        "waiter waitress/waitresses server host hostess/hostesses bartender manager chef cook "
        "cashier owner barista employee"),
    "place": _nouns(
        "room patio/patios restaurant cafe bar table booth chair bathroom lobby/lobbies terrace "
        "lounge garden place"),
    "price": _nouns(
        "price cost bill check tab fee charge rate menu total markup"),
}
_FEMALE = frozenset({"waitress", "hostess"})

_AGENTS = _nouns(
    "customer guest diner critic visitor tourist friend")
_STAFF = _nouns("chef cook waiter waitress/waitresses server bartender barista owner")
_BOSSES = _nouns("manager owner chef")

_GOOD = "good great nice excellent wonderful amazing"
_BAD = "bad terrible awful horrible poor disappointing"
_ADJECTIVES: dict[str, dict[str, list[str]]] = {
    "food": {
        "positive": _words("delicious tasty fresh flavorful perfect juicy tender crispy hearty " + _GOOD),
        "negative": _words("bland stale soggy greasy salty burnt overcooked tasteless bitter lukewarm "
                           + _BAD),
    },
    "service": {
        "positive": _words("friendly attentive polite helpful professional cheerful patient kind quick "
                           "efficient warm " + _GOOD),
        "negative": _words("rude slow careless lazy grumpy impatient unfriendly arrogant cold clumsy "
                           "forgetful pushy " + _BAD),
    },
    "place": {
        "positive": _words("cozy clean bright spacious quiet comfortable lovely beautiful pleasant "
                           "elegant charming warm " + _GOOD),
        "negative": _words("dirty noisy loud cramped dark crowded shabby smelly sticky gloomy cold "
                           "ugly stuffy " + _BAD),
    },
    "price": {
        "positive": _words("cheap affordable reasonable fair low modest decent good great"),
        "negative": _words("expensive overpriced high steep outrageous ridiculous unfair excessive "
                           "bad terrible awful"),
    },
}
_GENERIC = {"positive": _words(_GOOD), "negative": _words(_BAD)}
_INTENSIFIERS = _words("very really quite so truly extremely")

# Linking verbs: (verb, takes only the generic adjectives).
_LINKING: dict[str, list[tuple[Verb, bool]]] = {
    "food": [(v, v[0] == "smell") for v in _verbs(
        "taste/tastes/tasted look/looks/looked seem/seems/seemed smell/smells/smelled")],
    "service": [(v, False) for v in _verbs(
        "seem/seems/seemed look/looks/looked sound/sounds/sounded appear/appears/appeared")],
    "place": [(v, False) for v in _verbs(
        "look/looks/looked feel/feels/felt seem/seems/seemed appear/appears/appeared")],
    "price": [(v, False) for v in _verbs(
        "seem/seems/seemed look/looks/looked sound/sounds/sounded appear/appears/appeared")],
}

# Evaluative verb phrases: (verb, rest of the phrase); the verb carries the polarity.
_US = ("us",)
_VERB_PHRASES: dict[str, dict[str, list[tuple[Verb, tuple[str, ...]]]]] = {
    "food": {
        "positive": [(v, _US) for v in _verbs(
            "delight/delights/delighted satisfy/satisfies/satisfied please/pleases/pleased")],
        "negative": [(v, _US) for v in _verbs(
            "disappoint/disappoints/disappointed disgust/disgusts/disgusted")],
    },
    "service": {
        "positive": [(v, _US) for v in _verbs(
            "help/helps/helped welcome/welcomes/welcomed thank/thanks/thanked")]
        + [(("smile", "smiles", "smiled"), ("at", "us"))],
        "negative": [(v, _US) for v in _verbs(
            "ignore/ignores/ignored rush/rushes/rushed annoy/annoys/annoyed")]
        + [(("yell", "yells", "yelled"), ("at", "us")), (("forget", "forgets", "forgot"), ("our", "order"))],
    },
    "place": {
        "positive": [(v, _US) for v in _verbs(
            "charm/charms/charmed welcome/welcomes/welcomed delight/delights/delighted")],
        "negative": [(v, _US) for v in _verbs(
            "disappoint/disappoints/disappointed bore/bores/bored annoy/annoys/annoyed")],
    },
    "price": {
        "positive": [(v, _US) for v in _verbs(
            "please/pleases/pleased delight/delights/delighted satisfy/satisfies/satisfied")]
        + [(("suit", "suits", "suited"), ("our", "budget"))],
        "negative": [(v, _US) for v in _verbs(
            "shock/shocks/shocked disappoint/disappoints/disappointed annoy/annoys/annoyed")],
    },
}

# "has a <adjective> <noun>": nouns, and the adjectives that carry the polarity.
_HAVE_OBJECTS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "food": (_words("flavor taste texture aroma"),
             {"positive": _words("rich great wonderful lovely pleasant delicious"),
              "negative": _words("strange bitter sour awful weird")}),
    "service": (_words("attitude manner demeanor tone"),
                {"positive": _words("great positive friendly warm lovely pleasant cheerful"),
                 "negative": _words("bad rude terrible negative cold")}),
    "place": (_words("view vibe atmosphere feel look"),
              {"positive": _words("great lovely cozy relaxed pleasant wonderful beautiful"),
               "negative": _words("gloomy bad awful dreary sad terrible")}),
}

_PREDICATE_KINDS = {
    "food": ("copula", "copula", "perfect", "linking", "verb", "have"),
    "service": ("copula", "copula", "perfect", "linking", "verb", "verb", "have"),
    "place": ("copula", "copula", "perfect", "linking", "verb", "have"),
    "price": ("copula", "copula", "perfect", "linking", "verb"),
}

# Prepositional phrases after the subject: (preposition, attractor nouns).
_SIDES = _nouns("olive onion mushroom topping potato/potatoes tomato/tomatoes")
_SPOTS = _nouns("table door bar counter entrance window booth kitchen")
_PP: dict[str, list[tuple[str, list[Noun]]]] = {
    "food": [("with", _SIDES), ("from", _nouns("kitchen bakery/bakeries grill")), ("on", _nouns("menu plate"))],
    "service": [("near", _SPOTS), ("at", _SPOTS), ("by", _SPOTS),
                ("behind", _nouns("counter bar")), ("for", _nouns("table group"))],
    "place": [(p, _nouns("window door bar entrance kitchen")) for p in ("near", "by")]
    + [("on", _nouns("patio/patios terrace rooftop")), ("in", _nouns("corner lobby/lobbies"))],
    "price": [("of", _nouns("drink dish/dishes meal cocktail dessert entree bottle")),
              ("on", _nouns("menu receipt")), ("for", _nouns("refill reservation group"))],
}

# Subject relatives "the <head> that <verb> the <object>": (verb, objects), per topic.
_SUBJECT_RELATIVE: dict[str, list[tuple[Verb, list[Noun]]]] = {
    "food": [(v, _SIDES) for v in _verbs("include/includes/included contain/contains/contained")],
    "service": [(("serve", "serves", "served"), _AGENTS), (("greet", "greets", "greeted"), _AGENTS),
                (("seat", "seats", "seated"), _AGENTS)]
    + [(v, _SUBJECTS["food"]) for v in _verbs(
        "cook/cooks/cooked make/makes/made bring/brings/brought")]
    + [(("take", "takes", "took"), _nouns("order reservation"))],
    "place": [(v, _nouns("street garden park square harbor"))
              for v in _verbs("face/faces/faced overlook/overlooks/overlooked")],
    "price": [(v, _nouns("drink tax/taxes dessert refill tip"))
              for v in _verbs("include/includes/included cover/covers/covered")],
}

# Object relatives "the <head> (that) the <subject> <verb>": (verb, inner subjects), per topic.
_OBJECT_RELATIVE: dict[str, list[tuple[Verb, list[Noun]]]] = {
    "food": [(v, _STAFF) for v in _verbs(
        "make/makes/made serve/serves/served bring/brings/brought")]
    + [(v, _AGENTS) for v in _verbs("order/orders/ordered try/tries/tried choose/chooses/chose")],
    "service": [(v, _BOSSES) for v in _verbs("hire/hires/hired train/trains/trained")]
    + [(v, _AGENTS) for v in _verbs("tip/tips/tipped meet/meets/met ask/asks/asked")],
    "place": [(v, _AGENTS) for v in _verbs(
        "choose/chooses/chose book/books/booked visit/visits/visited")],
    "price": [(v, _AGENTS) for v in _verbs("pay/pays/paid get/gets/got")]
    + [(v, _BOSSES) for v in _verbs("add/adds/added charge/charges/charged")],
}

# Reflexives: manner verbs with a polar adverb, and polar verbs with "with the <food>".
_REFLEXIVE_MANNER = _verbs(
    "introduce/introduces/introduced conduct/conducts/conducted carry/carries/carried "
    "handle/handles/handled")
_ADVERBS = {
    "positive": _words("politely warmly kindly professionally well calmly"),
    "negative": _words("rudely coldly awkwardly poorly badly arrogantly"),
}
_REFLEXIVE_POLAR = {
    "positive": _verbs("outdo/outdoes/outdid"),
    "negative": _verbs("disgrace/disgraces/disgraced humiliate/humiliates/humiliated"),
}
_MAKE = ("make", "makes", "made")
_MAKE_ADJECTIVES = {"positive": _words("useful available"), "negative": _words("scarce unavailable")}

# Negative polarity items: "no <agent> has ever <verb> the <noun>".
_NPI_COMMON = {
    "positive": [(v, ()) for v in _verbs("praise/praises/praised")],
    "negative": [(("complain", "complains", "complained"), ("about",))]
    + [(v, ()) for v in _verbs("criticize/criticizes/criticized")],
}
_NPI_VERBS: dict[str, dict[str, list[tuple[Verb, tuple[str, ...]]]]] = {
    "food": {"positive": _verbs("enjoy/enjoys/enjoyed like/likes/liked love/loves/loved"),
             "negative": _verbs("hate/hates/hated dislike/dislikes/disliked")},
    "service": {"positive": _verbs("like/likes/liked thank/thanks/thanked"),
                "negative": _verbs("dislike/dislikes/disliked")},
    "place": {"positive": _verbs("enjoy/enjoys/enjoyed like/likes/liked love/loves/loved"),
              "negative": _verbs("hate/hates/hated dislike/dislikes/disliked")},
    "price": {"positive": _verbs("appreciate/appreciates/appreciated"),
              "negative": _verbs("question/questions/questioned dispute/disputes/disputed")},
}

_DETERMINERS = {
    "singular": ("the", "the", "the", "the", "this", "our", "every"),
    "plural": ("the", "the", "the", "the", "these", "our", "some", "many"),
}
_THE = {"singular": ("the",), "plural": ("the",)}
_THE_OR_OUR = {"singular": ("the", "the", "our"), "plural": ("the", "the", "our")}
_ADJUNCTS = {
    "present": ("these days", "every time", "on weekends", "at lunch", "at dinner", "most nights"),
    "perfect": ("lately", "recently", "this year", "all week"),
    "past": ("last night", "yesterday", "last week", "on friday", "on saturday", "at lunch", "at dinner",
             "that night", "this time", "last month"),
}
_CONSTRUCTION_WEIGHTS = {
    "simple": 20, "pp_attractor": 12, "subject_relative": 12, "object_relative": 8,
    "object_relative_bare": 8, "vp_coordination": 10, "s_coordination": 10, "reflexive": 10, "npi": 10,
}


def _polar_words(polarity: str) -> frozenset[str]:
    words: set[str] = set(_GENERIC[polarity]) | set(_ADVERBS[polarity]) | set(_MAKE_ADJECTIVES[polarity])
    for topic in TOPICS:
        words.update(_ADJECTIVES[topic][polarity])
        for verb, _ in _VERB_PHRASES[topic][polarity]:
            words.update(verb)
        for verb in _NPI_VERBS[topic][polarity]:
            words.update(verb)
        if topic in _HAVE_OBJECTS:
            words.update(_HAVE_OBJECTS[topic][1][polarity])
    for verb, _ in _NPI_COMMON[polarity]:
        words.update(verb)
    for verb in _REFLEXIVE_POLAR[polarity]:
        words.update(verb)
    return frozenset(words)


POSITIVE_WORDS: frozenset[str] = _polar_words("positive")
"""Every word the grammar uses to say something positive (adjectives, verbs, adverbs)."""
NEGATIVE_WORDS: frozenset[str] = _polar_words("negative")
"""Every word the grammar uses to say something negative."""
assert not POSITIVE_WORDS & NEGATIVE_WORDS, POSITIVE_WORDS & NEGATIVE_WORDS


def _nouns_drawn() -> frozenset[str]:
    lists: list[list[Noun]] = [*_SUBJECTS.values(), _AGENTS, _STAFF, _BOSSES, _SIDES, _SPOTS]
    lists += [nouns for phrases in _PP.values() for _, nouns in phrases]
    lists += [nouns for clauses in (*_SUBJECT_RELATIVE.values(), *_OBJECT_RELATIVE.values()) for _, nouns in clauses]
    words = {form for nouns in lists for noun in nouns for form in noun}
    return frozenset(words | {w for objects, _ in _HAVE_OBJECTS.values() for w in objects})


CONTENT_WORDS: frozenset[str] = _nouns_drawn() | POSITIVE_WORDS | NEGATIVE_WORDS
"""What a sentence is about and what it says of it: every noun the grammar draws (both numbers)
and every evaluative word. A reconstruction that keeps these kept the sentence's content."""


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


# --------------------------------------------------------------------------------------------
# Generation.
# --------------------------------------------------------------------------------------------

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
        words = _GENERIC[polarity] if generic_only else _ADJECTIVES[topic][polarity]
        out = [self.rng.choice(words)]
        if self.rng.random() < 0.25:
            out.insert(0, self.rng.choice(_INTENSIFIERS))
        return out

    def predicate(self, topic: str, number: str, tense: str, polarity: str, neg: str | None,
                  kinds: tuple[str, ...] | None = None) -> list[str]:
        """A verb phrase saying something of the given lexical polarity about the subject.

        neg is None, "not", "never" or "not_ever" (the last only for kinds linking/verb/have).
        """
        rng = self.rng
        kind = rng.choice(kinds or _PREDICATE_KINDS[topic])
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
            verb, generic_only = rng.choice(_LINKING[topic])
            return self.lexical(verb, number, tense, neg) + self.adjective(topic, polarity, generic_only)
        if kind == "verb":
            verb, rest = rng.choice(_VERB_PHRASES[topic][polarity])
            return self.lexical(verb, number, tense, neg) + list(rest)
        nouns, adjectives = _HAVE_OBJECTS[topic]
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
        return self.rng.choice(_ADJUNCTS[aspect]).split()

    # ---- constructions -----------------------------------------------------------------------
    # Each takes (topic, sentiment, tense, number, negated) and returns (tokens, attractor number).

    def simple(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        tokens = self.noun_phrase(_SUBJECTS[topic], number, _DETERMINERS, negated)
        tokens += self.predicate(topic, number, tense, polarity, neg)
        return tokens + self.adjunct(tokens, tense), "none"

    def pp_attractor(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        attractor = self.number()
        prep, nouns = self.rng.choice(_PP[topic])
        tokens = self.noun_phrase(_SUBJECTS[topic], number, _DETERMINERS, negated) + [prep]
        tokens += self.noun_phrase(nouns, attractor, _THE_OR_OUR)
        return tokens + self.predicate(topic, number, tense, polarity, neg), attractor

    def subject_relative(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        attractor = self.number()
        verb, objects = self.rng.choice(_SUBJECT_RELATIVE[topic])
        relativizer = self.rng.choice(("that", "who") if topic == "service" else ("that", "which"))
        tokens = self.noun_phrase(_SUBJECTS[topic], number, _DETERMINERS, negated)
        tokens += [relativizer, _finite(verb, number, tense)]
        tokens += self.noun_phrase(objects, attractor, _THE)
        return tokens + self.predicate(topic, number, tense, polarity, neg), attractor

    def _object_relative(self, topic: str, sentiment: str, tense: str, number: str, negated: bool,
                         relativizers: tuple[str, ...]) -> _Parse:
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        attractor = self.number()
        verb, subjects = self.rng.choice(_OBJECT_RELATIVE[topic])
        tokens = self.noun_phrase(_SUBJECTS[topic], number, _DETERMINERS, negated)
        if relativizers:
            tokens.append(self.rng.choice(relativizers))
        tokens += self.noun_phrase(subjects, attractor, _THE_OR_OUR)
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
        tokens = self.noun_phrase(_SUBJECTS[topic], number, _DETERMINERS, negated)
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
            tokens += self.noun_phrase(_SUBJECTS[topic], clause_number, _DETERMINERS, negated)
            tokens += self.predicate(topic, clause_number, tense, polarity, neg)
        return tokens, "none"

    def reflexive(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        rng = self.rng
        neg = self.negation() if negated else None
        polarity = _flip(sentiment) if negated else sentiment
        if neg is None and rng.random() < 0.08:
            neg = "always"
        subject = self.noun_phrase(_SUBJECTS["service"], number, _DETERMINERS, negated)
        if number == "plural":
            pronoun = "themselves"
        elif subject[1] in _FEMALE:
            pronoun = "herself"
        else:
            pronoun = rng.choice(("himself", "herself"))
        if topic == "food":  # "the chef outdid herself with the desserts"
            verb = rng.choice(_REFLEXIVE_POLAR[polarity])
            rest = ["with"] + self.noun_phrase(_SUBJECTS["food"], self.number(), _THE)
        elif rng.random() < 0.2:  # "the waiters made themselves useful"
            verb, rest = _MAKE, [rng.choice(_MAKE_ADJECTIVES[polarity])]
        else:  # "the manager conducted herself professionally"
            verb, rest = rng.choice(_REFLEXIVE_MANNER), [rng.choice(_ADVERBS[polarity])]
        return subject + self.lexical(verb, number, tense, neg) + [pronoun] + rest, "none"

    def npi(self, topic: str, sentiment: str, tense: str, number: str, negated: bool) -> _Parse:
        rng = self.rng
        polarity = _flip(sentiment)  # always negated
        if rng.random() < 0.55:  # "no customer has ever complained about the soup"
            if number == "singular" and rng.random() < 0.2:
                subject = ["no", "one"]
            else:
                subject = ["no", rng.choice(_AGENTS)[0 if number == "singular" else 1]]
            choices = _NPI_COMMON[polarity] + [(v, ()) for v in _NPI_VERBS[topic][polarity]]
            verb, rest = rng.choice(choices)
            if tense == "present" and rng.random() < 0.6:
                verb_tokens = [_finite(_HAVE, number, tense), "ever", verb[2]]
            else:
                verb_tokens = ["ever", _finite(verb, number, tense)]
            obj = self.noun_phrase(_SUBJECTS[topic], self.number(), _THE_OR_OUR)
            return subject + verb_tokens + list(rest) + obj, "none"
        # "the waiters do not ever smile at us"
        subject = self.noun_phrase(_SUBJECTS[topic], number, _DETERMINERS, True)
        kinds = tuple(k for k in _PREDICATE_KINDS[topic] if k in ("linking", "verb", "have"))
        return subject + self.predicate(topic, number, tense, polarity, "not_ever", kinds), "none"

    # ---- whole sentences ---------------------------------------------------------------------

    def sentence(self) -> GeneratedSentence:
        rng = self.rng
        construction = rng.choices(list(_CONSTRUCTION_WEIGHTS), weights=list(_CONSTRUCTION_WEIGHTS.values()))[0]
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


# --------------------------------------------------------------------------------------------
# Corpus files.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorpusSplits:
    """Paths of the three text files; each has a factors file next to it (see factors_path)."""

    train: Path
    valid: Path
    test: Path

    def factors_path(self, split: str) -> Path:
        """The factors file of a split ("train", "valid" or "test"), e.g. train.factors.jsonl."""
        if split not in ("train", "valid", "test"):
            raise ConfigError(f"unknown split {split!r}; expected train, valid or test")
        text: Path = getattr(self, split)
        return text.with_name(f"{split}.factors.jsonl")


def write_corpus(out_dir: Path | str, n_sentences: int = 20_000, seed: int = 0,
                 valid_fraction: float = 0.05, test_fraction: float = 0.05) -> CorpusSplits:
    """Generate, shuffle and split a corpus; write {train,valid,test}.txt and .factors.jsonl.

    The directory is created if missing; existing files of those names are overwritten.
    Split sizes are round(n * fraction) for valid and test, the rest is train.
    """
    for name, fraction in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {fraction!r}")
    sentences = generate_sentences(n_sentences, seed)
    n_valid = round(n_sentences * valid_fraction)
    n_test = round(n_sentences * test_fraction)
    if n_valid + n_test >= n_sentences:
        raise ConfigError(f"valid and test fractions leave no training sentences out of {n_sentences}")
    random.Random(f"textvae-synthetic-shuffle-{seed}").shuffle(sentences)
    parts = {"valid": sentences[:n_valid], "test": sentences[n_valid:n_valid + n_test],
             "train": sentences[n_valid + n_test:]}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = CorpusSplits(train=out / "train.txt", valid=out / "valid.txt", test=out / "test.txt")
    for split, items in parts.items():
        getattr(splits, split).write_text("".join(s.text + "\n" for s in items), encoding="utf-8")
        rows = (json.dumps({k: s.factors[k] for k in FACTOR_NAMES}) + "\n" for s in items)
        splits.factors_path(split).write_text("".join(rows), encoding="utf-8")
    return splits


def read_factors(path: Path | str) -> list[dict[str, str]]:
    """Read a .factors.jsonl file back: one dict a line, in the order of the text file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DataError(path, f"cannot read factors file ({err.strerror or err})") from err
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(path, f"not a JSON object ({err.msg})", line=number) from err
        if not isinstance(row, dict) or not all(isinstance(v, str) for v in row.values()):
            raise DataError(path, "expected an object of string values", line=number)
        rows.append(row)
    return rows
