"""The tests' HTTP clients share one TLS context.

httpx builds a new SSL context for every client it makes (and for every module-level
``httpx.get``), loading the CA bundle: about 50 ms of CPU each on the 2-core machine. The
suite makes thousands of short-lived clients against plain ``http://`` gateways, so that was
minutes of CPU a run spent on certificates never used. Every client passes ``verify=TLS``.
"""

from __future__ import annotations

import ssl

TLS = ssl.create_default_context()
