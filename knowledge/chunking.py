"""Heading-aware chunking with stable, content-addressed chunk ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge.articles import Article
from knowledge.text import normalise_block, strip_html

MAX_WORDS = 110  # ~150 word pieces: well inside the encoder's 256-token window
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(€$£])")


@dataclass(frozen=True)
class Chunk:
    id: str
    path: str
    title: str
    url: str
    heading: str  # "Section > Subsection" ("" before the first heading)
    text: str  # plain text of the passage (quoted in answers)
    ordinal: int
    content_hash: str  # of the whole article file (its version)
    kind: str = "chunk"  # "chunk" (a passage) or "title" (the article's title and tags)

    @property
    def embed_text(self) -> str:
        """What gets embedded: the passage with its article title and heading as context."""
        if self.kind == "title":
            return self.text
        head = f"{self.title}: {self.heading}" if self.heading else self.title
        return f"{head}\n{self.text}"

    def metadata(self) -> dict[str, str | int]:
        return {
            "path": self.path,
            "title": self.title,
            "url": self.url,
            "heading": self.heading,
            "ordinal": self.ordinal,
            "version": self.content_hash,
            "kind": self.kind,
        }


def chunk_id(path: str, kind: str, heading: str, text: str) -> str:
    raw = "\x00".join([path, kind, heading, text]).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:32]


def _clean_markdown(text: str) -> str:
    text = strip_html(text)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # images -> alt text
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)  # links -> "text (url)"
    text = re.sub(r"(\*\*|__|`)", "", text)
    return normalise_block(text)


def _split_words(text: str, limit: int) -> list[str]:
    """Split a long section at paragraph, then sentence boundaries, into pieces <= limit words."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    units: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        if len(para.split()) <= limit:
            units.append(para)
        else:
            units.extend(s.strip() for s in _SENTENCE.split(para) if s.strip())
    for unit in units:
        n = len(unit.split())
        if current and count + n > limit:
            pieces.append("\n\n".join(current))
            current, count = [], 0
        if n > limit:  # one giant sentence: hard cut by words
            words = unit.split()
            for s in range(0, len(words), limit):
                pieces.append(" ".join(words[s : s + limit]))
            continue
        current.append(unit)
        count += n
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def chunk_article(article: Article, max_words: int = MAX_WORDS) -> list[Chunk]:
    """One "title" record plus passage chunks that never cross a heading."""
    sections: list[tuple[str, list[str]]] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []
    heading = ""
    in_code = False
    for line in article.body.split("\n"):
        if line.strip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            sections.append((heading, buf))
            level, name = len(m.group(1)), _clean_markdown(m.group(2))
            if level == 1 and name == article.title:
                heading, buf = "", []
                stack = []
                continue
            stack = [(lv, nm) for lv, nm in stack if lv < level] + [(level, name)]
            heading = " > ".join(nm for _, nm in stack)
            buf = []
        else:
            buf.append(line)
    sections.append((heading, buf))

    tags = f" ({', '.join(article.tags)})" if article.tags else ""
    title_text = f"{article.title}{tags}"
    chunks = [
        Chunk(
            id=chunk_id(article.path, "title", "", title_text),
            path=article.path,
            title=article.title,
            url=article.url,
            heading="",
            text=title_text,
            ordinal=0,
            content_hash=article.content_hash,
            kind="title",
        )
    ]
    ordinal = 1
    seen: set[str] = set()
    for head, lines in sections:
        text = _clean_markdown("\n".join(lines))
        if not text:
            continue
        for piece in _split_words(text, max_words):
            cid = chunk_id(article.path, "chunk", head, piece)
            if cid in seen:  # identical repeated passage under the same heading
                continue
            seen.add(cid)
            chunks.append(
                Chunk(
                    id=cid,
                    path=article.path,
                    title=article.title,
                    url=article.url,
                    heading=head,
                    text=piece,
                    ordinal=ordinal,
                    content_hash=article.content_hash,
                )
            )
            ordinal += 1
    return chunks


def split_sentences(text: str) -> list[str]:
    out: list[str] = []
    for block in re.split(r"\n+", text):
        block = block.strip()
        if block:
            out.extend(s.strip() for s in _SENTENCE.split(block) if s.strip())
    return out
