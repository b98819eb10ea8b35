"""WeChat API error codes → what the outbox should do."""

from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from bot.notify.outbox import PushError

WINDOW_CLOSED = {45015, 45047}  # 48-hour window expired / more than 5 sends since the user's message
NOT_FOLLOWER = {43004, 43019}  # unfollowed, or blocked the account
QUOTA = {45009}


def translate(exc: WeChatClientException, fallback: str | None) -> PushError:
    code = exc.errcode
    message = f"wechat {code}: {exc.errmsg}"
    if code in WINDOW_CLOSED and fallback:
        return PushError(message, fallback=fallback)
    if code in NOT_FOLLOWER or code in WINDOW_CLOSED:
        return PushError(message, retry=False)
    return PushError(message, retry=True)  # quota, network, 5xx, token trouble: try again later
