"""The model registry: which bases exist and which variants (base + optional adapter) can chat.

Bases and adapter-free variants come from ``assets/models.toml`` and ``$TRAVELBOT_HOME/models.toml``.
Adapter variants are discovered from any folder holding a PEFT ``adapter_config.json`` under
``assets/adapters/``, ``$TRAVELBOT_HOME/adapters/`` and ``$TRAVELBOT_HOME/runs/*/``; an optional
``travelbot.json`` beside it names the base, method, settings and retriever. The registry re-reads
these on every call, so a newly trained adapter appears without a restart.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError, UnknownVariantError
from travelbot.models.generation import GenerationSettings

VARIANT_METHODS = ("base", "qlora", "raft", "dpo", "rlhf")
VARIANT_METADATA = "travelbot.json"


@dataclass(frozen=True)
class Base:
    """Weights + tokenizer + chat template + default system prompt.

    Exactly one source: a GGUF file (``gguf_path``, or ``gguf_file`` inside the installed package
    ``gguf_package``), a Hugging Face ``model_id``, a ``local_dir``, or an OpenAI-compatible
    ``endpoint`` serving ``model``.
    """

    name: str
    description: str = ""
    gguf_package: str | None = None
    gguf_file: str | None = None
    gguf_path: str | None = None
    model_id: str | None = None
    local_dir: str | None = None
    endpoint: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    aliases: tuple[str, ...] = ()
    chat_template: str | None = None
    system_prompt: str = "You are a helpful travel assistant."
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    enabled: bool = True
    demo: str | None = None  # the size ("135M") of a small model shipped to show the methods, not to give advice

    @property
    def source(self) -> str:
        """The kind of source: gguf, hf, local or openai."""
        if self.endpoint:
            return "openai"
        if self.gguf_file or self.gguf_path:
            return "gguf"
        if self.local_dir:
            return "local"
        return "hf"

    @property
    def local(self) -> bool:
        """Whether its weights are on this machine (served by transformers or llama.cpp), not an endpoint."""
        return self.source != "openai"

    def matches(self, name_or_path: str | None) -> bool:
        """Whether an adapter's recorded base (``base_model_name_or_path``) refers to this base."""
        if not name_or_path:
            return False
        candidates = {self.name, *self.aliases, self.model_id or "", self.local_dir or ""}
        return name_or_path in candidates or Path(name_or_path).name in {Path(c).name for c in candidates if c}


@dataclass(frozen=True)
class Variant:
    """A base plus an optional LoRA adapter, a method label, generation settings and a retriever."""

    name: str
    base: Base
    method: str = "base"
    adapter: Path | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    system_prompt: str | None = None
    retriever: str | None = None
    documents: int = 4  # passages a retrieval-augmented variant reads per question, as it was trained
    passage_sentences: int = 0  # each passage trimmed to its n sentences nearest the question (0: whole)
    description: str = ""
    endpoint_model: str | None = None  # model name of this variant on an OpenAI-compatible server

    @property
    def effective_system_prompt(self) -> str:
        return self.system_prompt if self.system_prompt is not None else self.base.system_prompt

    @property
    def revision(self) -> str:
        """Changes whenever the adapter weights change: a cache key for evaluations and loaded adapters."""
        if self.adapter is None:
            return "base"
        digest = hashlib.sha256()
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            path = self.adapter / name
            if path.exists():
                stat = path.stat()
                digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:12]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": self.base.name,
            "method": self.method,
            "adapter": str(self.adapter) if self.adapter else None,
            "weights": "local" if self.base.local else "endpoint",
            "retriever": self.retriever,
            **({"documents": self.documents, "passage_sentences": self.passage_sentences} if self.retriever else {}),
            "settings": self.settings.to_dict(),
            "description": self.description,
        }


def retrieval_shape(raw: dict[str, Any], where: str) -> dict[str, int]:
    """``documents`` and ``passage_sentences`` of a variant entry, checked (defaults: 4 whole passages)."""
    shape = {"documents": raw.get("documents", 4), "passage_sentences": raw.get("passage_sentences", 0)}
    if not (isinstance(shape["documents"], int) and 1 <= shape["documents"] <= 20
            and isinstance(shape["passage_sentences"], int) and 0 <= shape["passage_sentences"] <= 50):
        raise TravelbotError(f"{where}: documents must be 1–20 and passage_sentences 0–50.")
    return shape


def _settings_from(raw: dict[str, Any] | None, default: GenerationSettings, where: str) -> GenerationSettings:
    try:
        return default.updated(**(raw or {}))
    except TravelbotError as exc:
        raise TravelbotError(f"{where}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TravelbotError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None


_BASE_KEYS = {f for f in Base.__dataclass_fields__ if f not in {"name", "settings", "aliases"}}


def _base_from(name: str, raw: dict[str, Any], where: Path) -> Base:
    unknown = set(raw) - _BASE_KEYS - {"settings", "aliases"}
    if unknown:
        raise TravelbotError(f"{where}: base {name!r} has unknown key(s) {', '.join(sorted(unknown))}.")
    kwargs = {k: v for k, v in raw.items() if k in _BASE_KEYS}
    base = Base(
        name=name,
        aliases=tuple(raw.get("aliases", ())),
        settings=_settings_from(raw.get("settings"), GenerationSettings(), f"{where}: base {name!r}"),
        **kwargs,
    )
    sources = [base.gguf_file or base.gguf_path, base.model_id, base.local_dir, base.endpoint]
    if sum(bool(s) for s in sources) != 1:
        raise TravelbotError(
            f"{where}: base {name!r} needs exactly one of gguf_file/gguf_path, model_id, local_dir or endpoint."
        )
    return base


class Registry:
    """Reads bases and variants from configuration files and adapter folders."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.problems: list[str] = []

    def _config_files(self) -> list[Path]:
        return [self.settings.assets_dir / "models.toml", self.settings.models_file]

    def _adapter_roots(self) -> list[Path]:
        home = self.settings.home
        return [self.settings.assets_dir / "adapters", home / "adapters", self.settings.runs_dir]

    def bases(self) -> dict[str, Base]:
        """Every enabled base by name."""
        found: dict[str, Base] = {}
        for path in self._config_files():
            for name, raw in _read_toml(path).get("bases", {}).items():
                found[name] = _base_from(name, raw, path)
        return {name: base for name, base in found.items() if base.enabled}

    def variants(self) -> dict[str, Variant]:
        """Every usable variant by name: one per base, the configured ones, and discovered adapters."""
        self.problems = []
        bases = self.bases()
        found: dict[str, Variant] = {
            name: Variant(name=name, base=base, settings=base.settings, description=base.description)
            for name, base in bases.items()
        }
        for path in self._config_files():
            for name, raw in _read_toml(path).get("variants", {}).items():
                variant = self._configured_variant(name, raw, bases, path)
                if variant:
                    found[name] = variant
        for adapter_dir in self._adapter_dirs():
            variant = self._adapter_variant(adapter_dir, bases)
            if variant is None:
                continue
            if variant.name in found:
                self.problems.append(f"{adapter_dir}: variant name {variant.name!r} is already taken; skipped.")
                continue
            found[variant.name] = variant
        return found

    def variant(self, name: str) -> Variant:
        """The named variant, or an error that lists the names that exist."""
        variants = self.variants()
        if name not in variants:
            known = ", ".join(sorted(variants)) or "none"
            raise UnknownVariantError(f"Unknown variant {name!r}; known variants: {known}.")
        return variants[name]

    def _configured_variant(self, name: str, raw: dict[str, Any], bases: dict[str, Base], where: Path) -> Variant | None:
        base = bases.get(raw.get("base", ""))
        if base is None:
            self.problems.append(f"{where}: variant {name!r} names base {raw.get('base')!r}, which is not enabled.")
            return None
        method = raw.get("method", "base")
        if method not in VARIANT_METHODS:
            raise TravelbotError(
                f"{where}: variant {name!r} has method {method!r}; use one of {', '.join(VARIANT_METHODS)}.")
        adapter = raw.get("adapter")
        return Variant(
            name=name,
            base=base,
            method=method,
            adapter=Path(adapter) if adapter else None,
            settings=_settings_from(raw.get("settings"), base.settings, f"{where}: variant {name!r}"),
            system_prompt=raw.get("system_prompt"),
            retriever=raw.get("retriever"),
            **retrieval_shape(raw, f"{where}: variant {name!r}"),
            description=raw.get("description", ""),
            endpoint_model=raw.get("endpoint_model"),
        )

    def _adapter_dirs(self) -> list[Path]:
        dirs: list[Path] = []
        for root in self._adapter_roots():
            if not root.is_dir():
                continue
            for config in sorted(root.glob("*/adapter_config.json")) + sorted(root.glob("*/*/adapter_config.json")):
                dirs.append(config.parent)
        return dirs

    def _adapter_variant(self, adapter_dir: Path, bases: dict[str, Base]) -> Variant | None:
        try:
            adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
            meta_path = adapter_dir / VARIANT_METADATA
            meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.problems.append(f"{adapter_dir}: unreadable adapter metadata ({exc}); skipped.")
            return None
        if not isinstance(meta, dict) or not isinstance(adapter_config, dict):
            self.problems.append(f"{adapter_dir}: adapter metadata must be JSON objects; skipped.")
            return None
        if meta.get("kind") == "reward" or adapter_config.get("task_type") == "SEQ_CLS":
            return None  # a reward model scores answers; it is not a chat variant
        recorded = adapter_config.get("base_model_name_or_path")
        if meta.get("base"):
            base = bases.get(meta["base"])
        else:
            base = next((b for b in bases.values() if b.matches(recorded)), None)
        if base is None:
            wanted = meta.get("base") or recorded or "an unknown base"
            self.problems.append(f"{adapter_dir}: adapter is for {wanted}, which is not an enabled base; skipped.")
            return None
        method = meta.get("method", "qlora")
        if method not in VARIANT_METHODS:
            self.problems.append(
                f"{adapter_dir}: method {method!r} is not one of {', '.join(VARIANT_METHODS)}; skipped.")
            return None
        name = meta.get("name") or (
            adapter_dir.name if adapter_dir.name != "adapter" else adapter_dir.parent.name
        )
        try:
            settings = _settings_from(meta.get("settings"), base.settings, str(adapter_dir))
            shape = retrieval_shape(meta, str(adapter_dir))
        except TravelbotError as exc:
            self.problems.append(f"{exc}; skipped.")
            return None
        return Variant(
            name=name,
            base=base,
            method=method,
            adapter=adapter_dir,
            settings=settings,
            system_prompt=meta.get("system_prompt"),
            retriever=meta.get("retriever"),
            **shape,
            description=meta.get("description", ""),
            endpoint_model=meta.get("endpoint_model"),
        )


def get_registry(settings: Settings | None = None) -> Registry:
    """A registry over the current settings (cheap: it reads files on demand)."""
    return Registry(settings)
