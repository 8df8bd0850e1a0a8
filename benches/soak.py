#!/usr/bin/env python3
"""Long-run soak test (scripts/soak): logpipe follows an nginx log written at a steady rate and
rotated every minute, for MINUTES minutes; reports lag, resident memory over time, and lines
lost (which must be 0).

  1. The writer appends unique nginx combined lines (the request path carries the line's
     number) to DIR/access.log at --rate lines/s, a chunk every 100 ms. Every --rotate-every
     seconds it rotates as logrotate does (no copytruncate): access.log.(k) -> access.log.(k+1),
     access.log -> access.log.1, a new access.log; the oldest of --keep rotations is deleted.
  2. logpipe runs `file` (mode = "tail", path = "DIR/access.log*") -> grok NGINX_COMBINED ->
     date -> `file` output (json_lines) into DIR/out.ndjson, with the release build.
  3. A reader follows out.ndjson and records, for each line, the time from its write to its
     arrival. Every --report-every seconds a row is printed: lines written and delivered, lag
     (lines written but not yet delivered), p50/p99 latency over the interval, logpipe's RSS.
  4. At the end the writer stops; logpipe gets up to --drain seconds to deliver the rest and is
     stopped with SIGTERM. Summary: lines written, delivered, lost (with the first numbers
     missing), duplicates, latency p50/p99/max over the run, RSS at the first and the last
     report and its maximum. Exit status 1 when a line was lost or logpipe failed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOAK_DIR = os.path.join(ROOT, "bench-data", "soak")
# the line number, from the request path of a line the writer made
SEQUENCE = re.compile(r'"GET /soak/(\d+) HTTP/1\.1"')
LINE = ('10.0.%d.%d - - [%s] "GET /soak/%d HTTP/1.1" 200 %d "-" '
        '"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"\n')


def pipeline_toml(directory):
    return f"""[pipeline]
data_dir = "{directory}/data"

[[input]]
type = "file"
path = "{directory}/access.log*"
mode = "tail"
start_position = "beginning"

[[filter]]
type = "grok"
match = {{ message = "%{{NGINX_COMBINED}}" }}

[[filter]]
type = "date"
match = ["nginx.access.time", "dd/MMM/yyyy:HH:mm:ss Z"]

[[output]]
type = "file"
path = "{directory}/out.ndjson"
codec = "json_lines"
"""


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Writer(threading.Thread):
    """Appends lines at a steady rate and rotates the file; remembers when each line was written."""

    def __init__(self, directory, rate, rotate_every, keep):
        super().__init__(daemon=True)
        self.directory, self.rate, self.rotate_every, self.keep = directory, rate, rotate_every, keep
        self.written = 0
        self.rotations = 0
        self.write_times = []  # write time of line n (monotonic)
        self.stop = threading.Event()
        self.error = None

    def log(self, k=0):
        return os.path.join(self.directory, "access.log" + (f".{k}" if k else ""))

    def rotate(self):
        oldest = self.log(self.keep)
        if os.path.exists(oldest):
            os.remove(oldest)
        for k in range(self.keep - 1, 0, -1):
            if os.path.exists(self.log(k)):
                os.rename(self.log(k), self.log(k + 1))
        os.rename(self.log(), self.log(1))
        self.rotations += 1

    def run(self):
        try:
            start = time.monotonic()
            next_rotation = start + self.rotate_every
            chunk = 0
            out = open(self.log(), "a")
            while not self.stop.is_set():
                now = time.monotonic()
                if now >= next_rotation:
                    out.close()
                    self.rotate()
                    out = open(self.log(), "a")
                    next_rotation += self.rotate_every
                due = int((now - start) * self.rate)
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
                text = "".join(LINE % (n // 256 % 256, n % 256, stamp, n, 100 + n % 5000)
                               for n in range(self.written, due))
                out.write(text)
                out.flush()
                self.write_times.extend([time.monotonic()] * (due - self.written))
                self.written = due
                chunk += 1
                time.sleep(max(0.0, start + chunk * 0.1 - time.monotonic()))
            out.close()
        except Exception as error:  # reported by main: a writer failure must not look like a loss
            self.error = error


class Reader(threading.Thread):
    """Follows the output file; counts each line number and records its latency."""

    def __init__(self, path, writer):
        super().__init__(daemon=True)
        self.path, self.writer = path, writer
        self.seen = {}  # line number -> times delivered
        self.latencies = []  # seconds, in arrival order
        self.bad = 0  # output lines that are not the writer's events
        self.stop = threading.Event()

    def run(self):
        while not os.path.exists(self.path) and not self.stop.is_set():
            time.sleep(0.05)
        with open(self.path, "rb") as out:
            pending = b""
            while True:
                chunk = out.read(1 << 20)
                if not chunk:
                    if self.stop.is_set():
                        return
                    time.sleep(0.02)
                    continue
                now = time.monotonic()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    try:
                        message = json.loads(line)["message"]
                        number = int(SEQUENCE.search(message).group(1))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        self.bad += 1
                        continue
                    self.seen[number] = self.seen.get(number, 0) + 1
                    if self.seen[number] == 1:
                        self.latencies.append(now - self.writer.write_times[number])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("minutes", type=float, nargs="?", default=30.0)
    parser.add_argument("--rate", type=int, default=1000, help="lines per second (default 1000)")
    parser.add_argument("--rotate-every", type=float, default=60.0, help="seconds between rotations (60)")
    parser.add_argument("--keep", type=int, default=5, help="rotated files kept (5)")
    parser.add_argument("--report-every", type=float, default=60.0, help="seconds between rows (60)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds logpipe gets to catch up at the end")
    parser.add_argument("--binary", help="logpipe binary (default: cargo build --release)")
    args = parser.parse_args()

    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "logpipe")
    shutil.rmtree(SOAK_DIR, ignore_errors=True)
    os.makedirs(SOAK_DIR)
    config = os.path.join(SOAK_DIR, "pipeline.toml")
    with open(config, "w") as file:
        file.write(pipeline_toml(SOAK_DIR))
    print(f"soak: {args.minutes:g} min, {args.rate} lines/s, rotation every {args.rotate_every:g} s "
          f"(keep {args.keep}), {binary}, in {SOAK_DIR}", flush=True)

    writer = Writer(SOAK_DIR, args.rate, args.rotate_every, args.keep)
    reader = Reader(os.path.join(SOAK_DIR, "out.ndjson"), writer)
    stderr = open(os.path.join(SOAK_DIR, "logpipe.stderr"), "w")
    logpipe = subprocess.Popen([binary, "run", config], stdout=subprocess.DEVNULL, stderr=stderr)
    writer.start()
    reader.start()

    print(f"{'minute':>7} {'written':>10} {'delivered':>10} {'lag lines':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'RSS MB':>7}", flush=True)
    rows = []
    start = time.monotonic()
    end = start + args.minutes * 60
    counted = 0
    while time.monotonic() < end and logpipe.poll() is None and writer.error is None:
        time.sleep(min(args.report_every, max(0.0, end - time.monotonic())))
        latencies = reader.latencies[counted:]
        counted += len(latencies)
        row = ((time.monotonic() - start) / 60, writer.written, len(reader.seen), writer.written - len(reader.seen),
               percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, rss_mb(logpipe.pid))
        rows.append(row)
        print("%7.1f %10d %10d %9d %7.1f %7.1f %7.1f" % row, flush=True)

    writer.stop.set()
    writer.join()
    drain_until = time.monotonic() + args.drain
    while len(reader.seen) < writer.written and time.monotonic() < drain_until and logpipe.poll() is None:
        time.sleep(0.1)
    failed = logpipe.poll()
    if failed is None:
        logpipe.send_signal(signal.SIGTERM)
        status = logpipe.wait(timeout=60)
    else:
        status = failed
    time.sleep(0.5)
    reader.stop.set()
    reader.join()

    lost = [n for n in range(writer.written) if n not in reader.seen]
    duplicates = sum(times - 1 for times in reader.seen.values())
    rss = [row[-1] for row in rows]
    print(f"\nwritten {writer.written} lines in {writer.rotations} rotations; delivered {len(reader.seen)}; "
          f"lost {len(lost)}{' (first: %s)' % lost[:10] if lost else ''}; duplicates {duplicates}; "
          f"output lines not from the writer {reader.bad}")
    if reader.latencies:
        print("latency write -> output: p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
            statistics.median(reader.latencies) * 1000, percentile(reader.latencies, 0.99) * 1000,
            max(reader.latencies) * 1000))
    if rss:
        print(f"RSS: first report {rss[0]:.1f} MB, last {rss[-1]:.1f} MB, max {max(rss):.1f} MB")
    print(f"logpipe exit status {status} ({'failed early' if failed is not None else 'SIGTERM'}); "
          f"stderr in {stderr.name}")
    if writer.error is not None:
        print(f"the writer failed: {writer.error}")
    ok = not lost and status == 0 and failed is None and writer.error is None and reader.bad == 0
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
