"""Test helpers that use real sockets on loopback: a fault-injecting HTTP proxy and a static server.

:class:`FaultProxy` sits in front of an HTTP server (a loopback archive, a local DaCHS) and
injects deterministic faults (5xx answers, connection resets, stalls, truncated bodies, added
latency) while counting what it did; :class:`StaticServer` serves a folder over HTTP/1.1.
Both are used by vocloud's tests and benchmarks, and by anyone who wants to see how a run behaves
against an unreliable archive.
"""

from vocloud.testing.faultproxy import FAULT_KINDS, FaultProxy, Faults, ProxyStats, StaticServer

__all__ = ["FAULT_KINDS", "FaultProxy", "Faults", "ProxyStats", "StaticServer"]
