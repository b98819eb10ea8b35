"""Declarative filters for handler registration."""

from __future__ import annotations

import re

from bot.domain.vocabulary import NUMBER_PREFIX
from handlers.router import Filter

SKIP_WORDS = {"跳过", "不用", "没有", "算了", "不需要", "无", "skip"}


def msg_type(*types: str) -> Filter:
    return lambda ctx: ctx.incoming.msg_type in types


def event(*names: str) -> Filter:
    return lambda ctx: ctx.incoming.msg_type == "event" and (ctx.incoming.event or "") in names


def role(*roles: str) -> Filter:
    return lambda ctx: ctx.role in roles


def intent(*intents: str) -> Filter:
    return lambda ctx: bool(ctx.text) and ctx.classification.intent in intents


def command(*words: str) -> Filter:
    """The text is one of `words`, or starts with one of them followed by a space or an argument."""
    pattern = re.compile(rf"^\s*(?:{'|'.join(map(re.escape, words))})(?:$|[\s:：，,]|(?={NUMBER_PREFIX}\d))", re.I)
    return lambda ctx: bool(pattern.match(ctx.text))


def matches(regex: str) -> Filter:
    pattern = re.compile(regex, re.I)
    return lambda ctx: bool(pattern.search(ctx.text))


def text_like(ctx) -> bool:
    return ctx.incoming.msg_type in ("text", "voice") and bool(ctx.text)


def is_skip(text: str) -> bool:
    return text.strip().strip("。.!！").lower() in SKIP_WORDS
