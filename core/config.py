"""Configuration: flags > ``AMLWS_*`` environment variables > profile in the config file.

The config file is TOML in the platformdirs user config dir (``AMLWS_CONFIG_DIR``
overrides it)::

    default_profile = "prod"
    [profiles.prod]
    subscription = "00000000-0000-0000-0000-000000000000"
    location = "South Central US"

It may hold secrets (workspace tokens, API keys), so amlws writes it with mode 0600
and warns when it finds it readable by others.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, UsageError
from .fsutil import atomic_write_text
from .redact import SECRET_KEYS, register_secret

#: How to give the BES/RRS API key (the web service's primary key): one hint for every command that needs it.
API_KEY_HINT = "set AMLWS_API_KEY, or run: amlws config set api_key (the endpoint's primary key)"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

log = logging.getLogger("amlws")

CONFIG_FILE_NAME = "config.toml"

#: amlws's own settings (the Azure plumbing, BES/RRS, storage, timeouts), with what each is for.
#: Backends and other plugins declare theirs through ``amlws_settings``.
KNOWN_KEYS: dict[str, str] = {
    "subscription": "Azure subscription ID (also AZURE_SUBSCRIPTION_ID)",
    "tenant": "Azure AD tenant for service-principal login (also AZURE_TENANT_ID)",
    "client_id": "service principal / managed identity client ID (also AZURE_CLIENT_ID)",
    "client_secret": "service principal secret (secret; prefer AZURE_CLIENT_SECRET)",
    "client_certificate": "path to a service principal certificate (PEM)",
    "cloud": "AzureCloud, AzureChinaCloud or AzureUSGovernment",
    "credential": "default, cli, managed-identity, service-principal",
    "arm_endpoint": "Azure Resource Manager endpoint URL (the emulator, a test server)",
    "arm_token": "pre-acquired Azure Resource Manager bearer token (secret)",
    "ca_bundle": "CA bundle (PEM) to trust for TLS",
    "api_key": "web service API key for BES/RRS (secret)",
    "scoring_api_key": "predictive (scoring) endpoint API key for the retrain smoke test (secret)",
    "storage_connection_string": "Azure Storage connection string (secret)",
    "storage_container": "blob container for uploaded training data",
    "timeout": "overall timeout in seconds for long operations",
}


def config_dir() -> Path:
    override = os.environ.get("AMLWS_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("amlws", appauthor=False))


def state_dir() -> Path:
    override = os.environ.get("AMLWS_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir("amlws", appauthor=False))


def config_path() -> Path:
    override = os.environ.get("AMLWS_CONFIG_FILE")
    return Path(override) if override else config_dir() / CONFIG_FILE_NAME


def load_config_file(path: Path | None = None) -> dict[str, Any]:
    """Read the config file; a missing file is an empty config, a malformed one an error."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}",
            hint="check the file's permissions, or use another config directory (AMLWS_CONFIG_DIR)") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"malformed config file {path}: {exc}", hint=f"fix or delete {path} (amlws config path shows it)"
        ) from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"malformed config file {path}: [profiles.NAME] tables expected", hint=f"fix {path}")
    _warn_if_open(path, data)
    return data


def _warn_if_open(path: Path, data: dict[str, Any]) -> None:
    if os.name != "posix":
        return
    # A plugin's declared secret is not known yet (plugins may not be loaded): only the names that say so.
    has_secret = any(is_secret_setting(k) for p in data.get("profiles", {}).values() for k in p)
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if has_secret and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("config file %s holds secrets but is readable by others: run chmod 600 %s", path, path)


#: amlws's own secret settings; plugins declare theirs (``amlws_settings`` with ``Setting(secret=True)``).
_SECRET_SETTING_NAMES = frozenset({"client_secret", "arm_token", "api_key", "scoring_api_key", "storage_connection_string"})


def is_secret_setting(key: str, declared: Iterable[str] = ()) -> bool:
    """Whether ``key`` holds a secret: one of amlws's, one a plugin ``declared``, or a name that says so."""
    return key in _SECRET_SETTING_NAMES or key in declared or key.lower() in SECRET_KEYS


def save_config_file(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write the config atomically with mode 0600 (it may hold secrets)."""
    import tomli_w

    path = path or config_path()
    return atomic_write_text(path, tomli_w.dumps(data), mode=0o600)


def check_setting_name(key: str, *, known: Iterable[str] | None = None) -> str:
    """``key`` as stored (``-`` -> ``_``); with ``known``, :class:`UsageError` (exit 2) unless it is one
    of them, naming the closest (a misspelt setting saved silently would be ignored)."""
    key = key.replace("-", "_")
    if not key or not key.replace("_", "").isalnum() or not key.isascii():
        raise UsageError(f"invalid setting name {key!r}", hint="use names like subscription or workspace_token")
    if known is not None:
        names = sorted(set(known))
        if key not in names:
            import difflib

            close = difflib.get_close_matches(key, names, n=1)
            raise UsageError(f"unknown setting {key!r}",
                             hint=(f"did you mean {close[0]}? " if close else "") + "amlws config show lists the settings")
    return key


def set_profile_value(
    profile: str, key: str, value: str | None, path: Path | None = None, *, known: Iterable[str] | None = None
) -> Path:
    """Set (or with ``value=None`` unset) one setting in a profile.

    :param known: the settings that may be set: :data:`KNOWN_KEYS` and the plugins' (``amlws_settings``;
        :meth:`amlws.host.Host.settings_declared`). Default: :data:`KNOWN_KEYS`. Unsetting takes any name.
    :raises UsageError: an unknown name (a typo saved silently would be ignored), with the closest known one.
    """
    if value is None:
        known = None  # unsetting: any name, a stale one included
    key = check_setting_name(key, known=KNOWN_KEYS if known is None and value is not None else known)
    data = load_config_file(path)
    profiles = data.setdefault("profiles", {})
    section = profiles.setdefault(profile, {})
    if value is None:
        section.pop(key, None)
    else:
        section[key] = value
    return save_config_file(data, path)


@dataclass
class Invocation:
    """What one command run carries besides settings, in place of attributes set on :class:`Settings`.

    ``options`` are the command's options that are not settings but that a backend declared
    (:class:`amlws.model.TargetOption`, e.g. ``get --region``). :meth:`memo` is a backend's scratch space
    for this run only (keys read with a definition, kept out of the document): a hook's *result* must
    never depend on it, only its cost, so that a hook answers the same whatever ran before it.
    """

    options: dict[str, Any] = field(default_factory=dict)
    memos: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def memo(self, owner: str) -> dict[str, Any]:
        """The scratch ``dict`` of ``owner`` (a backend's name) for this run."""
        return self.memos.setdefault(owner, {})


@dataclass
class Settings:
    """Resolved settings for one invocation, passed to every hook as ``settings``.

    Look-ups go flags, then ``AMLWS_<KEY>`` environment variables, then the profile.
    """

    profile: str = "default"
    flags: dict[str, Any] = field(default_factory=dict)
    profile_values: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    output: str = "table"
    query: str | None = None
    verbose: bool = False
    debug: bool = False
    yes: bool = False
    what_if: bool = False
    #: set by the CLI: whether stdin is an interactive terminal (confirmation prompts).
    interactive: bool = False
    #: whether the profile exists in the config file (set by :meth:`load`).
    profile_exists: bool = False
    #: the settings plugins declared secret (``amlws_settings``): masked and redacted like amlws's own.
    secret_names: frozenset[str] = frozenset()
    #: this command run's :class:`Invocation` (declared command options, backends' per-run memos).
    invocation: Invocation = field(default_factory=Invocation)

    @classmethod
    def load(
        cls,
        profile: str | None = None,
        flags: dict[str, Any] | None = None,
        *,
        require_profile: bool = True,
        **kwargs: Any,
    ) -> Settings:
        """Resolve settings for one invocation.

        :param profile: the ``--profile`` flag; else ``AMLWS_PROFILE``, else the file's
            ``default_profile``, else ``default``.
        :param require_profile: a profile named explicitly (flag, ``AMLWS_PROFILE`` or
            ``default_profile``) must exist in the file; ``amlws config`` passes ``False`` so
            that ``config set`` can create one. The implicit ``default`` may always be missing.
        """
        env = kwargs.pop("env", None) or dict(os.environ)
        data = load_config_file()
        name = profile or env.get("AMLWS_PROFILE") or data.get("default_profile") or "default"
        profiles = data.get("profiles", {})
        explicit = bool(profile or env.get("AMLWS_PROFILE") or data.get("default_profile"))
        if require_profile and explicit and name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(
                f"profile {name!r} not found in {config_path()} (profiles: {known})",
                hint=f"create it with: amlws --profile {name} config set KEY VALUE",
            )
        values = dict(profiles.get(name, {}))
        settings = cls(profile=name, flags=dict(flags or {}), profile_values=values, env=env, **kwargs)
        settings.profile_exists = name in profiles
        for key in values:
            if settings.is_secret(key):
                register_secret(str(values[key]))
        return settings

    def get(self, key: str, default: Any = None, *, env_aliases: tuple[str, ...] = ()) -> Any:
        value = self.flags.get(key)
        if value is not None:
            return value
        for name in ("AMLWS_" + key.upper(), *env_aliases):
            if self.env.get(name):
                value = self.env[name]
                if self.is_secret(key):
                    register_secret(value)
                return value
        value = self.profile_values.get(key)
        if value is not None:
            return value
        return default

    def is_secret(self, key: str) -> bool:
        """Whether setting ``key`` is a secret (amlws's own or one a plugin declared)."""
        return is_secret_setting(key, self.secret_names)

    def source_of(self, key: str, *, env_aliases: tuple[str, ...] = ()) -> str | None:
        if self.flags.get(key) is not None:
            return "flag"
        for name in ("AMLWS_" + key.upper(), *env_aliases):
            if self.env.get(name):
                return f"env:{name}"
        if self.profile_values.get(key) is not None:
            return f"profile:{self.profile}"
        return None

    def require(self, key: str, *, hint: str, env_aliases: tuple[str, ...] = (), secret: bool = False) -> Any:
        """Return a setting or raise one clear error; secrets may be prompted for on a TTY."""
        value = self.get(key, env_aliases=env_aliases)
        if value is None and secret and self.interactive:
            import getpass

            value = getpass.getpass(f"{key.replace('_', ' ')}: ") or None
            if value:
                register_secret(value)
                self.flags[key] = value
        if value is None:
            from .errors import AuthError

            err = AuthError if secret else UsageError
            raise err(f"no {key.replace('_', ' ')} configured", hint=hint)
        return value

    def timeout(self, default: float | None = None) -> float | None:
        value = self.get("timeout")
        if value is None:
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"invalid timeout {value!r}", hint="give a number of seconds") from None

    def effective(self, declared: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """Every known (amlws's and the ``declared`` plugin settings) or set setting with its source,
        secrets masked (``amlws config show``)."""
        keys = set(KNOWN_KEYS) | set(declared) | set(self.profile_values) | {k for k in self.flags if self.flags[k] is not None}
        out: dict[str, dict[str, Any]] = {}
        for key in sorted(keys):
            value = self.get(key)
            if value is None:
                continue
            shown = "***" if self.is_secret(key) else value
            out[key] = {"value": shown, "source": self.source_of(key)}
        return out
