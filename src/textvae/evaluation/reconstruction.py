"""Reconstruction quality (paper Table 1): corpus BLEU and sentence-averaged ROUGE by length bucket.

Text is pre-tokenized: both metrics split on whitespace only (sacrebleu with tokenize="none",
rouge-score with a whitespace tokenizer, no stemming, no lower-casing). BLEU uses no smoothing.
Scores are percentages (0-100).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence, Set
from dataclasses import asdict, dataclass

DEFAULT_BUCKETS = (10, 20, 30)


class WhitespaceTokenizer:
    """rouge-score's default tokenizer drops punctuation and lower-cases; ours keeps tokens as given."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_order: int) -> float:
    """Corpus BLEU with n-grams up to `max_order`, one reference per sentence, no smoothing."""
    from sacrebleu.metrics import BLEU  # here, not at the top: the command line starts without it

    # force: the text is tokenized on purpose (sacrebleu otherwise warns about it)
    bleu = BLEU(tokenize="none", max_ngram_order=max_order, smooth_method="none", effective_order=False, force=True)
    return bleu.corpus_score(list(hypotheses), [list(references)]).score


def mean_rouge_f1(hypotheses: Sequence[str], references: Sequence[str], n: int) -> float:
    """ROUGE-n F1 of each sentence, averaged over sentences."""
    from rouge_score.rouge_scorer import RougeScorer  # imports nltk and scipy: seconds the command line saves

    scorer = RougeScorer([f"rouge{n}"], tokenizer=WhitespaceTokenizer())
    scores = [scorer.score(ref, hyp)[f"rouge{n}"].fmeasure for hyp, ref in zip(hypotheses, references)]
    return 100.0 * sum(scores) / len(scores)


@dataclass
class BucketScores:
    bucket: str  # "<=10", "11-20", ..., "all"
    sentences: int
    bleu2: float | None
    bleu4: float | None
    rouge2: float | None
    rouge4: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bucket_bounds(upper_bounds: Sequence[int]) -> list[tuple[str, int, int | None]]:
    """(name, shortest, longest) for each bucket of source lengths, then "all"."""
    bounds = sorted(set(upper_bounds))
    if not bounds or bounds[0] < 1:
        raise ValueError("bucket bounds must be positive lengths")
    out, low = [], 1
    for i, high in enumerate(bounds):
        out.append((f"<={high}" if i == 0 else f"{low}-{high}", low, high))
        low = high + 1
    return out + [("all", 1, None)]


def reconstruction_scores(
    sources: Sequence[str], reconstructions: Sequence[str], buckets: Sequence[int] = DEFAULT_BUCKETS
) -> list[BucketScores]:
    """Scores of reconstructions against their sources, bucketed by source length in tokens."""
    if len(sources) != len(reconstructions):
        raise ValueError("need one reconstruction per source sentence")
    rows = []
    for name, low, high in bucket_bounds(buckets):
        pairs = [(h, s) for h, s in zip(reconstructions, sources) if low <= len(s.split()) <= (high or len(s.split()))]
        if not pairs:
            rows.append(BucketScores(name, 0, None, None, None, None))
            continue
        hyps, refs = [h for h, _ in pairs], [s for _, s in pairs]
        rows.append(BucketScores(name, len(pairs), corpus_bleu(hyps, refs, 2), corpus_bleu(hyps, refs, 4),
                                 mean_rouge_f1(hyps, refs, 2), mean_rouge_f1(hyps, refs, 4)))
    return rows


def words_kept(sources: Sequence[str], reconstructions: Sequence[str], words: Set[str]) -> float | None:
    """The share of the occurrences of `words` in the sources that their reconstructions repeat,
    as a multiset (a word twice in a source counts twice, and is kept twice only if repeated
    twice). None when the sources hold none of `words`."""
    if len(sources) != len(reconstructions):
        raise ValueError("need one reconstruction per source sentence")
    kept = total = 0
    for source, reconstruction in zip(sources, reconstructions):
        wanted = Counter(w for w in source.split() if w in words)
        kept += sum((wanted & Counter(reconstruction.split())).values())
        total += sum(wanted.values())
    return kept / total if total else None
