"""The classification rules (TOML): read, validated, replaced (active at once), and tried on a sentence."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

import nlp
from admin.deps import Actor, Body, Viewer, text_field

router = APIRouter(prefix="/api", tags=["dispatcher pages"])


def classification_json(text: str) -> dict:
    result = nlp.classify(text)
    data = result.to_dict()
    data["category_label"] = result.category_label
    data["intent_label"] = nlp.classifier.INTENT_LABELS.get(result.intent, result.intent)
    return data


@router.get("/rules")
def get_rules(login: Viewer) -> dict:
    """The active classification rules file (TOML) and where it lives."""
    path = nlp.classifier.rules_path()
    nlp.classifier.get_rules()
    return {"path": str(path), "text": path.read_text(encoding="utf-8"),
            "categories": [{"code": c.code, "label": c.label} for c in nlp.classifier.get_rules().categories]}


@router.put("/rules")
@router.post("/rules")
def put_rules(login: Actor, body: Body) -> dict:
    """Replace the rules (`text`): validated first — a bad file answers 400 with the line number and
    the old rules stay in force; a good one is written and active at once."""
    text = str(body.get("text") or "")
    if not text.strip():
        raise HTTPException(400, "规则内容为空")
    if len(text) > 2 * 1024 * 1024:
        raise HTTPException(413, "规则文件过大")
    try:
        nlp.save_rules_text(text)
    except ValueError as exc:
        raise HTTPException(400, f"规则有误，未保存（原规则继续生效）：{exc}") from exc
    return {"ok": True, "categories": len(nlp.classifier.get_rules().categories)}


@router.post("/rules/validate")
def validate_rules(login: Viewer, body: Body) -> dict:
    """Check `text` without saving: {"ok": true} or {"ok": false, "error": "line N: …"}."""
    try:
        nlp.validate_rules_text(str(body.get("text") or ""))
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


@router.post("/rules/test")
def test_rules(login: Viewer, body: Body) -> dict:
    """Classify a sentence (`text`) with the active rules and explain the result."""
    text = text_field(body, "text", required="请输入要测试的句子（text）")
    return classification_json(text)
