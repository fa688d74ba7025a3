"""The backend-neutral model: targets, definitions, model locations, results.

Backends turn their own wire formats into these types; commands and workflows
only ever see these.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .errors import UsageError

log = logging.getLogger(__name__)

#: ``NAME:VERSION`` or ``NAME@latest``: how an Azure ML model version is written without ``azureml:``.
_MODEL_VERSION = re.compile(r"[\w.-]+(?::[\w.-]+|@latest)")


@dataclass(frozen=True)
class TargetOption:
    """A command-line option a backend adds to every command that takes a target.

    Declared in :attr:`BackendInfo.target_options`; ``with_target_options`` builds the commands'
    signatures from every installed backend's declarations. Two backends may declare one option
    (same ``name``, same long flag, same ``type``): the CLI shows it once and each backend's
    ``amlws_target_from_options`` interprets the value. A short flag declared by one of them is kept;
    two different short flags, two types, or one flag for two names is a :class:`PluginError` naming both.

    :param name: the key in the ``options`` dict the backend gets (``resource_group``).
    :param flags: the long flag first, then any short one (``("--resource-group", "-g")``).
    :param help: one line for ``--help``.
    :param type: the value's type (``str``, ``int``...).
    :param commands: only these commands get the option (``("get",)``); empty: every command with a target.
        A command-only option is not part of the target: its value reaches the backend through
        ``settings.invocation.options``.
    """

    name: str
    flags: tuple[str, ...]
    help: str = ""
    type: type = str
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Setting:
    """A setting a plugin reads (``amlws_settings`` may map a name to one instead of a plain description).

    :param description: one line for ``amlws config show`` and the "did you mean" hint.
    :param secret: ``amlws config show`` masks it, ``amlws config set NAME`` prompts for it hidden, and its
        value is redacted from every log and error.
    """

    description: str = ""
    secret: bool = False


@dataclass(frozen=True)
class BackendInfo:
    """What a backend says about itself through ``amlws_backend_info``.

    :param name: the backend's name, used by ``--backend NAME`` and stored in definitions.
    :param description: one line for ``amlws plugins``.
    :param target_help: how a target of this backend is written, for error messages and help texts.
    :param command_group: the name of the backend's own command group (``amlws NAME ...``), registered
        by its ``amlws_register_commands``; empty when it adds none. Its other commands belong in that group, not at the top level.
    :param target_options: the :class:`TargetOption` s the backend adds to the commands that take a target.
    """

    name: str
    description: str = ""
    target_help: str = ""
    command_group: str = ""
    target_options: tuple[TargetOption, ...] = ()


@dataclass(frozen=True)
class Target:
    """What a command acts on, as parsed by the backend that claimed it.

    :param backend: the claiming backend's name.
    :param id: the canonical string form (a resource ID, a management URL, a ``file:`` path).
    :param parts: backend-specific components (subscription, workspace, endpoint...).
    """

    backend: str
    id: str
    parts: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def display(self) -> str:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "id": self.id, "parts": dict(self.parts)}


@dataclass
class Definition:
    """A service definition document plus where it came from.

    :param backend: name of the backend whose format ``document`` is in.
    :param document: the definition JSON (a ``WebService`` resource, an endpoint...).
    :param target: the target it was read from, when it came from a service.
    """

    backend: str
    document: dict[str, Any]
    target: Target | None = None

    def copy(self) -> Definition:
        return Definition(self.backend, copy.deepcopy(self.document), self.target)

    def fingerprint(self) -> str:
        """A stable hash of the canonical JSON, for change detection."""
        return hashlib.sha256(canonical_json(self.document).encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "target": self.target.id if self.target else None,
            "definition": self.document,
        }


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and fixed separators: equal documents give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ModelLocation:
    """Where a trained ``.ilearner`` lives, in BES result form.

    ``base_location`` is the blob service endpoint (``https://acct.blob.core.windows.net/``),
    ``relative_location`` is ``container/path/model.ilearner`` and ``sas_blob_token`` is
    the SAS query string including its leading ``?`` (may be empty).
    """

    base_location: str
    relative_location: str
    sas_blob_token: str = ""
    #: the URI exactly as the user gave it (``--uri``), when the location came from one.
    given_uri: str | None = field(default=None, compare=False)

    @property
    def reference_uri(self) -> str:
        """The URI to store as a reference: the user's ``--uri`` verbatim, else base + relative.

        Microsoft's ARM retraining walkthrough builds the asset URI by "combining the
        BaseLocation and the RelativeLocation from the output of the BES retraining call":
        no SAS, the service reads the blob with its own storage credentials.
        """
        return self.given_uri if self.given_uri else self.blob_url

    @property
    def blob_url(self) -> str:
        """The blob URL without the SAS (base and relative joined by one slash)."""
        return self.base_location.rstrip("/") + "/" + self.relative_location.lstrip("/")

    @property
    def uri(self) -> str:
        """The full blob URL including the SAS token, if any."""
        token = self.sas_blob_token
        if token and not token.startswith("?"):
            token = "?" + token
        return self.blob_url + token

    @classmethod
    def from_uri(cls, uri: str) -> ModelLocation:
        """Split ``https://acct.blob.core.windows.net/container/blob.ilearner?sv=...``.

        Path-style emulator URLs (``http://127.0.0.1:10000/devstoreaccount1/c/b``) keep the
        account segment in the base location, as Azurite expects.
        """
        parts = urlsplit(uri.strip())
        if not parts.scheme or not parts.netloc:
            raise UsageError(f"not an absolute blob URL: {uri!r}", hint="give the full https:// URL of the .ilearner blob")
        path = parts.path.lstrip("/")
        base = f"{parts.scheme}://{parts.netloc}/"
        host = parts.hostname or ""
        if _is_path_style(host):
            account, _, path = path.partition("/")
            base = f"{base}{account}/"
        token = f"?{parts.query}" if parts.query else ""
        return cls(base, path, token, given_uri=uri.strip())

    @classmethod
    def from_reference(cls, reference: str) -> ModelLocation:
        """Read a ``patch-model --model`` reference as a Studio backend does: a blob URL, as
        :meth:`from_uri`. An Azure ML model version (``azureml:NAME:VERSION``, ``azureml://...``,
        ``NAME@latest``, an ARM id) or any other non-URL is refused in one line, naming what a
        Studio definition takes, instead of failing later on a URL that is not one.
        """
        text = reference.strip()
        if text.lower().startswith("azureml:") or "://" not in text:
            version = text.lower().startswith(("azureml:", "/subscriptions/")) or _MODEL_VERSION.fullmatch(text) is not None
            raise UsageError(
                f"a Studio definition takes a .ilearner location; {text!r} is "
                + ("an Azure ML model version" if version else "not a blob URL"),
                hint="give the blob URL of the trained .ilearner with its SAS (what patch-ilearner --uri takes), "
                "e.g. https://ACCOUNT.blob.core.windows.net/CONTAINER/model.ilearner?SAS",
            )
        return cls.from_uri(text)

    @classmethod
    def from_bes_result(cls, result: dict[str, Any]) -> ModelLocation:
        """Build from one BES ``Results.<output>`` entry (PascalCase, as the service sends)."""
        lowered = {k.lower(): v for k, v in result.items()}
        base = lowered.get("baselocation") or ""
        rel = lowered.get("relativelocation") or ""
        if not base or not rel:
            raise UsageError(
                "the BES result has no BaseLocation/RelativeLocation",
                hint="pass the Results.<output> object of a finished BES job",
            )
        return cls(base, rel, lowered.get("sasblobtoken") or "")

    def to_dict(self) -> dict[str, str]:
        return {
            "BaseLocation": self.base_location,
            "RelativeLocation": self.relative_location,
            "SasBlobToken": self.sas_blob_token,
        }

    # --- SAS checks shared by every backend -------------------------------------------

    def sas_fields(self) -> dict[str, str]:
        q = parse_qs(self.sas_blob_token.lstrip("?"), keep_blank_values=True)
        return {k: v[0] for k, v in q.items()}

    def check_scheme(self, *, allow_http: bool = False) -> None:
        """Refuse a plain-http blob URL: a SAS signature sent over http is a leaked credential.

        Loopback URLs (Azurite, the amlws emulator) are always allowed. ``allow_http`` is for the
        documented old samples (Microsoft's create-models walkthrough, the AzureMLPS README) that
        use ``http://``; then the URL is accepted with a warning.
        """
        url = urlsplit(self.blob_url)
        if url.scheme.lower() != "http" or is_loopback(url.hostname or ""):
            return  # https, a loopback emulator, or a scheme of the service's own (aml://)
        if not allow_http:
            https = urlunsplit(("https", url.netloc, url.path, "", ""))
            raise UsageError(
                f"the model URI is plain http: {self.blob_url} (a SAS signature sent over http is readable on the way)",
                hint=f"use the https URL of the same blob ({https}: https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB), "
                "or pass --allow-http for an old sample that uses http",
            )
        log.warning(
            "the model URI is plain http (%s), accepted because of --allow-http: its SAS signature travels "
            "unencrypted; prefer the https:// URL", self.blob_url)

    def check(self, *, now: datetime | None = None, check_sas: bool = True) -> None:
        """Refuse locations the service would reject: not a ``.ilearner``, SAS expired or without read.

        The scheme is the host's policy (:meth:`check_scheme`, with the command's ``--allow-http``).

        :param check_sas: check the SAS too (off when the SAS will not be sent, e.g. an ARM asset URI
            built from base + relative location).
        """
        if not self.relative_location.lower().split("?")[0].endswith(".ilearner"):
            raise UsageError(
                f"the model URI does not name an .ilearner blob: {self.blob_url}",
                hint="point at the trained-model output of the BES job (RelativeLocation ending in .ilearner)",
            )
        if not self.sas_blob_token or not check_sas:
            return
        fields = self.sas_fields()
        expiry = fields.get("se")
        if expiry:
            when = parse_sas_time(expiry)
            if when is not None and when <= (now or datetime.now(timezone.utc)):
                raise UsageError(
                    f"the SAS token expired at {expiry}",
                    hint="GET the BES job again (amlws jobs status) for a fresh token, or make a new SAS",
                )
        perms = fields.get("sp")
        if perms is not None and "r" not in perms:
            raise UsageError(
                f"the SAS token does not grant read (sp={perms})",
                hint="the service must read the .ilearner: use a SAS with read permission (sp=r)",
            )


def parse_sas_time(value: str) -> datetime | None:
    """Parse a SAS ``st``/``se`` time; a date alone means midnight UTC."""
    text = value.strip().replace("Z", "+00:00")
    # .NET writes 7 fractional digits; Python 3.10's fromisoformat takes at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    for candidate in (text, text[:10]):
        try:
            dt = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine: ``localhost`` or a loopback address
    (127.0.0.0/8, ::1). The one check behind every "plain http only to this machine" rule."""
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_path_style(host: str) -> bool:
    """Azurite and the amlws emulator use path-style URLs (``/account/container/blob``)."""
    return is_loopback(host) or host.replace(".", "").isdigit()


@dataclass(frozen=True)
class ServiceEndpoints:
    """Where a web service's Batch Execution (BES) and Request-Response (RRS) APIs live, and their key.

    What ``amlws_service_endpoints`` returns, so that ``amlws retrain``, ``amlws invoke`` and
    ``amlws jobs`` can take a web service (any backend's target) instead of
    URLs worked out by hand.

    :param target: the service these endpoints belong to.
    :param bes_url: the BES jobs URL (``{api location}/jobs``), as ``BesClient.from_url`` takes it.
    :param rrs_url: the RRS execute URL with its query (``{api location}/execute?api-version=2.0&...``).
    :param api_key: the key both accept (``Authorization: Bearer``); ``None`` when it was not asked
        for or the backend cannot tell. Never shown in ``repr`` or :meth:`to_dict`.
    """

    target: Target
    bes_url: str
    rrs_url: str
    api_key: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.id, "backend": self.target.backend, "besUrl": self.bes_url, "rrsUrl": self.rrs_url}


@dataclass
class RetrainJob:
    """A retrain that runs a training *job* of the target's own service (``amlws retrain TARGET --job-file |
    --from-job``), what ``amlws_retrain`` receives: the backend runs the job, reads its metrics, gates,
    registers the model and deploys it, each its own way.

    :param job_file: a job definition file to submit, or ``None``.
    :param from_job: an earlier job whose definition is copied (under a new name), or ``None``.
    :param inputs: input name -> a URI or a local path (uploaded by the backend), ``--input NAME=…``.
    :param model_output: the job output holding the trained model (``None``: the backend's default).
    :param model_name: the model to register a new version of (``None``: the one the target serves).
    :param gates: ``"r2>=0.8"``-style gates on the job's logged metrics (:mod:`amlws.gates`); all must pass.
    :param strategy: ``rollout`` (blue/green) or ``in-place``; ``None``: the backend's default for the target.
    :param steps: a rollout's traffic steps as typed (``"10,50,100"``), or ``None``.
    :param smoke_file: rows scored before and after the deployment, or ``None``.
    :param keep_job: on timeout or Ctrl-C leave the job running instead of cancelling it.
    :param timeout: seconds to wait for the job (``None``: no limit).
    :param confirm: asks before the deployment (raises to refuse); ``None`` when nobody can answer
        (stdin not a terminal and no ``--yes``): the backend then refuses before training.
    :param progress: where the steps are reported (stderr in the CLI).
    """

    job_file: str | None = None
    from_job: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    model_output: str | None = None
    model_name: str | None = None
    gates: list[str] = field(default_factory=list)
    strategy: str | None = None
    steps: str | None = None
    smoke_file: str | None = None
    keep_job: bool = False
    timeout: float | None = None
    confirm: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    progress: Callable[[str], None] | None = field(default=None, repr=False, compare=False)


def parse_inputs(pairs: list[str] | None) -> dict[str, str]:
    """``["train=data.csv", …]`` (``--input NAME=URI_OR_PATH``) -> ``{"train": "data.csv"}``; exit 2 for a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"invalid --input {pair!r}", hint="write --input NAME=URI_OR_PATH, e.g. --input train=new.csv")
        out[name.strip()] = value.strip()
    return out


@dataclass
class UpdateResult:
    """What ``amlws_update`` returns.

    :param definition: the definition as the service reports it after the update.
    :param verified: true only when a read-back showed the service reports the trained-model
        location that was sent; false otherwise, including an update that sent no trained-model
        reference (there was nothing to verify: ``verification`` says what was checked instead).
    :param model_uri: the trained-model reference after the update (without SAS), if any.
    :param requests: number of HTTP requests the update took.
    :param verification: one line saying what the read-back checked (and, for ``amlws update``,
        what was checked before sending), so that ``verified`` is never read as a "yes" about nothing.
    :param changed: ``False`` when the service already had this definition and nothing was
        changed (the host then keeps no history revision of it).
    """

    target: Target
    definition: Definition
    verified: bool
    model_uri: str | None = None
    requests: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    verification: str = ""
    changed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.id,
            "backend": self.target.backend,
            "verified": self.verified,
            "verification": self.verification,
            "modelUri": self.model_uri,
            "requests": self.requests,
            "details": self.details,
        }
