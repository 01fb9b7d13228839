"""press: turn conda packages into Python wheels.

The library API: :func:`convert` (one Python) or :func:`convert_pythons`
(several, or ``all``) with :class:`ConvertOptions`, returning a
:class:`ConversionReport`; :func:`convert_channel` with :class:`BatchOptions`
for a whole channel, returning a :class:`BatchReport`; every error press
raises on purpose is a :class:`PressError`.
"""

__version__ = "0.2.0"

from .batch import BatchOptions, BatchReport, convert_channel  # noqa: E402
from .convert import ConvertOptions, convert, convert_pythons  # noqa: E402
from .errors import PressError  # noqa: E402
from .report import ConversionReport, WheelReport  # noqa: E402

__all__ = [
    "BatchOptions", "BatchReport", "ConversionReport", "ConvertOptions", "PressError", "WheelReport", "__version__",
    "convert", "convert_channel", "convert_pythons",
]
