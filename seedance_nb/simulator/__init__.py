"""A local Seedance2-compatible server that renders real MP4s.

    sim = seedance_nb.simulator.start(speed=0.05)
    client = seedance_nb.Client(api_key=sim.api_key, base_url=sim.base_url)

or from a shell: python -m seedance_nb.simulator --port 8765 --api-key KEY
"""

from ._config import SimConfig
from ._server import Simulator, start

__all__ = ["SimConfig", "Simulator", "start"]
