"""What the harness knows of a gateway phone over ADB: the real app and Android's settings.

The gateway app is github.com/Varyshop/sms-gateway-app, tag v1.7.1 (commit 84529ed):

- its package is ``com.varyshop.smsgatewayapp``: ``android/app/build.gradle:92``
  (``applicationId``; ``app.json:14`` says the same), version name 1.7.1 at
  ``android/app/build.gradle:96``;
- it requests the permissions of ``android/app/src/main/AndroidManifest.xml`` lines 2-22
  (:data:`MANIFEST_PERMISSIONS`). Of those, the ones a gateway phone cannot work without are
  the runtime permissions of :data:`NEEDED_PERMISSIONS` (send, receive, read the SIMs and
  their numbers, the camera that scans the pairing QR code), and ``WRITE_SECURE_SETTINGS``,
  which only ADB can grant (the app's README, "SMS limit setting") and with which the app
  raises Android's SMS cap;
- its boot receiver logs ``Boot completed, starting SMS Gateway Service`` under the tag
  ``BootReceiver`` (``modules/gateway-service/.../BootReceiver.kt:15,27``);
- its service logs under the tag ``SmsGatewayService`` (``SmsGatewayService.kt:52``) the
  lines of :data:`LOG_LINES`, each cited there by line (``GS`` = that file, in
  ``modules/gateway-service/android/src/main/java/expo/modules/gatewayservice/``).

Android's outgoing-SMS cap is read from two global settings (reference
``android-and-testing.md`` §A5.1), once per boot.
"""

from __future__ import annotations

__all__ = [
    "APP_ACTIVITY",
    "APP_PACKAGE",
    "APP_SCHEMES",
    "APP_TAG",
    "APP_VERSION",
    "APP_VERSION_CODE",
    "BOOT_LOG",
    "LOG_LINES",
    "MANIFEST_PERMISSIONS",
    "NEEDED_PERMISSIONS",
    "SCANNER_URI",
    "SMS_CAP_COUNT",
    "SMS_CAP_INTERVAL",
    "WRITE_SECURE_SETTINGS",
    "app_url",
    "short_permission",
]

APP_PACKAGE = "com.varyshop.smsgatewayapp"
APP_VERSION = "1.7.1"
APP_VERSION_CODE = 2  # android/app/build.gradle:95
APP_ACTIVITY = ".MainActivity"  # AndroidManifest.xml:40, the launcher activity
# The URI schemes MainActivity views (AndroidManifest.xml:45-51; app.json "scheme"); the
# path is an expo-router route: smsgateway://qr-scanner opens app/qr-scanner.tsx.
APP_SCHEMES = ("smsgateway", "exp+sms-gateway-app")
SCANNER_URI = "smsgateway://qr-scanner"
BOOT_LOG = ("BootReceiver", "Boot completed, starting SMS Gateway Service")
APP_TAG = "SmsGatewayService"
# The service's log lines that carry what the app did, as ``str.format`` templates of the
# Kotlin string templates (the field names are ours).
LOG_LINES = {
    "start": "Starting SMS Gateway Service",  # GS:337, startGateway
    "found": "Found {count} pending SMS",  # GS:873, a poll's answer
    "submitted": "SMS {sms_id}: submitted {parts} part(s) to SmsManager",  # GS:934
    "refused": "Failed to submit SMS {sms_id} to SmsManager",  # GS:940, SmsManager threw
    "part_ok": "SMS {sms_id} part {part}/{total}: SENT OK",  # GS:419
    "part_failed": "SMS {sms_id} part {part}/{total}: SEND FAILED ({reason})",  # GS:424
    "confirmed": "Server confirmed {count} SMS statuses",  # GS:594, a status sync
    # GS:673-674, the 30 s sweep of trackers older than 60 s
    "swept": "SMS {sms_id}: stale tracker resolved as {status} ({sent}/{total} parts reported)",
    "reconciled": "Reconcile: marked {count} as already confirmed",  # GS:712
}

_P = "android.permission."
MANIFEST_PERMISSIONS = tuple(
    _P + name
    for name in (
        "CAMERA",
        "FOREGROUND_SERVICE",
        "FOREGROUND_SERVICE_SPECIAL_USE",
        "INTERNET",
        "POST_NOTIFICATIONS",
        "READ_EXTERNAL_STORAGE",
        "READ_PHONE_NUMBERS",
        "READ_PHONE_STATE",
        "READ_SMS",
        "RECEIVE_BOOT_COMPLETED",
        "RECEIVE_SMS",
        "RECORD_AUDIO",
        "REQUEST_IGNORE_BATTERY_OPTIMIZATIONS",
        "SCHEDULE_EXACT_ALARM",
        "SEND_SMS",
        "SYSTEM_ALERT_WINDOW",
        "USE_EXACT_ALARM",
        "VIBRATE",
        "WAKE_LOCK",
        "WRITE_EXTERNAL_STORAGE",
        "WRITE_SECURE_SETTINGS",
    )
)
NEEDED_PERMISSIONS = tuple(
    _P + name
    for name in ("SEND_SMS", "RECEIVE_SMS", "READ_PHONE_STATE", "READ_PHONE_NUMBERS", "CAMERA")
)
WRITE_SECURE_SETTINGS = _P + "WRITE_SECURE_SETTINGS"

SMS_CAP_COUNT = "sms_outgoing_check_max_count"
SMS_CAP_INTERVAL = "sms_outgoing_check_interval_ms"


def short_permission(name: str) -> str:
    """``android.permission.SEND_SMS`` -> ``SEND_SMS`` (for tables and messages)."""
    return name.removeprefix(_P)


def app_url(url: str) -> str:
    """The URL the app stores and calls: ``setApiUrl`` rewrites a leading ``http://`` to
    ``https://`` (``src/storage/settings.ts:92``).

    As the app's ``startsWith`` it is case-sensitive: ``HTTP://`` is kept as given.
    """
    return "https://" + url[len("http://") :] if url.startswith("http://") else url
