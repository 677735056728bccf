"""HTTP security headers shared by every page the bot serves (web chat and staff console)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

# No inline script or style anywhere, no framing, no third-party origin: citizen text shown
# in a page can never run (https://developer.mozilla.org/docs/Web/HTTP/CSP).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def csp_allowing_scripts(origins: tuple[str, ...]) -> str:
    """The pages' CSP with scripts also from ``origins`` (e.g. WeChat's JS-SDK)."""
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    return csp.replace("script-src 'self'", " ".join(("script-src 'self'", *origins)))


def same_origin(request: web.Request) -> bool:
    """Whether a form post comes from this site (no ``Origin``: not a cross-site browser
    request, as not every browser sends it on same-origin posts)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.host
