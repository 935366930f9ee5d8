"""The built-in grammar's lexicon: the factors and their values, and the words each part of the
grammar draws from, by topic and polarity. Nouns are "singular/plural" (the plural defaults to
singular + "s"); verbs are "base/third-person-singular/past" (the past form doubles as the
participle where used)."""

from __future__ import annotations

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


SUBJECTS: dict[str, list[Noun]] = {
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
FEMALE = frozenset({"waitress", "hostess"})

AGENTS = _nouns(
    "customer guest diner critic visitor tourist friend")
_STAFF = _nouns("chef cook waiter waitress/waitresses server bartender barista owner")
_BOSSES = _nouns("manager owner chef")

_GOOD = "good great nice excellent wonderful amazing"
_BAD = "bad terrible awful horrible poor disappointing"
ADJECTIVES: dict[str, dict[str, list[str]]] = {
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
GENERIC = {"positive": _words(_GOOD), "negative": _words(_BAD)}
INTENSIFIERS = _words("very really quite so truly extremely")

# Linking verbs: (verb, takes only the generic adjectives).
LINKING: dict[str, list[tuple[Verb, bool]]] = {
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
VERB_PHRASES: dict[str, dict[str, list[tuple[Verb, tuple[str, ...]]]]] = {
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
HAVE_OBJECTS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
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

PREDICATE_KINDS = {
    "food": ("copula", "copula", "perfect", "linking", "verb", "have"),
    "service": ("copula", "copula", "perfect", "linking", "verb", "verb", "have"),
    "place": ("copula", "copula", "perfect", "linking", "verb", "have"),
    "price": ("copula", "copula", "perfect", "linking", "verb"),
}

# Prepositional phrases after the subject: (preposition, attractor nouns).
_SIDES = _nouns("olive onion mushroom topping potato/potatoes tomato/tomatoes")
_SPOTS = _nouns("table door bar counter entrance window booth kitchen")
PP: dict[str, list[tuple[str, list[Noun]]]] = {
    "food": [("with", _SIDES), ("from", _nouns("kitchen bakery/bakeries grill")), ("on", _nouns("menu plate"))],
    "service": [("near", _SPOTS), ("at", _SPOTS), ("by", _SPOTS),
                ("behind", _nouns("counter bar")), ("for", _nouns("table group"))],
    "place": [(p, _nouns("window door bar entrance kitchen")) for p in ("near", "by")]
    + [("on", _nouns("patio/patios terrace rooftop")), ("in", _nouns("corner lobby/lobbies"))],
    "price": [("of", _nouns("drink dish/dishes meal cocktail dessert entree bottle")),
              ("on", _nouns("menu receipt")), ("for", _nouns("refill reservation group"))],
}

# Subject relatives "the <head> that <verb> the <object>": (verb, objects), per topic.
SUBJECT_RELATIVE: dict[str, list[tuple[Verb, list[Noun]]]] = {
    "food": [(v, _SIDES) for v in _verbs("include/includes/included contain/contains/contained")],
    "service": [(("serve", "serves", "served"), AGENTS), (("greet", "greets", "greeted"), AGENTS),
                (("seat", "seats", "seated"), AGENTS)]
    + [(v, SUBJECTS["food"]) for v in _verbs(
        "cook/cooks/cooked make/makes/made bring/brings/brought")]
    + [(("take", "takes", "took"), _nouns("order reservation"))],
    "place": [(v, _nouns("street garden park square harbor"))
              for v in _verbs("face/faces/faced overlook/overlooks/overlooked")],
    "price": [(v, _nouns("drink tax/taxes dessert refill tip"))
              for v in _verbs("include/includes/included cover/covers/covered")],
}

# Object relatives "the <head> (that) the <subject> <verb>": (verb, inner subjects), per topic.
OBJECT_RELATIVE: dict[str, list[tuple[Verb, list[Noun]]]] = {
    "food": [(v, _STAFF) for v in _verbs(
        "make/makes/made serve/serves/served bring/brings/brought")]
    + [(v, AGENTS) for v in _verbs("order/orders/ordered try/tries/tried choose/chooses/chose")],
    "service": [(v, _BOSSES) for v in _verbs("hire/hires/hired train/trains/trained")]
    + [(v, AGENTS) for v in _verbs("tip/tips/tipped meet/meets/met ask/asks/asked")],
    "place": [(v, AGENTS) for v in _verbs(
        "choose/chooses/chose book/books/booked visit/visits/visited")],
    "price": [(v, AGENTS) for v in _verbs("pay/pays/paid get/gets/got")]
    + [(v, _BOSSES) for v in _verbs("add/adds/added charge/charges/charged")],
}

# Reflexives: manner verbs with a polar adverb, and polar verbs with "with the <food>".
REFLEXIVE_MANNER = _verbs(
    "introduce/introduces/introduced conduct/conducts/conducted carry/carries/carried "
    "handle/handles/handled")
ADVERBS = {
    "positive": _words("politely warmly kindly professionally well calmly"),
    "negative": _words("rudely coldly awkwardly poorly badly arrogantly"),
}
REFLEXIVE_POLAR = {
    "positive": _verbs("outdo/outdoes/outdid"),
    "negative": _verbs("disgrace/disgraces/disgraced humiliate/humiliates/humiliated"),
}
MAKE = ("make", "makes", "made")
MAKE_ADJECTIVES = {"positive": _words("useful available"), "negative": _words("scarce unavailable")}

# Negative polarity items: "no <agent> has ever <verb> the <noun>".
NPI_COMMON = {
    "positive": [(v, ()) for v in _verbs("praise/praises/praised")],
    "negative": [(("complain", "complains", "complained"), ("about",))]
    + [(v, ()) for v in _verbs("criticize/criticizes/criticized")],
}
NPI_VERBS: dict[str, dict[str, list[tuple[Verb, tuple[str, ...]]]]] = {
    "food": {"positive": _verbs("enjoy/enjoys/enjoyed like/likes/liked love/loves/loved"),
             "negative": _verbs("hate/hates/hated dislike/dislikes/disliked")},
    "service": {"positive": _verbs("like/likes/liked thank/thanks/thanked"),
                "negative": _verbs("dislike/dislikes/disliked")},
    "place": {"positive": _verbs("enjoy/enjoys/enjoyed like/likes/liked love/loves/loved"),
              "negative": _verbs("hate/hates/hated dislike/dislikes/disliked")},
    "price": {"positive": _verbs("appreciate/appreciates/appreciated"),
              "negative": _verbs("question/questions/questioned dispute/disputes/disputed")},
}

DETERMINERS = {
    "singular": ("the", "the", "the", "the", "this", "our", "every"),
    "plural": ("the", "the", "the", "the", "these", "our", "some", "many"),
}
THE = {"singular": ("the",), "plural": ("the",)}
THE_OR_OUR = {"singular": ("the", "the", "our"), "plural": ("the", "the", "our")}
ADJUNCTS = {
    "present": ("these days", "every time", "on weekends", "at lunch", "at dinner", "most nights"),
    "perfect": ("lately", "recently", "this year", "all week"),
    "past": ("last night", "yesterday", "last week", "on friday", "on saturday", "at lunch", "at dinner",
             "that night", "this time", "last month"),
}
CONSTRUCTION_WEIGHTS = {
    "simple": 20, "pp_attractor": 12, "subject_relative": 12, "object_relative": 8,
    "object_relative_bare": 8, "vp_coordination": 10, "s_coordination": 10, "reflexive": 10, "npi": 10,
}


def _polar_words(polarity: str) -> frozenset[str]:
    words: set[str] = set(GENERIC[polarity]) | set(ADVERBS[polarity]) | set(MAKE_ADJECTIVES[polarity])
    for topic in TOPICS:
        words.update(ADJECTIVES[topic][polarity])
        for verb, _ in VERB_PHRASES[topic][polarity]:
            words.update(verb)
        for verb in NPI_VERBS[topic][polarity]:
            words.update(verb)
        if topic in HAVE_OBJECTS:
            words.update(HAVE_OBJECTS[topic][1][polarity])
    for verb, _ in NPI_COMMON[polarity]:
        words.update(verb)
    for verb in REFLEXIVE_POLAR[polarity]:
        words.update(verb)
    return frozenset(words)


POSITIVE_WORDS: frozenset[str] = _polar_words("positive")
"""Every word the grammar uses to say something positive (adjectives, verbs, adverbs)."""
NEGATIVE_WORDS: frozenset[str] = _polar_words("negative")
"""Every word the grammar uses to say something negative."""
assert not POSITIVE_WORDS & NEGATIVE_WORDS, POSITIVE_WORDS & NEGATIVE_WORDS


def _nouns_drawn() -> frozenset[str]:
    lists: list[list[Noun]] = [*SUBJECTS.values(), AGENTS, _STAFF, _BOSSES, _SIDES, _SPOTS]
    lists += [nouns for phrases in PP.values() for _, nouns in phrases]
    lists += [nouns for clauses in (*SUBJECT_RELATIVE.values(), *OBJECT_RELATIVE.values()) for _, nouns in clauses]
    words = {form for nouns in lists for noun in nouns for form in noun}
    return frozenset(words | {w for objects, _ in HAVE_OBJECTS.values() for w in objects})


CONTENT_WORDS: frozenset[str] = _nouns_drawn() | POSITIVE_WORDS | NEGATIVE_WORDS
"""What a sentence is about and what it says of it: every noun the grammar draws (both numbers)
and every evaluative word. A reconstruction that keeps these kept the sentence's content."""
