"""The knowledge-gap loop: what customers asked that the knowledge base could not answer,
grouped by meaning, ranked by how many customers each gap cost, with a reviewable draft per
group (knowledge/gap_drafts.py writes them). Nothing here changes the knowledge folder.

    items (handoff.gap_sources) -> cleaned, redacted questions -> MiniLM vectors
    -> average-linkage clusters (cosine) -> groups ranked by distinct customers, then count
    -> placement: a new section of the article most of the group's questions retrieve, when
       that article scores high enough; otherwise a new article.
The thresholds are chosen on the tune topics of bench/gaps_grouping_set.yaml
(bench/gaps_grouping.py; figures in bench/results/gaps_grouping.md).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from parley_shared.redact import redact
from tqdm import tqdm

from handoff.gap_sources import GapItem
from knowledge.retriever import ArticleHit
from knowledge.text import clean_question, strip_html

# Cosine distance at which average-linkage clustering stops merging: the best harmonic mean
# of purity and recall on the tune topics (grid 0.30-0.975, step 0.025).
DISTANCE_THRESHOLD = 0.675
# A group becomes a new section of an existing article when at least this share of its
# questions retrieve that article first and their mean article score reaches the minimum;
# both chosen on the tune topics (accuracy of the section / new-article decision).
SECTION_MIN_SHARE = 0.7
SECTION_MIN_SCORE = 0.23
# Placement looks at the group's most central questions only (one retrieval each).
PLACEMENT_QUESTIONS = 25
ENCODE_BATCH = 32

Encode = Callable[[list[str]], np.ndarray]
Search = Callable[[str], list[ArticleHit]]

_NAME_REMOVED = "[name removed]"


@dataclass(frozen=True)
class GapQuestion:
    """One gap item with its texts cleaned and personal data removed (safe to write out)."""

    sender_id: str
    text: str  # one line, no HTML, redacted
    kind: str
    at: datetime
    article_path: str | None = None
    agent_replies: tuple[str, ...] = ()  # redacted, HTML removed


@dataclass(frozen=True)
class Placement:
    path: str  # the article, relative to the knowledge folder
    share: float  # of the questions looked at that retrieve it first
    score: float  # their mean article score for it (0 where it was not retrieved)


@dataclass
class GapGroup:
    questions: list[GapQuestion]  # most central first
    placement: Placement | None = None
    nearest: Placement | None = None  # the best article looked at, also when not close enough

    @property
    def central(self) -> GapQuestion:
        return self.questions[0]

    @property
    def customers(self) -> int:
        return len({q.sender_id for q in self.questions})

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def kinds(self) -> Counter[str]:
        return Counter(q.kind for q in self.questions)

    @property
    def latest(self) -> datetime:
        return max(q.at for q in self.questions)

    def distinct_texts(self) -> list[str]:
        """The customers' phrasings, most central first, each once (case and punctuation
        aside)."""
        seen: set[str] = set()
        out = []
        for q in self.questions:
            key = phrasing_key(q.text)
            if key not in seen:
                seen.add(key)
                out.append(q.text)
        return out


@dataclass
class GapFinding:
    questions: list[GapQuestion]
    groups: list[GapGroup] = field(default_factory=list)  # ranked, biggest gap first


def phrasing_key(text: str) -> str:
    """Two phrasings with this key are the same question ("Gift wrap??" and "gift wrap")."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def parse_since(text: str, now: datetime) -> datetime | None:
    """`30d`, `2w`, `12h`, a date (`2026-10-01`) or `all` (None: no lower bound)."""
    raw = text.strip().lower()
    if raw in ("all", "ever", ""):
        return None
    m = re.fullmatch(r"(\d+)\s*([hdw])", raw)
    if m:
        n = int(m.group(1))
        unit = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
        return now - n * unit[m.group(2)]
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=None)
    except ValueError:
        raise ValueError(
            f"--since must look like 30d, 2w, 12h, a date such as 2026-10-01, or all; got {text!r}"
        ) from None


def _remove_name(text: str, *names: str) -> str:
    """People's names (the customer's, the agent's) out of a text, whole words only."""
    words = {p for name in names for p in re.split(r"\s+", name.strip()) if len(p) >= 2}
    parts = sorted(words, key=len)
    for part in reversed(parts):  # longer parts first
        text = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", _NAME_REMOVED, text, flags=re.I)
    removed = re.escape(_NAME_REMOVED)
    return re.sub(rf"{removed}(\s+{removed})+", _NAME_REMOVED, text)  # "Maria Lopez": once


def safe_question(text: str, *names: str) -> str:
    """One line of plain text with personal data removed: fit for a heading or a table."""
    cleaned = " ".join(clean_question(text).split())
    return _remove_name(redact(cleaned), *names)


def safe_reply(text: str, *names: str) -> str:
    """An agent's reply with HTML and personal data removed; line breaks kept."""
    cleaned = "\n".join(" ".join(line.split()) for line in strip_html(text).splitlines()).strip()
    return _remove_name(redact(cleaned), *names)


def prepare(items: Sequence[GapItem]) -> list[GapQuestion]:
    out = []
    for item in items:
        text = safe_question(item.question, item.customer_name)
        if not text:
            continue
        names = (item.customer_name, item.agent_name)
        replies = tuple(r for r in (safe_reply(r, *names) for r in item.agent_replies) if r)
        out.append(
            GapQuestion(item.sender_id, text, item.kind, item.at, item.article_path, replies)
        )
    return out


def embed(texts: Sequence[str], encode: Encode, progress: bool = False) -> np.ndarray:
    """Unit vectors for the texts; each distinct text is encoded once."""
    unique = list(dict.fromkeys(texts))
    parts = []
    with tqdm(total=len(unique), desc="embedding", unit="question", disable=not progress) as bar:
        for start in range(0, len(unique), ENCODE_BATCH):
            batch = unique[start : start + ENCODE_BATCH]
            parts.append(np.asarray(encode(batch), dtype=np.float32))
            bar.update(len(batch))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = np.concatenate(parts)
    row = {text: i for i, text in enumerate(unique)}
    return vectors[[row[t] for t in texts]]


def cluster_labels(vectors: np.ndarray, threshold: float = DISTANCE_THRESHOLD) -> np.ndarray:
    """Average-linkage clusters under cosine distance, cut at `threshold`."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
    )
    return np.asarray(model.fit_predict(vectors), dtype=int)


def rank_key(group: GapGroup) -> tuple[int, int, float]:
    """Most customers first, then most questions, then the most recently asked."""
    return (-group.customers, -group.count, -group.latest.timestamp())


def build_groups(
    questions: Sequence[GapQuestion], vectors: np.ndarray, labels: np.ndarray
) -> list[GapGroup]:
    """Groups by label, each with its most central question first, ranked by rank_key."""
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[int(label)].append(i)
    groups = []
    for idx in members.values():
        sims = vectors[idx] @ vectors[idx].T
        centrality = sims.mean(axis=1)
        order = sorted(range(len(idx)), key=lambda k: (-round(float(centrality[k]), 6), k))
        groups.append(GapGroup([questions[idx[k]] for k in order]))
    return sorted(groups, key=rank_key)


def find_gaps(
    items: Sequence[GapItem],
    encode: Encode,
    threshold: float = DISTANCE_THRESHOLD,
    progress: bool = False,
) -> GapFinding:
    questions = prepare(items)
    finding = GapFinding(questions)
    if not questions:
        return finding
    # Each distinct phrasing is clustered once: how often a question was asked counts in
    # the ranking, not in what it means.
    keys = [phrasing_key(q.text) for q in questions]
    distinct = list(dict.fromkeys(keys))
    first: dict[str, str] = {}
    for q, key in zip(questions, keys, strict=True):
        first.setdefault(key, q.text)
    vectors = embed([first[k] for k in distinct], encode, progress)
    label_of = dict(zip(distinct, cluster_labels(vectors, threshold), strict=True))
    row = {k: i for i, k in enumerate(distinct)}
    per_question = vectors[[row[k] for k in keys]]
    labels = np.array([label_of[k] for k in keys])
    finding.groups = build_groups(questions, per_question, labels)
    return finding


def nearest_article(texts: Sequence[str], search: Search) -> Placement | None:
    """The article most of the texts retrieve first, with that share and its mean score."""
    texts = list(texts)[:PLACEMENT_QUESTIONS]
    firsts: Counter[str] = Counter()
    scores: dict[str, float] = defaultdict(float)
    for text in texts:
        hits = search(text)
        if not hits:
            continue
        firsts[hits[0].path] += 1
        for hit in hits:
            scores[hit.path] += hit.score
    if not firsts:
        return None
    # Most first places; a tie goes to the higher total score.
    path = max(firsts, key=lambda p: (firsts[p], scores[p]))
    return Placement(path, firsts[path] / len(texts), scores[path] / len(texts))


def is_close_enough(
    placement: Placement | None,
    min_share: float = SECTION_MIN_SHARE,
    min_score: float = SECTION_MIN_SCORE,
) -> bool:
    return (
        placement is not None
        and placement.share >= min_share - 1e-9
        and placement.score >= min_score - 1e-9
    )


def place(group: GapGroup, search: Search) -> None:
    """Decide where the group's draft goes: a section of `group.placement`, or (None) a new
    article. `group.nearest` keeps the best candidate for the index page either way."""
    group.nearest = nearest_article(group.distinct_texts(), search)
    group.placement = group.nearest if is_close_enough(group.nearest) else None
