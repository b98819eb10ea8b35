"""The service menu as the classifier sees it: each item's name and the words and patterns that
name it in plain speech (keywords, separable verbs, combination rules).

The menu data is the bot's own menu file: `WEILINLI_SERVICES_FILE` (settings `services_file`) or the
packaged `nlp/services.toml`, so an operator who adds an item to the menu also teaches the
classifier to recognise it. Re-read when the file changes.
"""

from __future__ import annotations

import logging
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nlp.concepts import separable_forms, split_words

DEFAULT_MENU = Path(__file__).with_name("services.toml")
log = logging.getLogger("weilinli.nlp")


@dataclass(frozen=True)
class ServiceDef:
    name: str
    words: tuple[str, ...]  # literal words (keywords and separable forms)
    match: tuple[str, ...]  # combination patterns


def menu_path() -> Path:
    try:
        from settings import get_settings  # the one project import nlp allows

        configured = get_settings().services_file
    except Exception:  # noqa: BLE001 - offline use without a valid environment: the packaged menu
        configured = ""
    return Path(configured) if configured else DEFAULT_MENU


def parse_menu(text: str) -> tuple[ServiceDef, ...]:
    """ServiceDefs of a menu file; a malformed item is skipped (the bot's own parser reports it)."""
    data = tomllib.loads(text)
    out = []
    for raw in data.get("service", []):
        name = str(raw.get("name", "")).strip()
        if not name:
            continue
        words = [name, *(str(k).strip() for k in raw.get("keywords", []) if str(k).strip())]
        for decl in raw.get("separable", []) or []:
            try:
                words += separable_forms(split_words(decl.get("verb", "")), split_words(decl.get("object", "")))
            except (AttributeError, ValueError):
                log.warning("service %s: bad separable %r ignored", name, decl)
        match = tuple(str(p).strip() for p in raw.get("match", []) if str(p).strip())
        out.append(ServiceDef(name, tuple(dict.fromkeys(words)), match))
    return tuple(out)


_lock = threading.Lock()
_cache: dict[str, tuple[float, tuple[ServiceDef, ...]]] = {}


def current() -> tuple[tuple[ServiceDef, ...], tuple[str, float]]:
    """(the menu's services, (path, mtime)) — the key tells the classifier when to recompile."""
    path = menu_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        path, mtime = DEFAULT_MENU, DEFAULT_MENU.stat().st_mtime
    key = str(path)
    with _lock:
        hit = _cache.get(key)
        if hit is None or hit[0] != mtime:
            try:
                hit = (mtime, parse_menu(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                log.error("service menu %s unreadable (%s): the packaged menu is used", path, e)
                hit = (mtime, parse_menu(DEFAULT_MENU.read_text(encoding="utf-8")))
            _cache[key] = hit
    return hit[1], (key, mtime)
