"""Classic settings and credentials, including AzureMLPS ``config.json`` files.

Precedence (AzureMLPS documents "explicit parameters > -ConfigFile > default config";
REFERENCE §7.2, implemented as documented rather than as its binding-order quirk):

1. command-line options (``--workspace``, ``--location``; ``settings.flags``);
2. the AzureMLPS ``config.json`` named by ``--config-file`` (or the setting
   ``classic_config_file`` / ``AMLWS_CLASSIC_CONFIG_FILE``), resolved against the
   current directory (not a DLL folder: azuremlps bug §7.4 #14);
3. ``AMLWS_*`` environment variables, then the amlws profile.

The credential is the workspace authorization token (``workspace_token``) or, failing
that, an endpoint API key (``api_key``); on a terminal it is prompted for. It is never
taken from the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amlws.errors import NotFoundError, UsageError
from amlws.redact import register_secret

#: AzureMLPS config.json key -> amlws setting name.
CONFIG_KEYS = {"workspaceid": "workspace", "authorizationtoken": "workspace_token", "location": "location"}

TOKEN_HINT = (
    "set AMLWS_WORKSPACE_TOKEN, run amlws classic config import config.json, or "
    "amlws config set workspace_token (an endpoint API key in AMLWS_API_KEY also works)"
)


def read_config_file(path: str | Path) -> dict[str, str]:
    """Read an AzureMLPS ``config.json``; returns amlws setting names -> values.

    Keys are matched case-insensitively (JavaScriptSerializer does); a BOM is tolerated.
    """
    from amlws.fsutil import read_text

    p = Path(path).expanduser()
    if not p.is_file():
        raise NotFoundError(f"can't find config file: {p}", hint="give the path of the AzureMLPS config.json")
    text = read_text(p, what="AzureMLPS config file")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{p}: not valid JSON ({exc})", hint="AzureMLPS config.json holds WorkspaceId, AuthorizationToken, Location") from None
    if not isinstance(data, dict):
        raise UsageError(f"{p}: expected a JSON object", hint="AzureMLPS config.json holds WorkspaceId, AuthorizationToken, Location")
    out: dict[str, str] = {}
    for key, value in data.items():
        name = CONFIG_KEYS.get(str(key).lower())
        if name and value not in (None, ""):
            out[name] = str(value)
    if "workspace_token" in out:
        register_secret(out["workspace_token"])
    return out


def config_file_values(settings: Any) -> dict[str, str]:
    if settings is None:
        return {}
    path = settings.get("classic_config_file")
    if not path:
        return {}
    cache = getattr(settings, "_classic_config_cache", None)
    if cache is not None and cache[0] == str(path):
        return cache[1]
    values = read_config_file(path)
    try:
        settings._classic_config_cache = (str(path), values)
    except AttributeError:  # pragma: no cover - a settings object without attributes
        pass
    return values


def value(settings: Any, key: str, explicit: Any = None) -> Any:
    """A classic setting by the precedence above (``explicit`` is the command-line option)."""
    if explicit not in (None, ""):
        return explicit
    if settings is None:
        return None
    flag = settings.flags.get(key)
    if flag not in (None, ""):
        return flag
    cfg = config_file_values(settings)
    if cfg.get(key):
        return cfg[key]
    return settings.get(key)


def token(settings: Any) -> str:
    """The bearer token for the management API: workspace token, else endpoint API key, else a prompt."""
    tok = value(settings, "workspace_token")
    if tok in (None, ""):
        tok = settings.get("api_key") if settings is not None else None
    if tok in (None, ""):
        if settings is None:
            from amlws.errors import AuthError

            raise AuthError("no workspace token configured", hint=TOKEN_HINT)
        tok = settings.require("workspace_token", hint=TOKEN_HINT, secret=True)
    tok = str(tok).strip()
    register_secret(tok)
    return tok


def import_config(path: str | Path, profile: str, *, config_path: Path | None = None) -> dict[str, Any]:
    """``amlws classic config import``: store an AzureMLPS config.json as an amlws profile.

    Validates the workspace id (32 hex) and the location before writing anything.
    :returns: what was written (the token is named, never shown).
    """
    from amlws.config import set_profile_value

    from . import SETTINGS
    from .targets import canonical_location, check_id

    values = read_config_file(path)
    missing = [k for k, n in (("WorkspaceId", "workspace"), ("AuthorizationToken", "workspace_token"), ("Location", "location")) if n not in values]
    if missing:
        raise UsageError(f"{path}: missing {', '.join(missing)}", hint="AzureMLPS config.json holds WorkspaceId, AuthorizationToken, Location")
    check_id(values["workspace"], "workspace")
    values["location"] = canonical_location(values["location"])
    written = None
    for key in ("workspace", "location", "workspace_token"):
        written = set_profile_value(profile, key, values[key], config_path, known=SETTINGS)  # this backend's own settings
    return {
        "profile": profile,
        "path": str(written),
        "workspace": values["workspace"],
        "location": values["location"],
        "workspace_token": "***",
    }
