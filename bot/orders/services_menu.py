"""The configurable service menu (便民服务菜单, seed 001's 老行当): what residents can order (点单).

The menu is a TOML data file (`nlp/services.toml`, or `WEILINLI_SERVICES_FILE`), reloaded when it
changes; the classifier (nlp/) reads the same file to recognise services asked for in plain words.
Plain values in and out: recognising a service in a resident's words, picking one by its number or
name, and matching a volunteer's skills.
"""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bot.core import runtime
from nlp.services import DEFAULT_MENU
from settings import get_settings

BUILTIN = DEFAULT_MENU  # nlp/services.toml: the classifier reads the same file
NUMBERED = re.compile(r"^\s*(\d{1,2})(?:[.、。．\s:：,，]+|$)(.*)$", re.S)


class MenuError(ValueError):
    """The menu file is missing or malformed."""


@dataclass(frozen=True)
class Service:
    name: str
    keywords: tuple[str, ...]
    skills: tuple[str, ...]
    hint: str = ""


class MenuCache:
    """The menus read so far, path → (modification time, services): a runtime component."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.menus: dict[str, tuple[float, list[Service]]] = {}


def menu_path() -> Path:
    configured = get_settings().services_file
    return Path(configured) if configured else BUILTIN


def parse(text: str) -> list[Service]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MenuError(f"服务菜单文件格式错误：{exc}") from exc
    items, seen = [], set()
    for index, raw in enumerate(data.get("service", []), 1):
        name = str(raw.get("name", "")).strip()
        if not name or len(name) > 32:
            raise MenuError(f"服务菜单第{index}项：name 为空或过长")
        if name in seen:
            raise MenuError(f"服务菜单第{index}项：{name} 重复")
        seen.add(name)
        keywords = tuple(dict.fromkeys([name, *(str(k).strip() for k in raw.get("keywords", []) if str(k).strip())]))
        skills = tuple(str(s).strip() for s in raw.get("skills", [name]) if str(s).strip()) or (name,)
        items.append(Service(name=name, keywords=keywords, skills=skills, hint=str(raw.get("hint", "")).strip()))
    if not items:
        raise MenuError("服务菜单为空")
    return items


def menu() -> list[Service]:
    """The current menu, re-read when the file's modification time changes."""
    path = menu_path()
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise MenuError(f"找不到服务菜单文件 {path}") from exc
    cache = runtime.current().component(MenuCache)
    with cache.lock:
        cached = cache.menus.get(str(path))
        if cached is None or cached[0] != mtime:
            cached = (mtime, parse(path.read_text(encoding="utf-8")))
            cache.menus[str(path)] = cached
        return cached[1]


def by_name(name: str) -> Service | None:
    return next((s for s in menu() if s.name == name), None)


def menu_text() -> str:
    lines = ["便民服务菜单（志愿者免费上门/到点服务）："]
    for index, service in enumerate(menu(), 1):
        lines.append(f"{index}. {service.name}" + (f"（{service.hint}）" if service.hint else ""))
    lines.append("请回复序号或服务名称，可加上说明，如“1 两把菜刀，周六上午在家”。")
    return "\n".join(lines)


def pick(text: str) -> tuple[Service, str] | None:
    """A reply to the menu: "3", "3 说明", "磨刀", "磨刀 说明" → (service, the rest as the note)."""
    text = text.strip()
    items = menu()
    numbered = NUMBERED.match(text)
    if numbered:
        index = int(numbered.group(1))
        if 1 <= index <= len(items):
            return items[index - 1], numbered.group(2).strip(" ，,。")
        return None
    for service in sorted(items, key=lambda s: len(s.name), reverse=True):
        if text.startswith(service.name):
            return service, text[len(service.name):].strip(" :：，,。")
    return None


def match(text: str) -> Service | None:
    """The service the resident's own words name: the one with the longest keyword found in them."""
    best: tuple[int, int, Service] | None = None
    for order, service in enumerate(menu()):
        for word in service.keywords:
            if word and word in text:
                key = (len(word), -order)
                if best is None or key > best[:2]:
                    best = (key[0], key[1], service)
    return best[2] if best else None


def skill_list(skills: str) -> list[str]:
    return [s.strip() for s in re.split(r"[|｜,，、/]", skills or "") if s.strip()]


def can_do(service: Service, skills: str) -> bool:
    mine = skill_list(skills)
    return any(skill in mine for skill in (*service.skills, service.name))
