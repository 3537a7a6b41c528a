"""Process entry of ``flatnet agent run``: the agent, its local API, signals.

SIGTERM or SIGINT starts a graceful stop: the socket stops accepting, requests in
flight finish (up to ``shutdown_timeout``), the loops stop, the announcer stops
without withdrawing, and the socket file is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import signal

from node_agent import logs
from node_agent.announcer import Announcer, NullAnnouncer
from node_agent.api import LocalApi, MetricsApi
from node_agent.bgp.speaker import ExabgpSpeaker
from node_agent.config import AgentSettings
from node_agent.daemon import Agent, build_parts
from node_agent.httpserver import HttpServer
from node_agent.metrics import Metrics
from node_agent.peering import with_controller_peers
from node_agent.peerwatch import follow_peers

log = logging.getLogger("flatnet.agent")


def make_speaker(settings: AgentSettings, *, metrics: Metrics) -> ExabgpSpeaker:
    """The ExaBGP speaker of :mod:`node_agent.bgp` for ``settings.bgp_peers``.

    With ``host_netns`` set (labs), ExaBGP runs inside that namespace too.
    """
    wrapper: tuple[str, ...] = ()
    if settings.host_netns and settings.host_netns.startswith("/run/netns/"):
        wrapper = ("ip", "netns", "exec", settings.host_netns.removeprefix("/run/netns/"))
    return ExabgpSpeaker(
        peers=settings.bgp_peers,
        settings=settings.bgp,
        state_dir=settings.state_dir / "bgp",
        node_addresses=[settings.node_ip],
        registry=metrics.registry,
        wrapper=wrapper,
    )


def follow(settings: AgentSettings, speaker: ExabgpSpeaker, metrics: Metrics) -> asyncio.Task[None]:
    """The task that keeps ``speaker`` on the controller's sessions (:mod:`.peerwatch`)."""
    return asyncio.create_task(
        follow_peers(
            settings,
            apply=speaker.set_peers,
            current=settings.bgp_peers,
            registry=metrics.registry,
        ),
        name="flatnet-peer-follow",
    )


async def serve(
    settings: AgentSettings, *, stop: asyncio.Event, announcer: Announcer | None = None
) -> None:
    """Run the agent until ``stop`` is set. With ``controller_url`` set (and no
    ``announcer`` given) the BGP peers come from the fabric controller first."""
    metrics = Metrics()
    speaker: ExabgpSpeaker | None = None
    if announcer is None:
        settings = await with_controller_peers(settings)
        speaker = make_speaker(settings, metrics=metrics) if settings.bgp_peers else None
    agent = Agent(
        build_parts(settings, announcer=announcer or speaker or NullAnnouncer(), metrics=metrics)
    )
    servers: list[HttpServer] = []
    following: asyncio.Task[None] | None = None
    try:
        await agent.start()
        if speaker is not None and settings.controller_url and settings.controller_refresh > 0:
            following = follow(settings, speaker, metrics)
        api = LocalApi(agent)
        local = HttpServer(
            api, max_body=settings.api_max_body, read_timeout=settings.api_read_timeout
        )
        servers.append(local)
        await local.serve_unix(settings.socket_path, mode=settings.socket_mode)
        if settings.metrics_listen:
            host, _, port = settings.metrics_listen.rpartition(":")
            scrape = HttpServer(
                MetricsApi(api), max_body=1024, read_timeout=settings.api_read_timeout
            )
            servers.append(scrape)
            await scrape.serve_tcp(host.strip("[]"), int(port))
        log.info("serving the local API", extra={"socket": str(settings.socket_path)})
        await stop.wait()
        log.info("stopping")
    finally:
        agent.service.stopping = True
        if following is not None:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        for server in servers:
            await server.close(grace=settings.shutdown_timeout)
        await agent.stop()
        with contextlib.suppress(FileNotFoundError):
            if servers:
                settings.socket_path.unlink()


def run(settings: AgentSettings) -> None:
    """Blocking entry: logs, signal handlers, the event loop."""
    logs.setup(level=settings.log_level, node=settings.node_name)
    faulthandler.enable()  # SIGABRT/SIGSEGV print every thread's stack to stderr

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop=stop)

    asyncio.run(main())
