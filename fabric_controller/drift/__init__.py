"""Route drift: the collector's view of the fabric compared with what IPAM says.

=================  ==========================================================================
module             role
=================  ==========================================================================
``runner``         the controller's hook, ``run_in_app(app, stop)``
``endpoints``      ``GET /v1/drift``
``cli``            ``flatnet drift``
``service``        one report: IPAM reads, RIB snapshot, classify, first-seen times, metrics
``collector``      ExaBGP + relay socket + RIB: ``Collector.start()/stop()/rib()``
``supervisor``     the ExaBGP process: restart with backoff, stop by PID
``relay``          the stdlib-only API process ExaBGP runs (stdin/stdout <-> unix socket)
``ipam``           the ``IpamReader`` seam and the translation of IPAM's wire models
``classifier``     pure: missing / rogue / stale / next-hop mismatch
``tracker``        pure: first-seen state across reports
``rib``            pure: paths per ToR from ExaBGP events (ADD-PATH, GR, mark and sweep)
``messages``       pure: ExaBGP 5.0 JSON lines -> events
``exabgpconf``     pure: the collector's ExaBGP config, environment and commands
``schemas``        the API's wire contract
``metrics``        Prometheus gauges and counters
``settings``       ``CollectorSettings`` (``FLATNET_CONTROLLER_COLLECTOR__*``)
=================  ==========================================================================

Nothing is re-exported here: ``fabric_controller.config`` imports ``drift.settings``,
and this package must stay cheap (and cycle-free) to import for that.
"""
