"""The local WeChat simulator page (demo/dev mode only).

`GET /simulator/` is a phone-chat page: pick a persona (resident, grid worker, volunteer or any
OpenID), chat with the account through the real `/wechat` webhook — signed, optionally AES
encrypted, exactly as WeChat's servers do it, server-side so the page never sees the token — and
watch every push that persona received through the local fake WeChat API.

The app factory includes `router` only in demo mode; every route also answers 404 unless
`get_settings().demo` is on.
"""

from bot.demo.simulator.routes import router

__all__ = ["router"]
