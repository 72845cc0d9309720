"""The test suite's line and Kamailio fixtures, for ``bench/stock_pyvoip_checks.py`` (run by hand)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import rendered_audio  # noqa: F401
from tests.telephony.conftest import open_line, register_line, registrar  # noqa: F401
