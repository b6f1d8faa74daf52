"""Heading-aware chunking with stable, content-addressed chunk ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge.articles import Article
from knowledge.text import normalise_block, strip_html, word_count

MAX_WORDS = 110  # ~150 word pieces: well inside the encoder's 256-token window
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# A sentence ends at . ! ? (or …) plus spaces before a capital, a digit, a quote or a
# currency sign ("No. 5" and "e.g. the" stay whole), or at Chinese/Japanese 。！？, which take
# no space.
_END = re.compile(r"[.!?…][\"'”»)]*\s+|[。！？]+[」』）”]*\s*")
_STARTS = set("0123456789\"'(€$£¿¡«“「『")


def _sentences(text: str) -> list[str]:
    out, start = [], 0
    for m in _END.finditer(text):
        nxt = text[m.end() : m.end() + 1]
        if not nxt:
            break
        if m.group()[0] in "。！？" or nxt.isupper() or nxt in _STARTS:
            out.append(text[start : m.end()].strip())
            start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


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
    language: str = "en"  # the article's
    group: str = ""  # the article it translates (translation_of), else its own path

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
            "language": self.language,
            "group": self.group or self.path,
        }


def chunk_id(
    path: str, kind: str, heading: str, text: str, language: str = "en", group: str = ""
) -> str:
    parts = [path, kind, heading, text]
    if language != "en" or group:  # English articles keep the ids they always had
        parts += [language, group]
    raw = "\x00".join(parts).encode("utf-8")
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
        if word_count(para) <= limit:
            units.append(para)
        else:
            units.extend(_sentences(para))
    for unit in units:
        n = word_count(unit)
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

    lang, group = article.language, article.translation_of
    tags = f" ({', '.join(article.tags)})" if article.tags else ""
    title_text = f"{article.title}{tags}"
    chunks = [
        Chunk(
            id=chunk_id(article.path, "title", "", title_text, lang, group),
            path=article.path,
            title=article.title,
            url=article.url,
            heading="",
            text=title_text,
            ordinal=0,
            content_hash=article.content_hash,
            kind="title",
            language=lang,
            group=group,
        )
    ]
    ordinal = 1
    seen: set[str] = set()
    for head, lines in sections:
        text = _clean_markdown("\n".join(lines))
        if not text:
            continue
        for piece in _split_words(text, max_words):
            cid = chunk_id(article.path, "chunk", head, piece, lang, group)
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
                    language=lang,
                    group=group,
                )
            )
            ordinal += 1
    return chunks


def split_sentences(text: str) -> list[str]:
    out: list[str] = []
    for block in re.split(r"\n+", text):
        block = block.strip()
        if block:
            out.extend(_sentences(block))
    return out
