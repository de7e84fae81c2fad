"""`mmt console`: the coordinator console's web server (services/console/)."""

from __future__ import annotations

from services.console.settings import ConsoleSettings
from shared.settings import get_settings


def console() -> None:
    """Run the coordinator console (pages for clinic staff) on CONSOLE_PORT."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "services.console.app:create_app",
        factory=True,
        host=settings.service.service_host,
        port=ConsoleSettings().console_port,
        log_config=None,
        # Behind a TLS proxy the client's scheme and address come from its headers.
        proxy_headers=True,
    )
