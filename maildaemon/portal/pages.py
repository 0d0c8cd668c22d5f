"""(issue 19: to be written)"""

from __future__ import annotations

from starlette.routing import BaseRoute

from maildaemon.portal.context import PortalContext


def routes(ctx: PortalContext) -> list[BaseRoute]:
    return []
