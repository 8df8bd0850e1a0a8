#!/usr/bin/env python3
"""End-to-end throughput of logpipe on generated nginx logs (python3, stdlib only).

Run it as `scripts/bench` from anywhere in the repository:

    scripts/bench                                # every scenario, 1,000,000 lines, 5 runs each
    scripts/bench --scenario file-grok-stdout --runs 3 --lines 50000    # a quick look

What it does:
  1. `cargo build --release --locked`, then copies target/release/logpipe to bench-data/ so that
     a concurrent build cannot swap the binary in the middle of the runs;
  2. generates bench-data/access-1m.log (scripts/nginx_log_gen.py, seed 42; kept, and only made
     again when missing);
  3. per scenario writes bench-data/<scenario>.toml (file input in read mode -> filters -> stdout
     json_lines) and runs it once with stdout into a pipe to check that exactly one JSON event
     per line comes out, parsed (a broken pipeline must not post a fast figure);
  4. runs it --runs times with stdout to /dev/null and a fresh data_dir each time, measuring
     the child with os.wait4: wall seconds, user+sys CPU seconds and peak RSS;
  5. runs the peer (lognormalizer from liblognorm-utils, parsing the same file with a rulebase
     for the combined format), if it is installed or can be installed with apt-get;
  6. prints one table of medians, the machine, and the peer ratio; --markdown FILE also writes
     them as a markdown section.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

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
}
SCENARIO_FILTERS = {
    "file-grok-stdout": [GROK, DATE],
    "file-grok-ua-stdout": [GROK, DATE, USERAGENT],
}

# lognormalizer (liblognorm v2 rulebase): the combined format, and the same with a request that
# is not `METHOD URL HTTP/x` (`"-"`, TLS bytes), so that every generated line parses.
LOGNORM_RULEBASE = r"""version=2
rule=nginx-combined:%source_address:word% - %user_name:word% [%time:char-to{"extradata":"]"}%] "%method:word% %url:word% HTTP/%http_version:char-to{"extradata":"\""}%" %status:number% %bytes:word% %referrer:quoted-string% %user_agent:quoted-string%
rule=nginx-combined-other-request:%source_address:word% - %user_name:word% [%time:char-to{"extradata":"]"}%] %request:quoted-string% %status:number% %bytes:word% %referrer:quoted-string% %user_agent:quoted-string%
"""

SUMMARY = re.compile(r"events in (\d+), out (\d+), dropped (\d+)((?:, _\w+ \d+)*);")


def say(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- setup ------------------------------------------------------------------------------------

def build(skip):
    binary = os.path.join(ROOT, "target", "release", "logpipe")
    if not skip:
        say("cargo build --release --locked")
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    if not os.access(binary, os.X_OK):
        raise BenchError("%s is missing: run without --no-build" % binary)
    snapshot = os.path.join(DATA_DIR, "logpipe")
    shutil.copy2(binary, snapshot + ".tmp")
    os.replace(snapshot + ".tmp", snapshot)
    return snapshot


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


def write_pipeline(scenario, data, workers, batch_size):
    path = os.path.join(DATA_DIR, "%s.toml" % scenario)
    settings = []
    if workers:
        settings.append("workers = %d" % workers)
    if batch_size:
        settings.append("batch_size = %d" % batch_size)
    text = "# Written by benches/pipeline.py: %s.\n" % SCENARIOS[scenario]
    if settings:
        text += "[pipeline]\n" + "\n".join(settings) + "\n\n"
    text += '[[input]]\ntype = "file"\npath = "%s"\nmode = "read"\n\n' % os.path.basename(data)
    text += "\n".join(SCENARIO_FILTERS[scenario])
    text += '\n[[output]]\ntype = "stdout"\ncodec = "json_lines"\n'
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


def measure(argv, stdin=None, env=None):
    """Runs argv with stdout to /dev/null; returns wall, cpu, peak RSS, stderr, and the CPU
    seconds that other processes used meanwhile (a busy machine makes the figures unfair)."""
    wait_for_idle()
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null:
        busy_before = busy_cpu_seconds()
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdin=stdin, stdout=null, stderr=err, env=env, cwd=DATA_DIR)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        others = max(0.0, busy_cpu_seconds() - busy_before - usage.ru_utime - usage.ru_stime)
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if child.returncode != 0:
        raise BenchError("%s exited %d:\n%s" % (" ".join(argv), child.returncode, stderr[-2000:]))
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime,
            "sys": usage.ru_stime, "rss_mb": usage.ru_maxrss * 1024 / 1e6, "stderr": stderr,
            "others": others}


def count_output(argv, stdin=None, env=None, inspect=None):
    """Runs argv with stdout into a pipe; returns (lines out, stderr, first lines)."""
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=err, env=env, cwd=DATA_DIR)
        count, head, tail = 0, [], b""
        while True:
            chunk = child.stdout.read(1 << 20)
            if not chunk:
                break
            count += chunk.count(b"\n")
            if len(head) < 1000:
                head.extend((tail + chunk).split(b"\n")[:-1][: 1000 - len(head)])
                tail = (tail + chunk).rsplit(b"\n", 1)[-1]
        child.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if child.returncode != 0:
        raise BenchError("%s exited %d:\n%s" % (" ".join(argv), child.returncode, stderr[-2000:]))
    return count, stderr, head


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
    for raw in head:
        event = json.loads(raw)
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
    if problems:
        raise BenchError("%s: output check failed: %s" % (scenario, "; ".join(problems)))


def run_logpipe(binary, scenario, data, lines, runs, args):
    pipeline = write_pipeline(scenario, data, args.workers, args.batch_size)
    argv = [binary, "run", pipeline]

    def env(data_dir):
        e = dict(os.environ, LOGPIPE_DATA_DIR=data_dir)
        e.pop("LOGPIPE_LOG", None)
        return e

    with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir:
        count, stderr, head = count_output(argv, env=env(data_dir))
    check_logpipe_output(scenario, lines, count, stderr, head)
    say("%s: output checked: %d events for %d lines, all parsed" % (scenario, count, lines))
    results = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="logpipe-bench-") as data_dir:
            result = measure(argv, env=env(data_dir))
        summary = SUMMARY.search(result["stderr"])
        if not summary or int(summary.group(2)) != lines:
            raise BenchError("%s run %d: summary does not show %d events out:\n%s"
                             % (scenario, i + 1, lines, result["stderr"][-1000:]))
        results.append(result)
        say("%s run %d/%d: %.2f s wall, %.2f s cpu, %.0f MB peak RSS, %.0f events/s%s"
            % (scenario, i + 1, runs, result["wall"], result["cpu"], result["rss_mb"], lines / result["wall"],
               busy_note(result)))
    return results


def busy_note(result):
    """A warning when other processes took a noticeable share of the machine during a run."""
    share = result["others"] / result["wall"]
    # /proc/stat counts in clock ticks (10 ms): ignore what a tick or two of rounding makes.
    noticeable = share > 0.1 and result["others"] > 0.05
    return "  (other processes or hypervisor steal used %.2f CPUs meanwhile)" % share if noticeable else ""


# --- peer -------------------------------------------------------------------------------------

def lognormalizer(install):
    """Path of lognormalizer, installing liblognorm-utils with apt-get if allowed; or (None, why)."""
    found = shutil.which("lognormalizer")
    if found:
        return found, None
    if not shutil.which("apt-cache"):
        return None, "lognormalizer is not installed and there is no apt here"
    policy = subprocess.run(["apt-cache", "policy", "liblognorm-utils"], capture_output=True, text=True).stdout
    candidate = re.search(r"Candidate: (\S+)", policy)
    if not candidate or candidate.group(1) == "(none)":
        return None, "lognormalizer is not installed and apt has no liblognorm-utils (try apt-get update)"
    if not install:
        return None, "lognormalizer is not installed (apt-get install liblognorm-utils; --no-install given)"
    if os.geteuid() != 0:
        return None, "lognormalizer is not installed (sudo apt-get install liblognorm-utils)"
    say("installing liblognorm-utils %s (apt-get) for the peer comparison" % candidate.group(1))
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "liblognorm-utils"],
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = shutil.which("lognormalizer")
    if done.returncode != 0 or not found:
        return None, "installing liblognorm-utils failed: %s" % done.stderr.strip()[-300:]
    return found, None


def run_lognormalizer(path, data, lines, runs):
    rulebase = os.path.join(DATA_DIR, "nginx-combined.rb")
    with open(rulebase, "w") as f:
        f.write(LOGNORM_RULEBASE)
    argv = [path, "-r", rulebase, "-e", "json"]
    with open(data, "rb") as stdin:
        count, _, head = count_output(argv, stdin=stdin)
    unparsed = [raw for raw in head if b"unparsed-data" in raw]
    if count != lines or unparsed:
        raise BenchError("lognormalizer: %d lines out for %d; unparsed: %s" % (count, lines, unparsed[:1]))
    say("lognormalizer: output checked: %d events for %d lines" % (count, lines))
    results = []
    for i in range(runs):
        with open(data, "rb") as stdin:
            result = measure(argv, stdin=stdin)
        results.append(result)
        say("lognormalizer run %d/%d: %.2f s wall, %.2f s cpu, %.0f MB peak RSS, %.0f events/s%s"
            % (i + 1, runs, result["wall"], result["cpu"], result["rss_mb"], lines / result["wall"],
               busy_note(result)))
    done = subprocess.run([path, "-V"], capture_output=True, text=True)
    version = re.search(r"lognormalizer version: (\S+)", done.stdout + done.stderr)
    return results, "lognormalizer " + (version.group(1) if version else "(version unknown)")


# --- report -----------------------------------------------------------------------------------

def medians(results, lines, size):
    wall = statistics.median(r["wall"] for r in results)
    cpu = statistics.median(r["cpu"] for r in results)
    return {"events_s": lines / wall, "mb_s": size / 1e6 / wall, "wall": wall, "cpu": cpu,
            "cpu_per_m": cpu / lines * 1e6, "rss_mb": statistics.median(r["rss_mb"] for r in results),
            "runs": len(results), "events_s_min": lines / max(r["wall"] for r in results),
            "events_s_max": lines / min(r["wall"] for r in results),
            "busy_runs": sum(1 for r in results if busy_note(r))}


def machine():
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
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "mem": mem, "rustc": rustc,
            "kernel": "Linux %s" % platform.release(), "commit": commit}


def report(rows, peer, peer_note, info, lines, size, runs, markdown_path):
    header = ["scenario", "events/s", "(min–max)", "MB/s", "wall s", "CPU s", "CPU-s / M events", "peak RSS MB"]
    table = []
    for name, m in rows + ([peer] if peer else []):
        table.append([name, "%.0f" % m["events_s"], "%.0f–%.0f" % (m["events_s_min"], m["events_s_max"]),
                      "%.1f" % m["mb_s"], "%.2f" % m["wall"], "%.2f" % m["cpu"], "%.2f" % m["cpu_per_m"],
                      "%.0f" % m["rss_mb"]])
    busy = [(name, m["busy_runs"]) for name, m in rows + ([peer] if peer else []) if m["busy_runs"]]
    widths = [max(len(str(row[i])) for row in [header] + table) for i in range(len(header))]
    text = ["", "Medians of %d runs, %d lines (%.0f MB) of generated nginx combined log, stdout to /dev/null:" %
            (runs, lines, size / 1e6), ""]
    text.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for row in table:
        text.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    text.append("")
    if busy:
        text.append("warning: other processes (or VM steal) used more than 0.1 CPU during %s; the figures are pessimistic" %
                    ", ".join("%d %s run(s)" % (n, name) for name, n in busy))
    text.append("machine: %d CPUs (nproc), %s, %s, %s; %s; logpipe %s" %
                (info["nproc"], info["cpu"], info["mem"], info["kernel"], info["rustc"], info["commit"]))
    ratios = []
    if peer:
        for name, m in rows:
            ratios.append("%s / %s events/s: %.2f" % (name, peer[0], m["events_s"] / peer[1]["events_s"]))
        text.extend("ratio " + r for r in ratios)
        text.append("(lognormalizer is one C thread that only splits the line into strings; logpipe also "
                    "parses the date, builds ECS events with event.original, log.file.path, log.offset "
                    "and keeps checkpoints)")
    else:
        text.append("peer: %s" % peer_note)
    print("\n".join(text))

    if markdown_path:
        md = ["### Benchmarks", "",
              "`scripts/bench` (harness: `benches/pipeline.py`) generates %d lines (%.0f MB) of nginx combined "
              "log (`scripts/nginx_log_gen.py --seed %d`), runs each scenario once to check that every line "
              "comes out as one parsed event, then %d times with stdout to /dev/null and a fresh data_dir; "
              "the child is measured with `wait4` (wall time, user+sys CPU, peak RSS). Medians:" %
              (lines, size / 1e6, SEED, runs), "",
              "| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        for row in table:
            md.append("| " + " | ".join(("`%s`" % c) if i == 0 else c for i, c in enumerate(row)) + " |")
        md.append("")
        for name, description in SCENARIOS.items():
            if any(name == r[0] for r in rows):
                md.append("- `%s`: %s." % (name, description))
        if peer:
            md.append("- `%s`: the same file parsed by lognormalizer (liblognorm) with a two-rule rulebase for "
                      "the combined format, JSON out; one C thread that only splits the line into strings "
                      "(no date parsing, no event.original, offsets or checkpoints)." % peer[0])
        md.append("")
        if busy:
            md.append("Other processes (or VM steal) used more than 0.1 CPU during %s, so those figures are pessimistic." %
                      ", ".join("%d `%s` run(s)" % (n, name) for name, n in busy))
            md.append("")
        md.append("Machine: %d CPUs (`nproc`), %s, %s, %s, %s; logpipe at %s." %
                  (info["nproc"], info["cpu"], info["mem"], info["kernel"], info["rustc"], info["commit"]))
        md.append("")
        if peer:
            md.append("Ratio to the peer (events/s): " + "; ".join(
                "`%s` %.2f× lognormalizer" % (name, m["events_s"] / peer[1]["events_s"]) for name, m in rows) + ".")
        else:
            md.append("Peer: %s." % peer_note)
        with open(markdown_path, "w") as f:
            f.write("\n".join(md) + "\n")
        say("wrote %s" % markdown_path)


def main():
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS) + ["all"],
                        help="scenario to run (repeatable; default: all)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per scenario (default 5)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of generated log (default 1000000)")
    parser.add_argument("--workers", type=int, help="[pipeline] workers (default: logpipe's, the number of cores)")
    parser.add_argument("--batch-size", type=int, help="[pipeline] batch_size (default: logpipe's)")
    parser.add_argument("--no-build", action="store_true", help="use target/release/logpipe as it is")
    parser.add_argument("--no-peer", action="store_true", help="do not run lognormalizer")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install the peer when missing")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before each timed run, wait up to this long for other processes to go quiet")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as a markdown section")
    args = parser.parse_args()
    if args.runs < 1 or args.lines < 1:
        parser.error("--runs and --lines must be at least 1")
    scenarios = list(SCENARIOS) if not args.scenario or "all" in args.scenario else \
        [s for s in SCENARIOS if s in args.scenario]

    WAIT_IDLE[0] = args.wait_idle
    os.makedirs(DATA_DIR, exist_ok=True)
    try:
        binary = build(args.no_build)
        data = data_file(args.lines)
        size = os.path.getsize(data)
        rows = []
        for scenario in scenarios:
            rows.append((scenario, medians(run_logpipe(binary, scenario, data, args.lines, args.runs, args),
                                           args.lines, size)))
        peer, peer_note = None, "not run (--no-peer)"
        if not args.no_peer:
            path, peer_note = lognormalizer(not args.no_install)
            if path:
                results, version = run_lognormalizer(path, data, args.lines, args.runs)
                peer = (version, medians(results, args.lines, size))
            else:
                say("peer: %s" % peer_note)
        report(rows, peer, peer_note, machine(), args.lines, size, args.runs, args.markdown)
    except (BenchError, subprocess.CalledProcessError) as error:
        say("error: %s" % error)
        sys.exit(1)


if __name__ == "__main__":
    main()
