"""Reporting the node's BGP sessions to IPAM, which keeps them per node for the fabric controller.

The source is the speaker's own status (:meth:`~node_agent.announcer.Announcer.status`),
the same one ``flatnet agent status`` and the ``flatnet_bgp_*`` metrics show. Every
``bgp.report_interval`` seconds the reporter compares it with what IPAM last accepted and
sends it when something changed (a session state, an error, a prefix count), and in any
case after ``bgp.report_refresh`` seconds, so that IPAM's ``reported_at`` tells the
controller the report is current.

``PUT /v1/nodes/{name}/bgp-sessions`` replaces the node's whole list, so a report whose
reply was lost is simply sent again. A failure is logged, counted
(``flatnet_agent_ipam_errors_total{call="bgp-report"}``), kept in the agent's recent errors
and retried at the next check; reporting never holds up routing or the CNI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ipam_service.schemas import BgpSessionIn
from node_agent.announcer import Announcer, AnnouncerStatus
from node_agent.errors import IpamError
from node_agent.health import Health
from node_agent.ipamclient import IpamClient
from node_agent.metrics import Metrics
from node_agent.parts import Parts

log = logging.getLogger("flatnet.agent.bgpreport")

CALL = "bgp-report"
MAX_ROUNDS = 10**9
"""Bound of the report loop; at one check a second it outlasts any agent."""


def sessions_of(status: AnnouncerStatus) -> list[BgpSessionIn]:
    """The wire form of the speaker's sessions (``since`` 0 means "never changed")."""
    return [
        BgpSessionIn.model_validate(
            {
                "peer": peer.peer,
                "state": peer.state,
                "last_error": peer.last_error[:1024],
                "prefixes_sent": peer.prefixes_sent,
                "prefixes_acknowledged": peer.prefixes_acknowledged,
                "since": datetime.fromtimestamp(peer.since, UTC) if peer.since > 0 else None,
            }
        )
        for peer in status.peers
    ]


class SessionReporter:
    """Sends the speaker's sessions to IPAM when they change, and at least every refresh."""

    def __init__(
        self,
        *,
        announcer: Announcer,
        ipam: IpamClient,
        health: Health,
        metrics: Metrics,
        refresh: float,
        clock: Callable[[], float],
    ) -> None:
        self._announcer = announcer
        self._ipam = ipam
        self._health = health
        self._metrics = metrics
        self._refresh = refresh
        self._clock = clock
        self._last: list[dict[str, Any]] | None = None
        self._last_at = 0.0
        self.reports = 0
        """Reports IPAM accepted."""

    async def report_once(self) -> bool:
        """Send the sessions if they changed or the refresh is due; True if IPAM took them."""
        sessions = sessions_of(self._announcer.status())
        body = [s.model_dump(mode="json") for s in sessions]
        now = self._clock()
        if body == self._last and now - self._last_at < self._refresh:
            return False
        try:
            await self._ipam.report_bgp_sessions(sessions)
        except IpamError as exc:
            return self._failed(str(exc))
        self._last, self._last_at = body, now
        self.reports += 1
        log.debug("BGP sessions reported", extra={"sessions": len(body)})
        return True

    def _failed(self, message: str) -> bool:
        self._metrics.ipam_errors.labels(CALL).inc()
        self._health.error(source=CALL, message=message, now=self._clock())
        log.warning("BGP session report failed", extra={"error": message})
        return False


async def report_sessions(parts: Parts) -> None:
    """The agent's report loop (until cancelled), on the agent's one IPAM client."""
    s = parts.settings
    reporter = SessionReporter(
        announcer=parts.announcer,
        ipam=parts.ipam,
        health=parts.health,
        metrics=parts.metrics,
        refresh=s.bgp.report_refresh,
        clock=parts.clock,
    )
    for _ in range(MAX_ROUNDS):
        if parts.health.registered:  # before that IPAM does not know the node
            await reporter.report_once()
        await asyncio.sleep(s.bgp.report_interval)
