"""The commands of the test double's shell, answering in the real tools' formats.

Each command reads or changes the :class:`~.phone.PhoneModel` and prints what Android's tool
prints (sources named at each):

- ``getprop [NAME [DEFAULT]]``: the value, or ``[name]: [value]`` lines;
- ``pm list packages [-3|-s|-U] [FILTER]`` (``package:NAME`` lines), ``pm path``,
  ``pm grant|revoke PKG PERM`` (silent; a refusal is printed as ``BasicShellCommandHandler``
  prints an exception: an empty line, ``Exception occurred while executing 'grant':``, the
  exception and a stack frame, status 255), ``pm install [-r -t -g -d] FILE`` (``Success``
  or ``Failure [CODE: ...]``), ``pm uninstall``; ``cmd package`` is the same;
- ``settings [--user N] get|put|delete|list NAMESPACE ...`` (``null`` for a missing key);
- ``dumpsys battery|deviceidle|package`` (``dumpsys.py``);
- ``content query --uri content://sms[/BOX] [--projection a:b] [--where W] [--sort S]``:
  ``Row: N col=value, ...`` lines, ``NULL`` for null, ``No result found.`` for none
  (``cmds/content/.../Content.java``, ``QueryCommand``);
- ``svc data|wifi enable|disable``, ``cmd phone data enable|disable``,
  ``cmd connectivity airplane-mode [enable|disable]`` (without an argument it prints
  ``enabled`` or ``disabled``);
- ``am force-stop PKG``, ``am start -n PKG/ACTIVITY``, ``am start -a VIEW -d URI PKG``,
  ``pidof PKG``, ``reboot``, ``rm``;
- ``toybox nc`` / ``nc`` (``network.py``): a TCP connect from the phone;
- ``logcat -d [-v threadtime|time|brief] [-v epoch] [--pid=N] [TAG:LEVEL ...]`` and
  ``logcat -c``; ``threadtime`` lines are ``MM-DD HH:MM:SS.mmm  PID  TID L TAG     : message``
  (``"%s %s%5d %5d %c %-8.*s: "`` in ``liblog/logprint.cpp`` ``android_log_formatLogLine``,
  system/logging tags android-12.0.0_r1 and android-14.0.0_r1), with ``-v epoch`` the seconds
  since 1970 right-aligned in 19 columns (``"%19lld"``) then ``.mmm`` for the date.
  The double does not stream: ``logcat`` without ``-d`` is refused.

A ``pm install`` reads the APK's ``AndroidManifest.xml``; a real APK's manifest is binary
XML, which this double does not decode, so it installs only APKs whose manifest is text
(``package``, ``android:versionName``, ``android:versionCode``, ``uses-permission``): tests
build such files. A real phone installs real APKs.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET  # the test's own APK, over loopback
import zipfile
from collections.abc import Callable

from .dumpsys import deviceidle, dumpsys
from .network import nc, toybox
from .phone import RUNTIME, AndroidError, PhoneModel
from .provider import BOXES, QueryError
from .shell import NOT_FOUND, SH, Outcome

__all__ = ["COMMANDS", "run_command"]

Handler = Callable[[PhoneModel, list[str]], Outcome]
_ANDROID = "{http://schemas.android.com/apk/res/android}"
_LEVELS = "VDIWEFS"
VIEW = "android.intent.action.VIEW"


def run_command(model: PhoneModel, argv: list[str]) -> Outcome:
    """Run one command (not a shell builtin) against ``model``."""
    name = argv[0].rsplit("/", 1)[-1] if argv[0].startswith("/system/") else argv[0]
    handler = COMMANDS.get(name)
    if handler is None:
        return Outcome(f"{SH}: {argv[0]}: inaccessible or not found\n", NOT_FOUND)
    return handler(model, argv[1:])


def _exception(verb: str, exc: AndroidError, frame: str) -> Outcome:
    return Outcome(
        f"\nException occurred while executing '{verb}':\n{exc.java_class}: {exc.message}\n"
        f"\tat {frame}\n",
        255,
    )


def getprop(model: PhoneModel, args: list[str]) -> Outcome:
    """``getprop [NAME [DEFAULT]]``."""
    props = model.props()
    if not args:
        return Outcome("".join(f"[{key}]: [{value}]\n" for key, value in sorted(props.items())))
    return Outcome(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")


def pm(model: PhoneModel, args: list[str]) -> Outcome:
    """``pm list packages|path|grant|revoke|install|uninstall``."""
    if not args:
        return Outcome("usage: pm [list|path|grant|revoke|install|uninstall] ...\n", 1)
    verb, rest = args[0], args[1:]
    if verb == "list" and rest[:1] == ["packages"]:
        return _list_packages(model, rest[1:])
    if verb == "path" and len(rest) == 1:
        pkg = model.packages.get(rest[0])
        if pkg is None:
            return Outcome(status=1)
        return Outcome(f"package:/data/app/~~hil/{pkg.name}-1/base.apk\n")
    if verb in ("grant", "revoke"):
        if len(rest) != 2:
            return Outcome(
                f"Error: no package or permission specified\nusage: pm {verb} PKG PERM\n", 255
            )
        try:
            model.set_permission(rest[0], rest[1], verb == "grant")
        except AndroidError as exc:
            return _exception(
                verb,
                exc,
                "com.android.server.pm.PackageManagerShellCommand.runGrantRevokePermission"
                "(PackageManagerShellCommand.java)",
            )
        return Outcome()
    if verb == "install":
        return _install(model, rest)
    if verb == "uninstall" and len(rest) == 1:
        if model.packages.pop(rest[0], None) is None:
            return Outcome("Failure [DELETE_FAILED_INTERNAL_ERROR]\n", 1)
        model.user_allowlist.discard(rest[0])
        return Outcome("Success\n")
    return Outcome(f"Unknown command: {verb}\n", 255)


def _list_packages(model: PhoneModel, args: list[str]) -> Outcome:
    options = {arg for arg in args if arg.startswith("-")}
    words = [arg for arg in args if not arg.startswith("-")]
    needle = words[-1] if words else ""
    lines = []
    for pkg in model.packages.values():
        if ("-3" in options and pkg.system) or ("-s" in options and not pkg.system):
            continue
        if needle in pkg.name:
            lines.append(f"package:{pkg.name}" + (f" uid:{pkg.uid}" if "-U" in options else ""))
    return Outcome("".join(line + "\n" for line in lines))


def _install(model: PhoneModel, args: list[str]) -> Outcome:
    flags, paths = [], []
    for arg in args:
        if arg in ("-r", "-t", "-g", "-d", "-f"):
            flags.append(arg)
        elif arg.startswith("-"):
            return Outcome(f"Error: Unknown option: {arg}\n", 1)
        else:
            paths.append(arg)
    if len(paths) != 1:
        return Outcome("Error: must either specify a package size or an APK file\n", 255)
    path = paths[0]
    if not model.profile.install_over_usb:
        return Outcome("Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]\n", 1)
    data = model.files.read(path)
    if data is None:
        return Outcome(
            f"Error: Unable to open file: {path}\nConsider using a file under /data/local/tmp/\n",
            1,
        )
    try:
        name, version, code, requested = _manifest(data)
    except ValueError as exc:
        return Outcome(f"Failure [{exc}]\n", 1)
    old = model.packages.get(name)
    if old is not None and code < old.version_code and "-d" not in flags:
        return Outcome(
            "Failure [INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version "
            f"code {code} is older than current {old.version_code}]\n",
            1,
        )
    package = model.install(name, version, code, requested)
    if "-g" in flags:
        package.granted |= {perm for perm in requested if perm in RUNTIME}
    return Outcome("Success\n")


def _manifest(apk: bytes) -> tuple[str, str, int, tuple[str, ...]]:
    """(package, versionName, versionCode, permissions) of an APK with a text manifest."""
    try:
        with zipfile.ZipFile(io.BytesIO(apk)) as archive:
            text = archive.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError):
        raise ValueError(
            "INSTALL_PARSE_FAILED_NOT_APK: Failed to parse: not an APK (no zip archive "
            "with an AndroidManifest.xml)"
        ) from None
    if text[:2] == b"\x03\x00":  # RES_XML_TYPE: compiled binary XML
        raise ValueError(
            "INSTALL_PARSE_FAILED_UNEXPECTED_EXCEPTION: the HIL test double reads text "
            "manifests only; it is not a phone (install a real APK on a real one)"
        )
    try:
        root = ET.fromstring(text)  # noqa: S314 - the test's own file, not the network's
        name = root.attrib["package"]
        version = root.attrib.get(_ANDROID + "versionName", "1.0")
        code = int(root.attrib.get(_ANDROID + "versionCode", "1"))
    except (ET.ParseError, KeyError, ValueError):
        raise ValueError(
            "INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: <manifest> needs package and a numeric "
            "android:versionCode"
        ) from None
    requested = tuple(
        node.attrib[_ANDROID + "name"]
        for node in root.iter("uses-permission")
        if _ANDROID + "name" in node.attrib
    )
    return name, version, code, requested


def settings(model: PhoneModel, args: list[str]) -> Outcome:
    """``settings [--user N] get|put|delete|list NAMESPACE [KEY [VALUE]]``."""
    if args[:1] == ["--user"]:
        args = args[2:]
    if len(args) < 2:
        return Outcome("usage: settings [--user N] get|put|delete|list NAMESPACE ...\n", 255)
    verb, namespace, rest = args[0], args[1], args[2:]
    table = model.settings.get(namespace)
    if table is None:
        return Outcome(f"Invalid namespace '{namespace}'\n", 255)
    if verb == "get" and len(rest) == 1:
        return Outcome(table.get(rest[0], "null") + "\n")
    if verb == "list" and not rest:
        return Outcome("".join(f"{key}={value}\n" for key, value in sorted(table.items())))
    if verb in ("put", "delete") and len(rest) >= (2 if verb == "put" else 1):
        existed = rest[0] in table
        try:
            model.put_setting(namespace, rest[0], rest[1] if verb == "put" else None)
        except AndroidError as exc:
            return _exception(
                verb,
                exc,
                "com.android.providers.settings.SettingsProvider.enforceWritePermission"
                "(SettingsProvider.java)",
            )
        return Outcome(f"Deleted {int(existed)} rows\n" if verb == "delete" else "")
    return Outcome(f"Invalid command: {verb}\n", 255)


def _switch(model: PhoneModel, key: str, args: list[str], usage: str) -> Outcome:
    # svc and cmd phone/connectivity go through their services, not the settings
    # provider: a vendor that guards ``settings put`` still lets them through.
    if args not in (["enable"], ["disable"]):
        return Outcome(usage, 1)
    model.switch(key, args == ["enable"])
    return Outcome()


def svc(model: PhoneModel, args: list[str]) -> Outcome:
    """``svc data|wifi enable|disable``."""
    if args[:1] == ["data"]:
        return _switch(model, "mobile_data", args[1:], "usage: svc data [enable|disable]\n")
    if args[:1] == ["wifi"]:
        return _switch(model, "wifi_on", args[1:], "usage: svc wifi [enable|disable]\n")
    return Outcome("the HIL test double's svc knows data and wifi only\n", 1)


def cmd(model: PhoneModel, args: list[str]) -> Outcome:
    """``cmd connectivity|phone|package|deviceidle|settings ...``."""
    if not args:
        return Outcome("cmd: No service specified; use -l to list all services\n", 20)
    service, rest = args[0], args[1:]
    if service == "connectivity" and rest[:1] == ["airplane-mode"]:
        if len(rest) == 1:
            on = model.settings["global"].get("airplane_mode_on") == "1"
            return Outcome("enabled\n" if on else "disabled\n")
        return _switch(
            model,
            "airplane_mode_on",
            rest[1:],
            "Invalid argument to `airplane-mode`; expected one of enable|disable\n",
        )
    if service == "phone" and rest[:1] == ["data"]:
        return _switch(model, "mobile_data", rest[1:], "usage: cmd phone data enable|disable\n")
    if service == "package":
        return pm(model, rest)
    if service == "deviceidle":
        return deviceidle(model, rest)
    if service == "settings":
        return settings(model, rest)
    return Outcome(f"cmd: Can't find service: {service}\n", 20)


def am(model: PhoneModel, args: list[str]) -> Outcome:
    """``am force-stop PKG``, ``am start [-W] -n PKG/ACTIVITY``, ``am start [-W] -a VIEW -d
    URI PKG`` (Android resolves it to the package's activity for that scheme)."""
    if args[:1] == ["force-stop"] and len(args) == 2:
        if args[1] in model.packages:  # an unknown package is silently ignored
            model.force_stop(args[1])
        return Outcome()
    if args[:1] == ["start"] and "-n" in args[:-1]:
        component = args[args.index("-n") + 1]
        pkg = component.split("/", 1)[0]
        out = f"Starting: Intent {{ cmp={component} }}\n"
        if pkg not in model.packages:
            return Outcome(
                out + f"Error type 3\nError: Activity class {{{component}}} does not exist.\n", 1
            )
        model.start(pkg)
        return Outcome(out)
    if args[:1] == ["start"] and "-a" in args[:-1] and "-d" in args[:-1]:
        action, uri = args[args.index("-a") + 1], args[args.index("-d") + 1]
        pkg = args[-1] if args[-1] not in (action, uri) else ""
        intent = f"Intent {{ act={action} dat={uri}{f' pkg={pkg}' if pkg else ''} }}"
        if action != VIEW or not model.view(pkg, uri):
            return Outcome(f"Error: Activity not started, unable to resolve {intent}\n", 1)
        return Outcome(f"Starting: {intent}\n")
    return Outcome(
        f"the HIL test double's am knows force-stop, start -n and start -a VIEW -d: {args}\n", 1
    )


def reboot(model: PhoneModel, args: list[str]) -> Outcome:
    """``reboot``: the phone boots again; the connection drops on the way."""
    model.boot()
    return Outcome(reboot=True)


def pidof(model: PhoneModel, args: list[str]) -> Outcome:
    """``pidof NAME``: the pid of a package's running process."""
    pids = [str(p.pid) for name in args if (p := model.packages.get(name)) and p.pid is not None]
    return Outcome(" ".join(pids) + "\n" if pids else "", 0 if pids else 1)


def rm(model: PhoneModel, args: list[str]) -> Outcome:
    """``rm [-f] [-r] PATH...``."""
    force = any(arg.startswith("-") and "f" in arg for arg in args)
    out, status = [], 0
    for path in (arg for arg in args if not arg.startswith("-")):
        if not model.files.remove(path) and not force:
            out.append(f"rm: {path}: No such file or directory\n")
            status = 1
    return Outcome("".join(out), status)


def content(model: PhoneModel, args: list[str]) -> Outcome:
    """``content query --uri content://sms[/BOX] [--projection] [--where] [--sort]``."""
    if args[:1] != ["query"]:
        return Outcome("the HIL test double's content runs query only\n", 1)
    options: dict[str, str] = {}
    rest = args[1:]
    for flag, value in zip(rest[::2], rest[1::2], strict=False):
        options[flag] = value
    if len(rest) % 2 or not set(options) <= {
        "--uri",
        "--projection",
        "--where",
        "--sort",
        "--user",
    }:
        return Outcome(f"Error: unknown or incomplete argument in {' '.join(rest)}\n", 1)
    uri = options.get("--uri", "")
    if not uri.startswith("content://"):
        return Outcome("Error: Content provider URI not specified\n", 1)
    authority, _, box = uri.removeprefix("content://").partition("/")
    if authority != "sms" or box.strip("/") not in BOXES:
        return Outcome(
            f"Error while accessing provider:{authority}\njava.lang.IllegalStateException: "
            f"Could not find provider: {authority} (the HIL test double serves content://sms)\n"
        )
    projection = options["--projection"].split(":") if "--projection" in options else None
    try:
        rows = model.sms.query(
            box.strip("/"), projection, options.get("--where"), options.get("--sort")
        )
    except QueryError as exc:
        return Outcome(
            f"Error while accessing provider:sms\nandroid.database.sqlite.SQLiteException: {exc}\n"
        )
    if not rows:
        return Outcome("No result found.\n")
    lines = []
    for index, row in enumerate(rows):
        cells = ", ".join(
            f"{key}={'NULL' if value is None else value}" for key, value in row.items()
        )
        lines.append(f"Row: {index} {cells}\n")
    return Outcome("".join(lines))


def logcat(model: PhoneModel, args: list[str]) -> Outcome:
    """``logcat -d|-c [-v FORMAT] [-b BUFFER] [--pid=N] [-s] [TAG:LEVEL ...]``."""
    dump = clear = epoch = False
    form, pid, buffer = "threadtime", None, "main"
    specs: dict[str, str] = {}
    items = iter(args)
    for arg in items:
        if arg == "-d":
            dump = True
        elif arg == "-c":
            clear = True
        elif arg in ("-v", "-b"):
            value = next(items, "")
            if arg == "-v" and value == "epoch":
                epoch = True  # a modifier: seconds since 1970 instead of the date
            else:
                form, buffer = (value, buffer) if arg == "-v" else (form, value)
        elif arg.startswith("--pid="):
            pid = int(arg[6:]) if arg[6:].isdigit() else -1
        elif arg == "-s":
            specs["*"] = "S"
        elif arg.startswith("-"):
            return Outcome(f"logcat: the HIL test double does not know the option {arg}\n", 1)
        else:
            tag, _, level = arg.partition(":")
            specs[tag] = (level or "V").upper()[:1]
    if clear:
        model.log_lines.clear()
        return Outcome()
    if not dump:
        return Outcome(
            "logcat: the HIL test double prints its log with -d only; it does not stream\n", 1
        )
    if form not in _FORMATS:
        return Outcome(f'logcat: Invalid parameter "-v {form}"\n', 1)
    if buffer not in ("main", "all", "default"):
        return Outcome()  # radio, events, crash: empty here
    lines = ["--------- beginning of main\n"]
    for line in model.log_lines:
        floor = specs.get(line.tag, specs.get("*", "V"))
        if (pid is not None and line.pid != pid) or _LEVELS.index(line.level) < _LEVELS.index(
            floor
        ):
            continue
        if epoch:  # logprint.cpp: "%19lld" seconds, then ".%03ld" milliseconds
            ms = round(model.wall(line.t).timestamp() * 1000)
            stamp = f"{ms // 1000:19d}.{ms % 1000:03d}"
        else:
            stamp = model.wall(line.t).strftime("%m-%d %H:%M:%S.%f")[:-3]
        lines.append(_FORMATS[form].format(stamp=stamp, l=line) + "\n")
    return Outcome("".join(lines))


_FORMATS = {
    "threadtime": "{stamp} {l.pid:5d} {l.tid:5d} {l.level} {l.tag:<8}: {l.message}",
    "time": "{stamp} {l.level}/{l.tag:<8}({l.pid:5d}): {l.message}",
    "brief": "{l.level}/{l.tag:<8}({l.pid:5d}): {l.message}",
}


def device_config(model: PhoneModel, args: list[str]) -> Outcome:
    """``device_config list NAMESPACE``: the flags set on the device; the double has none."""
    if len(args) == 2 and args[0] == "list":
        return Outcome()
    return Outcome("usage: device_config list NAMESPACE\n", 1)


COMMANDS: dict[str, Handler] = {
    "am": am,
    "cmd": cmd,
    "content": content,
    "device_config": device_config,
    "dumpsys": dumpsys,
    "getprop": getprop,
    "logcat": logcat,
    "nc": nc,
    "pidof": pidof,
    "pm": pm,
    "reboot": reboot,
    "rm": rm,
    "settings": settings,
    "svc": svc,
    "toybox": toybox,
}
