"""Reading the editors' knowledge folder: Markdown / plain-text articles with YAML front matter."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from parley_shared.language import SUPPORTED
from parley_shared.language import normalise as normalise_language

ARTICLE_SUFFIXES = {".md", ".markdown", ".txt"}
MAX_ARTICLE_BYTES = 2_000_000
# Drafts written by `python -m knowledge gaps`: a new article carries `draft: true` (never
# indexed), a new section for an existing article starts with this comment. The check
# flags both until an editor has reviewed the text and removed the marker.
DRAFT_COMMENT = "<!-- DRAFT"


@dataclass(frozen=True)
class Article:
    path: str  # relative to the knowledge folder, with "/" separators
    title: str
    url: str
    body: str
    tags: tuple[str, ...] = ()
    language: str = "en"
    # The article this one translates ("returns.md"): answers then cite the version in the
    # customer's language, and the two never compete as different answers.
    translation_of: str = ""
    updated: str = ""
    content_hash: str = ""
    body_line: int = 1  # line number (1-based) where the body starts in the file
    draft: bool = False  # `draft: true` in the front matter: not served until removed


@dataclass(frozen=True)
class ArticleError:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    errors: list[ArticleError] = field(default_factory=list)
    warnings: list[ArticleError] = field(default_factory=list)


def _skipped(rel: Path) -> bool:
    name = rel.name
    return (
        any(part.startswith(".") for part in rel.parts)
        or name.endswith("~")
        or name.upper().startswith("README")
        or rel.suffix.lower() not in ARTICLE_SUFFIXES
    )


def is_article_path(folder: Path, rel: str) -> bool:
    """Whether this relative path is an article file that exists (no folder listing)."""
    return not _skipped(Path(rel)) and (folder / rel).is_file()


def list_article_files(folder: Path) -> list[Path]:
    """Article files under the folder, sorted; hidden, README and editor temp files skipped."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*") if not _skipped(p.relative_to(folder)) and p.is_file()
    )


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def parse_article(rel_path: str, data: bytes) -> tuple[Article | None, list[ArticleError]]:
    """Parse one file's bytes. Returns (article, problems); article is None when unusable.

    Problems that still allow indexing (missing url, ...) come back with an article.
    """
    problems: list[ArticleError] = []

    def err(line: int, msg: str) -> tuple[None, list[ArticleError]]:
        return None, [ArticleError(rel_path, line, msg)]

    if not data.strip():
        return err(1, "the file is empty")
    if len(data) > MAX_ARTICLE_BYTES:
        return err(1, f"the file is larger than {MAX_ARTICLE_BYTES // 1_000_000} MB")
    if b"\x00" in data:
        return err(_line_of_offset(data, data.index(b"\x00")), "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return err(
            _line_of_offset(data, exc.start),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
        )
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    meta: dict = {}
    body_start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in {"---", "..."}), None)
        if end is None:
            return err(1, "front matter starts with '---' but has no closing '---' line")
        try:
            loaded = yaml.safe_load("\n".join(lines[1:end])) if end > 1 else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = (mark.line + 2) if mark is not None else 2
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return err(line, f"broken front matter: {problem}")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            return err(2, "front matter must be 'key: value' lines (title, url, tags, ...)")
        meta = loaded
        body_start = end + 1
    body = "\n".join(lines[body_start:]).strip()
    if not body:
        return err(body_start + 1, "the article has no text after the front matter")

    def field_line(key: str) -> int:
        for i in range(1, body_start):
            if lines[i].lstrip().startswith(f"{key}:"):
                return i + 1
        return 1

    title = meta.get("title")
    if title is None:
        first = next((ln for ln in body.split("\n") if ln.startswith("# ")), None)
        title = first[2:].strip() if first else Path(rel_path).stem.replace("-", " ").capitalize()
        problems.append(ArticleError(rel_path, 1, f"no 'title' in front matter; using {title!r}"))
    elif not isinstance(title, str | int | float) or not str(title).strip():
        return err(field_line("title"), "'title' must be a line of text")
    url = meta.get("url", "")
    if not isinstance(url, str):
        return err(field_line("url"), "'url' must be a web address")
    if not url:
        problems.append(ArticleError(rel_path, 1, "no 'url': answers will cite the title only"))
    elif not url.startswith(("http://", "https://")):
        return err(field_line("url"), f"'url' must start with https:// (got {url!r})")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
        return err(field_line("tags"), "'tags' must be a list like [shipping, customs]")
    language = meta.get("language") or "en"
    if not isinstance(language, str):
        return err(field_line("language"), "'language' must be a code like en or de")
    language = language.strip()
    if normalise_language(language) is None:
        problems.append(
            ArticleError(
                rel_path,
                field_line("language"),
                f"language {language!r} is not one of {', '.join(SUPPORTED)}: customers are "
                "answered from it, but words are matched with English rules",
            )
        )
    else:
        language = normalise_language(language) or language
    translation_of = meta.get("translation_of") or ""
    if not isinstance(translation_of, str):
        return err(
            field_line("translation_of"), "'translation_of' must be a file name like returns.md"
        )
    translation_of = translation_of.strip().lstrip("./")
    if translation_of == rel_path:
        return err(field_line("translation_of"), "an article cannot be a translation of itself")
    updated = meta.get("updated") or ""
    if isinstance(updated, dt.date | dt.datetime):
        updated = updated.isoformat()
    draft = bool(meta.get("draft"))
    if draft:
        problems.append(
            ArticleError(
                rel_path,
                field_line("draft"),
                "marked 'draft: true' (a draft from python -m knowledge gaps): the bot does not "
                "use it until you have reviewed it and deleted that line",
            )
        )
    for i in range(body_start, len(lines)):
        if lines[i].lstrip().startswith(DRAFT_COMMENT):
            problems.append(
                ArticleError(
                    rel_path,
                    i + 1,
                    "a draft section from python -m knowledge gaps: review it, then delete the "
                    "'<!-- DRAFT ... -->' line",
                )
            )
    return (
        Article(
            path=rel_path,
            title=str(title).strip(),
            url=url.strip(),
            body=body,
            tags=tuple(str(t) for t in tags),
            language=language,
            translation_of=translation_of,
            updated=str(updated),
            content_hash=file_hash(data),
            body_line=body_start + 1,
            draft=draft,
        ),
        problems,
    )


def load_folder(folder: Path) -> LoadResult:
    result = LoadResult()
    for p in list_article_files(folder):
        rel = p.relative_to(folder).as_posix()
        try:
            data = p.read_bytes()
        except OSError as exc:
            result.errors.append(ArticleError(rel, 1, f"cannot read the file: {exc.strerror}"))
            continue
        art, problems = parse_article(rel, data)
        if art is None:
            result.errors.extend(problems)
        else:
            result.articles.append(art)
            result.warnings.extend(problems)
    return result
