"""What every HTTP request passes before any route parses it: a body-size limit by route class,
NUL characters refused in the path and query, and the response headers each area needs.

Pure ASGI, so the limit holds before FastAPI reads the body: a declared `Content-Length` past the
limit is refused at once, and a body without one (chunked) is counted as it streams and cut off
when it passes the limit — a 300 MB post to `/api/login` costs one chunk of memory, not 300 MB.
"""

from __future__ import annotations

import json

from settings import get_settings

RULES_BODY = 8 * 1024 * 1024  # 2 MiB of rules text, JSON-escaped or as UTF-8 in a form
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: https: http:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class TooLarge(Exception):
    pass


def body_limit(path: str) -> int:
    """Bytes a request body to `path` may have (classes: webhook, uploads, rules, everything else)."""
    s = get_settings()
    if path == "/wechat":
        return s.wechat_max_body
    if path in ("/api/grids/import", "/api/volunteers/import"):
        return s.max_upload + 64 * 1024  # the file plus its multipart envelope
    if path.startswith("/api/rules"):
        return RULES_BODY
    return s.max_body


def extra_headers(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith("/api/"):  # sessions, personal data: never cached by a browser or a proxy
        return [(b"cache-control", b"no-store")]
    if path.startswith("/showcase"):
        return [
            (b"content-security-policy", PAGE_CSP.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
        ]
    return []


class Guard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b"") or b"%00" in scope.get("raw_path", b""):
            return await _refuse(send, path, 400, "请求中含有 NUL 字符")
        limit = body_limit(path)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _refuse(send, path, 413, f"请求体过大（上限 {limit} 字节）")
        received, started = 0, False
        headers = extra_headers(path)

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge
            return message

        async def sending(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if headers:
                    present = {k.lower() for k, _ in message.get("headers", [])}
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), *(h for h in headers if h[0] not in present)],
                    }
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except TooLarge:
            if not started:
                await _refuse(send, path, 413, f"请求体过大（上限 {limit} 字节）")


async def _refuse(send, path: str, status: int, message: str) -> None:
    if path.startswith("/open311/"):  # GeoReport v2's error list
        body = json.dumps([{"code": status, "description": message}], ensure_ascii=False)
    else:
        body = json.dumps({"detail": message}, ensure_ascii=False)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def install_error_answers(app) -> None:
    """A value the database cannot hold (an id past 32/64 bits, NUL in text) is the client's error:
    400, not 500. Routes validate what they know; this catches the rest at the boundary."""
    from fastapi.responses import JSONResponse
    from sqlalchemy.exc import DataError, StatementError

    async def refused(request, exc):
        if (
            isinstance(exc, StatementError)
            and not isinstance(exc, DataError)
            and not isinstance(exc.orig, ValueError | OverflowError)
        ):
            raise exc
        message = "数值超出范围或含有不允许的字符"
        if request.url.path.startswith("/open311/"):
            return JSONResponse([{"code": 400, "description": message}], status_code=400)
        return JSONResponse({"detail": message}, status_code=400)

    app.add_exception_handler(StatementError, refused)
