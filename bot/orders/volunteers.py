"""The volunteer roster (志愿者名册) from a spreadsheet: `weilinli volunteers import FILE`.

Header `姓名,手机号,技能,网格` (技能 separated by `|`; 网格 a grid's name or one of its aliases).
All-or-nothing like the grid import: every row is checked first, errors name their row number,
and only a clean file is written, as an idempotent upsert keyed by phone number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.models import Grid, Worker
from bot.orders import services_menu
from bot.places.registry import PHONE, RegistryError, data_rows

HEADER = ["姓名", "手机号", "技能", "网格"]
GRID_LEVELS = ("grid", "community", "building")


@dataclass
class VolunteerImport:
    rows: int
    created: int
    updated: int
    unknown_skills: list[str]  # skills no menu service asks for (imported anyway; shown as a hint)


def find_grid(session: Session, name: str) -> tuple[Grid | None, str | None]:
    """(the grid named or aliased `name`, or None and why not)."""
    grids = list(session.scalars(select(Grid).where(Grid.level.in_(GRID_LEVELS))))
    found = [g for g in grids if g.name == name] or [g for g in grids if name in g.alias_list]
    if not found:
        return None, f"找不到网格“{name}”（请先导入网格，或使用网格名称/别名）"
    if len(found) > 1:
        return None, f"网格“{name}”不唯一（{'、'.join(g.full_name for g in found)}），请写全称"
    return found[0], None


def import_volunteers(session: Session, path: Path) -> VolunteerImport:
    errors, records = [], []
    phones: dict[str, int] = {}
    for number, (name, phone, skills, grid_name) in data_rows(path, HEADER):
        problems = []
        if not name:
            problems.append("姓名为空")
        elif len(name) > 64:
            problems.append("姓名过长")
        if not phone:
            problems.append("手机号为空")
        elif not PHONE.match(phone):
            problems.append(f"手机号格式不正确：{phone}")
        elif phone in phones:
            problems.append(f"手机号与第{phones[phone]}行重复")
        skill_list = services_menu.skill_list(skills)
        if not skill_list:
            problems.append("技能为空")
        elif any(len(s) > 32 for s in skill_list):
            problems.append("技能名称过长")
        grid = None
        if not grid_name:
            problems.append("网格为空")
        else:
            grid, why = find_grid(session, grid_name)
            if why:
                problems.append(why)
        if phone and not problems:
            existing = session.scalar(select(Worker).where(Worker.phone == phone))
            if existing is not None and existing.role != "volunteer":
                problems.append(f"手机号 {phone} 已登记为网格员{existing.name}")
        if problems:
            errors.append(f"第{number}行：" + "；".join(problems))
            continue
        phones[phone] = number
        records.append((name, phone, "|".join(dict.fromkeys(skill_list)), grid))
    if errors:
        raise RegistryError(errors)
    known = {skill for service in services_menu.menu() for skill in (*service.skills, service.name)}
    unknown: list[str] = []
    result = VolunteerImport(rows=len(records), created=0, updated=0, unknown_skills=unknown)
    for name, phone, skills, grid in records:
        unknown += [s for s in skills.split("|") if s not in known and s not in unknown]
        found = session.scalar(select(Worker).where(Worker.phone == phone))
        if found is None:
            session.add(Worker(name=name, phone=phone, role="volunteer", skills=skills, grid=grid, active=True))
            result.created += 1
        else:
            found.name, found.skills, found.grid, found.active = name, skills, grid, True
            result.updated += 1
    session.flush()
    return result
