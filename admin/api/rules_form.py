"""The rules form's API (admin/rules_form.py): the rules as a form sees them, and the form written
back into TOML text. Saving is PUT /api/rules with that text (validated, stored, with rollback)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin import rules_form
from admin.api import rules as rules_api
from admin.deps import Body, Viewer

router = APIRouter(prefix="/api", tags=["dispatcher pages"])


@router.get("/rules/form")
def rules_form_get(login: Viewer) -> dict:
    """The active rules as the form edits them: per category label, grade, unit, excluded words,
    keywords with weights, subcategories and urgency terms; the concepts; plus the TOML `text`."""
    current = rules_api.get_rules(login)
    try:
        return rules_form.structure(current["text"]) | {"text": current["text"], "path": current["path"]}
    except rules_form.FormError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.post("/rules/form")
def rules_form_apply(login: Viewer, body: Body) -> dict:
    """Write the form (`form`: categories / concepts, the shape GET returns) into the TOML `text` it
    was read from; answers {"text": …} without saving anything. Without `form`: the form's view of
    `text` (after editing the TOML by hand)."""
    text, form = body.get("text"), body.get("form")
    if not isinstance(text, str) or not text.strip() or not isinstance(form, dict | None):
        raise HTTPException(400, "需要 text（规则文本）和 form（表单内容）")
    try:
        if form is None:
            return rules_form.structure(text) | {"text": text}
        return {"text": rules_form.apply(text, form)}
    except (rules_form.FormError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from exc
