"""Argo CD's changes as documents: each entry of an application's sync history, and the
current operation's state (one document per phase of each operation), with the environment
read from the application's destination.
"""
from __future__ import annotations

from typing import Any

from ...model import Document
from .common import _base, _related, change_id


def _argo_app(app: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    meta = app.get("metadata") or {}
    spec = app.get("spec") or {}
    return str(meta.get("name") or ""), spec, app.get("status") or {}


def _environment(spec: dict[str, Any], name: str) -> str:
    dest = spec.get("destination") or {}
    server = dest.get("name") or dest.get("server") or ""
    return f"{server}/{dest.get('namespace') or ''}".strip("/") or name


def argocd_history_document(source: str, app: dict[str, Any], entry: dict[str, Any]) -> Document:
    name, spec, _status = _argo_app(app)
    history_id = entry.get("id")
    doc_id = change_id("argocd", source, name, "history", str(history_id))
    initiated = entry.get("initiatedBy") or {}
    revision = entry.get("revision") or next(iter(entry.get("revisions") or []), None)
    src: dict[str, Any] = entry.get("source") or next(iter(entry.get("sources") or []), {}) or {}
    out = _base("argocd_sync", entry.get("deployedAt"), "argocd.history", "argocd", source,
                f"{name} synced to {str(revision)[:12]} (history {history_id})",
                action="argocd-sync")
    user = initiated.get("username")
    out["user"] = {"name": str(user)[:256]} if user else {}
    out["change"] = {
        "kind": "argocd_sync", "id": doc_id, "repo": str(src.get("repoURL") or "")[:1024],
        "forge": "argocd", "environment": _environment(spec, name), "sha": revision,
        "revision": revision, "phase": "Succeeded",
        "argocd": {"app": name, "project": spec.get("project"), "history_id": history_id,
                   "deployed_at": entry.get("deployedAt"),
                   "deploy_started_at": entry.get("deployStartedAt"),
                   "initiated_by": {"username": user, "automated": bool(initiated.get("automated"))},
                   "path": src.get("path"), "target_revision": src.get("targetRevision"),
                   "revisions": entry.get("revisions")},
    }
    out["related"] = _related(user, hashes=[str(revision or "")])
    return Document("changes", doc_id, out)


def argocd_operation_document(source: str, app: dict[str, Any]) -> Document | None:
    """The current operation (sync) state; one document per phase of each operation."""
    name, spec, status = _argo_app(app)
    op = status.get("operationState")
    if not isinstance(op, dict):
        return None
    phase = str(op.get("phase") or "")
    operation = op.get("operation") or {}
    initiated = operation.get("initiatedBy") or {}
    revision = (op.get("syncResult") or {}).get("revision") or \
        (operation.get("sync") or {}).get("revision")
    started = op.get("startedAt")
    doc_id = change_id("argocd", source, name, "operation", str(started), phase)
    out = _base("argocd_sync", op.get("finishedAt") or started, "argocd.operation", "argocd",
                source, f"{name} operation {phase}: {str(op.get('message') or '')[:500]}",
                action="argocd-operation")
    out["event"]["outcome"] = {"Succeeded": "success", "Failed": "failure",
                               "Error": "failure"}.get(phase, "unknown")
    user = initiated.get("username")
    out["user"] = {"name": str(user)[:256]} if user else {}
    out["change"] = {
        "kind": "argocd_sync", "id": doc_id, "forge": "argocd",
        "repo": str((spec.get("source") or {}).get("repoURL") or "")[:1024],
        "environment": _environment(spec, name), "sha": revision, "revision": revision,
        "phase": phase,
        "argocd": {"app": name, "project": spec.get("project"), "started_at": started,
                   "finished_at": op.get("finishedAt"), "retry_count": op.get("retryCount"),
                   "message": str(op.get("message") or "")[:2000],
                   "initiated_by": {"username": user, "automated": bool(initiated.get("automated"))},
                   "sync_status": (status.get("sync") or {}).get("status"),
                   "health": (status.get("health") or {}).get("status")},
    }
    out["related"] = _related(user, hashes=[str(revision or "")])
    return Document("changes", doc_id, out)
