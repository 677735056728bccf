"""Settings: the only reader of the environment (prefix ``XINFANG_``, optional ``.env`` file)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.case_links import CaseLinks

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and the reason."""


class Settings(BaseSettings):
    """All runtime settings. Each field is read from ``XINFANG_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="XINFANG_",
        env_file=(".env", "config/xinfang.env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = Field(default="", description="SQLAlchemy async URL; default SQLite file")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    config_dir: Path = DEFAULT_CONFIG_DIR
    data_dir: Path = DEFAULT_DATA_DIR
    timezone: str = "Asia/Shanghai"  # the office's local time, for dates shown to people
    log_level: str = "info"
    log_json: bool = False  # JSON lines (production) or console rendering (development)
    auto_migrate: bool = True  # `serve` upgrades the schema at start; else it only checks
    # reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs)
    trusted_proxies: str = ""
    # SIGTERM: in-flight requests get this long to finish, then the outbox worker the rest
    shutdown_timeout_seconds: float = Field(default=10, ge=0)

    # dialog
    draft_ttl_hours: float = Field(default=72, gt=0)
    # one reminder this long before an untouched draft expires (0: none); 30 of 72 hours
    # keeps it inside WeChat's 48-hour customer-service window
    draft_reminder_hours: float = Field(default=30, ge=0)
    lookup_limit: int = Field(default=5, ge=1)  # failed status lookups allowed per window
    lookup_window_minutes: float = Field(default=60, gt=0)
    max_text_len: int = Field(default=5000, ge=100)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)  # webhook and chat request bodies
    max_upload_bytes: int = Field(default=10 * 1_048_576, ge=1024)

    # outbox
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_batch: int = Field(default=50, ge=1)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_lease_seconds: float = Field(default=60, gt=0)

    # broadcasts: one to every citizen (no filter) waits for a second supervisor or admin
    broadcast_all_needs_approval: bool = True

    # web chat
    web_cookie_secure: bool = False  # set true behind HTTPS
    web_rate_per_minute: int = Field(default=60, ge=1)  # messages per web session per minute
    web_rate_per_ip_per_minute: int = Field(default=300, ge=1)  # all sessions of one client

    # the citizen's case page (/my) and the links to it in messages
    public_url: str = ""  # the public origin of every link sent to citizens (https://…)
    secret_key: str = ""  # signs case links and /my sessions (at least 32 characters)
    case_link_days: int = Field(default=30, ge=1, le=366)  # a case link works this long
    citizen_session_minutes: float = Field(default=120, gt=0)  # a /my session lasts this long

    # speech to text for voice without the platform's recognition (bot/transcription.py)
    stt_url: str = ""  # origin of an OpenAI-compatible transcription server; "" = off
    stt_model: str = "whisper-1"
    stt_api_key: str = ""
    stt_timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    # staff console and API
    staff_session_idle_minutes: float = Field(default=60, gt=0)  # logged out after inactivity
    staff_session_max_hours: float = Field(default=12, gt=0)  # logged out after this anyway
    staff_login_per_ip_per_minute: int = Field(default=10, ge=1)  # login attempts per address
    staff_max_failed_logins: int = Field(default=5, ge=1)  # then the account is locked …
    staff_lockout_minutes: float = Field(default=15, gt=0)  # … for this long
    api_token_days: int = Field(default=90, ge=0)  # a new API token's lifetime; 0: no expiry

    # WeChat (enabled when token + app id are set)
    wechat_token: str = ""
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_aes_key: str = ""
    wechat_template_id: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    # showqrcode is served by the mp host and 网页授权 starts on the open host; tests point
    # both at the local fake
    wechat_mp_base: str = "https://mp.weixin.qq.com"
    wechat_oauth_base: str = "https://open.weixin.qq.com"
    wechat_max_skew_seconds: float = Field(default=300, gt=0)  # replay window for timestamps
    # with an AES key set, plaintext posts (no encrypt_type=aes) are refused: their body is
    # not covered by msg_signature. true only while switching the account to safe mode
    wechat_allow_plaintext: bool = False

    # Telegram (enabled when the token is set)
    telegram_token: str = ""
    telegram_secret: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    telegram_polling: bool = False
    telegram_poll_timeout: int = Field(default=25, ge=0, le=50)  # getUpdates long-poll seconds
    telegram_rate_per_second: float = Field(default=30, ge=0)  # bot-wide sends; 0 = unlimited
    telegram_rate_per_chat_per_second: float = Field(default=1, ge=0)  # per chat; 0 = unlimited

    # SMS through Tencent Cloud SMS API 3.0 (enabled when id, key and SdkAppId are set);
    # templates and the signature in config/sms.yaml
    sms_provider: str = "tencent"
    sms_secret_id: str = ""
    sms_secret_key: str = ""
    sms_sdk_app_id: str = ""
    sms_endpoint: str = "https://sms.tencentcloudapi.com"  # tests point it at a local fake
    sms_region: str = "ap-guangzhou"
    sms_rate_per_second: float = Field(default=20, ge=0)  # all sends; 0 = unlimited
    # the delivery receipt and reply callbacks are mounted under /sms/<token>/…: Tencent
    # signs neither, so the URL configured in its console is the secret (empty: not mounted)
    sms_callback_token: str = ""

    @field_validator("sms_provider")
    @classmethod
    def _sms_provider(cls, v: str) -> str:
        if v != "tencent":
            raise ValueError("the only SMS provider is tencent (Tencent Cloud SMS)")
        return v

    @field_validator("sms_callback_token")
    @classmethod
    def _sms_token(cls, v: str) -> str:
        if v and (len(v) < 16 or not v.replace("-", "").replace("_", "").isalnum()):
            raise ValueError("must be at least 16 letters, digits, - or _")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.lower()
        if v not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use an IANA name like Asia/Shanghai)") from None
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        from bot.web.forwarded import parse_networks

        parse_networks(v)  # ValueError names the bad entry
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and (not v.startswith(("https://", "http://")) or "/" in v.split("://", 1)[1]):
            raise ValueError("must be an origin like https://xinfang.example.gov.cn (no path)")
        return v

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v and len(v) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return v

    @model_validator(mode="after")
    def _links_need_secret(self) -> Settings:
        if self.public_url and not self.secret_key:
            raise ValueError("XINFANG_PUBLIC_URL needs XINFANG_SECRET_KEY to sign case links")
        return self

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(e.g. postgresql+asyncpg://user@127.0.0.1:5432/xinfang)"
            )
        return v

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'xinfang.sqlite3'}"

    @property
    def attachments_dir(self) -> Path:
        """Where attachment files are stored."""
        return self.data_dir / "attachments"

    @property
    def documents_dir(self) -> Path:
        """Where rendered official documents (PDF) are kept."""
        return self.data_dir / "documents"

    @property
    def draft_ttl(self) -> timedelta:
        """How long an untouched draft survives."""
        return timedelta(hours=self.draft_ttl_hours)

    @property
    def draft_reminder(self) -> timedelta:
        """How long before a draft's expiry its one reminder goes out."""
        return timedelta(hours=self.draft_reminder_hours)

    @property
    def lookup_window(self) -> timedelta:
        """The window in which failed status lookups are counted."""
        return timedelta(minutes=self.lookup_window_minutes)

    @property
    def wechat_enabled(self) -> bool:
        """WeChat is on when its credentials are set."""
        return bool(self.wechat_token and self.wechat_app_id)

    @property
    def case_links(self) -> CaseLinks:
        """The signed links to the citizen's case page (off without a public URL)."""
        return CaseLinks(self.public_url, self.secret_key, self.case_link_days)

    @property
    def sms_enabled(self) -> bool:
        """SMS is on when its credentials and SdkAppId are set."""
        return bool(self.sms_secret_id and self.sms_secret_key and self.sms_sdk_app_id)

    @property
    def telegram_enabled(self) -> bool:
        """Telegram is on when its token is set."""
        return bool(self.telegram_token)


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one readable :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]).upper()
            if not loc:  # a rule over several settings: its input is all of them (secrets too)
                lines.append(err["msg"])
                continue
            lines.append(f"XINFANG_{loc}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
