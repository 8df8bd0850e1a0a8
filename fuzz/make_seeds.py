#!/usr/bin/env python3
"""Writes the fuzz seeds (fuzz/seeds/<target>/) from the repository's sample logs, pipelines
and a few hand-written bulk responses. The seeds are committed; run this again after
changing the samples or the targets' input layouts (see each target's header comment).
Usage: python3 fuzz/make_seeds.py"""

import hashlib
import pathlib
import shutil

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
SEEDS = FUZZ / "seeds"

# examples/access.log lines: ordinary, a Latin-1 user name and user agent, \xHH escapes, a TLS
# handshake as request, "-" request, the `main` format with X-Forwarded-For, nginx error and
# warning lines mixed in (no match), IPv6 addresses.
SAMPLE_LINES = [1, 2, 28, 42, 58, 94, 97, 125, 131, 162, 164, 181, 215, 271, 287, 346]


def sample_lines():
    lines = (REPO / "examples/access.log").read_bytes().split(b"\n")
    return [lines[number - 1] for number in SAMPLE_LINES]


def write(target, name, data):
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def utf16(text, byteorder):
    return text.encode("utf-16-le" if byteorder == "le" else "utf-16-be")


def lines_charset():
    # Header: charset/codec selector, max_line_bytes (0 = 1 MiB), chunk seed (0 = one push).
    # Charset indexes: 0 UTF-8, 1 ISO-8859-1, 3 Shift_JIS, 6 UTF-16LE, 7 UTF-16BE, 5 GBK.
    lines = sample_lines()
    log = b"\n".join(lines[:6]) + b"\n"
    write("lines_charset", "utf8-sample", bytes([0, 0, 0]) + log)
    write("lines_charset", "latin1-sample-chunked", bytes([1, 0, 7]) + b"\n".join(lines[6:12]))
    write("lines_charset", "crlf-bom-empty-lines", bytes([0, 0, 3]) + b"\xef\xbb\xbfa\r\n\r\n\nb\r\nlast\r")
    write("lines_charset", "long-lines-cut", bytes([0, 40, 5]) + lines[0] + b"\n" + lines[13] + b"\nshort\n")
    text = "héllo wörld\r\nsecond line\n\nno newline at the end"
    write("lines_charset", "utf16le-bom", bytes([6, 0, 9]) + b"\xff\xfe" + utf16(text, "le"))
    write("lines_charset", "utf16be-odd-max", bytes([7, 11, 2]) + b"\xfe\xff" + utf16(text, "be") + b"\x00")
    write("lines_charset", "shift-jis", bytes([3, 0, 1]) + "日本語のログ\nabc\n".encode("shift_jis"))
    write("lines_charset", "gbk-invalid-bytes", bytes([5, 0, 0]) + "中文日志\n".encode("gbk") + b"\x81\n\xff\xfe\x00\n")
    json_lines = b'{"message":"hi","@timestamp":"2024-03-05T10:20:30Z"}\n{"@timestamp":5}\n[1,2]\nnot json\n'
    write("lines_charset", "json-codec", bytes([0x10, 0, 4]) + json_lines)


def grok_nginx():
    for number, line in zip(SAMPLE_LINES, sample_lines()):
        write("grok_nginx", f"access-log-line-{number}", line)
    date = "[05/Mar/2024:10:20:30 +0000]"
    tail = '200 12 "-" "curl/8"'
    tricky = [
        f'1.2.3.4 - a [b] c {date} "GET / HTTP/1.1" {tail}',
        f'1.2.3.4 - - {date} "GET /a b HTTP/1.1" {tail}',
        f'1.2.3.4 - - {date} "GET /a HTTP/.5" {tail}',
        f'1.2.3.4 - - {date} "a\\"b" {tail}',
        f'1.2.3.4 - - {date} "GET / HTTP/1.1" 200 - "a\\\\" "\\"-\\""',
        f'1.2.3.4 - - {date} "GET / HTTP/1.1" -200 +5 "-" "-"',
        f'1.2.3.4 - - [5/Mar/2024:10:20:30 +0000] "GET /" {tail}',
        f'1.2.3.4 - - [05/März/24:1:20:30.5 -1] "GET /" {tail}',
        f'café - josé {date} "GET /é HTTP/1.1" 200 1 "é" "Téléphone"',
        f'1.2.3.4 - - {date} "GET / HTTP/1.1" 200 1 "-" "-" "x\\"y"',
    ]
    for index, line in enumerate(tricky):
        write("grok_nginx", f"tricky-{index}", line.encode())


def date():
    # Selector: low 4 bits the format (index in FORMATS), bits 4-6 the zone, bit 7 a pattern.
    seeds = [
        (0x00, "05/Mar/2024:10:20:30 +0100"),
        (0x10, "31/Oct/2027:02:30:00 +0000"),
        (0x01, "2024-03-05T10:00:00.123+01:00"),
        (0x21, "2024-03-31 02:30:00"),
        (0x02, "1709634030.25"),
        (0x03, "-1709634030250"),
        (0x04, "2024-03-05 10:20:30,123"),
        (0x15, "Mar  5 10:20:30"),
        (0x07, "Tue, 05 Mar 2024 10:20:30 +01:00"),
        (0x08, "2024-03-05T10:20:30.123456789Z"),
        (0x09, "05/03/24 10:20:30 PM Europe/Berlin"),
        (0x0A, "20240305102030"),
        (0x3B, "Tuesday, March 5, 2024 10:20 PM"),
        (0x80, "dd/MMM/yyyy:HH:mm:ss.SSS ZZ\n05/Mar/2024:10:20:30.5 +01:00"),
        (0x80, "yy-M-d EEEE h 'o''clock' a ZZZ\n24-3-5 Tuesday 10 o'clock PM America/New_York"),
    ]
    for index, (selector, text) in enumerate(seeds):
        write("date", f"date-{index}", bytes([selector]) + text.encode())


def config():
    for path in sorted(REPO.glob("pipelines/*.toml")):
        write("config", f"pipeline-{path.stem}", path.read_bytes())
    snippets = {
        "grok-inline-definitions": """
[[input]]
type = "file"
path = "${LOGS:-/var/log/app/*.log}"
codec = "json"
charset = "UTF-16LE"
max_line_bytes = 4096

[[filter]]
type = "grok"
match = { message = "%{MYAPP}" }
pattern_definitions = { MYAPP = '%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} \\[%{DATA:thread}\\] took %{NUMBER:took:float}ms' }
add_field = { "event.dataset" = "app.%{level}" }
add_tag = ["parsed", "%{level}"]
remove_field = ["ts"]

[[filter]]
type = "date"
match = ["ts", "ISO8601", "UNIX_MS"]
timezone = "Europe/Berlin"

[[output]]
type = "file"
path = "out/%{+yyyy.MM.dd}/app.ndjson"
""",
        "errors": """
[pipeline]
workers = 0
when_locked = "sometimes"
[api]
listen = "nowhere"
[[input]]
type = "file"
[[filter]]
type = "dat"
[[filter]]
type = "grok"
tag_on_falure = ["x"]
[[output]]
type = "stdout"
url = "${UNSET}"
""",
        "s3-mutate-drop": """
[[input]]
type = "s3"
bucket = "logs"
prefix = "nginx/"
region = "eu-west-1"

[[filter]]
type = "mutate"
rename = { "message" = "line" }
convert = { "http.response.status_code" = "integer" }
gsub = ["line", "\\\\x([0-9A-F]{2})", "%%$1"]
uppercase = ["http.request.method"]

[[filter]]
type = "drop"
if_field = { "http.response.status_code" = 200 }

[[output]]
type = "elasticsearch"
hosts = ["http://127.0.0.1:9200"]
index = "nginx-%{+yyyy.MM.dd}"
""",
    }
    for name, text in snippets.items():
        write("config", name, text.lstrip().encode())


def bulk_response():
    # The first byte is the number of items sent.
    responses = [
        (2, b'{"took":3,"errors":false,"items":[{"create":{"_index":"a","_id":"1","status":201,"result":"created"}},{"create":{"_index":"a","_id":"2","status":201}}]}'),
        (6, rb'''{"errors":true,"took":3,"items":[
{"index":{"_index":"a","status":201,"result":"created"}},
{"create":{"_index":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
{"index":{"_index":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
{"index":{"_index":"a","status":503,"error":{"type":"unavailable_shards_exception","reason":"x"}}},
{"index":{"_index":"a","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},
{"index":{"_index":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"version"}}}
]}'''),
        (3, b'{"errors":false,"took":1}'),
        (1, b'{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1]"}],"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1]"},"status":400}'),
        (1, b'<html><body>502 Bad Gateway</body></html>'),
        (2, b'{"errors":true,"items":[{}, {"delete":{"status":404}}]}'),
    ]
    for index, (sent, body) in enumerate(responses):
        write("bulk_response", f"bulk-{index}", bytes([sent]) + body)


def main():
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    lines_charset()
    grok_nginx()
    date()
    config()
    bulk_response()
    total = sum(path.stat().st_size for path in SEEDS.rglob("*") if path.is_file())
    count = sum(1 for path in SEEDS.rglob("*") if path.is_file())
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(SEEDS.rglob("*")) if p.is_file()))
    print(f"{count} seeds, {total} bytes, sha256 {digest.hexdigest()[:12]}")


if __name__ == "__main__":
    main()
