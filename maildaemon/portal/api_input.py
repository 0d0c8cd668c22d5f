"""What the in-app API reads from a request (issue 19, 2), and every way it refuses it.

api.py calls `read_submission` only after the bearer token has been checked, so nothing of
a stranger's body is read. Each refusal is a `Refused` with the status and the JSON the
client gets: `{"error": "..."}`, plus `"field"` naming the field for a 422.

- Size: the body may be as large as a mail (`smtp.max_message_size`), no larger:
  bodylimit.py refuses a larger one (413) for every route, before a byte is read when
  `Content-Length` says so, at the limit for a chunked one. A multipart body also has
  Starlette's limits: at most MAX_FILES files and MAX_FIELDS other
  fields (413 beyond), a text field at most the size limit. The files are built into a
  message of base64 parts, so the spooled message may be a third larger than the body; the
  worker's attachment limits (per file, per ticket, how many) apply to it as to mail and
  refuse files, never the ticket.
- Types: `application/json` (an object) or `multipart/form-data` (fields, and the files as
  parts named `files`); anything else is 415, JSON that does not parse is 400.
- Fields: `email` (one plain address: submit.valid_address), `subject` (one line, at most
  submit.MAX_SUBJECT characters), `description` (at most the size limit in UTF-8) are
  required and non-empty; `queue` is optional, one of submit.QUEUES (default "support").
  A missing, empty, wrongly typed or malformed one is 422 naming it; keys we do not know
  are ignored, so the app may send more than we read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from maildaemon.portal.submit import (
    MAX_SUBJECT,
    QUEUES,
    Submission,
    Upload,
    upload_of,
    valid_address,
)

JSON = "application/json"
MULTIPART = "multipart/form-data"
MAX_FILES = 100  # file parts read from one body; the worker keeps at most its max_files
MAX_FIELDS = 20  # other fields: we read four


class Refused(Exception):
    """The request is refused: `status` and the JSON body `{"error", "field"?}`."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field

    def body(self) -> dict[str, str]:
        return {"error": self.error} | ({"field": self.field} if self.field else {})


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_submission(request: Request, limit: int) -> Submission:
    """The submission in the body, or Refused. The token has been checked."""
    kind = content_type(request)
    if kind not in (JSON, MULTIPART):
        raise Refused(415, f"the body must be {JSON} or {MULTIPART}")
    if kind == JSON:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "the body must be a JSON object")
        return submission_of(data, (), limit)
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS,
                               max_part_size=limit)
    except HTTPException as exc:  # Starlette's word for a multipart it would not parse
        status = 413 if "Too many" in str(exc.detail) else 400
        raise Refused(status, f"the multipart body was refused: {exc.detail}") from None
    try:
        fields: dict[str, object] = {}
        files: list[Upload] = []
        for name, value in form.multi_items():
            if name == "files":
                if not isinstance(value, UploadFile):
                    raise Refused(422, "files must be file parts", "files")
                upload = await upload_of(value)
                if upload is not None:
                    files.append(upload)
            elif isinstance(value, UploadFile):
                raise Refused(422, f"{name} must be a text field, not a file", name)
            else:
                fields.setdefault(name, value)
        return submission_of(fields, tuple(files), limit)
    finally:
        await form.close()


def text_field(data: Mapping[str, object], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise Refused(422, f"{name} is missing", name)
    if not isinstance(value, str):
        raise Refused(422, f"{name} must be a string", name)
    if not value.strip():
        raise Refused(422, f"{name} is empty", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in JSON) is no text to mail
        raise Refused(422, f"{name} is not valid Unicode text", name) from None
    return value


def submission_of(data: Mapping[str, object], files: tuple[Upload, ...],
                  limit: int) -> Submission:
    address = valid_address(text_field(data, "email"))
    if address is None:
        raise Refused(422, "email is not an email address", "email")
    subject = text_field(data, "subject")
    if len(subject) > MAX_SUBJECT:
        raise Refused(422, f"subject is longer than {MAX_SUBJECT} characters", "subject")
    description = text_field(data, "description")
    if len(description.encode("utf-8")) > limit:
        raise Refused(422, f"description is over {limit} bytes", "description")
    queue = data.get("queue")
    if queue is None or queue == "":  # absent, null or empty: the support queue
        queue = "support"
    if not isinstance(queue, str) or queue not in QUEUES:
        raise Refused(422, f"queue must be one of {', '.join(QUEUES)}", "queue")
    return Submission(email=address, subject=subject, text=description, queue=queue,
                      files=files, door="api")


def address_param(request: Request) -> str:
    """The `email` of a query string, as valid_address has it; Refused(422) otherwise."""
    given = request.query_params.get("email")
    if not given or not given.strip():
        raise Refused(422, "email is missing", "email")
    address = valid_address(given)
    if address is None:
        raise Refused(422, "email is not an email address", "email")
    return address
