"""The FCM/OAuth2 test double for tests: a re-export of ``harness.fcm_endpoint``.

The double became a harness component (real-time runs hand its pushes to the simulated
FCM); it lives in ``harness/fcm_endpoint.py`` and ``harness/fcm_tls.py``, and tests may
import it from either place.
"""

from __future__ import annotations

from harness.fcm_endpoint import (
    DEFAULT_PROJECT,
    FCM_HOST,
    OAUTH2_HOST,
    TOKEN_URI,
    FcmDouble,
    RecordedRequest,
    SendHook,
    new_service_account_key,
    service_account_info,
)

__all__ = [
    "DEFAULT_PROJECT",
    "FCM_HOST",
    "OAUTH2_HOST",
    "TOKEN_URI",
    "FcmDouble",
    "RecordedRequest",
    "SendHook",
    "new_service_account_key",
    "service_account_info",
]
