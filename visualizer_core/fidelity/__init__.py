"""Product fidelity: is the product in the picture, and is it still the same product.

- :func:`measure` finds the product's cut-out in a picture without being told where (keypoints
  and a homography, else a multi-scale template search), compares only the product's region
  with its photo (colour after the light change is undone, outline and proportions, structure
  and detail), and turns the signals into one calibrated score with reasons a person would give.
- :class:`Calibration` is how the signals become that score and where auto-approve starts, with
  the precision it rests on; :func:`default_calibration` is the shipped one (fitted on the
  project's labelled set by ``python -m visualizer_core.fidelity.fit``) and :func:`calibrate`
  fits one from labelled examples or moves a client's threshold from its review decisions.
- :func:`check_fidelity` and :func:`local_fidelity` are the earlier measures a generation
  stores (the compositor's box, or Gemini's judgement).
"""

from visualizer_core.fidelity.calibration import (
    FEATURES as FIDELITY_SIGNALS,
)
from visualizer_core.fidelity.calibration import (
    MIN_DECISIONS,
    Calibration,
    calibrate,
    default_calibration,
)
from visualizer_core.fidelity.check import (
    FidelityCheck,
    FidelityJudge,
    check_fidelity,
    local_fidelity,
)
from visualizer_core.fidelity.measure import Measurement, measure

__all__ = [
    "FIDELITY_SIGNALS",
    "MIN_DECISIONS",
    "Calibration",
    "FidelityCheck",
    "FidelityJudge",
    "Measurement",
    "calibrate",
    "check_fidelity",
    "default_calibration",
    "local_fidelity",
    "measure",
]
