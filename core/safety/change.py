"""The one change path: every remote change of every backend goes through here.

    observers may veto (amlws_before_update)
      -> the live state is saved to the local history, with the planned, redacted requests
      -> the backend sends, waits and verifies (the ``send`` callable it passes)
      -> the outcome is recorded beside the history revision
      -> observers are told (amlws_after_update)

A backend's mutating command builds a :class:`Change` and calls :func:`apply` with a callable
that makes the change and reports it as :class:`Sent`; it never writes history itself.
:func:`update` is the same path for sending a new definition (``amlws update``, rollback,
retrain, fleet rows) with the checks an update needs first: the changed-since-export check,
the same-service check, unmasking secrets, the trained-model check.

This module holds the policy; :class:`amlws.host.Host` stays a dispatcher whose typed calls it uses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlwsError, ConflictError, NotFoundError, UsageError, VetoError
from ..model import Definition, Target, UpdateResult, canonical_json
from .history import History, exported_fingerprint, file_source, record_export
from .modelcheck import check_references
from .unmask import restore_masked

if TYPE_CHECKING:
    from ..host import Host

log = logging.getLogger("amlws")

__all__ = [
    "UPDATES",
    "Change",
    "Sent",
    "apply",
    "ask_observers",
    "check_file_source",
    "check_same_service",
    "check_unchanged_since_export",
    "ensure",
    "fingerprint",
    "interrupted_target",
    "saved_definition",
    "update",
]

#: Actions that send a whole new definition (through ``amlws_update``); the others are
#: ``new``, ``remove``, ``endpoint-add``, ``endpoint-remove``, ``endpoint-refresh``, ``add-region``, ``traffic``, ``rollout``.
UPDATES = frozenset({"update", "rollback", "retrain", "fleet"})

#: How a veto names a change that is not an update ("vetoed the removal of X").
_NOUNS = {
    "new": "creation",
    "remove": "removal",
    "endpoint-add": "creation",
    "endpoint-remove": "removal",
    "endpoint-refresh": "refresh",
    "add-region": "new regional properties",
    "traffic": "traffic change",
    "rollout": "rollout",
}

_interrupted: Target | None = None


@dataclass(frozen=True)
class Change:
    """One remote change, as a backend describes it before making it.

    :param target: what changes.
    :param action: what history calls it (``update``, ``rollback``, ``retrain``, ``new``, ``remove``,
        ``endpoint-add``, ``endpoint-remove``, ``endpoint-refresh``, ``add-region``, ``traffic``, ``rollout``...).
    :param definition: what ``amlws_before_update`` observers are shown: the definition the change
        sends (update, new, endpoint-add: the document sent); ``None`` for a change that sends no
        definition (remove, refresh, add-region): observers are then shown the live one (``live``).
    :param live: the live document, saved to history before the change; ``None`` when the target
        does not exist yet (or the backend cannot read it).
    :param requests: the planned requests (``{"method", "url", "body"}``), saved redacted with it.
    :param note: a note for the history entry.
    :param metrics: the evaluation of the model the change deploys (a retrain's metrics, numbers):
        kept with the history entry for ``amlws history TARGET --metrics``.
    """

    target: Target
    action: str
    definition: Definition | None = None
    live: dict[str, Any] | None = None
    requests: list[dict[str, Any]] | None = None
    note: str | None = None
    metrics: dict[str, float] | None = None

    def shown(self) -> Definition:
        """The definition observers see (see ``definition``)."""
        if self.definition is not None:
            return self.definition
        return Definition(self.target.backend, dict(self.live or {}), self.target)


@dataclass
class Sent:
    """What a backend's ``send`` step reports to the change path.

    :param result: what ``amlws_after_update`` observers get and :func:`apply` returns; set
        ``result.changed = False`` when the service reports that nothing changed (history then
        keeps no revision: one equal to the live state would make ``amlws rollback`` a no-op).
    :param outcome: details recorded beside the history revision (``amlws history --revision N``).
    :param after: the whole live definition read back after the change, when the backend has it:
        it supersedes what the last ``amlws export`` recorded (the changed-since-export check).
    """

    result: UpdateResult
    outcome: dict[str, Any] = field(default_factory=dict)
    after: Definition | None = None


def sent(change: Change, definition: Definition | None = None, *, outcome: dict[str, Any] | None = None,
         changed: bool = True, verified: bool = False, verification: str = "", requests: int = 0,
         after: Definition | None = None) -> Sent:
    """A :class:`Sent` for a change that is not an update: ``definition`` is the target's state after
    it (for a delete: the definition that was removed, i.e. ``change.shown()``)."""
    shown = definition if definition is not None else change.shown()
    result = UpdateResult(change.target, shown, verified, None, requests, dict(outcome or {}), verification=verification,
                          changed=changed)
    return Sent(result, dict(outcome or {}), after)


def apply(host: Host, change: Change, send: Callable[[], Sent]) -> UpdateResult:
    """Make ``change`` through the one change path (see the module docstring).

    :param send: makes the change, waits for it and verifies it; called only when no observer
        vetoed, after the live state is saved to history.
    :raises VetoError: an observer vetoed (exit 5): nothing was sent.
    """
    ask_observers(host, change)
    return _recorded(host, change, send)


def ensure(host: Host, target: Target, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create ``target`` when it does not exist (``amlws_ensure_target``; ``amlws fleet run`` rows
    with ``create``), through the change path as action ``new``: a change freeze stops the
    creation too. An existing target is left alone and nothing is asked or recorded.

    :returns: the backend's ``{"created": bool, ...}``.
    """
    from ..errors import NotFoundError

    try:
        host.get_definition(target)
        return {"created": False, "target": target.id}
    except NotFoundError:
        pass
    change = Change(target, "new", note="created for a fleet row")
    answer: dict[str, Any] = {}

    def send() -> Sent:
        answer.update(host.ensure_target(target, options))
        created = bool(answer.get("created"))
        return sent(change, outcome=answer, changed=created, verified=created,
                    verification="created" if created else "it existed already")

    apply(host, change, send)
    return answer


def ask_observers(host: Host, change: Change) -> None:
    """Ask every ``amlws_before_update`` observer; the first reason given vetoes.

    :raises VetoError: (exit 5) naming the plugin and its reason.
    """
    vetoed = host.ask_before_update(change.target, change.shown(), action=change.action)
    if vetoed is None:
        return
    plugin, reason = vetoed
    what = "the update" if change.action in UPDATES else "the " + _NOUNS.get(change.action, change.action)
    raise VetoError(
        f"plugin {plugin!r} vetoed {what} of {change.target.id}: {reason}",
        hint=f"resolve what the plugin reports, or set AMLWS_DISABLE_PLUGINS={plugin}",
    )


def _recorded(host: Host, change: Change, send: Callable[[], Sent]) -> UpdateResult:
    """History before, the backend's send, the outcome after; then the export record and the observers."""
    global _interrupted
    target = change.target
    try:
        with History().change(target.id, target.backend, change.live, action=change.action, request=change.requests,
                              note=change.note, metrics=change.metrics) as entry:
            done = send()
            entry["outcome"] = dict(done.outcome)
            entry["unchanged"] = not done.result.changed  # nothing to roll back to: no revision
    except KeyboardInterrupt:
        _interrupted = target  # the CLI says the change may still complete on the service
        raise
    if done.after is not None:
        _supersede_export(host, target, done.after)
    host.notify_after_update(target, done.result, action=change.action)
    return done.result


def saved_definition(target_id: str, *, action: str | None = None) -> dict[str, Any] | None:
    """The definition ``target_id`` had before its last recorded change (its latest history revision),
    or ``None`` when history has none (or, with ``action``, when the last change was another one:
    ``action="remove"`` asks "was it removed, and what was it?").

    For a backend that, within a change of one target, must restore another target an earlier change
    removed: a rollout deletes the old deployment of an endpoint (its own ``remove`` change), and the
    endpoint's rollback re-creates it from here before it restores the split. Backends never read
    :mod:`amlws.safety.history` themselves. The definition is as history keeps it (secrets masked).
    """
    try:
        entry = History().get(target_id)
    except NotFoundError:
        return None
    if action is not None and entry.get("action") != action:
        return None
    document = entry.get("definition")
    return document if isinstance(document, dict) else None


def interrupted_target() -> Target | None:
    """The target whose change a Ctrl-C interrupted in this process (it may still complete remotely)."""
    return _interrupted


def forget_interrupted() -> None:
    """Start afresh (each CLI invocation): an earlier run's interrupted change is not this one's."""
    global _interrupted
    _interrupted = None


# --- sending a new definition ----------------------------------------------------------------


def update(
    host: Host,
    target: Target,
    definition: Definition,
    *,
    action: str = "update",
    note: str | None = None,
    check_export: bool = False,
    live: Definition | None = None,
    allow_http: bool = False,
    check_model: bool = False,
    source_file: str | Path | None = None,
    metrics: dict[str, float] | None = None,
) -> UpdateResult:
    """Send ``definition`` to ``target`` through the change path (``amlws update``, rollback, retrain, fleet).

    Observers are asked first (a frozen service is not even read); then the backend's local checks
    (``amlws_plan_update``), the live definition read once (saved to history, passed to
    ``amlws_update`` as ``live``), the masked secrets restored from it and the changed trained
    models checked, before anything is sent.

    :param action: what the history entry calls this change (``update``, ``rollback``, ``retrain``, ``fleet``).
    :param check_export: refuse with :class:`ConflictError` (exit 5) when the service changed
        since ``amlws export`` recorded it, or when the definition describes another service
        (``amlws_check_same_service``), unless ``settings.flags["force"]``.
    :param live: the live definition when the caller has just read it (it is not read again).
    :param allow_http: accept a changed trained-model reference over plain http (old samples).
    :param check_model: ``HEAD`` each changed trained-model blob first (:mod:`amlws.safety.modelcheck`).
    :param source_file: with ``check_export``, the definition file: refused when ``amlws export``
        wrote it from another target. Checked after the live read, so a missing target is
        exit 3 (not found) before any exit 5 about the file's origin.
    :param metrics: the evaluation of the model sent (a retrain's), kept with the history entry.
    """
    if definition.backend != target.backend:
        raise UsageError(
            f"the definition is a {definition.backend} definition but the target is a {target.backend} target",
            hint="export the definition from the service you are updating",
        )
    ask_observers(host, Change(target, action, definition))
    can_plan = host.implements(target.backend, "amlws_plan_update")
    if can_plan and live is None:
        host.plan_update(target, definition)  # the backend's local checks first: a bad definition sends nothing
    if live is None and host.implements(target.backend, "amlws_get_definition"):
        live = host.get_definition(target)
    if check_export and source_file is not None:
        check_file_source(target, source_file, force=_forced(host))
    if check_export and live is not None:
        check_unchanged_since_export(host, target, live)
        check_same_service(host, target, definition, live)
    if live is not None:
        definition = restore_masked(definition, live)  # secrets masked by export, unchanged on the service
    model_check = check_references(host, definition, live, allow_http=allow_http, head=check_model)
    requests = host.plan_update(target, definition, live=live) if can_plan else None
    change = Change(target, action, definition, live.document if live is not None else None, requests, note, metrics)

    def send() -> Sent:
        result = host.send_update(target, definition, live=live)
        if model_check:
            result.details["modelCheck"] = model_check
        return Sent(result, {"verified": result.verified, "modelUri": result.model_uri}, after=result.definition)

    return _recorded(host, change, send)


# --- the checks before an update ---------------------------------------------------------------


def _forced(host: Host) -> bool:
    return bool((host.settings.flags or {}).get("force"))


def fingerprint(host: Host, definition: Definition) -> str:
    """The fingerprint ``amlws export`` records: the canonical JSON of the export document."""
    if host.implements(definition.backend, "amlws_export"):
        document = host.export(definition)
        return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
    return definition.fingerprint()


def check_unchanged_since_export(host: Host, target: Target, live: Definition) -> None:
    """Optimistic concurrency: :class:`ConflictError` (exit 5) when ``live`` differs from what
    ``amlws export`` last recorded for ``target`` (no record: nothing to compare, passes)."""
    if _forced(host):
        return
    expected = exported_fingerprint(target.id)
    if expected is None or expected == fingerprint(host, live):
        return
    raise ConflictError(
        f"{target.id} changed since it was exported",
        hint="export it again and re-apply your change (amlws diff TARGET --file FILE shows what changed), or pass --force",
    )


def check_same_service(host: Host, target: Target, definition: Definition, live: Definition) -> None:
    """:class:`ConflictError` (exit 5) when ``definition`` describes another service than ``live``
    (sending it would retitle and rewire the live one), unless ``settings.flags["force"]``."""
    if _forced(host):
        return
    difference = host.same_service_difference(definition, live)
    if difference:
        raise ConflictError(
            f"the definition does not describe {target.id}: {difference}",
            hint="export the definition from this service (amlws export TARGET -f FILE) and patch that, "
            "or pass --force to send it anyway",
        )


def check_file_source(target: Target, file: str | Path, *, force: bool = False) -> None:
    """Refuse (:class:`ConflictError`, exit 5) to send a file ``amlws export`` wrote from another target.

    Sending another service's definition retitles and rewires the live service (issue 12.4). A
    file with no record (written by hand, by PowerShell, on another machine) passes: the backend's
    content check (:func:`check_same_service`) still compares it with the live service.
    """
    if force:
        return
    origin = file_source(file)
    if origin is not None and origin.lower() != target.id.lower():
        raise ConflictError(
            f"{file} was exported from {origin}, not from {target.id}",
            hint="export the definition of this service (amlws export TARGET -f FILE) and patch that, "
            "or pass --force to send it anyway",
        )


def _supersede_export(host: Host, target: Target, definition: Definition) -> None:
    """After our own change, what the last export recorded is superseded by the new live state."""
    if exported_fingerprint(target.id) is None:
        return
    try:
        record_export(target.id, fingerprint(host, definition))
    except (AmlwsError, OSError) as exc:  # the change itself succeeded
        log.warning("cannot record the new fingerprint of %s: %s", target.id, exc)
