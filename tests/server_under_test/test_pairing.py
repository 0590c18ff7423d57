"""QR pairing: the codes decode, with a real QR decoder, to exactly what the app expects.

The app scans ``{"type": "sms_gateway", "url": ..., "api_key": ...}``; every code here is
read back with zxing-cpp, so a code that looks right but does not scan fails the test.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import PIL.Image
import pytest
import zxingcpp

from harness.cli import main
from server_under_test import pairing
from server_under_test.errors import InvalidInput
from tests.conftest import Api

URL = "https://gateway.example.com"


def _decode(image: PIL.Image.Image) -> str:
    """The text of the one QR code in ``image``, as a real decoder reads it.

    Inverted (light on dark) codes are not accepted: not every phone's scanner reads them.
    """
    codes = zxingcpp.read_barcodes(image, try_invert=False)
    assert len(codes) == 1, codes
    assert codes[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(codes[0].text)


def _decode_png(data: bytes) -> str:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return _decode(PIL.Image.open(io.BytesIO(data)))


def _decode_terminal(drawing: str) -> str:
    """Read a half-block drawing as a camera would off a dark terminal: ink is light."""
    halves = {"\u2588": (255, 255), "\u2580": (255, 0), "\u2584": (0, 255), " ": (0, 0)}
    lines = drawing.rstrip("\n").split("\n")
    width = len(lines[0])
    assert all(len(line) == width for line in lines)
    pixels: list[int] = []
    for line in lines:
        cells = [halves[ch] for ch in line]
        pixels += [top for top, _ in cells] + [bottom for _, bottom in cells]
    image = PIL.Image.new("L", (width, 2 * len(lines)))
    image.putdata(pixels)
    return _decode(image.resize((width * 8, len(lines) * 16), PIL.Image.Resampling.NEAREST))


def _expected(url: str, api_key: str) -> dict[str, str]:
    return {"type": "sms_gateway", "url": url, "api_key": api_key}


def _fields(text: str) -> list[tuple[str, Any]]:
    """The payload's keys and values in order (the app expects exactly these three)."""
    return list(json.loads(text).items())


# -- the module --------------------------------------------------------------------------


def test_payload_has_exactly_the_three_keys_in_order():
    text = pairing.pairing_payload(URL + "/", "k" * 43)
    assert _fields(text) == list(_expected(URL, "k" * 43).items())


def test_png_and_terminal_codes_decode_to_the_payload():
    text = pairing.pairing_payload("http://192.168.1.20:8069", "abc-DEF_123" * 4)
    assert _decode_png(pairing.qr_png(text)) == text
    assert _decode_terminal(pairing.qr_terminal(text)) == text


def test_png_uses_error_correction_m():
    text = pairing.pairing_payload(URL, "key")
    codes = zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(pairing.qr_png(text))))
    assert codes[0].ec_level == "M"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "gateway.example.com",
        "ftp://gateway.example.com",
        "https://",
        "http:///path",
        "https://gateway.example.com:99999",
        "https://gateway.example.com/?x=1",
        "https://gateway.example.com/#top",
        "https://gate way.example.com",
        "https://" + "a" * 3000 + ".com",
    ],
)
def test_a_url_that_is_not_http_with_a_host_is_refused(url):
    with pytest.raises(InvalidInput) as caught:
        pairing.pairing_payload(url, "key")
    assert caught.value.message.endswith(".")


# -- admin API ---------------------------------------------------------------------------


def _png(api: Api, phone_id: int, expect: int = 200, **params: Any) -> Any:
    return api.admin("GET", f"/phones/{phone_id}/pairing.png", expect, params=params)


def test_png_endpoint_holds_the_current_key_also_after_rotation(api):
    phone = api.phone(online=False)
    response = _png(api, phone["id"], url=URL)
    assert response.headers["content-type"] == "image/png"
    text = _decode_png(response.content)
    assert _fields(text) == list(_expected(URL, phone["api_key"]).items())

    rotated = api.admin("POST", f"/phones/{phone['id']}/api-key", 200).json()
    assert rotated["api_key"] != phone["api_key"]
    text = _decode_png(_png(api, phone["id"], url=URL).content)
    assert json.loads(text) == _expected(URL, rotated["api_key"])


def test_json_endpoint_gives_the_payload_and_a_scannable_terminal_code(api):
    phone = api.phone(online=False)
    body = api.admin("GET", f"/phones/{phone['id']}/pairing", 200, params={"url": URL}).json()
    assert body["success"] is True
    assert list(body["payload"].items()) == list(_expected(URL, phone["api_key"]).items())
    assert json.loads(_decode_terminal(body["terminal"])) == body["payload"]


def test_url_defaults_to_the_request_base_url(api):
    phone = api.phone(online=False)
    body = api.admin("GET", f"/phones/{phone['id']}/pairing", 200).json()
    assert body["payload"]["url"] == "http://testserver"
    assert json.loads(_decode_png(_png(api, phone["id"]).content))["url"] == "http://testserver"


@pytest.mark.parametrize("suffix", ["pairing", "pairing.png"])
def test_a_bad_url_is_422(api, suffix):
    phone = api.phone(online=False)
    response = api.admin(
        "GET", f"/phones/{phone['id']}/{suffix}", 422, params={"url": "ftp://example.com"}
    )
    assert "http:// or https://" in response.json()["error"]


@pytest.mark.parametrize("suffix", ["pairing", "pairing.png"])
def test_an_unknown_phone_is_404_naming_it(api, suffix):
    response = api.admin("GET", f"/phones/4242/{suffix}", 404)
    assert "4242" in response.json()["error"]


@pytest.mark.parametrize("suffix", ["pairing", "pairing.png"])
def test_an_archived_phone_is_409_until_reactivated(api, suffix):
    phone = api.phone(online=False)
    api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"active": False})
    response = api.admin("GET", f"/phones/{phone['id']}/{suffix}", 409)
    assert "re-activate" in response.json()["error"]
    api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"active": True})
    api.admin("GET", f"/phones/{phone['id']}/{suffix}", 200)


def test_openapi_documents_the_png_content_type(api):
    doc = api.client.get("/openapi.json").json()
    ok = doc["paths"]["/admin/phones/{phone_id}/pairing.png"]["get"]["responses"]["200"]
    assert "image/png" in ok["content"]
    url_param = doc["paths"]["/admin/phones/{phone_id}/pairing"]["get"]["parameters"]
    assert any(p["name"] == "url" and "https" in p["description"] for p in url_param)


# -- hil pair ----------------------------------------------------------------------------


def _db(api: Api) -> str:
    return str(api.client.app.state.gateway.db.url)


def test_hil_pair_prints_the_payload_and_writes_a_png(api, tmp_path, capsys):
    phone = api.phone(online=False)
    png = tmp_path / "pair.png"
    code = main(["pair", str(phone["id"]), "--db", _db(api), "--png", str(png), "--url", URL])
    assert code == 0
    out = capsys.readouterr().out
    expected = pairing.pairing_payload(URL, phone["api_key"])
    assert expected in out.splitlines()
    assert _decode_png(png.read_bytes()) == expected
    # The terminal code printed before the JSON scans too.
    drawing = out[: out.index(expected)].strip("\n")
    assert _decode_terminal(drawing) == expected


def test_hil_pair_defaults_to_the_local_server_url(api, capsys):
    phone = api.phone(online=False)
    assert main(["pair", str(phone["id"]), "--db", _db(api)]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out.strip().splitlines()[-1])
    assert payload == _expected("http://127.0.0.1:8069", phone["api_key"])
    assert "https://" in captured.err  # the note on the app's http -> https rewrite


@pytest.mark.parametrize("ref", ["name", "phone_number", "national"])
def test_hil_pair_finds_a_phone_by_name_or_number(api, capsys, ref):
    api.phone(online=False)
    phone = api.phone(online=False, name="Desk phone", phone_number="+420777123456")
    value = {"name": "Desk phone", "phone_number": "+420777123456", "national": "777 123 456"}
    assert main(["pair", value[ref], "--db", _db(api), "--url", URL]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["api_key"] == phone["api_key"]


def test_hil_pair_unknown_phone_exits_2_with_one_line(api, capsys):
    api.phone(online=False)
    assert main(["pair", "no such phone", "--db", _db(api)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hil pair: ")
    assert "'no such phone'" in lines[0]
    assert "GET /admin/phones" in lines[0]


def test_hil_pair_refuses_an_archived_phone(api, capsys):
    phone = api.phone(online=False)
    api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"active": False})
    assert main(["pair", str(phone["id"]), "--db", _db(api)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "archived" in lines[0]


def test_hil_pair_names_an_ambiguous_name(api, capsys):
    first = api.phone(online=False, name="Twin")
    second = api.phone(online=False, name="Twin")
    assert main(["pair", "Twin", "--db", _db(api)]) == 2
    err = capsys.readouterr().err
    assert f"({first['id']}, {second['id']})" in err


def test_hil_pair_does_not_create_a_missing_sqlite_file(tmp_path: Path, capsys):
    missing = tmp_path / "nothing.sqlite3"
    assert main(["pair", "1", "--db", str(missing)]) == 2
    assert not missing.exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
