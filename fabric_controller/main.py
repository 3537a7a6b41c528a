"""Process entry: resolve the database, migrate, build the app, serve with uvicorn.

Background work of the other parts of the controller starts with the app when their
settings enable it. Each part exposes one coroutine function, looked up here by name,
``async def run_in_app(app: FastAPI, stop: asyncio.Event) -> None``, that runs until
``stop`` is set and takes what it needs from ``app.state`` (see ``api.app``):

* ``settings.kube.enabled``      -> ``fabric_controller.kube.runner:run_in_app``
* ``settings.collector.enabled`` -> ``fabric_controller.drift.runner:run_in_app``
"""

from __future__ import annotations

import importlib
import logging
from typing import cast

import uvicorn
from fastapi import FastAPI

from fabric_controller.api.app import Background, create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.database import async_engine, database_url, migrate, session_factory
from fabric_controller.ipamclient import IpamClient
from fabric_controller.logs import configure

log = logging.getLogger("flatnet.controller")

HOOKS = {
    "kube": "fabric_controller.kube.runner:run_in_app",
    "collector": "fabric_controller.drift.runner:run_in_app",
}


def background_work(settings: ControllerSettings) -> list[Background]:
    """The hooks of the parts whose settings say ``enabled``."""
    enabled = {"kube": settings.kube.enabled, "collector": settings.collector.enabled}
    work = []
    for part, target in HOOKS.items():
        if enabled[part]:
            module, _, attr = target.partition(":")
            work.append(cast(Background, getattr(importlib.import_module(module), attr)))
    return work


def ipam_client(settings: ControllerSettings) -> IpamClient:
    return IpamClient(
        settings.ipam_url,
        token=settings.ipam_token(),
        timeout=settings.ipam_timeout_seconds,
        page_limit=settings.ipam_page_limit,
        max_pages=settings.ipam_max_pages,
    )


def build(settings: ControllerSettings) -> FastAPI:
    """Migrate the shared database to head (under the advisory lock) and build the app."""
    url = database_url(settings)
    migrate(url, lock_id=settings.migration_lock_id)
    engine = async_engine(
        url, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_overflow
    )
    return create_app(
        settings,
        sessionmaker=session_factory(engine),
        ipam=ipam_client(settings),
        background=background_work(settings),
    )


def serve(settings: ControllerSettings) -> None:
    """One process: the background loops must not run twice in one replica."""
    configure(settings.log_level)
    app = build(settings)
    log.info(
        "serving the fabric controller", extra={"path": f"http://{settings.host}:{settings.port}"}
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
