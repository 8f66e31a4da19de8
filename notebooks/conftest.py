"""Run the notebooks against the simulator at a high speed, in a scratch ledger and outputs
folder, without editing the notebooks: the kernels inherit these variables."""

import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="seedance-notebooks-")
os.environ.pop("SEEDANCE_API_KEY", None)
os.environ["SEEDANCE_SIM_SPEED"] = "0.01"
os.environ["SEEDANCE_LEDGER"] = os.path.join(_scratch, "ledger.sqlite")
os.environ["SEEDANCE_OUTPUTS"] = os.path.join(_scratch, "outputs")
