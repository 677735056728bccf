"""Roles and permissions as data, and the department scope of a staff member.

The roles (issue #6): ``admin`` (everything, including accounts and the audit log),
``supervisor`` (督办: sees and acts on every case, broadcasts), ``handler`` (sees and
acts on the cases of their own departments only), ``viewer`` (reads; personal data
masked; limited to their departments when any are given). The API enforces these;
the console only hides what a role cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A staff role."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    HANDLER = "handler"
    VIEWER = "viewer"


class Permission(StrEnum):
    """Something a role may do."""

    CASE_READ = "case.read"  # see cases in scope (list, detail, dashboard)
    CASE_PII = "case.pii"  # see petitioners' names, phones, addresses unmasked
    CASE_ACT = "case.act"  # lifecycle actions, replies, internal notes, links, flags
    EXPORT = "export"  # CSV / XLSX export of the cases in scope
    BROADCAST = "broadcast"  # compose, send and cancel broadcasts
    OUTBOX = "outbox"  # see and retry failed deliveries
    AUDIT_READ = "audit.read"  # browse the audit log
    STAFF_MANAGE = "staff.manage"  # accounts and API tokens of others


_ALL = frozenset(Permission)
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ALL,
    Role.SUPERVISOR: _ALL - {Permission.AUDIT_READ, Permission.STAFF_MANAGE},
    Role.HANDLER: frozenset(
        {Permission.CASE_READ, Permission.CASE_PII, Permission.CASE_ACT, Permission.EXPORT}
    ),
    Role.VIEWER: frozenset({Permission.CASE_READ}),
}


class AccessDenied(Exception):
    """The staff member's role may not do this (HTTP 403)."""

    def __init__(self, message: str, permission: str = "") -> None:
        super().__init__(message)
        self.permission = permission  # the Permission the role lacks


@dataclass(frozen=True, slots=True)
class StaffMember:
    """An authenticated staff member, as the web layer and services see them."""

    id: int
    login: str
    display_name: str
    role: Role
    departments: tuple[str, ...]
    lang: str = "zh"

    def can(self, permission: Permission) -> bool:
        """Whether the role has this permission."""
        return permission in PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise AccessDenied unless the role has this permission."""
        if not self.can(permission):
            raise AccessDenied(f"{self.role} may not {permission}", permission)

    @property
    def sees_all_departments(self) -> bool:
        """True when no department scope applies."""
        if self.role in (Role.ADMIN, Role.SUPERVISOR):
            return True
        return self.role is Role.VIEWER and not self.departments

    def in_scope(self, department: str, co_departments: tuple[str, ...] = ()) -> bool:
        """Whether a case handled by these departments is visible to this staff member."""
        if self.sees_all_departments:
            return True
        mine = set(self.departments)
        return department in mine or bool(mine.intersection(co_departments))

    @property
    def actor(self) -> str:
        """How this staff member appears on case timelines and in the audit log."""
        return f"staff:{self.login}"
