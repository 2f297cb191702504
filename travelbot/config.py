"""Settings read once from the environment; the only module that reads ``os.environ``.

Defaults work offline on a laptop: data under ``./.travelbot``, SQLite, the embedded model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        from travelbot.errors import TravelbotError

        raise TravelbotError(f"{name} must be a whole number, not {raw!r}.") from None


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower() or choices[0]
    if raw not in choices:
        from travelbot.errors import TravelbotError

        raise TravelbotError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw


def _number(env: dict[str, str], name: str, default: Any, convert: Callable[[str], Any], ok: Callable[[Any], bool],
            what: str) -> Any:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = convert(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not ok(value):
        from travelbot.errors import TravelbotError

        raise TravelbotError(f"{name} must be {what}, not {raw!r}.")
    return value


@dataclass(frozen=True)
class JudgeSettings:
    """The LLM judge (and Ragas' LLM): any OpenAI-compatible server, from the ``TRAVELBOT_JUDGE_*`` variables.

    Unset, the base URL and key fall back to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` (see
    ``evaluation.endpoint.JudgeEndpoint``), and prices to OpenAI's list price on OpenAI's own endpoint."""

    model: str = ""  # no model: no judge
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0  # seconds per request
    max_retries: int = 4  # after the first try, on 429, 5xx, timeouts and connection errors
    concurrency: int = 4  # requests in flight at once
    price_prompt: float | None = None  # USD per 1M tokens; None: the list price (OpenAI) or 0
    price_completion: float | None = None
    json_mode: bool = False  # send response_format=json_object (some servers reject it)

    ENV: ClassVar[dict[str, str]] = {  # field -> the variable that sets it
        "model": "TRAVELBOT_JUDGE_MODEL", "base_url": "TRAVELBOT_JUDGE_BASE_URL", "api_key": "TRAVELBOT_JUDGE_API_KEY",
        "timeout": "TRAVELBOT_JUDGE_TIMEOUT", "max_retries": "TRAVELBOT_JUDGE_MAX_RETRIES",
        "concurrency": "TRAVELBOT_JUDGE_CONCURRENCY", "price_prompt": "TRAVELBOT_JUDGE_PRICE_PROMPT",
        "price_completion": "TRAVELBOT_JUDGE_PRICE_COMPLETION", "json_mode": "TRAVELBOT_JUDGE_JSON_MODE"}

    @property
    def configured(self) -> bool:
        return bool(self.model.strip())

    @classmethod
    def from_env(cls, env: dict[str, str]) -> JudgeSettings:
        price = "a price in USD per million tokens (0 or more)"
        name = cls.ENV
        return cls(
            model=(env.get(name["model"]) or "").strip(),
            base_url=(env.get(name["base_url"]) or "").strip() or None,
            api_key=(env.get(name["api_key"]) or "").strip() or None,
            timeout=_number(env, name["timeout"], 60.0, float, lambda v: v > 0, "a number of seconds above 0"),
            max_retries=_number(env, name["max_retries"], 4, int, lambda v: v >= 0, "a whole number (0 or more)"),
            concurrency=_number(env, name["concurrency"], 4, int, lambda v: v >= 1, "a whole number (1 or more)"),
            price_prompt=_number(env, name["price_prompt"], None, float, lambda v: v >= 0, price),
            price_completion=_number(env, name["price_completion"], None, float, lambda v: v >= 0, price),
            json_mode=_flag(env, name["json_mode"], False))

    def environment(self) -> dict[str, str | None]:
        """These settings as ``TRAVELBOT_JUDGE_*`` variables (None: unset), for a child process."""
        values: dict[str, str | None] = {}
        for key, variable in self.ENV.items():
            value = getattr(self, key)
            values[variable] = None if value is None or value == "" or value is False else (
                "1" if value is True else str(value))
        return values


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a travelbot process."""

    home: Path = Path(".travelbot")
    db_url: str | None = None
    assets_dir: Path = ASSETS_DIR
    device: str = "auto"
    backend: str = "auto"  # auto (llama.cpp for GGUF bases on the CPU when installed), llamacpp, transformers
    max_message_chars: int = 4000
    max_new_tokens: int = 0  # one answer length for every variant; 0: each variant's own (RAFT-format: 384)
    host: str = "127.0.0.1"  # where the server listens (TRAVELBOT_HOST, else GRADIO_SERVER_NAME as Spaces set it)
    port: int = 7860
    open_admin: bool = False  # TRAVELBOT_OPEN=1: every visitor may use admin actions, even off loopback
    allow_downloads: bool = False
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    hf_token: str | None = None
    reddit_client_id: str | None = None
    reddit_client_secret: str | None = None
    reddit_user_agent: str | None = None
    arena_max_turns: int = 3
    arena_weights: str = ""  # "variant=weight,..."; unnamed variants weigh 1, weight 0 leaves one out
    votes_per_day: int = 100
    flag_words: str | None = None  # comma-separated; None = the built-in list of model and vendor names
    rating_overlap: int = 3
    ratings_per_day: int = 200
    leaderboard_min_battles: int = 20  # a variant with fewer battles is provisional on the leaderboard
    arena_question_cap: int = 20  # battles counted per identical first question (0: no cap)
    arena_pairing: str = "active"  # "active" (feedback.pairing) or "balanced" (deficit against target shares)
    max_upload_mb: int = 5  # largest file a visitor may upload
    max_system_prompt_chars: int = 2000
    max_prompt_tokens: int = 3072  # a conversation (system prompt, history, retrieved passages) longer than this is refused
    max_generations: int = 4  # answers generated at once by this process, for everyone together
    requests_per_minute: int = 20  # questions one visitor (network address or signed-in user) may send a minute
    space_id: str | None = None  # set by Hugging Face Spaces
    on_spaces: bool = False  # really running on Spaces (SYSTEM=spaces): Hugging Face sign-in is real there
    oauth_enabled: bool = False  # a Space with hf_oauth: people sign in with Hugging Face to vote and rate
    oauth_secret: bool = False  # OAUTH_CLIENT_SECRET is set (Spaces set it together with OAUTH_CLIENT_ID)
    mode: str = "local"  # "space" on Hugging Face Spaces (SPACE_ID) or with TRAVELBOT_MODE=space
    admins: tuple[str, ...] = ()  # Hub usernames allowed to train and run other admin actions on a Space
    persistent_dir: Path = Path("/data")  # where a Space's persistent storage is mounted
    mirror_repo: str | None = None  # a Hub dataset repo that votes and ratings are copied to
    mirror_minutes: int = 30
    judge: JudgeSettings = field(default_factory=JudgeSettings)

    @property
    def hosted(self) -> bool:
        """Serving the public from a Space: admin controls are hidden and refused unless signed in as an admin."""
        return self.mode == "space"

    @property
    def loopback(self) -> bool:
        """Whether the server listens on this machine only (127.0.0.1, ::1, localhost)."""
        import ipaddress

        if self.host.strip().lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip().strip("[]")).is_loopback
        except ValueError:  # a host name: it may resolve to any address
            return False

    @property
    def persistent(self) -> bool:
        """Whether the data home survives a restart (always locally; on a Space only on persistent storage)."""
        if not self.hosted:
            return True
        home = self.home.resolve()
        return self.persistent_dir.is_dir() and (home == self.persistent_dir or self.persistent_dir in home.parents)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.home / 'travelbot.db').resolve()}"

    @property
    def data_dir(self) -> Path:
        """Raw sources, built datasets and the retrieval index."""
        return self.home / "data"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def bases_cache_dir(self) -> Path:
        return self.home / "bases"

    @property
    def gguf_adapters_dir(self) -> Path:
        """LoRA adapters exported to GGUF for llama.cpp, one file per adapter revision."""
        return self.home / "gguf-adapters"

    @property
    def models_file(self) -> Path:
        """A user's own bases and variants, added to the ones in ``assets/models.toml``."""
        return self.home / "models.toml"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        mode = _choice(env, "TRAVELBOT_MODE", ("space", "local")) if env.get("TRAVELBOT_MODE") else (
            "space" if env.get("SPACE_ID") else "local")
        persistent_dir = Path(env.get("TRAVELBOT_PERSISTENT_DIR") or "/data")
        default_home = ".travelbot"
        if mode == "space" and persistent_dir.is_dir() and os.access(persistent_dir, os.W_OK):
            default_home = str(persistent_dir / "travelbot")
        return cls(
            home=Path(env.get("TRAVELBOT_HOME") or default_home),
            db_url=env.get("TRAVELBOT_DB_URL") or None,
            assets_dir=Path(env.get("TRAVELBOT_ASSETS") or ASSETS_DIR),
            device=env.get("TRAVELBOT_DEVICE") or "auto",
            backend=_choice(env, "TRAVELBOT_BACKEND", ("auto", "llamacpp", "transformers")),
            max_message_chars=_int(env, "TRAVELBOT_MAX_MESSAGE_CHARS", 4000),
            max_new_tokens=_int(env, "TRAVELBOT_MAX_NEW_TOKENS", 0),
            # The platform's address wins over the default, so a Space's proxy can reach the server.
            host=env.get("TRAVELBOT_HOST") or env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
            port=_int(env, "TRAVELBOT_PORT", 0) or _int(env, "GRADIO_SERVER_PORT", 7860),
            open_admin=_flag(env, "TRAVELBOT_OPEN", False),
            allow_downloads=_flag(env, "TRAVELBOT_ALLOW_DOWNLOADS", False),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            hf_token=env.get("HF_TOKEN") or None,
            reddit_client_id=env.get("REDDIT_CLIENT_ID") or None,
            reddit_client_secret=env.get("REDDIT_CLIENT_SECRET") or None,
            reddit_user_agent=env.get("REDDIT_USER_AGENT") or None,
            arena_max_turns=_int(env, "TRAVELBOT_ARENA_MAX_TURNS", 3),
            arena_weights=env.get("TRAVELBOT_ARENA_WEIGHTS") or "",
            votes_per_day=_int(env, "TRAVELBOT_VOTES_PER_DAY", 100),
            flag_words=env.get("TRAVELBOT_FLAG_WORDS"),
            rating_overlap=_int(env, "TRAVELBOT_RATING_OVERLAP", 3),
            ratings_per_day=_int(env, "TRAVELBOT_RATINGS_PER_DAY", 200),
            leaderboard_min_battles=max(_int(env, "TRAVELBOT_LEADERBOARD_MIN_BATTLES", 20), 0),
            arena_question_cap=max(_int(env, "TRAVELBOT_ARENA_QUESTION_CAP", 20), 0),
            arena_pairing=_choice(env, "TRAVELBOT_ARENA_PAIRING", ("active", "balanced")),
            max_upload_mb=_int(env, "TRAVELBOT_MAX_UPLOAD_MB", 5),
            max_system_prompt_chars=_int(env, "TRAVELBOT_MAX_SYSTEM_PROMPT_CHARS", 2000),
            max_prompt_tokens=_int(env, "TRAVELBOT_MAX_PROMPT_TOKENS", 3072),
            max_generations=max(_int(env, "TRAVELBOT_MAX_GENERATIONS", 4), 1),
            requests_per_minute=_int(env, "TRAVELBOT_REQUESTS_PER_MINUTE", 20),
            space_id=env.get("SPACE_ID") or None,
            on_spaces=env.get("SYSTEM") == "spaces" and bool(env.get("SPACE_ID")),
            oauth_enabled=bool(env.get("OAUTH_CLIENT_ID")),
            oauth_secret=bool(env.get("OAUTH_CLIENT_SECRET")),
            mode=mode,
            admins=tuple(a.strip() for a in (env.get("TRAVELBOT_ADMINS") or "").split(",") if a.strip()),
            persistent_dir=persistent_dir,
            mirror_repo=env.get("TRAVELBOT_MIRROR_REPO") or None,
            mirror_minutes=_int(env, "TRAVELBOT_MIRROR_MINUTES", 30),
            judge=JudgeSettings.from_env(env),
        )

    def child_environment(self, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
        """The environment a child process (a job) needs to run with these settings: this process's environment
        with the data home, database, models and endpoints these settings name (set in code or read from it),
        then ``overrides`` (None unsets a variable)."""
        env = dict(os.environ)
        values: dict[str, str | None] = {
            "TRAVELBOT_HOME": str(self.home.resolve()), "TRAVELBOT_DB_URL": self.db_url,
            "TRAVELBOT_ASSETS": str(Path(self.assets_dir).resolve()) if self.assets_dir != ASSETS_DIR else None,
            "TRAVELBOT_DEVICE": self.device if self.device != "auto" else None,
            "TRAVELBOT_BACKEND": self.backend if self.backend != "auto" else None,
            "TRAVELBOT_MAX_NEW_TOKENS": str(self.max_new_tokens) if self.max_new_tokens else None,
            "TRAVELBOT_MAX_PROMPT_TOKENS": str(self.max_prompt_tokens),
            "OPENAI_API_KEY": self.openai_api_key, "OPENAI_BASE_URL": self.openai_base_url, "HF_TOKEN": self.hf_token,
            **self.judge.environment(), **(overrides or {})}
        for key, value in values.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def env_value(self, name: str) -> str | None:
        """Look up a credential named in configuration (e.g. an endpoint's ``api_key_env``)."""
        return os.environ.get(name)


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (tests, or a CLI flag that overrides the environment)."""
    global _settings
    _settings = settings


def quiet_library_analytics() -> None:
    """Tell libraries that phone home (Ragas reads ``RAGAS_DO_NOT_TRACK`` once, at import) not to; the only place
    that writes the environment."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
