"""The benchmark suite of websockets_sync: ``python -m bench``.

Modules:

- :mod:`bench.__main__`: the command line; runs scenarios, prints and saves the report.
- :mod:`bench.scenarios`: one module per scenario (pair, server, client,
  concurrency, compression, idle).
- :mod:`bench.peers`: one adapter per implementation (server and client).
- :mod:`bench.loadgen`: the fixed lean load generator that drives servers.
- :mod:`bench.fastserver`: the fixed fast server that clients talk to, and the raw TCP echo.
- :mod:`bench.wire`: the minimal WebSocket codec of those two fixed peers.
- :mod:`bench.worker`: the entry point of every benchmark process.
- :mod:`bench.runner`: processes, pinning, interleaving, medians.
- :mod:`bench.targets`: the targets of issue 5, checked against a run.
- :mod:`bench.report`: text table, Markdown, JSON and PNG chart.
- :mod:`bench.profile`: run one cell under py-spy and summarise the hotspots.
"""
