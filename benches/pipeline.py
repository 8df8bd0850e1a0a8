#!/usr/bin/env python3
"""End-to-end throughput and latency of logpipe on generated nginx logs (python3, stdlib only).

Run it as `scripts/bench` from anywhere in the repository:

    scripts/bench                                # every scenario, 1,000,000 lines, 5 runs each
    scripts/bench --scenario file-grok-stdout --runs 3 --lines 50000    # a quick look

What it does:
  1. `cargo build --release --locked`, then copies target/release/logpipe to bench-data/ so that
     a concurrent build cannot swap the binary in the middle of the runs;
  2. generates bench-data/access-1m.log (scripts/nginx_log_gen.py, seed 42; kept, and only made
     again when missing);
  3. per stdout scenario writes bench-data/<scenario>.toml (file input in read mode -> filters ->
     stdout json_lines) and runs it once with stdout into a pipe to check that exactly one JSON event
     per line comes out, parsed (a broken pipeline must not post a fast figure);
  4. runs it --runs times with stdout to /dev/null and a fresh data_dir each time, measuring
     the child with os.wait4 (wall seconds, user+sys CPU seconds) and GNU time's %M (peak RSS:
     a child of this script would start at this script's peak; wait4's figure without GNU time);
  5. file-grok-es instead sends the events to an `elasticsearch` output into osmem-server (an
     OpenSearch-compatible in-memory server from PyPI, in .venv/, installed when missing): a
     fresh osmem per run, killed after it. osmem keeps every document in memory (~40 KB each)
     and indexes ~1,500 a second here, so this scenario reads its own, smaller file of the same
     generator (--es-lines, default 200,000: ~8 GB and ~2.5 min a run). One untimed run goes through a counting HTTP proxy
     in this script (how many POST /_bulk requests, how many documents) and checks the summary
     and a sample of the documents; then --runs timed runs go straight to osmem, each measuring
     logpipe as above plus osmem's CPU (/proc/<pid>/stat utime+stime, from logpipe's start to
     its exit), and each checked with GET /bench/_count == lines;
  6. s3-grok-null reads the same lines from S3: the file cut into --s3-objects (default 100)
     consecutive parts in bench-data/s3-<lines>-<objects>/, uploaded with boto3 (from .venv/, a
     subprocess) into a fresh moto_server (moto[server] from PyPI, in .venv/, installed when
     missing) on a free 127.0.0.1 port, one for all the runs. Rows: the parts as local files
     (file input, read mode: the baseline), then the s3 input (`once = true`) with concurrency
     1 and 8; each -> grok NGINX_COMBINED -> date -> stdout json_lines to /dev/null. Each row
     is checked once (one parsed event per line, the s3 fields set) and timed --runs times
     with a fresh data_dir, measuring logpipe as above plus moto's CPU;
  7. file-grok-live runs file-grok-stdout's pipeline (same file, grok -> date -> stdout
     json_lines to /dev/null) twice a run, back to back: as it is (the baseline) and with a
     `live` output added (its defaults); both with `[api] listen = "127.0.0.1:0"` (the API on,
     as by default, on a free port), so only the live output differs. Each is checked once (one
     parsed event per line; with live, GET /live/snapshot shows requests, URLs and users while
     it runs), then timed --runs times as above;
  8. tail-latency measures how long a line takes from the file to the output while logpipe
     follows it: a thread of this script appends the lines of the generated log (starting over
     at its first line when it has fewer) to bench-data/tail/access.log (made empty before each
     run) at --tail-rate lines/s (default 20,000) for --tail-seconds (default 30), a chunk every
     10 ms, noting when each chunk went in and at which byte offset it starts. logpipe follows
     the file (file input `mode = "tail"`, `start_position = "beginning"`, the other options at
     their defaults) -> grok NGINX_COMBINED -> date -> stdout json_lines into a pipe that
     another thread reads; each event's `log.offset` names its line, so its latency is the time
     the harness read it minus the time its chunk was written. Writing starts once logpipe has
     the file open; after the last chunk the harness waits for the last event, reads peak RSS
     (VmHWM), sends SIGTERM and takes the CPU seconds from wait4. Every run checks that each
     line written came out exactly once (by offset), the summary line and the first events
     (parsed), and fails otherwise. Rows: p50, p99, max latency, achieved rate, events, CPU s,
     peak RSS, medians of --runs; and the bar (p99 under 250 ms);
  9. workers-scaling runs file-grok-stdout's pipeline (same file) with `[pipeline] workers` = 1,
     2, ... up to os.cpu_count() (at least 2), each checked once as in 3, then timed --runs times
     as in 4, one run of each count per round, back to back (as file-grok-live's rows); rows per
     count with the speed-up of events/s over 1 worker;
 10. runs the peers on the same file, when a scenario of the main table (file-grok-stdout,
     file-grok-ua-stdout) ran, installing them with apt-get when missing (unless --no-install):
     lognormalizer (liblognorm-utils) with a rulebase for the combined format, stdin to stdout
     /dev/null, measured as in 4; and rsyslog's mmnormalize with the same rulebase: rsyslogd -n
     on its own config and work directory (no other input, nothing to the system's logs), imfile
     reading the file from its start, omfile writing `%$!all-json%` lines to a file in the work
     directory. rsyslogd never exits by itself, so the harness counts the lines of that file
     as they come and, at the last one, takes the wall time since the start, rsyslogd's CPU
     (/proc/<pid>/stat) and peak RSS (VmHWM), then stops it. Each peer's output is checked (one
     line per input line, the first ones parsed: no unparsed-data, status and address set); for
     rsyslog in every run. A third peer is Vector's VRL `parse_nginx_log` (benches/vrl-peer: the
     vrl crate, the library Vector embeds, running `. = parse_nginx_log!(.message, "combined")`
     on each line of stdin with VRL's runtime, JSON lines out; one thread), built with cargo
     into bench-data/vrl-peer-target/ when missing (unless --no-install; a few minutes once),
     measured as lognormalizer and its output checked the same way (client and status set);
 11. prints the tables of medians (min–max), the machine, the ratios of each logpipe row's
     events/s to each peer's and, for file-grok-es, the bars (logpipe CPU below 30% of osmem's,
     peak RSS under 200 MB), for s3-grok-null the ratio to the local files and the bars (within
     1.5x of the local files' wall time, peak RSS under 200 MB), for file-grok-live the ratio of
     events/s with the live output to without (median of the runs' ratios) and the bar (at least
     0.90), for tail-latency the bar (p99 under 250 ms), for workers-scaling the speed-ups;
     --markdown FILE also writes them as a README section body (no heading).
"""

import argparse
import bisect
import glob
import http.client
import http.server
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "bench-data")
GENERATOR = os.path.join(ROOT, "scripts", "nginx_log_gen.py")
SEED = 42

GROK = """[[filter]]
type = "grok"
match = { message = "%{NGINX_COMBINED}" }
"""
DATE = """[[filter]]
type = "date"
match = ["nginx.access.time", "dd/MMM/yyyy:HH:mm:ss Z"]
"""
USERAGENT = """[[filter]]
type = "useragent"
"""
SCENARIOS = {
    "file-grok-stdout": "file (read mode) -> grok NGINX_COMBINED -> date -> stdout json_lines",
    "file-grok-ua-stdout": "the same with the useragent filter after date",
    "file-grok-es": "file (read mode) -> grok NGINX_COMBINED -> date -> elasticsearch output (defaults: "
                    "batch_size 2048, concurrency 2; index `bench`, `document_id = \"fingerprint\"`) into a "
                    "fresh osmem-server",
    "s3-grok-null": "s3 input (`once = true`, concurrency 1 and 8) on moto_server -> grok NGINX_COMBINED -> "
                    "date -> stdout json_lines to /dev/null, against the same objects as local files (file "
                    "input, read mode)",
    "file-grok-live": "the pipeline of `file-grok-stdout` twice a run, back to back: as it is, and with a `live` "
                      "output (its defaults) added; `[api] listen = \"127.0.0.1:0\"` in both (the API on, as by "
                      "default, on a free port)",
    "tail-latency": "file input following a file (`mode = \"tail\"`, `start_position = \"beginning\"`, other "
                    "options at their defaults) that the harness appends to at a fixed rate, a chunk every 10 ms "
                    "-> grok NGINX_COMBINED -> date -> stdout json_lines into a pipe the harness reads; latency "
                    "= the time the harness read the event - the time its line (found by `log.offset`) was written",
    "workers-scaling": "the pipeline of `file-grok-stdout` with `[pipeline] workers` = 1, 2, … up to the number "
                       "of cores, one run of each per round, back to back",
}
SCENARIO_FILTERS = {
    "file-grok-stdout": [GROK, DATE],
    "file-grok-ua-stdout": [GROK, DATE, USERAGENT],
    "file-grok-es": [GROK, DATE],
    "s3-grok-null": [GROK, DATE],
    "file-grok-live": [GROK, DATE],  # file-grok-stdout's
    "tail-latency": [GROK, DATE],
    "workers-scaling": [GROK, DATE],  # file-grok-stdout's
}
# the scenarios of the main table, which the peers are compared with
MAIN_TABLE_SCENARIOS = ["file-grok-stdout", "file-grok-ua-stdout"]
ES_SCENARIO = "file-grok-es"
ES_INDEX = "bench"
STDOUT_OUTPUT = '[[output]]\ntype = "stdout"\ncodec = "json_lines"\n'
ES_OUTPUT = '[[output]]\ntype = "elasticsearch"\nhosts = "%s"\nindex = "' + ES_INDEX + '"\ndocument_id = "fingerprint"\n'
# the bars of the Elasticsearch scenario (from the issue)
BAR_CPU_RATIO = 0.3  # logpipe CPU seconds / osmem-server CPU seconds, same run (issue 6; issue 3 asked for half)
BAR_RSS_MB = 200
OSMEM_VERSION = "0.1.6"
# osmem-server 0.1.6 holds about 20 KB of live heap per document of this log and peaks near
# 40 KB of RSS per document (measured at 100k documents: 2.0 GB live, 3.6-4.1 GB RSS), and
# indexes about 1,300-1,500 documents/s on this 2-core VM: 1M documents would need ~40 GB and
# ~12 minutes a run, so the scenario reads a smaller file of the same generator (--es-lines).
OSMEM_RSS_PER_DOCUMENT = 40e3
ES_LINES = 200_000

LIVE_SCENARIO = "file-grok-live"
LIVE_OUTPUT = '[[output]]\ntype = "live"\n'
# the API on a free port in both rows of file-grok-live: on, as by default, without depending on
# a free port in 9600-9700
API_FREE_PORT = '\n[api]\nlisten = "127.0.0.1:0"\n'
# the bar of the live scenario (from the issue): events/s with the live output / without, medians
BAR_LIVE_RATIO = 0.9

TAIL_SCENARIO = "tail-latency"
TAIL_RATE = 20_000  # lines/s (--tail-rate)
TAIL_SECONDS = 30  # (--tail-seconds)
TAIL_CHUNK_SECONDS = 0.01  # the writer appends the lines due every 10 ms
TAIL_FILE = os.path.join(DATA_DIR, "tail", "access.log")
TAIL_INPUT = '[[input]]\ntype = "file"\npath = "%s"\nmode = "tail"\nstart_position = "beginning"\n\n' % \
    os.path.relpath(TAIL_FILE, DATA_DIR)
# how long logpipe may take to open the file at its start, and to emit the last line after the last write
TAIL_OPEN_TIMEOUT = 30
TAIL_DRAIN_TIMEOUT = 30
# the bar of the tail scenario (from the issue): p99 of write -> output, at 20,000 lines/s
BAR_TAIL_P99_MS = 250
# the bars of file-grok-stdout (issue 6): events/s on the machine's cores, peak RSS, and the
# ratio to rsyslog + mmnormalize on the same file
BAR_STDOUT_EVENTS_S = 800_000
BAR_STDOUT_RSS_MB = 100
BAR_STDOUT_RSYSLOG_RATIO = 8
# ... and the ratio per core to Vector's VRL parse_nginx_log (one thread)
BAR_STDOUT_VRL_RATIO_PER_CORE = 3
VRL_PEER_DIR = os.path.join(ROOT, "benches", "vrl-peer")
VRL_PEER_TARGET = os.path.join(DATA_DIR, "vrl-peer-target")
# log.offset in a json_lines event; `"offset":` cannot occur inside a JSON string (its `"` would be `\"`)
EVENT_OFFSET = re.compile(rb'"offset":(\d+)')

WORKERS_SCENARIO = "workers-scaling"

S3_SCENARIO = "s3-grok-null"
S3_BUCKET = "bench"
S3_OBJECTS = 100
S3_CONCURRENCY = [1, 8]
MOTO_VERSION = "5.2.5"
# the bars of the S3 scenario (from the issue)
BAR_S3_WALL_RATIO = 1.5  # s3 input wall seconds / the same lines from local files, medians
# moto_server, plus a thread that exits when this script is gone (killed, Ctrl-C), so that no
# moto outlives the benchmark; run by .venv/bin/python with moto_server's arguments.
MOTO_MAIN = """\
import os, sys, threading, time
from moto.server import main
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
main(sys.argv[1:])
"""
# Uploads the files named on the command line into a bucket of moto (boto3, from .venv/).
S3_UPLOAD = """\
import os, sys, boto3, botocore.config
endpoint, bucket, files = sys.argv[1], sys.argv[2], sys.argv[3:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", config=botocore.config.Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=bucket)
for path in files:
    s3.upload_file(path, bucket, os.path.basename(path))
listed = s3.list_objects_v2(Bucket=bucket)
print(sum(o["Size"] for o in listed.get("Contents", [])), listed["KeyCount"])
"""

# lognormalizer (liblognorm v2 rulebase): the combined format, and the same with a request that
# is not `METHOD URL HTTP/x` (`"-"`, TLS bytes), so that every generated line parses.
LOGNORM_RULEBASE = r"""version=2
rule=nginx-combined:%source_address:word% - %user_name:word% [%time:char-to{"extradata":"]"}%] "%method:word% %url:word% HTTP/%http_version:char-to{"extradata":"\""}%" %status:number% %bytes:word% %referrer:quoted-string% %user_agent:quoted-string%
rule=nginx-combined-other-request:%source_address:word% - %user_name:word% [%time:char-to{"extradata":"]"}%] %request:quoted-string% %status:number% %bytes:word% %referrer:quoted-string% %user_agent:quoted-string%
"""

# The rsyslog peer: imfile reads the file from its start (a fresh work directory: no state
# file), mmnormalize parses each line with the lognormalizer rulebase, omfile writes the parsed
# fields as one JSON object a line. No other input, and nothing goes to the system's logs.
RSYSLOG_CONFIG = r"""# Written by benches/pipeline.py: the rsyslog mmnormalize peer.
global(workDirectory="{work}")
module(load="imfile")
module(load="mmnormalize")
template(name="all-json" type="string" string="%$!all-json%\n")
input(type="imfile" file="{data}" tag="nginx" ruleset="bench")
ruleset(name="bench") {{
  action(type="mmnormalize" ruleBase="{rulebase}")
  action(type="omfile" file="{output}" template="all-json")
}}
"""
# how long rsyslogd may go without writing a line before the run fails
RSYSLOG_STALL_TIMEOUT = 60

SUMMARY = re.compile(r"events in (\d+), out (\d+), dropped (\d+)((?:, _\w+ \d+)*);")


def say(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- setup ------------------------------------------------------------------------------------

def source_version():
    """The commit the build sees: short HEAD, "-dirty" when the sources of the binary (not the
    benchmark files) differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip() or "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--", "src", "patterns", "Cargo.toml", "Cargo.lock",
                              "build.rs"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return head + ("-dirty" if changed else "")


def build(skip):
    """Builds, then snapshots the binary into bench-data/; returns (path, source version)."""
    binary = os.path.join(ROOT, "target", "release", "logpipe")
    version = source_version()
    if not skip:
        say("cargo build --release --locked (sources at %s)" % version)
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
        if source_version() != version:
            say("warning: the sources changed during the build (%s, now %s)" % (version, source_version()))
            version += " (changed during the build: now %s)" % source_version()
    else:
        version += " (--no-build: whatever target/release/logpipe was built from)"
    if not os.access(binary, os.X_OK):
        raise BenchError("%s is missing: run without --no-build" % binary)
    snapshot = os.path.join(DATA_DIR, "logpipe")
    shutil.copy2(binary, snapshot + ".tmp")
    os.replace(snapshot + ".tmp", snapshot)
    return snapshot, version


def lines_name(lines):
    if lines % 1_000_000 == 0:
        return "%dm" % (lines // 1_000_000)
    if lines % 1000 == 0:
        return "%dk" % (lines // 1000)
    return str(lines)


def data_file(lines):
    """bench-data/access-<n>.log, generated once (written to a temp file, then renamed)."""
    path = os.path.join(DATA_DIR, "access-%s.log" % lines_name(lines))
    if os.path.exists(path):
        return path
    say("generating %s (%d lines, seed %d)" % (os.path.relpath(path, ROOT), lines, SEED))
    started = time.monotonic()
    partial = path + ".partial"
    with open(partial, "wb") as out:
        subprocess.run([sys.executable, GENERATOR, "--lines", str(lines), "--seed", str(SEED)],
                       stdout=out, check=True)
    os.replace(partial, path)
    say("generated %.0f MB in %.0f s" % (os.path.getsize(path) / 1e6, time.monotonic() - started))
    return path


def write_pipeline(scenario, data, workers, batch_size, output=STDOUT_OUTPUT, name=None, input_toml=None):
    """bench-data/<name or scenario>.toml: the file input on `data` (a path or a glob relative to
    bench-data/) or `input_toml`, the scenario's filters, `output`."""
    path = os.path.join(DATA_DIR, "%s.toml" % (name or scenario))
    settings = []
    if workers:
        settings.append("workers = %d" % workers)
    if batch_size:
        settings.append("batch_size = %d" % batch_size)
    text = "# Written by benches/pipeline.py: %s.\n" % SCENARIOS[scenario]
    if settings:
        text += "[pipeline]\n" + "\n".join(settings) + "\n\n"
    text += input_toml or '[[input]]\ntype = "file"\npath = "%s"\nmode = "read"\n\n' % os.path.relpath(data, DATA_DIR)
    text += "\n".join(SCENARIO_FILTERS[scenario])
    text += "\n" + output
    with open(path, "w") as f:
        f.write(text)
    return path


# --- measuring --------------------------------------------------------------------------------

def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot: running anything (user, nice,
    system, irq, softirq), or, in a VM, taken by the hypervisor for others (steal)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]] + [0] * 8
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


WAIT_IDLE = [0.0]  # --wait-idle: seconds to wait for a quiet machine before each timed run


def wait_for_idle():
    """Waits (up to --wait-idle seconds) until other processes used less than 0.1 CPU for 5 s."""
    deadline = time.monotonic() + WAIT_IDLE[0]
    waited = False
    while time.monotonic() < deadline:
        before = busy_cpu_seconds()
        time.sleep(5)
        load = (busy_cpu_seconds() - before) / 5
        if load < 0.1:
            break
        if not waited:
            say("waiting for the machine to be idle (other processes use %.1f CPUs)" % load)
            waited = True


def process_cpu_seconds(pid):
    """utime + stime of a running process (all its threads), from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    """VmHWM of a running process (its own peak since exec, unlike wait4's figure)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def own_cpu_seconds():
    """user + sys CPU seconds of this script (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def gnu_time():
    """GNU time's path, or None. It measures the child's peak RSS from a small process: Linux
    starts a child's peak RSS at that of the process it was forked from, so a child of this
    script (tens of MB once it has parsed documents and bulk bodies) reads at least as much."""
    if "gnu_time" not in GNU_TIME:
        found = None
        for path in (shutil.which("time"), "/usr/bin/time"):
            if path and os.access(path, os.X_OK):
                done = subprocess.run([path, "--version"], capture_output=True, text=True)
                if "GNU" in done.stdout + done.stderr:
                    found = path
                    break
        GNU_TIME["gnu_time"] = found
        if not found:
            say("GNU time (apt-get install time) is not installed: peak RSS is measured with wait4, so a "
                "figure at or below this script's own peak is only an upper bound")
    return GNU_TIME["gnu_time"]


GNU_TIME = {}


def measure(argv, stdin=None, env=None, server_pid=None):
    """Runs argv with stdout to /dev/null; returns wall, cpu, peak RSS, stderr, and the CPU
    seconds that other processes used meanwhile (a busy machine makes the figures unfair).
    With server_pid (the osmem the run talks to), also that process's CPU seconds from just
    before the start to just after the exit, which then do not count as other processes'.
    CPU comes from wait4 (it includes GNU time's own, about a millisecond), peak RSS from GNU
    time's %M when it is installed."""
    wait_for_idle()
    server_cpu = 0.0
    timer = gnu_time()
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null, \
            tempfile.NamedTemporaryFile("r", prefix="logpipe-bench-rss-") as rss:
        command = [timer, "-f", "%M", "-o", rss.name] + argv if timer else argv
        busy_before = busy_cpu_seconds()
        server_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        started = time.perf_counter()
        child = subprocess.Popen(command, stdin=stdin, stdout=null, stderr=err, env=env, cwd=DATA_DIR)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if server_pid:
            server_cpu = process_cpu_seconds(server_pid) - server_before
        others = max(0.0, busy_cpu_seconds() - busy_before - usage.ru_utime - usage.ru_stime - server_cpu)
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        timed = rss.read().split()
    if child.returncode != 0:
        raise BenchError("%s exited %d:\n%s" % (" ".join(argv), child.returncode, stderr[-2000:]))
    if timer:
        if not timed or not timed[-1].isdigit():
            raise BenchError("%s wrote no peak RSS for %s" % (timer, " ".join(argv)))
        rss_kb = int(timed[-1])
    else:
        rss_kb = usage.ru_maxrss
        if rss_kb <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss:
            say("warning: %s: peak RSS %.0f MB is not above this script's own, so it is only an upper bound"
                % (os.path.basename(argv[0]), rss_kb * 1024 / 1e6))
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime,
            "sys": usage.ru_stime, "rss_mb": rss_kb * 1024 / 1e6, "stderr": stderr,
            "others": others, "server_cpu": server_cpu}


class LineTally:
    """Counts the lines of output read in chunks, and keeps the first `keep` of them."""

    def __init__(self, keep=1000):
        self.count = 0
        self.head = []
        self.keep = keep
        self.partial = b""  # the end of the last chunk, after its last newline

    def feed(self, chunk):
        """Tallies a chunk; returns its complete lines (with the partial line before it) as bytes."""
        data = self.partial + chunk
        end = data.rfind(b"\n") + 1
        complete, self.partial = data[:end], data[end:]
        self.count += complete.count(b"\n")
        if len(self.head) < self.keep and complete:
            self.head.extend(complete.split(b"\n")[:-1][: self.keep - len(self.head)])
        return complete


def count_output(argv, stdin=None, env=None):
    """Runs argv with stdout into a pipe; returns (lines out, stderr, first lines)."""
    tally = LineTally()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=err, env=env, cwd=DATA_DIR)
        for chunk in iter(lambda: child.stdout.read(1 << 20), b""):
            tally.feed(chunk)
        child.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if child.returncode != 0:
        raise BenchError("%s exited %d:\n%s" % (" ".join(argv), child.returncode, stderr[-2000:]))
    return tally.count, stderr, tally.head


def field(event, path):
    for key in path.split("."):
        if not isinstance(event, dict) or key not in event:
            return None
        event = event[key]
    return event


MONTHS = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
TIME_LOCAL = re.compile(r"\[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) \+0000\]")


def check_logpipe_output(scenario, lines, count, stderr, head):
    """The run emitted one parsed event per line, with @timestamp from the log line."""
    problems = []
    if count != lines:
        problems.append("%d events out for %d lines" % (count, lines))
    problems += summary_problems(lines, stderr)
    problems += event_problems(scenario, [json.loads(raw) for raw in head])
    if problems:
        raise BenchError("%s: output check failed: %s" % (scenario, "; ".join(problems)))


def summary_problems(lines, stderr):
    """The summary line shows every line in and out, none dropped or tagged as a failure."""
    problems = []
    summary = SUMMARY.search(stderr)
    if not summary:
        problems.append("no summary line on stderr")
    else:
        events_in, events_out, dropped = (int(summary.group(i)) for i in (1, 2, 3))
        failures = dict((tag, int(n)) for tag, n in re.findall(r"(_\w+) (\d+)", summary.group(4)))
        if events_in != lines or events_out != lines or dropped:
            problems.append("summary says in %d, out %d, dropped %d" % (events_in, events_out, dropped))
        if failures:
            problems.append("failure tags %s (the generated lines are all valid combined format)" % failures)
    return problems


def event_problems(scenario, events):
    """Each event is parsed, with @timestamp from the log line (the first problem only)."""
    problems = []
    for event in events:
        raw = json.dumps(event)
        if field(event, "http.response.status_code") is None or field(event, "source.address") is None:
            problems.append("not parsed: %s" % raw[:300])
            break
        stamp = TIME_LOCAL.search(event.get("message", ""))
        if stamp is None:
            problems.append("no $time_local in message: %s" % raw[:300])
            break
        expected = "%s-%02d-%sT%s:%s:%s.000Z" % (stamp.group(3), MONTHS[stamp.group(2)], stamp.group(1),
                                                 stamp.group(4), stamp.group(5), stamp.group(6))
        if event.get("@timestamp") != expected:
            problems.append("@timestamp %s, expected %s from the line" % (event.get("@timestamp"), expected))
            break
        if scenario == "file-grok-ua-stdout" and field(event, "user_agent.name") is None \
                and field(event, "user_agent.original") is not None:
            problems.append("no user_agent.name: %s" % raw[:300])
            break
    return problems


def logpipe_env(data_dir):
    """The environment of a logpipe run: a fresh data_dir, the default log level."""
    e = dict(os.environ, LOGPIPE_DATA_DIR=data_dir)
    e.pop("LOGPIPE_LOG", None)
    return e


def check_run(label, scenario, argv, env, lines, inspect=None, watcher=None):
    """The untimed run with stdout into a pipe: exactly one parsed event per line (a broken
    pipeline must not post a fast figure), and none of the problems that inspect(first events)
    finds, nor watcher(data_dir) (started before logpipe, its stop() after it)."""
    with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir:
        watching = watcher(data_dir) if watcher else None
        try:
            count, stderr, head = count_output(argv, env=env(data_dir))
        finally:
            problems = watching.stop() if watching else []
    check_logpipe_output(scenario, lines, count, stderr, head)
    if inspect:
        problems += inspect([json.loads(raw) for raw in head])
    if problems:
        raise BenchError("%s: output check failed: %s" % (label, "; ".join(problems)))
    say("%s: output checked: %d events for %d lines, all parsed" % (label, count, lines))


def check_summary_out(label, run, lines, stderr):
    """Timed run `run` (from 0) shows every line out in its summary."""
    summary = SUMMARY.search(stderr)
    if not summary or int(summary.group(2)) != lines:
        raise BenchError("%s run %d: summary does not show %d events out:\n%s"
                         % (label, run + 1, lines, stderr[-1000:]))


def timed_run(label, argv, env, lines, run, runs, server_pid=None, server_name=None):
    """Timed run `run` (from 0) of `runs` with a fresh data_dir: measure(), checked by the
    summary line; with server_pid, also that server's CPU seconds (said as server_name's)."""
    with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir:
        result = measure(argv, env=env(data_dir), server_pid=server_pid)
    check_summary_out(label, run, lines, result["stderr"])
    say("%s run %d/%d: %.2f s wall, %.2f s cpu, %.0f MB peak RSS, %.0f events/s%s%s"
        % (label, run + 1, runs, result["wall"], result["cpu"], result["rss_mb"], lines / result["wall"],
           "; %s %.2f s cpu" % (server_name, result["server_cpu"]) if server_pid else "", busy_note(result)))
    return result


def run_logpipe(binary, scenario, data, lines, runs, args):
    argv = [binary, "run", write_pipeline(scenario, data, args.workers, args.batch_size)]
    check_run(scenario, scenario, argv, logpipe_env, lines)
    return [timed_run(scenario, argv, logpipe_env, lines, i, runs) for i in range(runs)]


def time_back_to_back(pipelines, env, lines, runs):
    """timed_run() of each (label, argv) once per round, back to back, for `runs` rounds, so
    that the machine's drift touches them alike; returns each one's results, in that order."""
    results = [[] for _ in pipelines]
    for i in range(runs):
        for (label, argv), timed in zip(pipelines, results):
            timed.append(timed_run(label, argv, env, lines, i, runs))
    return results


def busy_note(result):
    """A warning when other processes took a noticeable share of the machine during a run."""
    share = result["others"] / result["wall"]
    # /proc/stat counts in clock ticks (10 ms): ignore what a tick or two of rounding makes.
    noticeable = share > 0.1 and result["others"] > 0.05
    return "  (other processes or hypervisor steal used %.2f CPUs meanwhile)" % share if noticeable else ""


# --- elasticsearch scenario -------------------------------------------------------------------

def osmem_binary(install):
    """Path of osmem-server in .venv/ (pip-installed there when missing, unless --no-install)."""
    pattern = os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages", "osmem_server", "bin", "osmem-server")
    found = sorted(glob.glob(pattern))
    if found:
        return found[-1]
    if not install:
        raise BenchError("osmem-server is not in .venv/ (python3 -m venv .venv && .venv/bin/pip install "
                         "osmem-server==%s; --no-install given)" % OSMEM_VERSION)
    say("installing osmem-server %s into .venv/ (pip) for %s" % (OSMEM_VERSION, ES_SCENARIO))
    venv = os.path.join(ROOT, ".venv")
    if not os.path.exists(os.path.join(venv, "bin", "pip")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                    "osmem-server==%s" % OSMEM_VERSION], check=True)
    found = sorted(glob.glob(pattern))
    if not found:
        raise BenchError("pip installed osmem-server but %s is missing" % pattern)
    return found[-1]


def http_json(method, url, body=None):
    """(status, parsed JSON answer) of one request to 127.0.0.1."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode("utf-8", "replace")


class Osmem:
    """A fresh osmem-server on a free 127.0.0.1 port (data in memory); stop() kills it."""

    def __init__(self, binary):
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [binary, "-addr", "127.0.0.1:0", "-no-stdin-watch", "-no-ja", "-parent-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log)
        first = self.process.stdout.readline()  # {"url": …, "pid": …} once it listens
        if not first:
            self.process.wait()
            self.log.seek(0)
            raise BenchError("osmem-server exited %s before it listened:\n%s"
                             % (self.process.returncode, self.log.read().decode("utf-8", "replace")[-1000:]))
        self.url = json.loads(first)["url"]
        self.pid = self.process.pid
        # keep reading stdout so that osmem can never block on a full pipe
        threading.Thread(target=lambda: self.process.stdout.read(), daemon=True).start()

    def count(self, index):
        http_json("POST", "%s/%s/_refresh" % (self.url, index))
        status, answer = http_json("GET", "%s/%s/_count" % (self.url, index))
        if status != 200 or not isinstance(answer, dict) or "count" not in answer:
            raise BenchError("GET %s/%s/_count: %s %s" % (self.url, index, status, str(answer)[:500]))
        return answer["count"]

    def sample(self, index, size):
        status, answer = http_json("GET", "%s/%s/_search?size=%d" % (self.url, index, size))
        if status != 200:
            raise BenchError("GET %s/%s/_search: %s %s" % (self.url, index, status, str(answer)[:500]))
        return answer["hits"]["hits"]

    def peak_rss_mb(self):
        return peak_rss_mb(self.pid)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.close()


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}


class BulkCountingProxy:
    """A threaded HTTP/1.1 forwarding proxy on a free 127.0.0.1 port that counts POST …/_bulk
    requests and the documents in them; one keep-alive connection to the upstream per client
    connection. Only used for the untimed counting run."""

    def __init__(self, upstream_url):
        upstream = urllib.parse.urlsplit(upstream_url)
        self.lock = threading.Lock()
        self.bulk_requests = 0
        self.bulk_documents = 0
        self.requests = 0
        self.errors = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            def forward(self):
                body = self.read_body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                if not hasattr(self, "upstream"):
                    self.upstream = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = self.upstream.getresponse()
                    data = answer.read()
                except (OSError, http.client.HTTPException) as error:
                    with proxy.lock:
                        proxy.errors.append("%s %s: %s" % (self.command, self.path, error))
                    self.upstream.close()
                    self.send_error(502)
                    return
                is_bulk = self.command == "POST" and urllib.parse.urlsplit(self.path).path.endswith("/_bulk")
                with proxy.lock:
                    proxy.requests += 1
                    if is_bulk:
                        proxy.bulk_requests += 1
                        # index actions: an action line and a source line per document
                        proxy.bulk_documents += (body or b"").count(b"\n") // 2
                self.send_response_only(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", answer.getheader("Content-Length", "0"))
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

            def finish(self):
                super().finish()
                if hasattr(self, "upstream"):
                    self.upstream.close()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def check_es_documents(osmem, lines, stderr, what):
    """The index holds exactly one document per line (fail loudly otherwise)."""
    count = osmem.count(ES_INDEX)
    if count != lines:
        raise BenchError("%s %s: GET /%s/_count is %d for %d lines:\n%s"
                         % (ES_SCENARIO, what, ES_INDEX, count, lines, stderr[-1000:]))


def available_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def run_es(binary, data, lines, runs, args):
    """The untimed counting run through the proxy (checks summary and documents), then the timed
    runs straight into osmem; returns (timed results, proxy counts)."""
    needed = lines * OSMEM_RSS_PER_DOCUMENT * 1.25 + 500e6
    if needed > available_memory():
        raise BenchError("%s: osmem-server would need about %.0f GB for %d documents and %.0f GB are available; "
                         "use a smaller --es-lines" % (ES_SCENARIO, needed / 1e9, lines, available_memory() / 1e9))
    server = osmem_binary(not args.no_install)
    osmem = Osmem(server)
    proxy = BulkCountingProxy(osmem.url)
    try:
        pipeline = write_pipeline(ES_SCENARIO, data, args.workers, args.batch_size, ES_OUTPUT % proxy.url,
                                  name=ES_SCENARIO + "-proxied")
        with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir:
            started = time.perf_counter()
            done = subprocess.run([binary, "run", pipeline], env=logpipe_env(data_dir), cwd=DATA_DIR,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            proxied_wall = time.perf_counter() - started
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            raise BenchError("%s (counting run) exited %d:\n%s" % (ES_SCENARIO, done.returncode, stderr[-2000:]))
        if proxy.errors:
            raise BenchError("%s (counting run): the proxy failed to forward: %s" % (ES_SCENARIO, proxy.errors[:3]))
        problems = summary_problems(lines, stderr)
        check_es_documents(osmem, lines, stderr, "counting run")
        hits = osmem.sample(ES_INDEX, 1000)
        problems += event_problems(ES_SCENARIO, [hit["_source"] for hit in hits])
        for hit in hits:
            expected = "%s-%s" % (field(hit["_source"], "log.file.fingerprint"), field(hit["_source"], "log.offset"))
            if hit["_id"] != expected:
                problems.append("_id %s, expected %s (document_id = fingerprint)" % (hit["_id"], expected))
                break
        if proxy.bulk_documents != lines:
            problems.append("the bulk requests carried %d documents for %d lines" % (proxy.bulk_documents, lines))
        if problems:
            raise BenchError("%s: output check failed: %s" % (ES_SCENARIO, "; ".join(problems)))
        counts = {"bulk_requests": proxy.bulk_requests, "bulk_documents": proxy.bulk_documents,
                  "requests": proxy.requests, "proxied_wall": proxied_wall}
        say("%s: counting run through the proxy: %d bulk requests (%.0f documents each), %d requests in all, "
            "%.2f s wall; %d documents in osmem, %d checked"
            % (ES_SCENARIO, proxy.bulk_requests, proxy.bulk_documents / max(1, proxy.bulk_requests),
               proxy.requests, proxied_wall, lines, len(hits)))
    finally:
        proxy.stop()
        osmem.stop()

    results = []
    for i in range(runs):
        osmem = Osmem(server)
        try:
            pipeline = write_pipeline(ES_SCENARIO, data, args.workers, args.batch_size, ES_OUTPUT % osmem.url)
            with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir:
                result = measure([binary, "run", pipeline], env=logpipe_env(data_dir), server_pid=osmem.pid)
            check_summary_out(ES_SCENARIO, i, lines, result["stderr"])
            check_es_documents(osmem, lines, result["stderr"], "run %d" % (i + 1))
            result["server_rss_mb"] = osmem.peak_rss_mb()
        finally:
            osmem.stop()
        result["ratio"] = result["cpu"] / result["server_cpu"] if result["server_cpu"] else float("inf")
        results.append(result)
        say("%s run %d/%d: %.2f s wall, %.2f s cpu (user %.2f, sys %.2f), %.0f MB peak RSS, %.0f events/s; "
            "osmem %.2f s cpu, %.0f MB peak RSS, logpipe/osmem CPU %.3f; %d documents counted%s"
            % (ES_SCENARIO, i + 1, runs, result["wall"], result["cpu"], result["user"], result["sys"],
               result["rss_mb"], lines / result["wall"], result["server_cpu"], result["server_rss_mb"], result["ratio"],
               lines, busy_note(result)))
    return results, counts


# --- s3 scenario ------------------------------------------------------------------------------

def venv_python(install):
    """.venv/bin/python with moto[server] (and so boto3), pip-installed there when missing,
    unless --no-install."""
    venv = os.path.join(ROOT, ".venv")
    python = os.path.join(venv, "bin", "python")
    check = [python, "-c", "import importlib.metadata as m, sys, boto3, moto.server; "
                           "sys.exit(m.version('moto') != '%s')" % MOTO_VERSION]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    if not install:
        raise BenchError("moto %s is not in .venv/ (python3 -m venv .venv && .venv/bin/pip install "
                         "'moto[server]==%s'; --no-install given)" % (MOTO_VERSION, MOTO_VERSION))
    say("installing moto[server] %s into .venv/ (pip) for %s" % (MOTO_VERSION, S3_SCENARIO))
    if not os.path.exists(os.path.join(venv, "bin", "pip")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                    "moto[server]==%s" % MOTO_VERSION], check=True)
    if subprocess.run(check, capture_output=True).returncode != 0:
        raise BenchError("pip installed moto[server]==%s but .venv/bin/python cannot import it" % MOTO_VERSION)
    return python


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Moto:
    """A fresh moto_server (S3 in memory) on a free 127.0.0.1 port; stop() kills it."""

    def __init__(self, python):
        self.log = tempfile.TemporaryFile()
        for _ in range(3):  # the free port can be taken before moto binds it
            port = free_port()
            self.process = subprocess.Popen([python, "-c", MOTO_MAIN, "-H", "127.0.0.1", "-p", str(port)],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
            self.endpoint = "http://127.0.0.1:%d" % port
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=5):
                        self.pid = self.process.pid
                        return
                except OSError:
                    time.sleep(0.1)
            self.stop()
        self.log.seek(0)
        raise BenchError("moto_server did not start:\n%s" % self.log.read().decode("utf-8", "replace")[-1000:])

    def peak_rss_mb(self):
        return peak_rss_mb(self.process.pid)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def s3_parts(data, lines, objects):
    """bench-data/s3-<lines>-<objects>/part-NNN.log: `data` cut into `objects` runs of
    consecutive lines (made once, kept); returns the sorted paths."""
    directory = os.path.join(DATA_DIR, "s3-%s-%d" % (lines_name(lines), objects))
    done = os.path.join(directory, ".complete")
    if not os.path.exists(done):
        say("cutting %s into %d parts in %s" % (os.path.relpath(data, ROOT), objects, os.path.relpath(directory, ROOT)))
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        with open(data, "rb") as source:
            for i in range(objects):
                with open(os.path.join(directory, "part-%03d.log" % i), "wb") as part:
                    for _ in range(lines * (i + 1) // objects - lines * i // objects):
                        part.write(source.readline())
        open(done, "w").close()
    return sorted(glob.glob(os.path.join(directory, "part-*.log")))


def s3_env(data_dir):
    """logpipe_env without the AWS settings of this shell, and without any lookup of instance
    metadata or profiles: only 127.0.0.1 is contacted."""
    e = {k: v for k, v in logpipe_env(data_dir).items() if not k.startswith("AWS_")}
    e.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return e


def s3_input_toml(endpoint, concurrency):
    return ('[[input]]\ntype = "s3"\nbucket = "%s"\nendpoint = "%s"\nregion = "us-east-1"\n'
            'access_key_id = "testing"\nsecret_access_key = "testing"\nonce = true\nconcurrency = %d\n\n'
            % (S3_BUCKET, endpoint, concurrency))


def s3_event_problems(events, bucket, keys):
    """The s3 fields of the events (the first problem only)."""
    for event in events:
        key = field(event, "aws.s3.object.key")
        if field(event, "aws.s3.bucket.name") != bucket or key not in keys:
            return ["aws.s3.bucket.name / aws.s3.object.key: %s" % json.dumps(event)[:300]]
        if field(event, "log.file.path") != "s3://%s/%s" % (bucket, key):
            return ["log.file.path %s for key %s" % (field(event, "log.file.path"), key)]
        if not isinstance(field(event, "log.offset"), int) or not field(event, "log.file.fingerprint"):
            return ["no log.offset / log.file.fingerprint: %s" % json.dumps(event)[:300]]
    return []


def run_s3(binary, data, lines, runs, args):
    """The local-files baseline and the s3 rows on one moto; returns [(row name, results)]."""
    parts = s3_parts(data, lines, args.s3_objects)
    keys = set(os.path.basename(p) for p in parts)
    python = venv_python(not args.no_install)
    moto = Moto(python)
    try:
        done = subprocess.run([python, "-c", S3_UPLOAD, moto.endpoint, S3_BUCKET] + parts,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError("uploading to moto failed:\n%s" % done.stderr[-2000:])
        size, count = (int(v) for v in done.stdout.split())
        if count != len(parts) or size != sum(os.path.getsize(p) for p in parts):
            raise BenchError("moto holds %d objects, %d bytes, for %d parts" % (count, size, len(parts)))
        say("%s: %d objects (%.0f MB) in s3://%s at %s" % (S3_SCENARIO, count, size / 1e6, S3_BUCKET, moto.endpoint))
        rows = [("local files", None, write_pipeline(S3_SCENARIO, os.path.join(os.path.dirname(parts[0]), "*.log"),
                                                    args.workers, args.batch_size, name=S3_SCENARIO + "-local"))]
        for concurrency in S3_CONCURRENCY:
            rows.append(("s3 concurrency %d" % concurrency, moto,
                         write_pipeline(S3_SCENARIO, None, args.workers, args.batch_size,
                                        name="%s-c%d" % (S3_SCENARIO, concurrency),
                                        input_toml=s3_input_toml(moto.endpoint, concurrency))))
        measured = []
        for row, server, pipeline in rows:
            label = "%s (%s)" % (S3_SCENARIO, row)
            argv = [binary, "run", pipeline]
            check_run(label, S3_SCENARIO, argv, s3_env, lines,
                      inspect=(lambda events: s3_event_problems(events, S3_BUCKET, keys)) if server else None)
            measured.append((row, [timed_run(label, argv, s3_env, lines, i, runs,
                                             server_pid=server.pid if server else None, server_name="moto")
                                   for i in range(runs)]))
        moto_rss = moto.peak_rss_mb()
    finally:
        moto.stop()
    return measured, {"objects": len(parts), "moto_rss_mb": moto_rss}


def s3_medians(measured, lines, size, info):
    """medians() per row plus moto's CPU, the ratio to the local files and the bars."""
    rows = []
    local = None
    for row, results in measured:
        m = medians(results, lines, size)
        rss = [r["rss_mb"] for r in results]
        server = [r["server_cpu"] for r in results]
        m.update({"row": row, "rss_mb_max": max(rss), "server_cpu": statistics.median(server),
                  "is_s3": row != "local files"})
        if local is None:
            local = m
        m["wall_ratio"] = m["wall"] / local["wall"]
        m["speed_ratio"] = m["events_s"] / local["events_s"]
        m["wall_bar_met"] = m["wall_ratio"] <= BAR_S3_WALL_RATIO
        m["rss_bar_met"] = m["rss_mb_max"] < BAR_RSS_MB
        rows.append(m)
    return {"rows": rows, "lines": lines, "size": size, **info}


def s3_table(s3):
    header = ["%s" % S3_SCENARIO, "events/s", "(min–max)", "MB/s", "wall s", "logpipe CPU s",
              "CPU-s / M events", "moto CPU s", "peak RSS MB", "s3 / local events/s"]
    table = []
    for m in s3["rows"]:
        table.append([m["row"], "%.0f" % m["events_s"], "%.0f–%.0f" % (m["events_s_min"], m["events_s_max"]),
                      "%.1f" % m["mb_s"], "%.2f" % m["wall"], "%.2f" % m["cpu"], "%.2f" % m["cpu_per_m"],
                      "%.2f" % m["server_cpu"] if m["is_s3"] else "–",
                      "%.0f" % m["rss_mb"], "%.2f" % m["speed_ratio"] if m["is_s3"] else "1"])
    return header, table


def s3_bars(s3):
    bars = []
    for m in s3["rows"]:
        if not m["is_s3"]:
            continue
        bars.append("%s within %.1f× of the local files' wall time: %s (%.2f s vs %.2f s, %.2f×)" % (
            m["row"], BAR_S3_WALL_RATIO, "met" if m["wall_bar_met"] else "NOT met", m["wall"],
            s3["rows"][0]["wall"], m["wall_ratio"]))
        bars.append("%s peak RSS under %d MB: %s (median %.0f MB, highest run %.0f MB)" % (
            m["row"], BAR_RSS_MB, "met" if m["rss_bar_met"] else "NOT met", m["rss_mb"], m["rss_mb_max"]))
    return bars


# --- live scenario ----------------------------------------------------------------------------

class LiveSnapshots:
    """Polls GET /live/snapshot of the logpipe that runs with `data_dir` (its API's address in
    data_dir/api.url) until stop(), which returns what is wrong with the fullest frame seen: the
    live output must have counted requests and read their status, URL and client. Frames show
    closed seconds and come once a second, so a run shorter than a few seconds (a small
    --lines) may show none: it is then not checked."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.frame = None
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self):
        while not self.stopping.wait(0.2):
            try:
                with open(os.path.join(self.data_dir, "api.url")) as f:
                    url = f.read().strip()
                with urllib.request.urlopen(url + "/live/snapshot", timeout=5) as answer:
                    frame = json.loads(answer.read())
            except (OSError, ValueError):
                continue  # not listening yet, or gone
            if self.frame is None or frame.get("totals", {}).get("requests", 0) >= \
                    self.frame.get("totals", {}).get("requests", 0):
                self.frame = frame

    def stop(self):
        self.stopping.set()
        self.thread.join()
        frame = self.frame
        full = frame is not None and bool(frame["totals"]["requests"] and frame["totals"]["status"]["2xx"]
                                          and frame["top_urls"] and frame["live_users"])
        if not full and time.monotonic() - self.started < 3:
            say("%s: the run was too short for a live frame to show requests: the live view is not checked"
                % LIVE_SCENARIO)
            return []
        if frame is None:
            return ["no frame from GET /live/snapshot while logpipe ran"]
        if not full:
            return ["the fullest live frame lacks requests, 2xx, top URLs or users: %s" % json.dumps(frame)[:500]]
        say("%s: live frame seen: %d requests in the window, %d live users, top URL %s"
            % (LIVE_SCENARIO, frame["totals"]["requests"], frame["live_users"], frame["top_urls"][0]["value"]))
        return []


def run_live(binary, data, lines, runs, args):
    """The baseline (file-grok-stdout's pipeline) and the same with the live output, back to
    back in each run; returns [(row name, results)], the baseline first."""
    rows = [("baseline", "-baseline", None, STDOUT_OUTPUT + API_FREE_PORT),
            ("with live output", "", LiveSnapshots, STDOUT_OUTPUT + "\n" + LIVE_OUTPUT + API_FREE_PORT)]
    checked = []
    for row, suffix, watcher, output in rows:
        label = "%s (%s)" % (LIVE_SCENARIO, row)
        pipeline = write_pipeline(LIVE_SCENARIO, data, args.workers, args.batch_size, output,
                                  name=LIVE_SCENARIO + suffix)
        argv = [binary, "run", pipeline]
        check_run(label, LIVE_SCENARIO, argv, logpipe_env, lines, watcher=watcher)
        checked.append((row, (label, argv)))
    timed = time_back_to_back([pipeline for _, pipeline in checked], logpipe_env, lines, runs)
    return [(row, results) for (row, _), results in zip(checked, timed)]


def live_medians(measured, lines, size):
    """medians() per row, and the ratio of events/s with the live output to the baseline's:
    per run (the two rows ran back to back), median and min–max."""
    (_, baseline), (_, live) = measured
    ratios = [b["wall"] / l["wall"] for b, l in zip(baseline, live)]
    rows = [dict(medians(results, lines, size), row=row) for row, results in measured]
    return {"rows": rows, "ratio": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "ratio_of_medians": rows[1]["events_s"] / rows[0]["events_s"],
            "lines": lines, "size": size}


def live_table(live):
    header = [LIVE_SCENARIO, "events/s", "(min–max)", "MB/s", "wall s", "CPU s", "CPU-s / M events",
              "peak RSS MB", "live / baseline events/s"]
    table = []
    for m in live["rows"]:
        table.append([m["row"], "%.0f" % m["events_s"], "%.0f–%.0f" % (m["events_s_min"], m["events_s_max"]),
                      "%.1f" % m["mb_s"], "%.2f" % m["wall"], "%.2f" % m["cpu"], "%.2f" % m["cpu_per_m"],
                      "%.0f" % m["rss_mb"],
                      "1" if m is live["rows"][0] else
                      "%.3f (%.3f–%.3f)" % (live["ratio"], live["ratio_min"], live["ratio_max"])])
    return header, table


def live_bars(live):
    verdict = "met in every run" if live["ratio_min"] >= BAR_LIVE_RATIO else \
        ("met at the median, not in every run" if live["ratio"] >= BAR_LIVE_RATIO else "NOT met")
    return ["with the live output, at least %.2f× the baseline's events/s: %s (median of the runs' ratios %.3f, "
            "runs %.3f–%.3f; ratio of the medians %.3f)" % (BAR_LIVE_RATIO, verdict, live["ratio"],
                                                            live["ratio_min"], live["ratio_max"],
                                                            live["ratio_of_medians"])]


# --- tail-latency scenario --------------------------------------------------------------------

class TailWriter:
    """A thread that appends lines of `source` to `target` at `rate` lines/s for `seconds`: every
    TAIL_CHUNK_SECONDS the lines due by then, in one write. It notes where each chunk starts in
    the target (chunk_offsets) and the time.monotonic() just before its write (chunk_times: a
    line is in the file no earlier, so latencies from it are never too short), and the offset of
    every line written (line_offsets). When the source has fewer lines than needed it starts over
    at its first line (`wrapped`)."""

    def __init__(self, source, target, rate, seconds):
        self.source, self.target, self.rate = source, target, rate
        self.total = int(rate * seconds)
        self.chunk_offsets, self.chunk_times, self.line_offsets = [], [], []
        self.size = 0
        self.wrapped = False
        self.started = self.finished = None
        self.error = None
        self.thread = threading.Thread(target=self.write_all, daemon=True)

    def start(self):
        self.thread.start()

    def join(self):
        self.thread.join()
        if self.error:
            raise BenchError("%s: the writer failed: %s" % (TAIL_SCENARIO, self.error))

    @property
    def lines(self):
        return len(self.line_offsets)

    def achieved_rate(self):
        """Lines/s from the start to the last write."""
        return self.lines / (self.finished - self.started)

    def write_all(self):
        try:
            with open(self.source, "rb") as source, open(self.target, "ab", buffering=0) as target:
                self.started = time.monotonic()
                chunk_number = 0
                while self.lines < self.total:
                    chunk_number += 1
                    due_at = self.started + chunk_number * TAIL_CHUNK_SECONDS
                    due = min(self.total, int(self.rate * chunk_number * TAIL_CHUNK_SECONDS))
                    chunk = self.next_lines(source, due - self.lines)
                    time.sleep(max(0.0, due_at - time.monotonic()))
                    if chunk:
                        self.append(target, chunk)
                self.finished = time.monotonic()
        except Exception as error:  # reported by join()
            self.error = error

    def next_lines(self, source, count):
        lines = []
        while len(lines) < count:
            line = source.readline()
            if not line:
                if source.tell() == 0:
                    raise BenchError("%s is empty" % self.source)
                source.seek(0)
                self.wrapped = True
                continue
            lines.append(line if line.endswith(b"\n") else line + b"\n")
        return lines

    def append(self, target, lines):
        offset = self.size
        self.chunk_offsets.append(offset)
        self.chunk_times.append(time.monotonic())
        target.write(b"".join(lines))
        for line in lines:
            self.line_offsets.append(offset)
            offset += len(line)
        self.size = offset

    def written_at(self, offset):
        """When the line at byte `offset` was written: the time of the chunk that holds it."""
        return self.chunk_times[bisect.bisect_right(self.chunk_offsets, offset) - 1]


class TailOutputReader:
    """A thread that reads logpipe's stdout (a pipe) until it closes, noting for each read when
    it returned and the `log.offset` of each event in it; `problems` lists events without one."""

    def __init__(self, stream):
        self.stream = stream
        self.tally = LineTally()
        self.reads = []  # (time.monotonic() when the read returned, [log.offset of its events])
        self.problems = []
        self.thread = threading.Thread(target=self.read_all, daemon=True)
        self.thread.start()

    @property
    def count(self):
        return self.tally.count

    def read_all(self):
        for chunk in iter(lambda: os.read(self.stream.fileno(), 1 << 20), b""):
            read_at = time.monotonic()
            complete = self.tally.feed(chunk)
            offsets = [int(v) for v in EVENT_OFFSET.findall(complete)]
            if len(offsets) != complete.count(b"\n") and not self.problems:
                self.problems.append("%d events without a log.offset in: %s"
                                     % (complete.count(b"\n") - len(offsets), complete[:300]))
            if offsets:
                self.reads.append((read_at, offsets))

    def join(self):
        self.thread.join()

    def latencies(self, writer):
        """Seconds from each line's write to the read of its event, in output order."""
        return [read_at - writer.written_at(offset) for read_at, offsets in self.reads for offset in offsets]

    def offsets(self):
        return [offset for _, offsets in self.reads for offset in offsets]


def percentile(ordered, fraction):
    """The nearest-rank percentile of an ordered list."""
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def wait_until_open(process, path, timeout, stderr_file):
    """Waits until `process` has `path` open (/proc/<pid>/fd), so that no line waits for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr_file.seek(0)
            raise BenchError("%s: logpipe exited %d at its start:\n%s" % (
                TAIL_SCENARIO, process.returncode, stderr_file.read().decode("utf-8", "replace")[-2000:]))
        fds = os.path.join("/proc", str(process.pid), "fd")
        try:
            if any(os.readlink(os.path.join(fds, fd)) == path for fd in os.listdir(fds)):
                return
        except OSError:
            pass  # an fd closed while listing
        time.sleep(0.01)
    raise BenchError("%s: logpipe did not open %s within %d s" % (TAIL_SCENARIO, path, timeout))


def wait_for_events(reader, lines, timeout):
    """Waits until `lines` events came out (at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while reader.count < lines and time.monotonic() < deadline:
        time.sleep(0.01)


def stop_process(process, timeout=60):
    """SIGTERM (SIGKILL after `timeout` seconds), then wait4: (exit code, user+sys CPU seconds,
    None when the process had already been waited for)."""
    if process.returncode is not None:
        return process.returncode, None
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            deadline = float("inf")
        time.sleep(0.01)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime


def tail_problems(writer, reader, stderr):
    """Every line written came out exactly once (by log.offset), the summary says so, and the
    first events are parsed."""
    problems = list(reader.problems)
    if reader.count != writer.lines:
        problems.append("%d events out for %d lines written" % (reader.count, writer.lines))
    seen = sorted(reader.offsets())
    if seen != writer.line_offsets:
        missing = sorted(set(writer.line_offsets) - set(seen))
        twice = len(seen) - len(set(seen))
        problems.append("%d lines never came out (first at offset %s), %d events came out twice"
                        % (len(missing), missing[0] if missing else "-", twice))
    problems += summary_problems(writer.lines, stderr)
    problems += event_problems(TAIL_SCENARIO, [json.loads(raw) for raw in reader.tally.head])
    return problems


def tail_run(binary, pipeline, source, args, run):
    """One run: logpipe follows a fresh bench-data/tail/access.log while the writer fills it
    (removed after); returns latencies (ms), achieved rate, CPU, peak RSS; fails when an event
    is missing."""
    wait_for_idle()
    shutil.rmtree(os.path.dirname(TAIL_FILE), ignore_errors=True)
    os.makedirs(os.path.dirname(TAIL_FILE))
    open(TAIL_FILE, "wb").close()
    try:
        return tail_measure(binary, pipeline, source, args, run)
    finally:
        shutil.rmtree(os.path.dirname(TAIL_FILE), ignore_errors=True)


def tail_measure(binary, pipeline, source, args, run):
    writer = TailWriter(source, TAIL_FILE, args.tail_rate, args.tail_seconds)
    with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir, tempfile.TemporaryFile() as err:
        busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
        started = time.perf_counter()
        process = subprocess.Popen([binary, "run", pipeline], stdout=subprocess.PIPE, stderr=err,
                                   env=logpipe_env(data_dir), cwd=DATA_DIR)
        try:
            wait_until_open(process, TAIL_FILE, TAIL_OPEN_TIMEOUT, err)
            reader = TailOutputReader(process.stdout)
            writer.start()
            writer.join()
            wait_for_events(reader, writer.lines, TAIL_DRAIN_TIMEOUT)
            rss_mb = peak_rss_mb(process.pid)
        finally:
            code, cpu = stop_process(process)
        wall = time.perf_counter() - started
        reader.join()
        others = max(0.0, busy_cpu_seconds() - busy_before - cpu - (own_cpu_seconds() - own_before))
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if code != 0:
        raise BenchError("%s run %d: logpipe exited %d after SIGTERM:\n%s"
                         % (TAIL_SCENARIO, run + 1, code, stderr[-2000:]))
    problems = tail_problems(writer, reader, stderr)
    if problems:
        raise BenchError("%s run %d: output check failed: %s" % (TAIL_SCENARIO, run + 1, "; ".join(problems)))
    latencies = sorted(reader.latencies(writer))
    return {"p50_ms": percentile(latencies, 0.50) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3,
            "max_ms": latencies[-1] * 1e3, "rate": writer.achieved_rate(), "events": reader.count,
            "bytes": writer.size, "cpu": cpu, "rss_mb": rss_mb, "wall": wall, "others": others,
            "wrapped": writer.wrapped}


def run_tail(binary, data, args):
    """--runs runs of tail_run(); returns their results."""
    pipeline = write_pipeline(TAIL_SCENARIO, None, args.workers, args.batch_size, input_toml=TAIL_INPUT)
    results = []
    for i in range(args.runs):
        result = tail_run(binary, pipeline, data, args, i)
        results.append(result)
        say("%s run %d/%d: %d events at %.0f lines/s, latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
            "%.2f s cpu, %.0f MB peak RSS; every line out once%s%s"
            % (TAIL_SCENARIO, i + 1, args.runs, result["events"], result["rate"], result["p50_ms"],
               result["p99_ms"], result["max_ms"], result["cpu"], result["rss_mb"],
               " (the writer started over at the first line of %s)" % os.path.basename(data)
               if result["wrapped"] else "", busy_note(result)))
    return results


def tail_medians(results, args):
    """Medians of the runs (min–max for the p99)."""
    def median(key):
        return statistics.median(r[key] for r in results)
    p99 = [r["p99_ms"] for r in results]
    events = median("events")
    return {"target_rate": args.tail_rate, "seconds": args.tail_seconds, "rate": median("rate"),
            "events": events, "mb_s": median("rate") * median("bytes") / events / 1e6,
            "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"), "p99_ms_min": min(p99), "p99_ms_max": max(p99),
            "max_ms": median("max_ms"), "cpu": median("cpu"), "cpu_per_m": median("cpu") / events * 1e6,
            "rss_mb": median("rss_mb"), "runs": len(results), "busy_runs": sum(1 for r in results if busy_note(r))}


def tail_table(tail):
    header = [TAIL_SCENARIO, "events/s", "MB/s", "CPU s", "CPU-s / M events", "peak RSS MB", "p50 ms",
              "p99 ms (min–max)", "max ms", "events"]
    row = ["%d lines/s for %g s" % (tail["target_rate"], tail["seconds"]), "%.0f" % tail["rate"],
           "%.1f" % tail["mb_s"], "%.2f" % tail["cpu"], "%.2f" % tail["cpu_per_m"], "%.0f" % tail["rss_mb"],
           "%.1f" % tail["p50_ms"], "%.1f (%.1f–%.1f)" % (tail["p99_ms"], tail["p99_ms_min"], tail["p99_ms_max"]),
           "%.1f" % tail["max_ms"], "%d" % tail["events"]]
    return header, [row]


def tail_bars(tail):
    verdict = "met in every run" if tail["p99_ms_max"] < BAR_TAIL_P99_MS else \
        ("met at the median, not in every run" if tail["p99_ms"] < BAR_TAIL_P99_MS else "NOT met")
    at = "" if tail["target_rate"] == TAIL_RATE else \
        " (measured at %d lines/s, not %d)" % (tail["target_rate"], TAIL_RATE)
    return ["latency p99 under %d ms at %d lines/s%s: %s (median p99 %.1f ms, runs %.1f–%.1f)" % (
        BAR_TAIL_P99_MS, TAIL_RATE, at, verdict, tail["p99_ms"], tail["p99_ms_min"], tail["p99_ms_max"])]


# --- workers-scaling scenario -----------------------------------------------------------------

def worker_counts():
    """1, 2, … up to os.cpu_count() (at least up to 2)."""
    return list(range(1, max(2, os.cpu_count() or 1) + 1))


def run_workers(binary, data, lines, runs, args):
    """file-grok-stdout's pipeline per worker count, each checked once, then timed back to back;
    returns [(workers, results)]."""
    pipelines = []
    for workers in worker_counts():
        label = "%s (workers = %d)" % (WORKERS_SCENARIO, workers)
        argv = [binary, "run", write_pipeline(WORKERS_SCENARIO, data, workers, args.batch_size,
                                              name="%s-%d" % (WORKERS_SCENARIO, workers))]
        check_run(label, WORKERS_SCENARIO, argv, logpipe_env, lines)
        pipelines.append((label, argv))
    timed = time_back_to_back(pipelines, logpipe_env, lines, runs)
    return list(zip(worker_counts(), timed))


def workers_medians(measured, lines, size):
    """medians() per worker count, and its events/s over 1 worker's."""
    rows = [dict(medians(results, lines, size), workers=workers) for workers, results in measured]
    for m in rows:
        m["speed_up"] = m["events_s"] / rows[0]["events_s"]
    return {"rows": rows, "lines": lines, "size": size}


def workers_table(scaling):
    header = ["workers", "events/s", "(min–max)", "MB/s", "CPU s", "CPU-s / M events", "peak RSS MB",
              "speed-up vs 1"]
    table = [["%d" % m["workers"], "%.0f" % m["events_s"], "%.0f–%.0f" % (m["events_s_min"], m["events_s_max"]),
              "%.1f" % m["mb_s"], "%.2f" % m["cpu"], "%.2f" % m["cpu_per_m"], "%.0f" % m["rss_mb"],
              "%.2f" % m["speed_up"]] for m in scaling["rows"]]
    return header, table


# --- peers ------------------------------------------------------------------------------------

def apt_command(command, package, install):
    """Path of `command`, installing Debian's `package` with apt-get if allowed; or (None, why)."""
    def which():
        return shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
    found = which()
    if found:
        return found, None
    if not shutil.which("apt-cache"):
        return None, "%s is not installed and there is no apt here" % command
    policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    candidate = re.search(r"Candidate: (\S+)", policy)
    if not candidate or candidate.group(1) == "(none)":
        return None, "%s is not installed and apt has no %s (try apt-get update)" % (command, package)
    if not install:
        return None, "%s is not installed (apt-get install %s; --no-install given)" % (command, package)
    if os.geteuid() != 0:
        return None, "%s is not installed (sudo apt-get install %s)" % (command, package)
    say("installing %s %s (apt-get) for the peer comparison" % (package, candidate.group(1)))
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = which()
    if done.returncode != 0 or not found:
        return None, "installing %s failed: %s" % (package, done.stderr.strip()[-300:])
    return found, None


def lognormalizer(install):
    return apt_command("lognormalizer", "liblognorm-utils", install)


def rsyslogd(install):
    """rsyslogd from Debian's rsyslog, which ships mmnormalize.so (and imfile.so) itself. On a
    host run by systemd, installing the package also enables and starts the system's rsyslog
    service: the benchmark's own rsyslogd is separate from it either way."""
    if not shutil.which("rsyslogd") and not shutil.which("rsyslogd", path="/usr/sbin:/sbin") and install:
        say("note: on a host run by systemd, installing rsyslog also starts the system's rsyslog service")
    return apt_command("rsyslogd", "rsyslog", install)


def vrl_peer(install):
    """benches/vrl-peer, built with cargo (release) into bench-data/ when missing or older than
    its sources."""
    binary = os.path.join(VRL_PEER_TARGET, "release", "vrl-peer")
    sources = [os.path.join(VRL_PEER_DIR, name) for name in ("Cargo.toml", "Cargo.lock", "src/main.rs")]
    newest = max(os.path.getmtime(path) for path in sources if os.path.exists(path))
    if os.path.exists(binary) and os.path.getmtime(binary) >= newest:
        return binary, None
    if not install:
        return None, "vrl-peer is not built (cargo build --release in benches/vrl-peer; --no-install given)"
    say("building benches/vrl-peer (the vrl crate; a few minutes the first time) for the peer comparison")
    done = subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=VRL_PEER_DIR,
                          env=dict(os.environ, CARGO_TARGET_DIR=VRL_PEER_TARGET),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not os.path.exists(binary):
        return None, "building benches/vrl-peer failed: %s" % done.stderr.strip()[-300:]
    return binary, None


def write_rulebase():
    """bench-data/nginx-combined.rb: the combined format for liblognorm (both peers)."""
    rulebase = os.path.join(DATA_DIR, "nginx-combined.rb")
    with open(rulebase, "w") as f:
        f.write(LOGNORM_RULEBASE)
    return rulebase


def check_normalized(peer, lines, count, head, required=("status", "source_address")):
    """A peer's output: one JSON object per input line, the first ones parsed (no unparsed-data
    from liblognorm, the `required` fields set)."""
    problems = [] if count == lines else ["%d lines out for %d" % (count, lines)]
    for raw in head:
        event = json.loads(raw)
        if "unparsed-data" in event or any(event.get(name) is None for name in required):
            problems.append("not parsed: %s" % raw[:300].decode("utf-8", "replace"))
            break
    if problems:
        raise BenchError("%s: output check failed: %s" % (peer, "; ".join(problems)))


def say_peer_run(peer, run, runs, lines, result):
    say("%s run %d/%d: %.2f s wall, %.2f s cpu, %.0f MB peak RSS, %.0f events/s%s"
        % (peer, run + 1, runs, result["wall"], result["cpu"], result["rss_mb"], lines / result["wall"],
           busy_note(result)))


def time_stdin_peer(peer, argv, data, lines, runs, required):
    """A peer that reads the file on stdin and writes JSON lines: checked once (check_normalized
    with `required`), then timed `runs` times."""
    with open(data, "rb") as stdin:
        count, _, head = count_output(argv, stdin=stdin)
    check_normalized(peer, lines, count, head, required)
    say("%s: output checked: %d events for %d lines" % (peer, count, lines))
    results = []
    for i in range(runs):
        with open(data, "rb") as stdin:
            results.append(measure(argv, stdin=stdin))
        say_peer_run(peer, i, runs, lines, results[-1])
    return results


def run_vrl(path, data, lines, runs):
    results = time_stdin_peer("vrl-peer", [path], data, lines, runs, ("status", "client"))
    with open(os.path.join(VRL_PEER_DIR, "Cargo.lock")) as f:
        version = re.search(r'name = "vrl"\nversion = "([^"]+)"', f.read())
    return results, "VRL %s parse_nginx_log" % (version.group(1) if version else "(version unknown)")


def run_lognormalizer(path, data, lines, runs):
    argv = [path, "-r", write_rulebase(), "-e", "json"]
    results = time_stdin_peer("lognormalizer", argv, data, lines, runs, ("status", "source_address"))
    done = subprocess.run([path, "-V"], capture_output=True, text=True)
    version = re.search(r"lognormalizer version: (\S+)", done.stdout + done.stderr)
    return results, "lognormalizer " + (version.group(1) if version else "(version unknown)")


def follow_output_file(path, tally, lines, process, log):
    """Reads the file that `process` writes as it grows, until it holds `lines` lines; returns
    the open file. Fails when the process exits or writes nothing for RSYSLOG_STALL_TIMEOUT."""
    handle = None
    progressed = time.monotonic()
    while tally.count < lines:
        if process.poll() is not None:
            log.seek(0)
            raise BenchError("rsyslogd exited %d after %d lines out of %d:\n%s" % (
                process.returncode, tally.count, lines, log.read().decode("utf-8", "replace")[-2000:]))
        if handle is None and os.path.exists(path):
            handle = open(path, "rb")
        chunk = handle.read(1 << 20) if handle else b""
        if chunk:
            tally.feed(chunk)
            progressed = time.monotonic()
        elif time.monotonic() - progressed > RSYSLOG_STALL_TIMEOUT:
            log.seek(0)
            raise BenchError("rsyslogd wrote %d lines out of %d, then nothing for %d s:\n%s" % (
                tally.count, lines, RSYSLOG_STALL_TIMEOUT, log.read().decode("utf-8", "replace")[-2000:]))
        else:
            time.sleep(0.02)
    return handle


def rsyslog_run(path, data, lines, rulebase):
    """One run of rsyslogd -n on its own config and work directory (a fresh temporary one), until
    its output file holds `lines` lines, then stopped. Returns wall and CPU seconds (from its
    start to its last line out), peak RSS (VmHWM), the CPU seconds of other processes meanwhile,
    the lines out (all of them, counted after the stop) and the first of them."""
    wait_for_idle()
    with tempfile.TemporaryDirectory(prefix="logpipe-bench-rsyslog-") as work, tempfile.TemporaryFile() as log:
        output = os.path.join(work, "out.json")
        config = os.path.join(work, "rsyslog.conf")
        with open(config, "w") as f:
            f.write(RSYSLOG_CONFIG.format(work=work, data=os.path.abspath(data), rulebase=rulebase, output=output))
        validated = subprocess.run([path, "-N1", "-f", config], capture_output=True, text=True)
        if validated.returncode != 0:
            raise BenchError("rsyslogd -N1 rejects the config:\n%s" % (validated.stdout + validated.stderr)[-2000:])
        tally = LineTally()
        busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
        started = time.perf_counter()
        process = subprocess.Popen([path, "-n", "-f", config, "-i", os.path.join(work, "rsyslogd.pid")],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=work)
        handle = None
        try:
            handle = follow_output_file(output, tally, lines, process, log)
            wall = time.perf_counter() - started
            cpu = process_cpu_seconds(process.pid)
            rss_mb = peak_rss_mb(process.pid)
            others = max(0.0, busy_cpu_seconds() - busy_before - cpu - (own_cpu_seconds() - own_before))
        finally:
            stop_process(process)
            if handle:
                tally.feed(handle.read())
                handle.close()
    return {"wall": wall, "cpu": cpu, "rss_mb": rss_mb, "others": others, "count": tally.count, "head": tally.head}


def run_rsyslog(path, data, lines, runs):
    """rsyslog_run() --runs times, each one's output checked."""
    rulebase = write_rulebase()
    results = []
    for i in range(runs):
        result = rsyslog_run(path, data, lines, rulebase)
        check_normalized("rsyslog mmnormalize run %d" % (i + 1), lines, result["count"], result["head"])
        results.append(result)
        say_peer_run("rsyslog mmnormalize", i, runs, lines, result)
    say("rsyslog mmnormalize: output checked in every run: %d JSON lines for %d lines, the first %d parsed"
        % (lines, lines, len(results[0]["head"])))
    done = subprocess.run([path, "-v"], capture_output=True, text=True)
    version = re.search(r"rsyslogd\s+(\d\S*)", done.stdout + done.stderr)
    return results, "rsyslog %s mmnormalize" % (version.group(1) if version else "(version unknown)")


# (find it, run it, what it is) per peer; each run gives (results for medians(), its name)
PEERS = [
    (lognormalizer, run_lognormalizer,
     "the same file parsed by lognormalizer (liblognorm) with a two-rule rulebase for the combined format, JSON "
     "out; one C thread that only splits the line into strings (no date parsing, no event.original, offsets or "
     "checkpoints)"),
    (rsyslogd, run_rsyslog,
     "rsyslogd (Debian's rsyslog) reading the same file with imfile, parsing it with mmnormalize (liblognorm, "
     "the same rulebase) and writing the fields as JSON lines (`%$!all-json%`) with omfile into a file, all "
     "at their defaults; strings only (no date parsing, no event.original). It never exits by itself: the time "
     "runs from its start to its last line out, its CPU and peak RSS are read from /proc then"),
    (vrl_peer, run_vrl,
     "Vector's VRL (the vrl crate Vector embeds, benches/vrl-peer) running `. = parse_nginx_log!(.message, "
     "\"combined\")` on each line of the same file with VRL's runtime, JSON lines out; one thread; typed fields "
     "and the timestamp parsed, no event.original, offsets or checkpoints"),
]


def run_peers(data, lines, size, runs, install):
    """Each peer that is installed or can be: [(name, medians, what it is)], and why the others
    did not run."""
    peers, notes = [], []
    for find, run, what in PEERS:
        path, why = find(install)
        if not path:
            say("peer: %s" % why)
            notes.append(why)
            continue
        results, name = run(path, data, lines, runs)
        peers.append((name, medians(results, lines, size), what))
    return peers, notes


# --- report -----------------------------------------------------------------------------------

def medians(results, lines, size):
    wall = statistics.median(r["wall"] for r in results)
    cpu = statistics.median(r["cpu"] for r in results)
    return {"events_s": lines / wall, "mb_s": size / 1e6 / wall, "wall": wall, "cpu": cpu,
            "cpu_per_m": cpu / lines * 1e6, "rss_mb": statistics.median(r["rss_mb"] for r in results),
            "runs": len(results), "events_s_min": lines / max(r["wall"] for r in results),
            "events_s_max": lines / min(r["wall"] for r in results),
            "busy_runs": sum(1 for r in results if busy_note(r))}


def machine(commit):
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = "%.1f GB RAM" % (int(line.split()[1]) * 1024 / 1e9)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "mem": mem, "rustc": rustc,
            "kernel": "Linux %s" % platform.release(), "commit": commit}


def es_medians(results, lines, size, counts):
    """medians() plus osmem's CPU, the per-run CPU ratio (median, min–max) and the bulk counts."""
    m = medians(results, lines, size)
    server = [r["server_cpu"] for r in results]
    ratios = [r["ratio"] for r in results]
    cpus = [r["cpu"] for r in results]
    rss = [r["rss_mb"] for r in results]
    m.update({"cpu_min": min(cpus), "cpu_max": max(cpus),
              "server_cpu": statistics.median(server), "server_cpu_min": min(server), "server_cpu_max": max(server),
              "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
              "rss_mb_min": min(rss), "rss_mb_max": max(rss)})
    m.update(counts)
    m["lines"], m["size"] = lines, size
    m["cpu_bar_met_median"] = m["ratio"] < BAR_CPU_RATIO
    m["cpu_bar_met_all"] = m["ratio_max"] < BAR_CPU_RATIO
    m["rss_bar_met"] = m["rss_mb_max"] < BAR_RSS_MB
    return m


def es_table(m):
    header = ["scenario", "events/s", "(min–max)", "logpipe CPU s", "osmem CPU s", "logpipe / osmem CPU",
              "peak RSS MB", "bulk requests"]
    row = [ES_SCENARIO, "%.0f" % m["events_s"], "%.0f–%.0f" % (m["events_s_min"], m["events_s_max"]),
           "%.2f (%.2f–%.2f)" % (m["cpu"], m["cpu_min"], m["cpu_max"]),
           "%.2f (%.2f–%.2f)" % (m["server_cpu"], m["server_cpu_min"], m["server_cpu_max"]),
           "%.3f (%.3f–%.3f)" % (m["ratio"], m["ratio_min"], m["ratio_max"]),
           "%.0f (%.0f–%.0f)" % (m["rss_mb"], m["rss_mb_min"], m["rss_mb_max"]),
           "%d" % m["bulk_requests"]]
    return header, [row]


def es_bars(m):
    cpu = "logpipe CPU below %.1f× osmem-server's: %s (median ratio %.3f, runs %.3f–%.3f)" % (
        BAR_CPU_RATIO, "met in every run" if m["cpu_bar_met_all"] else
        ("met at the median, not in every run" if m["cpu_bar_met_median"] else "NOT met"),
        m["ratio"], m["ratio_min"], m["ratio_max"])
    rss = "peak RSS under %d MB: %s (median %.0f MB, highest run %.0f MB)" % (
        BAR_RSS_MB, "met" if m["rss_bar_met"] else "NOT met", m["rss_mb"], m["rss_mb_max"])
    return [cpu, rss]


def text_table(header, table):
    widths = [max(len(str(row[i])) for row in [header] + table) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            for row in [header] + table]


def markdown_table(header, table):
    md = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for row in table:
        md.append("| " + " | ".join(("`%s`" % c) if i == 0 else c for i, c in enumerate(row)) + " |")
    return md


def stdout_bars(rows, peers):
    """file-grok-stdout against its bars (median of the runs), when it ran."""
    medians = dict(rows).get("file-grok-stdout")
    if medians is None:
        return []
    def verdict(met):
        return "met" if met else "NOT met"
    bars = ["file-grok-stdout at least %d events/s: %s (median %.0f)" % (
                BAR_STDOUT_EVENTS_S, verdict(medians["events_s"] >= BAR_STDOUT_EVENTS_S), medians["events_s"]),
            "file-grok-stdout peak RSS under %d MB: %s (median %.0f MB)" % (
                BAR_STDOUT_RSS_MB, verdict(medians["rss_mb"] < BAR_STDOUT_RSS_MB), medians["rss_mb"])]
    for name, peer, _ in peers:
        if name.startswith("rsyslog"):
            ratio = medians["events_s"] / peer["events_s"]
            bars.append("file-grok-stdout at least %d× %s's events/s: %s (%.2f×)" % (
                BAR_STDOUT_RSYSLOG_RATIO, name, verdict(ratio >= BAR_STDOUT_RSYSLOG_RATIO), ratio))
        if name.startswith("VRL"):
            cores = len(os.sched_getaffinity(0))
            ratio = medians["events_s"] / cores / peer["events_s"]
            bars.append("file-grok-stdout per core (events/s / %d cores) at least %d× %s's events/s on one "
                        "thread: %s (%.2f×)" % (cores, BAR_STDOUT_VRL_RATIO_PER_CORE, name,
                                                verdict(ratio >= BAR_STDOUT_VRL_RATIO_PER_CORE), ratio))
    return bars


def report(results, info, lines, size, runs, markdown_path):
    """Prints the tables of `results` (rows: [(scenario, medians)] of the main table; peers:
    [(name, medians, what it is)]; peer_notes; es, s3, live, tail, workers: the medians of those
    scenarios or None) and, with markdown_path, writes them as markdown."""
    rows, peers, peer_notes = results["rows"], results["peers"], results["peer_notes"]
    es, s3, live, tail, workers = (results[k] for k in ("es", "s3", "live", "tail", "workers"))
    header = ["scenario", "events/s", "(min–max)", "MB/s", "wall s", "CPU s", "CPU-s / M events", "peak RSS MB"]
    table = []
    for name, m in rows + [(name, m) for name, m, _ in peers]:
        table.append([name, "%.0f" % m["events_s"], "%.0f–%.0f" % (m["events_s_min"], m["events_s_max"]),
                      "%.1f" % m["mb_s"], "%.2f" % m["wall"], "%.2f" % m["cpu"], "%.2f" % m["cpu_per_m"],
                      "%.0f" % m["rss_mb"]])
    measured = rows + [(name, m) for name, m, _ in peers] + ([(ES_SCENARIO, es)] if es else []) + \
        ([("%s (%s)" % (S3_SCENARIO, m["row"]), m) for m in s3["rows"]] if s3 else []) + \
        ([("%s (%s)" % (LIVE_SCENARIO, m["row"]), m) for m in live["rows"]] if live else []) + \
        ([(TAIL_SCENARIO, tail)] if tail else []) + \
        ([("%s (workers = %d)" % (WORKERS_SCENARIO, m["workers"]), m) for m in workers["rows"]] if workers else [])
    busy = [(name, m["busy_runs"]) for name, m in measured if m["busy_runs"]]
    peer_ratios = [(name, peer, m["events_s"] / p["events_s"]) for name, m in rows for peer, p, _ in peers]
    text = [""]
    if table:
        text += ["Medians of %d runs, %d lines (%.0f MB) of generated nginx combined log, stdout to /dev/null:" %
                 (runs, lines, size / 1e6), ""]
        text += text_table(header, table)
        text.append("")
        text += ["ratio %s / %s events/s: %.2f" % ratio for ratio in peer_ratios]
        text += ["(%s: %s)" % (peer, what) for peer, _, what in peers]
        text += ["peer not run: %s" % note for note in peer_notes]
        text += ["bar: " + bar for bar in stdout_bars(rows, peers)]
    if es:
        text += ["", "%s, %d lines (%.0f MB), medians of %d runs (min–max), a fresh osmem-server per run; bulk "
                 "requests counted in one more run through a counting proxy (%.0f documents each on average):" %
                 (ES_SCENARIO, es["lines"], es["size"] / 1e6, runs,
                  es["bulk_documents"] / max(1, es["bulk_requests"])), ""]
        text += text_table(*es_table(es))
        text.append("")
        text += ["bar: " + bar for bar in es_bars(es)]
    if s3:
        text += ["", "%s, %d lines (%.0f MB) in %d objects, medians of %d runs (min–max); s3 rows read them from "
                 "one moto_server %s on 127.0.0.1 (its peak RSS %.0f MB), the local row reads the same parts as "
                 "files:" % (S3_SCENARIO, s3["lines"], s3["size"] / 1e6, s3["objects"], runs, MOTO_VERSION,
                             s3["moto_rss_mb"]), ""]
        text += text_table(*s3_table(s3))
        text.append("")
        text += ["bar: " + bar for bar in s3_bars(s3)]
    if live:
        text += ["", "%s, %d lines (%.0f MB), medians of %d runs (min–max); each run times the baseline, then "
                 "the same pipeline with the live output; the ratio is the median (min–max) of the runs' "
                 "ratios:" % (LIVE_SCENARIO, live["lines"], live["size"] / 1e6, runs), ""]
        text += text_table(*live_table(live))
        text.append("")
        text += ["bar: " + bar for bar in live_bars(live)]
    if tail:
        text += ["", "%s, medians of %d runs: the harness appends lines to a file logpipe follows, a chunk every "
                 "%.0f ms; latency from a line's write to the harness reading its event (stdout json_lines, a "
                 "pipe); every line came out once:" % (TAIL_SCENARIO, runs, TAIL_CHUNK_SECONDS * 1e3), ""]
        text += text_table(*tail_table(tail))
        text.append("")
        text += ["bar: " + bar for bar in tail_bars(tail)]
    if workers:
        text += ["", "%s, %d lines (%.0f MB), medians of %d runs (min–max), one run of each worker count per "
                 "round, back to back:" % (WORKERS_SCENARIO, workers["lines"], workers["size"] / 1e6, runs), ""]
        text += text_table(*workers_table(workers))
    text.append("")
    if busy:
        text.append("warning: other processes (or VM steal) used more than 0.1 CPU during %s; the figures are pessimistic" %
                    ", ".join("%d %s run(s)" % (n, name) for name, n in busy))
    text.append("machine: %d CPUs (nproc), %s, %s, %s; %s; logpipe %s" %
                (info["nproc"], info["cpu"], info["mem"], info["kernel"], info["rustc"], info["commit"]))
    print("\n".join(text))

    if markdown_path:
        md = []
        if table:
            md += ["`scripts/bench` (harness: `benches/pipeline.py`) generates %d lines (%.0f MB) of nginx combined "
                   "log (`scripts/nginx_log_gen.py --seed %d`), runs each scenario once to check that every line "
                   "comes out as one parsed event, then %d times with stdout to /dev/null and a fresh data_dir; "
                   "wall time and user+sys CPU come from `wait4`, peak RSS from %s. Medians, and "
                   "the range of events/s over the runs:" % (lines, size / 1e6, SEED, runs,
                   "GNU time's `%M`" if GNU_TIME.get("gnu_time") else "`wait4`"), ""]
            md += markdown_table(header, table)
            md.append("")
            for name, description in SCENARIOS.items():
                if any(name == r[0] for r in rows):
                    md.append("- `%s`: %s." % (name, description))
            md += ["- `%s`: %s." % (peer, what) for peer, _, what in peers]
            md.append("")
            if peer_ratios:
                md.append("Ratio to the peers (events/s): " + "; ".join(
                    "`%s` %.2f× %s" % (name, ratio, peer) for name, peer, ratio in peer_ratios) + ".")
                md.append("")
            md += ["Peer not run: %s." % note for note in peer_notes]
            md += [""] if peer_notes else []
            bars = stdout_bars(rows, peers)
            md += ["- Bar: " + bar + "." for bar in bars] + ([""] if bars else [])
        if es:
            md += ["Into Elasticsearch: `%s` is %s, on %d lines (%.0f MB) of the same generator: osmem-server "
                   "(an OpenSearch-compatible in-memory server, Go) keeps every document in memory, about 40 KB "
                   "each, so 1M would not fit. Each timed run starts a fresh osmem-server, measures logpipe as above "
                   "and osmem's CPU from `/proc/<pid>/stat` between logpipe's start and exit, and checks "
                   "`GET /%s/_count` = %d. One more, untimed run goes through a counting HTTP proxy to count the "
                   "bulk requests (%d, %.0f documents each). Medians of %d runs (min–max):" %
                   (ES_SCENARIO, SCENARIOS[ES_SCENARIO], es["lines"], es["size"] / 1e6, ES_INDEX, es["lines"],
                    es["bulk_requests"], es["bulk_documents"] / max(1, es["bulk_requests"]), runs), ""]
            md += markdown_table(*es_table(es))
            md.append("")
            md += ["- " + bar[0].upper() + bar[1:] + "." for bar in es_bars(es)]
            md.append("")
        if s3:
            md += ["From S3: `%s` is %s. The %d lines (%.0f MB) are cut into %d objects of consecutive lines, "
                   "uploaded once into a moto_server %s (an in-memory S3, Python) on 127.0.0.1 that serves every "
                   "run; each run has a fresh data_dir, so it lists the bucket and reads every object. Its CPU is "
                   "measured from `/proc/<pid>/stat` between logpipe's start and exit, as osmem's above. The "
                   "local row reads the same parts as files. Medians of %d runs (min–max):" %
                   (S3_SCENARIO, SCENARIOS[S3_SCENARIO], s3["lines"], s3["size"] / 1e6, s3["objects"],
                    MOTO_VERSION, runs), ""]
            md += markdown_table(*s3_table(s3))
            md.append("")
            md += ["- " + bar[0].upper() + bar[1:] + "." for bar in s3_bars(s3)]
            md.append("")
        if live:
            md += ["With the live view: `%s` is %s. Each run times the baseline, then the same pipeline with "
                   "the live output, back to back, on %d lines (%.0f MB); the ratio is the median (min–max) of "
                   "the runs' ratios. Medians of %d runs (min–max):" %
                   (LIVE_SCENARIO, SCENARIOS[LIVE_SCENARIO], live["lines"], live["size"] / 1e6, runs), ""]
            md += markdown_table(*live_table(live))
            md.append("")
            md += ["- " + bar[0].upper() + bar[1:] + "." for bar in live_bars(live)]
            md.append("")
        if tail:
            md += ["Latency while following a file: `%s` is %s. The harness writes %d lines/s for %g s (%d lines); "
                   "each run checks that every line came out exactly once. logpipe's CPU comes from `wait4` after "
                   "SIGTERM, "
                   "its peak RSS from VmHWM before it. Medians of %d runs (the p99's min–max):" %
                   (TAIL_SCENARIO, SCENARIOS[TAIL_SCENARIO], tail["target_rate"], tail["seconds"], tail["events"],
                    runs), ""]
            md += markdown_table(*tail_table(tail))
            md.append("")
            md += ["- " + line[0].upper() + line[1:] + "." for line in tail_bars(tail)]
            md.append("")
        if workers:
            md += ["Workers: `%s` is %s, on %d lines (%.0f MB), each checked once. Medians of %d runs (min–max):" %
                   (WORKERS_SCENARIO, SCENARIOS[WORKERS_SCENARIO], workers["lines"], workers["size"] / 1e6, runs), ""]
            md += markdown_table(*workers_table(workers))
            md.append("")
        if busy:
            md.append("Other processes (or VM steal) used more than 0.1 CPU during %s, so those figures are pessimistic." %
                      ", ".join("%d `%s` run(s)" % (n, name) for name, n in busy))
            md.append("")
        md.append("Machine: %d CPUs (`nproc`), %s, %s, %s, %s; logpipe at %s." %
                  (info["nproc"], info["cpu"], info["mem"], info["kernel"], info["rustc"], info["commit"]))
        with open(markdown_path, "w") as f:
            f.write("\n".join(md) + "\n")
        say("wrote %s" % markdown_path)


def main():
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS) + ["all"],
                        help="scenario to run (repeatable; default: all)")
    parser.add_argument("--runs", type=int, default=5,
                        help="timed runs per scenario (default 5; a %s run times both of its pipelines)"
                             % LIVE_SCENARIO)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of generated log (default 1000000)")
    parser.add_argument("--es-lines", type=int, default=ES_LINES,
                        help="lines of generated log for %s (default %d: osmem-server keeps every document "
                             "in memory, ~40 KB each)" % (ES_SCENARIO, ES_LINES))
    parser.add_argument("--s3-objects", type=int, default=S3_OBJECTS,
                        help="objects the lines are cut into for %s (default %d)" % (S3_SCENARIO, S3_OBJECTS))
    parser.add_argument("--tail-rate", type=int, default=TAIL_RATE,
                        help="lines/s the writer appends for %s (default %d)" % (TAIL_SCENARIO, TAIL_RATE))
    parser.add_argument("--tail-seconds", type=float, default=TAIL_SECONDS,
                        help="how long the writer appends for %s (default %d)" % (TAIL_SCENARIO, TAIL_SECONDS))
    parser.add_argument("--workers", type=int,
                        help="[pipeline] workers (default: logpipe's, the number of cores; "
                             "%s sets its own)" % WORKERS_SCENARIO)
    parser.add_argument("--batch-size", type=int, help="[pipeline] batch_size (default: logpipe's)")
    parser.add_argument("--no-build", action="store_true", help="use target/release/logpipe as it is")
    parser.add_argument("--no-peer", action="store_true", help="do not run the peers (lognormalizer, rsyslog, VRL)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not apt-get install the peers nor build the VRL peer, nor pip-install osmem-server "
                             "or moto into .venv/, when missing")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before each timed run, wait up to this long for other processes to go quiet")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as markdown (a README section body, no heading)")
    args = parser.parse_args()
    if args.runs < 1 or args.lines < 1 or args.es_lines < 1:
        parser.error("--runs, --lines and --es-lines must be at least 1")
    if not 1 <= args.s3_objects <= args.lines:
        parser.error("--s3-objects must be between 1 and --lines")
    if args.tail_rate < 1 or args.tail_rate * args.tail_seconds < 1:
        parser.error("--tail-rate and --tail-rate × --tail-seconds must be at least 1")
    scenarios = list(SCENARIOS) if not args.scenario or "all" in args.scenario else \
        [s for s in SCENARIOS if s in args.scenario]

    WAIT_IDLE[0] = args.wait_idle
    os.makedirs(DATA_DIR, exist_ok=True)
    try:
        binary, commit = build(args.no_build)
        data = data_file(args.lines)
        size = os.path.getsize(data)
        results = dict.fromkeys(("es", "s3", "live", "tail", "workers"))
        rows = results["rows"] = []
        for scenario in scenarios:
            if scenario == TAIL_SCENARIO:
                results["tail"] = tail_medians(run_tail(binary, data, args), args)
            elif scenario == WORKERS_SCENARIO:
                measured = run_workers(binary, data, args.lines, args.runs, args)
                results["workers"] = workers_medians(measured, args.lines, size)
            elif scenario == LIVE_SCENARIO:
                results["live"] = live_medians(run_live(binary, data, args.lines, args.runs, args), args.lines, size)
            elif scenario == S3_SCENARIO:
                measured, info = run_s3(binary, data, args.lines, args.runs, args)
                results["s3"] = s3_medians(measured, args.lines, size, info)
            elif scenario == ES_SCENARIO:
                es_data = data_file(args.es_lines)
                es_size = os.path.getsize(es_data)
                timed, counts = run_es(binary, es_data, args.es_lines, args.runs, args)
                results["es"] = es_medians(timed, args.es_lines, es_size, counts)
            else:  # MAIN_TABLE_SCENARIOS
                rows.append((scenario, medians(run_logpipe(binary, scenario, data, args.lines, args.runs, args),
                                               args.lines, size)))
        # the peers are compared with the main table's rows (file-grok-stdout, file-grok-ua-stdout)
        results["peers"], results["peer_notes"] = [], []
        if args.no_peer:
            results["peer_notes"].append("--no-peer given")
        elif rows:
            results["peers"], results["peer_notes"] = run_peers(data, args.lines, size, args.runs, not args.no_install)
        else:
            say("peers: not run (they are compared with %s, not selected)" % " and ".join(MAIN_TABLE_SCENARIOS))
        report(results, machine(commit), args.lines, size, args.runs, args.markdown)
    except (BenchError, subprocess.CalledProcessError) as error:
        say("error: %s" % error)
        sys.exit(1)


if __name__ == "__main__":
    main()
