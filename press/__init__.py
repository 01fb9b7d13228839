"""press: turn conda packages into Python wheels.

The library API: :func:`convert` with :class:`ConvertOptions`, returning a
:class:`ConversionReport`; every error press raises on purpose is a
:class:`PressError`.
"""

__version__ = "0.1.0"

from .convert import ConvertOptions, convert  # noqa: E402
from .errors import PressError  # noqa: E402
from .report import ConversionReport, WheelReport  # noqa: E402

__all__ = ["ConversionReport", "ConvertOptions", "PressError", "WheelReport", "__version__", "convert"]
