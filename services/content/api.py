"""The curriculum API: tracks, their versions, the draft's modules and lessons, previews.

Content editors and admins write; coordinators and researchers may read (to see what
patients are taught). Only a track's draft can change: without one, an edit is a 409
saying how to start one. Handlers are thin: each calls one service function.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from services.content.schemas import (
    Channel,
    LessonIn,
    LessonPatch,
    ModuleIn,
    ModulePatch,
    PreviewOut,
    ProblemOut,
    TrackHead,
    TrackOut,
    TrackPatch,
    VersionContent,
    VersionOut,
)
from services.content.service import curriculum, importer, reading, versions
from services.content.service.problems import ContentInvalid
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import MAX_ID, RowId

EDIT = policy(Role.ADMIN, Role.CONTENT_EDITOR, resource="track")
READ = policy(Role.ADMIN, Role.CONTENT_EDITOR, Role.COORDINATOR, Role.RESEARCHER, resource="track")
DRAFT = "/{track:str}/draft"
VERSION = "/{track:str}/versions/{version:int}"


def _problems(_: Request[Any, Any, Any], exc: ContentInvalid) -> Response[dict[str, Any]]:
    """400 with every problem, as text in `detail` and one by one in `problems`."""
    problems = [
        ProblemOut(file=p.file, line=p.line, field=p.field, message=p.message) for p in exc.problems
    ]
    return Response({"status_code": 400, "detail": str(exc), "problems": problems}, status_code=400)


class TrackController(Controller):
    path = "/tracks"
    tags = ["curriculum"]
    exception_handlers = {ContentInvalid: _problems}

    @get("/", opt=READ, summary="Every track, with its newest published and draft versions")
    async def list_tracks(self, state: State) -> list[TrackOut]:
        return await versions.list_tracks(state.db)

    @post("/", opt=EDIT, summary="Create a track: its code, titles, cadence; an empty draft")
    async def create_track(self, state: State, data: JSONBody[TrackHead]) -> VersionContent:
        return await curriculum.create_track(state.db, data)

    @get("/{track:str}", opt=READ, summary="One track")
    async def get_track(self, state: State, track: FromPath[str]) -> TrackOut:
        return await versions.get_track(state.db, track)

    @get("/{track:str}/versions", opt=READ, summary="A track's versions, newest first")
    async def list_versions(self, state: State, track: FromPath[str]) -> list[VersionOut]:
        return await versions.list_versions(state.db, track)

    @get(VERSION, opt=READ, summary="One version's whole content")
    async def get_version(
        self, state: State, request: Request[Any, Any, Any], track: FromPath[str], version: RowId
    ) -> VersionContent:
        content = await versions.get_version(state.db, track, version)
        return versions.for_reader(content, principal_of(request).role)

    @get(
        f"{VERSION}/export",
        opt=READ,
        summary="One version as a YAML file that `mmt content import` reads back",
        media_type="application/yaml",
    )
    async def export(
        self, state: State, request: Request[Any, Any, Any], track: FromPath[str], version: RowId
    ) -> Response[str]:
        editor = principal_of(request).role in versions.EDITORS
        if not editor and (await versions.get_track(state.db, track)).audience == "staff":
            raise PermissionDeniedException("a staff track's file holds its quiz's answers")
        row, text = await importer.export_version(state.db, track, version)
        filename = f"{track}-v{row.version}.yaml"
        return Response(
            text,
            media_type="application/yaml; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get(
        f"{VERSION}/lessons/{{key:str}}/preview",
        opt=READ,
        summary="A lesson as a channel would carry it (sms: text with a link; wechat: fields)",
    )
    async def preview(
        self,
        state: State,
        track: FromPath[str],
        version: RowId,
        key: FromPath[str],
        channel: FromQuery[Channel] = "sms",
        language: FromQuery[Literal["zh-CN", "en"]] = "zh-CN",
    ) -> PreviewOut:
        return await reading.preview(
            state.db, state.sample_links, track, version, key, channel, language, state.wechat
        )

    @get(
        f"{VERSION}/lessons/{{key:str}}/handout",
        opt=READ,
        summary="A published lesson as a printable A4 PDF handout with a clinic's name and phone",
        media_type="application/pdf",
    )
    async def handout(
        self,
        state: State,
        request: Request[Any, Any, Any],
        track: FromPath[str],
        version: RowId,
        key: FromPath[str],
        clinic_id: Annotated[int, QueryParameter(ge=1, le=MAX_ID)],
        language: FromQuery[Literal["zh-CN", "en"]] = "zh-CN",
    ) -> Response[bytes]:
        # Here, not at the top: reportlab takes most of a second to import, which every
        # content process would pay at start for a route clinics use now and then.
        from services.content.service import handouts

        name, pdf = await handouts.lesson_handout(
            state.db,
            state.access_db,
            principal_of(request),
            track,
            version,
            key,
            clinic_id,
            language,
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @post(DRAFT, opt=EDIT, summary="Start a draft copied from the newest published version")
    async def start_draft(self, state: State, track: FromPath[str]) -> VersionOut:
        return await versions.start_draft(state.db, track)

    @patch(DRAFT, opt=EDIT, summary="Change the draft's titles, cadence or following track")
    async def patch_draft(
        self, state: State, track: FromPath[str], data: JSONBody[TrackPatch]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.patch_track(data), "change refused"
        )

    @post(
        f"{DRAFT}/publish",
        opt=EDIT,
        status_code=200,
        summary="Publish the draft (checks everything first; 400 lists every problem)",
    )
    async def publish(self, state: State, track: FromPath[str]) -> VersionOut:
        return await versions.publish(state.db, track)

    @post(f"{DRAFT}/modules", opt=EDIT, summary="Add a module to the draft")
    async def add_module(
        self, state: State, track: FromPath[str], data: JSONBody[ModuleIn]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.add_module(data), "module refused"
        )

    @patch(f"{DRAFT}/modules/{{module:str}}", opt=EDIT, summary="Retitle or move a module")
    async def patch_module(
        self, state: State, track: FromPath[str], module: FromPath[str], data: JSONBody[ModulePatch]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.patch_module(module, data), "change refused"
        )

    @delete(
        f"{DRAFT}/modules/{{module:str}}",
        opt=EDIT,
        status_code=200,
        summary="Remove an empty module from the draft",
    )
    async def delete_module(
        self, state: State, track: FromPath[str], module: FromPath[str]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.delete_module(module), "change refused"
        )

    @post(f"{DRAFT}/lessons", opt=EDIT, summary="Add a lesson to a module of the draft")
    async def add_lesson(
        self, state: State, track: FromPath[str], data: JSONBody[LessonIn]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.add_lesson(data), "lesson refused"
        )

    @patch(
        f"{DRAFT}/lessons/{{key:str}}",
        opt=EDIT,
        summary="Change, move or re-translate a lesson (its key stays)",
    )
    async def patch_lesson(
        self, state: State, track: FromPath[str], key: FromPath[str], data: JSONBody[LessonPatch]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.patch_lesson(key, data), "lesson refused"
        )

    @delete(
        f"{DRAFT}/lessons/{{key:str}}",
        opt=EDIT,
        status_code=200,
        summary="Remove a lesson from the draft",
    )
    async def delete_lesson(
        self, state: State, track: FromPath[str], key: FromPath[str]
    ) -> VersionContent:
        return await curriculum.edit_draft(
            state.db, track, curriculum.delete_lesson(key), "change refused"
        )
