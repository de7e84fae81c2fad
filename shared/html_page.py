"""The frame of a page a patient opens from a link (a lesson, their record): small and
fast for basic phones, inline CSS, no scripts and no external assets (nothing to fetch,
nothing to leak the link to), never cached, never indexed, never framed."""

from __future__ import annotations

from html import escape

from litestar import Response
from litestar.enums import MediaType

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


def document(language: str, title: str, style: str, content: str, status: int) -> Response[str]:
    """A whole page; `content` is HTML whose every text the caller escaped."""
    html = (
        f'<!doctype html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><main>{content}</main></body></html>"
    )
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=PAGE_HEADERS)
