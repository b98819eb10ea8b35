"""All configuration of weilinli: one pydantic-settings class, every field from a WEILINLI_* env var.

Nothing else in the project reads os.environ; everything asks `get_settings()`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEILINLI_", env_file=None, extra="ignore")

    # Storage
    database_url: str = Field("", description="SQLAlchemy URL; empty → SQLite file under data_dir")
    redis_url: str = Field("", description="redis://…; empty → embedded in-process store")
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="SQLite file and downloaded media live here")

    # WeChat
    wechat_token: str = "weilinli"
    wechat_appid: str = "wx0000000000000000"
    wechat_secret: str = "secret"
    wechat_aes_key: str = Field("", description="43-char EncodingAESKey; empty → plaintext mode")
    wechat_api_base: str = Field("https://api.weixin.qq.com/", description="wechatpy API base URL")
    wechat_timestamp_window: int = Field(300, description="seconds a signed timestamp may be off")
    wechat_max_body: int = Field(64 * 1024, description="largest webhook body accepted, bytes")
    wechat_template_id: str = Field("", description="template message id for pushes outside 48 h")
    wechat_subscribe_template_id: str = Field("", description="订阅通知 template id, the last fallback")

    # Behaviour
    timezone: str = "Asia/Shanghai"
    dialog_ttl: int = Field(600, description="seconds a multi-turn follow-up waits for an answer")
    rate_limit_per_minute: int = Field(20, description="messages one OpenID may send per minute")
    threads: int = Field(8, description="requests one process handles at once (webhook, API, admin pages)")
    reply_budget: float = Field(
        3.0, gt=0, le=4.5, description="seconds a reply may take before it is answered store-first (WeChat waits 5)")
    outbox_interval: float = Field(2.0, description="seconds between push-outbox sweeps")
    media_interval: float = Field(10.0, description="seconds between downloads of residents' photos")
    time_limits: str = Field("", description="JSON grade → respond/resolve, e.g. {\"A\":{\"respond\":\"2h\"}}")
    open311_keys: str = Field("", description="comma-separated API keys accepted by Open311 POST")
    office_hours: str = Field(
        "08:30-17:30", description="office hours for working-day limits, e.g. 08:30-12:00,14:00-17:30"
    )
    holidays_path: str = Field("", description="operator holiday data (YYYY.toml/json), a directory or a file")
    supervision_interval: float = Field(30.0, description="seconds between sweeps for due reminders and 督办")
    dispatcher_openids: str = Field("", description="comma-separated OpenIDs of command-centre staff told of 督办")
    duplicate_window_hours: int = Field(72, description="same grid + category within this window → offer to follow")
    duty_phone: str = Field("027-12345", description="community duty phone told to urgent reporters")
    services_file: str = Field(
        "", description="service menu TOML for 点单, read by the classifier too; empty → nlp/services.toml")
    order_offer_minutes: int = Field(
        30, description="minutes an offered or assigned service order waits for 接单 before going back to dispatch"
    )
    points_per_hour: float = Field(1.0, description="volunteer points credited per service hour")
    order_max_hours: float = Field(8.0, description="most hours one service order credits (rounded up to 0.5 h)")

    # Admin page
    admin_session_hours: int = Field(8, description="hours an admin login stays valid")
    login_attempts_per_10min: int = Field(10, description="failed logins allowed per user and address")

    # Modes
    demo: bool = Field(False, description="demo/dev mode: simulator page and fake WeChat API on")
    public_url: str = Field("", description="base URL the service is reached at (links in pushes)")

    # Abuse and faults (issue 16): bounded admin work, body limits, login limits, rules file, outbox horizon
    admin_threads: int = Field(2, description="threads for heavy admin work (imports, rules), apart from the webhook's")
    login_concurrency: int = Field(2, description="password checks running at once; more wait briefly, then 503")
    login_failures_per_address: int = Field(30, description="failed logins one client address may make per 10 min")
    login_failures_per_account: int = Field(20, description="failed logins one user name may receive per 10 min")
    trusted_proxies: str = Field("", description="comma-separated proxy addresses whose X-Forwarded-For is believed")
    max_body: int = Field(64 * 1024, description="largest body on /api and pages, bytes (uploads, rules: own limits)")
    max_upload: int = Field(5 * 1024 * 1024, description="largest spreadsheet upload, bytes")
    max_import_rows: int = Field(20000, description="most rows a grids/volunteers spreadsheet may have")
    rules_file: str = Field("", description="rules file read and saved by the editor; empty → packaged, read-only")
    outbox_dead_after_hours: float = Field(24.0, description="hours before a failing push becomes a dead letter")
    wechat_send_timeout: float = Field(15.0, description="seconds a push waits for WeChat's answer (above its own 5 s)")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'weilinli.db').as_posix()}"

    @property
    def safe_mode(self) -> bool:
        return bool(self.wechat_aes_key)

    @property
    def intake_threads(self) -> int:
        """Threads for the short store calls before a message is handled (replay check, storing first)."""
        return max(2, self.threads // 2)


_active: Settings | None = None


def get_settings() -> Settings:
    global _active
    if _active is None:
        _active = Settings()
    return _active


def configure(**overrides) -> Settings:
    """Replace the active settings: env vars plus explicit overrides (the CLI's flags, tests)."""
    global _active
    _active = Settings(**overrides)
    return _active
