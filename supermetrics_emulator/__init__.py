"""A local HTTP server that behaves like the Supermetrics Enterprise API v2 query endpoints.

The tap never imports this package; tests, benchmarks and the demo start it.
"""

from supermetrics_emulator.server import Emulator, EmulatorServer, EmulatorSettings

__all__ = ["Emulator", "EmulatorServer", "EmulatorSettings"]
