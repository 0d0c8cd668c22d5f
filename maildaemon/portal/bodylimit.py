"""The request size limit of the portal and the API: `smtp.max_message_size`, the limit of
a message by mail, since every submission becomes one (a little larger once encoded, which
the worker's own limits then judge as for mail).

A request that declares a larger `Content-Length` is answered 413 before its body is read;
one that streams more than the limit without declaring it (chunked) is cut off at the limit
and answered 413 the same way, so no route ever holds more than the limit in memory. The
API's answer is its JSON error (`{"error": ...}`), a page's a line of text.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TooLarge(Exception):
    """Raised into the route by the body reader once the limit is passed."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large(scope, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:
            if not started:
                await self.too_large(scope, send)

    async def too_large(self, scope: Scope, send: Send) -> None:
        words = f"the request body is over the limit of {self.max_bytes} bytes"
        if str(scope["path"]).startswith("/api/"):
            body, kind = json.dumps({"error": words}).encode(), b"application/json"
        else:
            body, kind = f"{words[0].upper()}{words[1:]}.\n".encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", kind),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
