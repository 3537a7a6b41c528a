"""The app's life: background work starts with it and stops with it; the hooks resolve."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.drift import runner as drift_runner
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube import runner as kube_runner
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.main import background_work


def test_hooks_follow_the_settings() -> None:
    assert background_work(ControllerSettings()) == []
    both = ControllerSettings(
        kube=KubeSettings(enabled=True), collector=CollectorSettings(enabled=True)
    )
    assert background_work(both) == [kube_runner.run_in_app, drift_runner.run_in_app]


async def test_background_work_runs_for_the_life_of_the_app(
    controller_settings: ControllerSettings,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seen: list[str] = []

    async def polite(app: FastAPI, stop: asyncio.Event) -> None:
        seen.append(f"started with {type(app.state.topology).__name__}")
        await stop.wait()
        seen.append("stopped")

    async def stubborn(app: FastAPI, stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    ipam = IpamClient("http://127.0.0.1:9")
    app = create_app(
        controller_settings,
        sessionmaker=db_sessionmaker,
        ipam=ipam,
        background=[polite, stubborn],
        stop_grace_seconds=0.2,
    )
    before = asyncio.all_tasks()
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.05)
        assert seen == ["started with TopologyRegistry"]
    assert seen == ["started with TopologyRegistry", "stopped", "cancelled"]
    assert asyncio.all_tasks() - before == set()  # nothing leaked
