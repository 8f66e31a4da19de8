"""Long shots: clips chained past Seedance's 15 s, each from the last frame of the one before,
every seam measured before the next payment, stitched into one MP4.

    seq = studio.sequence(["a fox in snow", ("it runs into the forest", 15), "night falls"])
    seq.seams, seq.retake(2), seq.stitch(), seq.plot()

It sits at the runtime's level: it uses the Studio and Job, and the widgets build on it.
"""

from ._seams import THRESHOLDS, Seam
from ._sequence import Sequence
from ._shots import Shot

__all__ = ["THRESHOLDS", "Seam", "Sequence", "Shot"]
