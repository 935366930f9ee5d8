"""Syntax in the latent code: minimal pairs scored by the decoder (docs/method.md, Table 4).

For a pair of a grammatical sentence x+ and an ungrammatical x-, with z+ = mu(x+), z- = mu(x-):
- pos: p(x+ | z+) > p(x- | z+)  (the code of the good sentence prefers it),
- neg: p(x+ | z-) > p(x- | z-)  (the good sentence wins even from the bad one's code; a code
  that carries syntax pulls this down),
each also with z+ / z- the mean of mu over all pairs of one condition ("mean"), and a baseline
that scores the decoder as a language model, z = 0 (the prior mean), for both sentences.

A pair whose two sentences become the same token ids (their difference lies in words the
vocabulary lacks, which both read as `<unk>`) cannot be told apart by any model: it is a tie,
counted on its own and left out of every accuracy.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from textvae.data.files import read_lines
from textvae.data.vocab import TokenVocabulary
from textvae.errors import ConfigError, DataError
from textvae.evaluation.sentence_model import SentenceModel

log = logging.getLogger(__name__)

# The paper's Table 4 rows: Marvin & Linzen 2018 cases grouped as the paper groups them.
_AGREEMENT, _REFLEXIVES, _NPI = "agreement", "reflexive anaphora", "negative polarity items"
MARVIN_LINZEN_GROUPS: dict[str, str] = {
    "simple_agrmt": f"{_AGREEMENT}: simple",
    "sent_comp": f"{_AGREEMENT}: in a sentential complement",
    "vp_coord": f"{_AGREEMENT}: short VP coordination",
    "long_vp_coord": f"{_AGREEMENT}: long VP coordination",
    "prep_anim": f"{_AGREEMENT}: across a prepositional phrase",
    "prep_inanim": f"{_AGREEMENT}: across a prepositional phrase",
    "subj_rel": f"{_AGREEMENT}: across a subject relative clause",
    "obj_rel_across_anim": f"{_AGREEMENT}: across an object relative clause",
    "obj_rel_across_inanim": f"{_AGREEMENT}: across an object relative clause",
    "obj_rel_no_comp_across_anim": f"{_AGREEMENT}: across an object relative clause (no that)",
    "obj_rel_no_comp_across_inanim": f"{_AGREEMENT}: across an object relative clause (no that)",
    "obj_rel_within_anim": f"{_AGREEMENT}: within an object relative clause",
    "obj_rel_within_inanim": f"{_AGREEMENT}: within an object relative clause",
    "obj_rel_no_comp_within_anim": f"{_AGREEMENT}: within an object relative clause (no that)",
    "obj_rel_no_comp_within_inanim": f"{_AGREEMENT}: within an object relative clause (no that)",
    "simple_reflexives": f"{_REFLEXIVES}: simple",
    "reflexive_sent_comp": f"{_REFLEXIVES}: in a sentential complement",
    "reflexives_across": f"{_REFLEXIVES}: across a relative clause",
    "simple_npi_anim": f"{_NPI}: simple",
    "simple_npi_inanim": f"{_NPI}: simple",
    "npi_across_anim": f"{_NPI}: across a relative clause",
    "npi_across_inanim": f"{_NPI}: across a relative clause",
}
GROUPINGS = {"marvin-linzen": ("case", MARVIN_LINZEN_GROUPS)}  # name -> (field, field value -> group)
OVERALL = "overall"


@dataclass(frozen=True)
class MinimalPair:
    good: str
    bad: str
    group: str  # the row of the report
    condition: str  # pairs whose codes are averaged for the "mean" variant


def read_pairs(path: Path | str, group_by: str | None = None, grouping: str | None = None) -> list[MinimalPair]:
    """Minimal pairs from JSON lines carrying `sentence_good` and `sentence_bad`.

    Groups come from the field `group_by`, or from a named grouping (GROUPINGS) of a field; without
    either every pair is in one group. The mean-z condition is the (`case`, `condition`) fields
    where present, else the group."""
    if grouping is not None and grouping not in GROUPINGS:
        raise ConfigError(f"unknown grouping {grouping!r}; known: {', '.join(GROUPINGS)}")
    pairs = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(path, f"not a JSON object ({err.msg})", number) from None
        if not isinstance(record, dict):
            raise DataError(path, "not a JSON object", number)
        good, bad = record.get("sentence_good"), record.get("sentence_bad")
        if not isinstance(good, str) or not isinstance(bad, str) or not good.split() or not bad.split():
            raise DataError(path, "needs non-empty strings 'sentence_good' and 'sentence_bad'", number)
        if grouping is not None:
            field, names = GROUPINGS[grouping]
            group = names.get(str(record.get(field)), str(record.get(field)))
        elif group_by is not None:
            if group_by not in record:
                raise DataError(path, f"no field {group_by!r} to group by", number)
            group = str(record[group_by])
        else:
            group = OVERALL
        condition = "/".join(str(record[k]) for k in ("case", "condition") if k in record) or group
        pairs.append(MinimalPair(good, bad, group, condition))
    if not pairs:
        raise DataError(path, "holds no minimal pair")
    return pairs


@dataclass
class GroupScores:
    """Accuracies in [0, 1] over the scored pairs of one group."""

    group: str
    pairs: int  # in the file: scored + skipped + ties
    scored: int
    skipped: int  # pairs with an out-of-vocabulary word, when those are skipped
    ties: int  # pairs whose sentences have the same token ids (not skipped): neither can win
    oov_pairs: int  # pairs with at least one out-of-vocabulary word (scored with <unk> unless skipped)
    tokens: int  # of both sentences of every pair, as the run tokenizes them
    oov_tokens: int  # of those, outside the vocabulary
    pos: float | None
    neg: float | None
    pos_mean: float | None
    neg_mean: float | None
    lm: float | None  # the decoder as a language model: z = 0 for both sentences

    @property
    def oov_share(self) -> float:
        return self.oov_pairs / self.pairs if self.pairs else 0.0

    @property
    def oov_token_rate(self) -> float:
        return self.oov_tokens / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"oov_share": self.oov_share, "oov_token_rate": self.oov_token_rate}


def has_oov(pair: MinimalPair, vocabulary: TokenVocabulary, tokenize: Callable[[str], list[str]] = str.split) -> bool:
    return any(word not in vocabulary for sentence in (pair.good, pair.bad) for word in tokenize(sentence))


def token_counts(pair: MinimalPair, vocabulary: TokenVocabulary,
                 tokenize: Callable[[str], list[str]] = str.split) -> tuple[int, int]:
    """Tokens of both sentences, and how many of them the vocabulary lacks."""
    words = [word for sentence in (pair.good, pair.bad) for word in tokenize(sentence)]
    return len(words), sum(word not in vocabulary for word in words)


def tie_advice(tokenizer: object) -> str:
    """What may turn ties into scored pairs, given how the sentences were tokenized."""
    kind, lowercase = getattr(tokenizer, "kind", "none"), getattr(tokenizer, "lowercase", False)
    if kind == "none" or not lowercase:
        return ("the pairs may be tokenized unlike the training corpus: try --tokenize ptb --lowercase (Penn "
                "Treebank style, as Marvin & Linzen's) or --tokenize moses --lowercase; --skip-oov leaves out every "
                "pair with an unknown word")
    return (f"they were tokenized with {kind}, lower-cased: the words the pairs differ in are missing from the "
            "run's vocabulary; train on a corpus (or a --vocab) that holds them, or --skip-oov leaves out every pair "
            "with an unknown word")


def is_tie(pair: MinimalPair, vocabulary: TokenVocabulary, tokenize: Callable[[str], list[str]] = str.split) -> bool:
    """Whether the two sentences are the same token ids once unknown words read as `<unk>`."""
    return vocabulary.encode(tokenize(pair.good)) == vocabulary.encode(tokenize(pair.bad))


def _condition_means(mu: Tensor, conditions: Sequence[str]) -> Tensor:
    """Each row replaced by the mean of the rows of its condition."""
    index = {c: i for i, c in enumerate(dict.fromkeys(conditions))}
    ids = torch.tensor([index[c] for c in conditions], device=mu.device)
    sums = torch.zeros(len(index), mu.size(1), device=mu.device, dtype=mu.dtype).index_add_(0, ids, mu)
    counts = torch.bincount(ids, minlength=len(index)).unsqueeze(1)
    return (sums / counts)[ids]


def score_pairs(vae: SentenceModel, pairs: Sequence[MinimalPair]) -> dict[str, Tensor]:
    """Per pair, whether the good sentence wins: pos, neg, pos_mean, neg_mean, lm (bool tensors)."""
    good, bad = [p.good for p in pairs], [p.bad for p in pairs]
    z_good, _ = vae.encode(good)
    z_bad, _ = vae.encode(bad)
    conditions = [p.condition for p in pairs]
    codes = {"pos": z_good, "neg": z_bad, "pos_mean": _condition_means(z_good, conditions),
             "neg_mean": _condition_means(z_bad, conditions), "lm": torch.zeros_like(z_good)}
    return {name: vae.log_prob(good, z) > vae.log_prob(bad, z) for name, z in codes.items()}


def syneval(vae: SentenceModel, pairs: Sequence[MinimalPair], skip_oov: bool = False) -> list[GroupScores]:
    """Scores per group (in order of first appearance), then overall; every pair is scored,
    skipped (out of vocabulary, with `skip_oov`) or a tie."""
    tokenize = vae.tokenizer
    oov = [has_oov(p, vae.vocab, tokenize) for p in pairs]
    skipped = [skip_oov and o for o in oov]
    ties = [not s and is_tie(p, vae.vocab, tokenize) for p, s in zip(pairs, skipped)]
    kept = [i for i in range(len(pairs)) if not (skipped[i] or ties[i])]
    if any(oov) and not skip_oov:
        vae.warn_unknown([s for p in pairs for s in (p.good, p.bad)], "minimal pairs")
    counts = [token_counts(p, vae.vocab, tokenize) for p in pairs]
    if any(ties):
        log.warning("minimal pairs: %d of %d pairs (%.1f%%) are the same token sequence once unknown words read as "
                    "<unk>; they count as ties, outside every accuracy (%s)",
                    sum(ties), len(pairs), 100 * sum(ties) / len(pairs), tie_advice(tokenize))
    wins = score_pairs(vae, [pairs[i] for i in kept]) if kept else {}
    members: dict[str, list[int]] = defaultdict(list)  # group -> positions in `pairs`
    for i, pair in enumerate(pairs):
        members[pair.group].append(i)
    position = {i: k for k, i in enumerate(kept)}
    groups = list(members.items())
    if len(groups) > 1 or groups[0][0] != OVERALL:
        groups.append((OVERALL, list(range(len(pairs)))))
    rows = []
    for name, indices in groups:
        scored = [position[i] for i in indices if i in position]
        rate = {k: (float(v[scored].float().mean()) if scored else None) for k, v in wins.items()} if wins else {}
        rows.append(GroupScores(
            group=name, pairs=len(indices), scored=len(scored), skipped=sum(skipped[i] for i in indices),
            ties=sum(ties[i] for i in indices), oov_pairs=sum(oov[i] for i in indices),
            tokens=sum(counts[i][0] for i in indices), oov_tokens=sum(counts[i][1] for i in indices),
            pos=rate.get("pos"),
            neg=rate.get("neg"),
            pos_mean=rate.get("pos_mean"), neg_mean=rate.get("neg_mean"), lm=rate.get("lm"),
        ))
    return rows
