"""The account's custom menu (自定义菜单): 报事 / 便民服务（点单、晒单）/ 我的（查询、帮助).

`weilinli menu push` sends it with menu/create. The click keys are the ones handlers/common.py
answers (REPORT, SERVICE, QUERY, MY_EVENTS, HELP). WeChat refuses the whole menu (40018) when a
first-level name is over 16 bytes (4 Chinese characters), a sub-button name over 60 bytes, a key
over 128 bytes, or there are more than 3 buttons or 5 sub-buttons: `check` says so before sending.
Pushing is idempotent: the same menu twice is one menu, and an unchanged menu is not sent again.
"""

from __future__ import annotations

from bot.wechat.client import Client, call

LIMITS = {"buttons": 3, "subs": 5, "name": 16, "sub_name": 60, "key": 128}


def menu(public_url: str = "") -> dict:
    service = [{"type": "click", "name": "点单服务", "key": "SERVICE"}]
    if public_url:
        service.append({"type": "view", "name": "晒单展示", "url": public_url.rstrip("/") + "/showcase"})
    return {"button": [
        {"type": "click", "name": "报事", "key": "REPORT"},
        {"name": "便民服务", "sub_button": service},
        {"name": "我的", "sub_button": [
            {"type": "click", "name": "查询进度", "key": "QUERY"},
            {"type": "click", "name": "我的事件", "key": "MY_EVENTS"},
            {"type": "click", "name": "使用帮助", "key": "HELP"},
        ]},
    ]}


def check(data: dict) -> list[str]:
    """What WeChat would refuse, in Chinese (empty: the menu fits the limits)."""
    problems = []
    buttons = data.get("button") or []
    if not 1 <= len(buttons) <= LIMITS["buttons"]:
        problems.append(f"一级菜单应为 1–{LIMITS['buttons']} 个，现有 {len(buttons)} 个")
    for button in buttons:
        name, subs = button.get("name", ""), button.get("sub_button") or []
        if len(name.encode()) > LIMITS["name"]:
            problems.append(f"一级菜单「{name}」超过 {LIMITS['name']} 字节（4 个汉字）")
        if len(subs) > LIMITS["subs"]:
            problems.append(f"「{name}」的子菜单超过 {LIMITS['subs']} 个")
        for sub in subs:
            if len(sub.get("name", "").encode()) > LIMITS["sub_name"]:
                problems.append(f"子菜单「{sub['name']}」名称过长")
            if len(sub.get("key", "").encode()) > LIMITS["key"]:
                problems.append(f"子菜单「{sub['name']}」的 key 超过 {LIMITS['key']} 字节")
    return problems


def _same(current: dict, wanted: dict) -> bool:
    """Is the menu WeChat shows (get_current_selfmenu_info) the one we would push?"""
    def shape(buttons):
        out = []
        for b in buttons or []:
            subs = b.get("sub_button")
            subs = subs.get("list") if isinstance(subs, dict) else subs
            out.append((b.get("name"), b.get("type"), b.get("key"), b.get("url"), tuple(shape(subs)) if subs else ()))
        return out
    info = (current or {}).get("selfmenu_info") or {}
    return bool(current.get("is_menu_open")) and shape(info.get("button")) == shape(wanted["button"])


def push(data: dict) -> str:
    """Create the menu through the API; "unchanged" when WeChat already shows it, else "created"."""
    problems = check(data)
    if problems:
        raise ValueError("；".join(problems))
    client = Client()
    current = call(client, client.menu.get_menu_info)
    if _same(current, data):
        return "unchanged"
    call(client, client.menu.create, data)
    return "created"
