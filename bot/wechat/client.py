"""wechatpy's client pointed at WEILINLI_WECHAT_API_BASE, with a bounded, shared access token.

- Every URL wechatpy builds for api.weixin.qq.com (including the hard-coded token URL and the
  sub-APIs with their own base URLs) is rewritten by the session, so the setting covers all calls.
- auto_retry is off (wechatpy's own retry on 40001 has no bound); tenacity retries a few times.
- The token lives in the shared store; one process at a time refreshes it under a lock, because
  several processes refreshing in turn would invalidate each other's tokens.
"""

from __future__ import annotations

import logging
import time
import urllib.request

import requests
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from bot.core.store import get_store
from settings import get_settings

log = logging.getLogger(__name__)
WECHAT_HOSTS = ("https://api.weixin.qq.com/", "https://file.api.weixin.qq.com/", "http://api.weixin.qq.com/")
TOKEN_EXPIRED = (40001, 40014, 42001)
TOKEN_HELD = 30.0  # seconds a process uses the shared token without reading it again
PLAIN = frozenset({"params", "data", "json", "headers", "timeout"})  # what RewritingSession._plain takes


def api_root() -> str:
    base = get_settings().wechat_api_base.rstrip("/") + "/"
    return base[: -len("cgi-bin/")] if base.endswith("/cgi-bin/") else base


class RewritingSession(requests.Session):
    def __init__(self, root: str):
        super().__init__()
        self.root = root
        # The environment's proxies, read once: with trust_env each request scanned os.environ
        # (and stat'ed for .netrc), a tenth of a push's CPU.
        self.proxies.update(urllib.request.getproxies())
        self.trust_env = False

    def request(self, method, url, *args, **kwargs):
        for host in WECHAT_HOSTS:
            if isinstance(url, str) and url.startswith(host):
                url = self.root + url[len(host):]
                break
        kwargs.setdefault("timeout", get_settings().wechat_send_timeout)
        if args or not kwargs.keys() <= PLAIN:  # a stream, files, redirects …: requests' whole way
            return super().request(method, url, *args, **kwargs)
        return self._plain(method, url, **kwargs)

    def _plain(self, method, url, *, timeout, params=None, data=None, json=None, headers=None):
        """A call as wechatpy's APIs make them (JSON or form body, no cookies, auth, hooks or
        redirects), straight to the connection pool: Session.request's merging of settings, its
        cookie jar and its redirect machinery were a third of a push's CPU. Same Response, same
        exceptions (a ReadTimeout is still a push that may have been delivered)."""
        prepared = requests.Request(method, url, params=params, data=data, json=json,
                                    headers={**self.headers, **(headers or {})}).prepare()
        response = self.get_adapter(url).send(prepared, stream=False, timeout=timeout, verify=self.verify,
                                              cert=self.cert, proxies=self.proxies)
        response.content  # noqa: B018 - read whole, as Session.send does: the connection goes back to the pool
        return response


class Client(WeChatClient):
    def __init__(self):
        s = get_settings()
        store = get_store()
        super().__init__(
            s.wechat_appid, s.wechat_secret,
            session=RedisStorage(store.r, prefix="wl:wechatpy"),
            timeout=s.wechat_send_timeout, auto_retry=False,
        )
        self.root = api_root()
        self.API_BASE_URL = self.root + "cgi-bin/"
        self._http = RewritingSession(self.root)
        self._store = store
        self._held: tuple[str | None, float] = (None, 0.0)  # the token and until when it is used unread

    @property
    def timeout(self) -> float:
        """Seconds a call waits for WeChat's answer: the setting now (above WeChat's own 5 s), so a
        slow acceptance is waited for rather than retried as a duplicate."""
        return get_settings().wechat_send_timeout

    @timeout.setter
    def timeout(self, _value) -> None:  # wechatpy's constructor assigns one; the setting rules
        pass

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self.root + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )

    @property
    def access_token(self):
        held, until = self._held
        if held and time.monotonic() < until:
            return held
        token = self.session.get(self.access_token_key)
        if token and (not self.expires_at or time.time() < self.expires_at - 60):
            return self._hold(token)
        owner = self._store.acquire_lock("wechat-token", ttl=30)
        if owner is None:  # another process is refreshing: wait for its token
            for _ in range(50):
                time.sleep(0.1)
                token = self.session.get(self.access_token_key)
                if token:
                    return token
            raise WeChatClientException(-1, "access token refresh timed out")
        try:
            self.fetch_access_token()
            return self._hold(self.session.get(self.access_token_key))
        finally:
            self._store.release_lock("wechat-token", owner)

    def _hold(self, token):
        """Use `token` unread for a little while: two Redis reads per push otherwise. A token another
        process refreshed meanwhile stays valid (WeChat keeps the old one 5 minutes); a revoked one
        answers 40001, and `call` invalidates it and asks again."""
        expires_at = self.expires_at
        left = (expires_at - 60 - time.time()) if expires_at else TOKEN_HELD
        if token and left > 0:
            self._held = (token, time.monotonic() + min(TOKEN_HELD, left))
        return token

    def invalidate_token(self):
        self._held = (None, 0.0)
        self.session.delete(self.access_token_key)

    def download_media(self, media_id: str, limit: int) -> tuple[bytes, str]:
        """Temporary media (content, content type), read as a stream and refused past `limit` bytes.
        wechatpy's media.download reads the whole body into memory before anything can check it."""
        with self._http.get(self.API_BASE_URL + "media/get", stream=True,
                            params={"access_token": self.access_token, "media_id": media_id}) as response:
            response.raise_for_status()
            kind = response.headers.get("Content-Type", "").split(";")[0].strip()
            if kind in ("application/json", "text/plain"):  # WeChat answers errors as JSON
                body = response.json()
                raise WeChatClientException(body.get("errcode", -1), body.get("errmsg", ""), client=self)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise ValueError(f"media of {declared} bytes is over the {limit}-byte limit")
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"media over the {limit}-byte limit")
                chunks.append(chunk)
            return b"".join(chunks), kind


def _token_expired(exc: BaseException) -> bool:
    return isinstance(exc, WeChatClientException) and exc.errcode in TOKEN_EXPIRED


def call(client: Client, fn, *args, **kwargs):
    """Call a client API, refreshing the token at most twice on 40001-style errors."""

    @retry(retry=retry_if_exception(_token_expired), stop=stop_after_attempt(3),
           wait=wait_exponential(multiplier=0.1, max=1), reraise=True,
           before_sleep=lambda _: client.invalidate_token())
    def attempt():
        return fn(*args, **kwargs)

    return attempt()
