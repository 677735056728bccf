"""The registration desk: staff register petitions received by letter, visit or phone, and
upload the office's own files to a case (console, API and CLI alike).

Registering takes ``case.act`` (admin, supervisor, handler); it goes through the one
registration function (:func:`bot.cases.staff_registration.register_petition`) and is
audited. Office files (investigation material, signed opinions) are kept apart from the
petitioner's materials and reach the petitioner only when marked part of a document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.cases.staff_registration import (
    InvalidPetition,
    Petition,
    Problem,
    Registered,
    StoredFile,
    register_petition,
)
from bot.dialogs.form import FormRegistry
from bot.staff.access import Permission, StaffMember
from bot.staff.casework import CaseNotFound, Casework, visible_case
from bot.storage import attachments
from bot.storage import cases as case_store
from bot.storage.attachments import ORIGINS, PETITIONER, STAFF
from bot.storage.cases import CaseRow
from bot.storage.files import remove
from bot.storage.staff import add_audit
from bot.uploads import ACCEPTED_TYPES

__all__ = [
    "ACCEPTED_TYPES",
    "ORIGINS",
    "PETITIONER",
    "STAFF",
    "InvalidPetition",
    "Petition",
    "Problem",
    "RegistrationDesk",
    "StoredFile",
]


@dataclass
class RegistrationDesk:
    """登记 and office files, for a staff member (see module docstring)."""

    casework: Casework
    forms: FormRegistry
    attachments_dir: Path
    max_upload_bytes: int

    async def register(
        self,
        member: StaffMember,
        petition: Petition,
        files: Sequence[StoredFile] = (),
        *,
        ip: str = "",
        via: str = "",
    ) -> Registered:
        """Register a petition with its scans (audited); InvalidPetition says what is wrong.
        The files are removed from disk when the petition is refused."""
        member.require(Permission.CASE_ACT)
        lifecycle = self.casework.lifecycle
        now = self.casework.clock()
        try:
            async with self.casework.db.transaction() as conn:
                done = await register_petition(
                    conn,
                    form=self.forms.current("intake"),
                    petition=petition,
                    actor=member.actor,
                    now=now,
                    tz=lifecycle.tz,
                    enrich=lifecycle.registrar.enrich,
                    files=files,
                )
                case = await case_store.by_tracking_no(conn, done.tracking_no)
                assert case is not None
                await add_audit(
                    conn,
                    at=now,
                    actor=member.login,
                    action="case.register",
                    staff_id=member.id,
                    case_id=case.id,
                    target=done.tracking_no,
                    detail=_detail(via, channel=petition.channel, files=len(files)),
                    ip=ip,
                )
        except BaseException:
            for f in files:
                remove(self.attachments_dir, f.media_ref)
            raise
        return done

    async def add_file(
        self,
        member: StaffMember,
        tracking_no: str,
        file: StoredFile,
        *,
        origin: str = STAFF,
        in_document: bool = False,
        ip: str = "",
        via: str = "",
    ) -> int:
        """Add a file to a case in scope: an office file (``origin`` "staff") or more of the
        petitioner's materials ("petitioner"); returns its id (audited)."""
        member.require(Permission.CASE_ACT)
        if origin not in ORIGINS:
            raise InvalidPetition([Problem("origin", "register.origin")])
        now = self.casework.clock()
        try:
            async with self.casework.db.transaction() as conn:
                case = await visible_case(conn, member, tracking_no)
                file_id = await attachments.add_to_case(
                    conn,
                    case_id=case.id,
                    contact_id=case.contact_id,
                    file=(file.kind, file.media_ref, file.mime, file.filename, file.size),
                    origin=origin,
                    uploaded_by=member.actor,
                    now=now,
                    in_document=in_document and origin == STAFF,
                )
                await add_audit(
                    conn,
                    at=now,
                    actor=member.login,
                    action="case.file_added",
                    staff_id=member.id,
                    case_id=case.id,
                    target=str(file_id),
                    detail=_detail(via, origin=origin, in_document=in_document),
                    ip=ip,
                )
        except BaseException:
            remove(self.attachments_dir, file.media_ref)
            raise
        return file_id

    async def mark_in_document(
        self,
        member: StaffMember,
        tracking_no: str,
        file_id: int,
        in_document: bool,
        *,
        ip: str = "",
        via: str = "",
    ) -> None:
        """Make an office file part of a document the petitioner receives, or take it out
        again (audited); CaseNotFound for no such office file on a case in scope."""
        member.require(Permission.CASE_ACT)
        async with self.casework.db.transaction() as conn:
            case = await visible_case(conn, member, tracking_no)
            if not await attachments.set_in_document(conn, case.id, file_id, in_document):
                raise CaseNotFound(f"no office file {file_id} on this case")
            await add_audit(
                conn,
                at=self.casework.clock(),
                actor=member.login,
                action="case.file_in_document" if in_document else "case.file_internal",
                staff_id=member.id,
                case_id=case.id,
                target=str(file_id),
                detail=_detail(via),
                ip=ip,
            )

    async def case_for_files(self, member: StaffMember, tracking_no: str) -> CaseRow:
        """The case a member may add files to (AccessDenied, CaseNotFound): checked before
        an upload is read, so that nothing is written for a case out of reach."""
        member.require(Permission.CASE_ACT)
        async with self.casework.db.read() as conn:
            return await visible_case(conn, member, tracking_no)


def _detail(via: str, **values: Any) -> dict[str, Any]:
    return {**values, "via": via} if via else dict(values)
