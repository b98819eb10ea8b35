"""The classification rules (TOML): read, validated, replaced (active at once), rolled back, and tried
on a sentence.

Where they live: WEILINLI_RULES_FILE. Without it the packaged default rules are in force and
read-only (the editor can validate but not save). Each save keeps the version it replaces beside
the file (`<file>.previous`; before the first save that is the packaged rules), and
`POST /api/rules/rollback` puts it back — the two swap, so a rollback can itself be undone.
Rules apply to every street alike, so only unscoped dispatchers and admins may change them;
validation is for dispatchers (it costs CPU: it runs in the admin pool, never on the event loop).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from fastapi import APIRouter, HTTPException

import nlp
from admin.deps import Actor, Body, Viewer, text_field
from admin.pool import run_heavy
from bot.domain.models import LoginSession
from nlp.rules import DEFAULT_RULES_PATH
from settings import get_settings

router = APIRouter(prefix="/api", tags=["dispatcher pages"])
log = logging.getLogger(__name__)
MAX_RULES_CHARS = 2 * 1024 * 1024
_saving = threading.Lock()  # one save or rollback at a time in this process


def rules_file() -> Path | None:
    """The operator's rules file (WEILINLI_RULES_FILE), or None: the packaged rules, read-only."""
    configured = get_settings().rules_file
    if not configured:
        return None
    path = Path(configured)
    if path.resolve() == DEFAULT_RULES_PATH.resolve():
        return None  # the packaged file is never written, whatever the setting says
    return path


def previous_file(path: Path) -> Path:
    return path.with_name(path.name + ".previous")


def activate_rules_file() -> None:
    """At start: the configured rules file if it exists (else the packaged rules until the first save)."""
    path = rules_file()
    if path is not None and path.exists():
        nlp.reload_rules(path)


def classification_json(text: str) -> dict:
    result = nlp.classify(text)
    data = result.to_dict()
    data["category_label"] = result.category_label
    data["intent_label"] = nlp.classifier.INTENT_LABELS.get(result.intent, result.intent)
    return data


@router.get("/rules")
def get_rules(login: Viewer) -> dict:
    """The active classification rules file (TOML), where it lives, whether the editor may save it
    and whether a previous version can be rolled back to."""
    rules = nlp.classifier.get_rules()
    path = nlp.classifier.rules_path()
    target = rules_file()
    return {
        "path": str(path),
        "text": path.read_text(encoding="utf-8"),
        "categories": [{"code": c.code, "label": c.label} for c in rules.categories],
        "writable": target is not None,
        "save_path": str(target) if target else None,
        "previous": bool(target and previous_file(target).exists()),
    }


def _unscoped(login: LoginSession) -> None:
    if login.user.scope_grid_id is not None:
        raise HTTPException(403, "分类规则对全区生效，只有未限定辖区的管理员或调度员可以修改")


def _target() -> Path:
    target = rules_file()
    if target is None:
        raise HTTPException(409, "未配置规则文件（WEILINLI_RULES_FILE）：默认规则只读，不能在线保存")
    return target


def _rules_text(body: dict) -> str:
    text = str(body.get("text") or "")
    if not text.strip():
        raise HTTPException(400, "规则内容为空")
    if len(text) > MAX_RULES_CHARS:
        raise HTTPException(413, "规则文件过大（上限 2 MB）")
    return text


def _save(text: str) -> None:
    nlp.validate_rules_text(text)  # raises ValueError: nothing written, the old rules stay
    target = _target()  # a bad file hears its line number first, a good one where it could go
    with _saving:
        old = target.read_text(encoding="utf-8") if target.exists() else DEFAULT_RULES_PATH.read_text(encoding="utf-8")
        _write(previous_file(target), old)
        nlp.save_rules_text(text, path=target)
    log.info("rules saved to %s (previous version kept in %s)", target, previous_file(target))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@router.put("/rules")
@router.post("/rules")
async def put_rules(login: Actor, body: Body) -> dict:
    """Replace the rules (`text`): validated first — a bad file answers 400 with the line number and
    the old rules stay in force; a good one is written to WEILINLI_RULES_FILE and active at once."""
    _unscoped(login)
    text = _rules_text(body)
    try:
        await run_heavy(_save, text)
    except ValueError as exc:
        raise HTTPException(400, f"规则有误，未保存（原规则继续生效）：{exc}") from exc
    return {"ok": True, "categories": len(nlp.classifier.get_rules().categories)}


def _rollback(target: Path) -> None:
    previous = previous_file(target)
    with _saving:
        if not previous.exists():
            raise LookupError
        old = previous.read_text(encoding="utf-8")
        current = target.read_text(encoding="utf-8") if target.exists() else None
        nlp.save_rules_text(old, path=target)  # validates again: a bad file is refused, nothing moves
        if current is not None:
            _write(previous, current)
        else:
            previous.unlink()


@router.post("/rules/rollback")
async def rollback_rules(login: Actor) -> dict:
    """Put the previous version back (it becomes active at once); answers as GET /api/rules."""
    _unscoped(login)
    target = _target()
    try:
        await run_heavy(_rollback, target)
    except LookupError as exc:
        raise HTTPException(409, "没有可恢复的上一版规则") from exc
    except ValueError as exc:
        raise HTTPException(400, f"上一版规则无法载入：{exc}") from exc
    return get_rules(login)


@router.post("/rules/validate")
async def validate_rules(login: Actor, body: Body) -> dict:
    """Check `text` without saving (dispatchers and admins): {"ok": true} or {"ok": false, "error":
    "line N: …"}. Linear in the file's size; runs in the admin pool."""
    text = str(body.get("text") or "")
    if len(text) > MAX_RULES_CHARS:
        raise HTTPException(413, "规则文件过大（上限 2 MB）")
    try:
        await run_heavy(nlp.validate_rules_text, text)
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


@router.post("/rules/test")
def test_rules(login: Viewer, body: Body) -> dict:
    """Classify a sentence (`text`) with the active rules and explain the result."""
    text = text_field(body, "text", required="请输入要测试的句子（text）")
    return classification_json(text)
