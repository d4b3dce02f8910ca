"""A local HTTP server that behaves like the Supermetrics Enterprise API v2 query endpoints.

The tap never imports this package; tests, benchmarks and the demo start it.
"""

from supermetrics_emulator.emulator import Emulator
from supermetrics_emulator.server import EmulatorServer
from supermetrics_emulator.settings import EmulatorSettings

__all__ = ["Emulator", "EmulatorServer", "EmulatorSettings"]
