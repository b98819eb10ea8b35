"""What the resident wants, decided from the evidence in this order:

urgent danger → report; rate (a rating word with or without a comment, thanks for a service);
query (an event number, or a chaser: 怎么还没人来、到底有冇得人管、进度、我报的… when it refers to an
earlier report or says nothing new); consult (how / where / which materials, a policy question);
service (an item of the service menu in plain words, a repair inside the flat, help at home);
report; greeting; other.

Returns (intent, why, service name or None).
"""

from __future__ import annotations

import re

from nlp import extract

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_FILLER = re.compile(r"[啊呀呢哈嘛吧哦喔噢呐么小编客服工作人员请问网格员]+")


# a service named only by a combination pattern does not turn a report of these into an order
PUBLIC_CATEGORIES = frozenset({"security", "dispute", "traffic", "environment", "greening"})


def decide(eng, ev, t: str, placed: bool, best_code: str | None, event_number, rating):
    welfare = best_code == "welfare"
    g = eng.intent
    has = ev.has
    term = ev.term
    if ev.danger is not None:
        return "report", "", None
    problem = has(g.get("problem"))
    svc = ev.services[0] if ev.services else None
    if svc is not None and placed and (
        (svc[0] < 100 and best_code in PUBLIC_CATEGORIES)  # 老人+上门 against 上门推销 … 骗
        or (has(g.get("public_place")) and not has(g.get("private")))  # 楼道里的插座烧黑了
    ):
        svc = None  # a public problem: a report, not an order

    # rate: 满意/不满意 (+ comment, even one describing the problem again); thanks for a service
    if rating and (extract.rating_at_start(t) or not (problem or placed)):
        return "rate", rating, None
    thanks = g.get("thanks")
    if has(thanks) and (has(g.get("helper")) or has(g.get("praise"))) and not _asks(eng, ev):
        return "rate", term(thanks), None
    if has(g.get("praise")) and not problem and len(t) <= 24:
        return "rate", term(g.get("praise")), None

    # query: an event number; a chaser about an earlier report, or with nothing new in it
    if event_number:
        return "query", event_number, None
    ref = g.get("reference")
    for key in ("query", "chaser"):
        q = g.get(key)
        if has(q) and len(t) <= 40 and (key == "query" or has(ref) or not (placed or svc)):
            extra = term(ref) if has(ref) and term(ref) != term(q) else ""
            return "query", term(q) + (f"+{extra}" if extra else ""), None
    if has(ref) and has(g.get("chaser")):
        return "query", f"{term(ref)}+{term(g.get('chaser'))}", None

    gr = _greeting(eng, ev, t)
    if gr:
        return "greeting", gr, None

    # consult: a policy question, 不是报修就是问一下
    nr = g.get("not_report")
    if has(nr) and not (svc and not welfare):
        return "consult", term(nr), None
    policy = eng.q.get("policy")
    consult = g.get("consult")
    question = g.get("question")
    asked = term(policy) or term(consult) or term(question) or ("?" if t.endswith("?") else None)
    if has(policy) and not svc and (welfare or not problem):
        return "consult", term(policy), None

    # service: a menu item in plain words (generic 点单/办事 shows the menu)
    generic = g.get("service")
    if svc is not None:
        return "service", f"{svc[1]}: {svc[2]}", svc[1]
    if has(generic) and not problem and not has(consult):
        return "service", term(generic), None
    req = g.get("service_request")
    if has(req) and has(g.get("private")) and not has(g.get("public")) and not placed:
        return "service", f"{term(req)}+{term(g.get('private'))}", None

    if (has(consult) or asked) and not problem and (welfare or not placed):
        return "consult", asked, None
    if placed or problem:
        return "report", "", None
    if asked:
        return "consult", asked, None
    return "other", "", None


def _asks(eng, ev) -> bool:
    """The message also asks for something new (谢谢… 能不能再来修一下)."""
    return ev.has(eng.intent.get("chaser")) or ev.has(eng.intent.get("question"))


def _greeting(eng, ev, t: str) -> str | None:
    gid = eng.intent.get("greeting")
    if not ev.has(gid) or len(t) > 24:
        return None
    rest = t
    for s, e, term, _c in reversed(ev.scan.hits):
        if gid in eng.terms.get(term, ()):
            rest = rest[:s] + rest[e:]
    rest = _FILLER.sub("", _PUNCT.sub("", rest))
    return ev.term(gid) if not rest else None
