#!/usr/bin/python3
"""SYNTHETIC demo traffic for expense_ops: made-up API requests, never real users.

Writes nginx access-log lines in the expense_ops log_format (docs/worker.md, "Log shipping"),

  {"time":"$time_iso8601","method":"$request_method","uri":"$uri","status":$status,"request_time":$request_time}

appending them to a file that the worker ships into ops.request_log, or sends the requests
themselves to the demo nginx (scripts/demo-nginx.conf), which then logs them. make run starts
it in the background (scripts/run.sh); test/integration/demo_traffic_test.py checks its output.

The mix imitates the API behind PostgREST: a few routes with their own weights and latencies
(lognormal, with a rare slow outlier), mostly 2xx, some 4xx (failed logins, conflicts, bad
input), and on request a burst of 5xx during which the API's routes fail as they would with the
database away. Only nginx's own /health stays up through a burst.

  scripts/demo-traffic.py --output .run/traffic.json --rate 5 --burst-5xx 60 --burst-every 600
  scripts/demo-traffic.py --output /tmp/access.json --once 200 --burst-5xx 5
  scripts/demo-traffic.py --http http://127.0.0.1:54380 --duration 30

Python 3 standard library only.
"""

import argparse
import bisect
import datetime
import heapq
import itertools
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request

# route: (method, weight, median ms, statuses of the 4xx it draws, share of requests that draw one)
ROUTES = {
    "/expenses": ("GET", 34, 22.0, (404, 400), 0.02),
    "/rpc/submit_expense": ("POST", 14, 55.0, (400, 409), 0.05),
    "/rpc/approve_expense": ("POST", 8, 40.0, (409, 404), 0.04),
    "/rpc/login": ("POST", 8, 110.0, (401,), 0.08),  # argon2 takes its time, and people mistype
    "/rpc/health": ("GET", 6, 2.5, (), 0.0),
    "/health": ("GET", 10, 0.0, (), 0.0),  # nginx answers it alone: $request_time is 0.000
}
SIGMA = 0.55  # of the lognormal: the P95 of a route is about 2.5 times its median
OUTLIER_SHARE = 0.01  # a slow plan, a lock wait: ten to forty times the median
BURST_5XX_SHARE = 0.4  # of the API's requests during a burst
BURST_STATUSES = ((502, 0.4), (503, 0.35), (504, 0.25))  # upstream refused, overloaded, timed out
# The statuses the demo nginx answers when asked (X-Demo-Status): every non-2xx one drawn above.
ASKED_STATUSES = frozenset({400, 401, 404, 409, 500, 502, 503, 504})

FORMAT = '{{"time":"{time}","method":"{method}","uri":"{uri}","status":{status},"request_time":{seconds:.3f}}}\n'


class Mix:
    """Draws requests: a route by weight, then its status and its duration in seconds."""

    def __init__(self, seed):
        self.random = random.Random(seed)
        self.routes = list(ROUTES)
        self.cumulative = list(itertools.accumulate(ROUTES[route][1] for route in self.routes))

    def draw(self, bursting):
        pick = self.random.random() * self.cumulative[-1]
        route = self.routes[bisect.bisect_right(self.cumulative, pick)]
        method, _, median_ms, client_errors, client_error_share = ROUTES[route]
        seconds = self.latency(median_ms)
        status = 200
        if bursting and route != "/health" and self.random.random() < BURST_5XX_SHARE:
            status = self.weighted(BURST_STATUSES)
            seconds = {502: 0.001, 503: 0.004}.get(status) or self.random.uniform(3.0, 8.0)
        elif client_errors and self.random.random() < client_error_share:
            status = self.random.choice(client_errors)
            seconds *= 0.6  # refused before the expensive part
        return method, route, status, seconds

    def latency(self, median_ms):
        if median_ms == 0:
            return 0.0
        ms = self.random.lognormvariate(0.0, SIGMA) * median_ms
        if self.random.random() < OUTLIER_SHARE:
            ms *= self.random.uniform(10.0, 40.0)
        return ms / 1000.0

    def weighted(self, choices):
        pick = self.random.random()
        for status, share in choices:
            pick -= share
            if pick < 0:
                return status
        return choices[-1][0]


class Burst:
    """Whether an instant of the run falls in a 5xx burst: the first LENGTH seconds of the run,
    and again every EVERY seconds if given."""

    def __init__(self, length, every):
        self.length = length
        self.every = every

    def __call__(self, elapsed):
        if not self.length:
            return False
        if self.every:
            elapsed %= self.every
        return elapsed < self.length


def log_time(epoch):
    """$time_iso8601: local time to the second, with the offset, as nginx writes it."""
    return datetime.datetime.fromtimestamp(int(epoch)).astimezone().isoformat()


def log_line(epoch, method, route, status, seconds):
    return FORMAT.format(time=log_time(epoch), method=method, uri=route, status=status, seconds=seconds)


def append(path, text):
    """One write with O_APPEND: whole lines, after whatever else is in the file. The file is
    opened again for each write, so a logrotate rename is followed at the next one."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, text.encode())
    finally:
        os.close(descriptor)


# The demo nginx is on loopback: an http_proxy of the environment has no say.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send(base_url, method, route, status):
    """One real request to the demo nginx, asking it for STATUS unless that is a 2xx (nginx's
    own answer). The status nginx answered, or None when nothing answered."""
    headers = {"Content-Type": "application/json"}
    if status in ASKED_STATUSES:
        headers["X-Demo-Status"] = str(status)
    body = b"{}" if method == "POST" else None
    request = urllib.request.Request(base_url + route, data=body, method=method, headers=headers)
    try:
        with DIRECT.open(request, timeout=5) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None  # nginx stopped (part of the demo) or not there yet


class Tally:
    def __init__(self):
        self.counts = {"2xx": 0, "4xx": 0, "5xx": 0, "unanswered": 0}

    def add(self, status):
        self.counts["unanswered" if status is None else f"{status // 100}xx"] += 1

    def summary(self):
        total = sum(self.counts.values())
        parts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items() if n or kind != "unanswered")
        return f"{total} SYNTHETIC requests ({parts})"


def once(arguments, mix, burst, tally):
    """COUNT requests at once. Written to a file, they are spread over the COUNT / RATE seconds
    before now, as if they had been logged as they came; sent, they go back to back."""
    span = arguments.once / arguments.rate
    start = time.time() - span
    lines = []
    for i in range(arguments.once):
        elapsed = i / arguments.rate
        method, route, status, seconds = mix.draw(burst(elapsed))
        if arguments.http:
            status = send(arguments.http, method, route, status)
        else:
            lines.append(log_line(start + elapsed, method, route, status, seconds))
        tally.add(status)
    if lines:
        append(arguments.output, "".join(lines))


def stream(arguments, mix, burst, tally):
    """Requests as a Poisson process of RATE per second, until DURATION has passed (or a
    signal). A file gets each request once its duration is over, as nginx logs it."""
    began = time.monotonic()
    wall_began = time.time()
    pending = []  # a heap of (logged at, line): the requests still "running"
    arrival = 0.0
    try:
        while arguments.duration is None or arrival < arguments.duration:
            arrival += mix.random.expovariate(arguments.rate)
            wait = began + arrival - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            method, route, status, seconds = mix.draw(burst(arrival))
            if arguments.http:
                status = send(arguments.http, method, route, status)
            else:
                done = wall_began + arrival + seconds
                heapq.heappush(pending, (done, log_line(done, method, route, status, seconds)))
                lines = []
                while pending and pending[0][0] <= time.time():
                    lines.append(heapq.heappop(pending)[1])
                if lines:
                    append(arguments.output, "".join(lines))
            tally.add(status)
    finally:
        # Stopped early or not, what was drawn is logged: the slow ones a little before their time.
        if pending:
            append(arguments.output, "".join(line for _, line in sorted(pending)))


def positive(text):
    number = float(text)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return number


def count(text):
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return number


def parse(argv):
    parser = argparse.ArgumentParser(
        prog="demo-traffic.py",
        description="SYNTHETIC demo traffic: made-up requests to the expense_ops API, as nginx "
                    "access-log lines in the expense_ops log_format (docs/worker.md), appended to "
                    "a file the worker ships, or sent to the demo nginx. Never real users.",
        epilog="Routes: " + ", ".join(f"{m} {r}" for r, (m, *_) in ROUTES.items()) + ". "
               "With --http, nginx's $request_time of its own answers is 0.000: the latency "
               "mix exists only in the lines --output writes.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", metavar="FILE", help="append the lines to FILE (made if missing)")
    target.add_argument("--http", metavar="URL",
                        help="send the requests to URL (the demo nginx, http://127.0.0.1:PORT) instead; "
                             "it answers the status drawn and writes the lines itself")
    parser.add_argument("--rate", type=positive, default=5.0, metavar="N",
                        help="requests per second, on average (default 5)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--duration", type=positive, metavar="SECONDS",
                        help="stop after SECONDS (default: run until SIGTERM or Ctrl-C)")
    length.add_argument("--once", type=count, metavar="N",
                        help="make N requests at once and exit; in a file they cover the N/RATE "
                             "seconds before now")
    parser.add_argument("--burst-5xx", type=positive, metavar="SECONDS",
                        help=f"the first SECONDS of the run are a burst: {BURST_5XX_SHARE * 100:.0f} %% of the "
                             "API's requests answer 502, 503 or 504 (slowly, for 504)")
    parser.add_argument("--burst-every", type=positive, metavar="SECONDS",
                        help="repeat the burst every SECONDS (needs --burst-5xx)")
    parser.add_argument("--seed", type=int, help="seed of the draws, for a repeatable mix")
    arguments = parser.parse_args(argv)
    if arguments.burst_every and not arguments.burst_5xx:
        parser.error("--burst-every needs --burst-5xx")
    if arguments.burst_every and arguments.burst_every < arguments.burst_5xx:
        parser.error("--burst-every must not be shorter than --burst-5xx")
    if arguments.http:
        arguments.http = arguments.http.rstrip("/")
    if arguments.output:
        arguments.output = os.path.abspath(arguments.output)
    return arguments


def main(argv):
    arguments = parse(argv)
    mix = Mix(arguments.seed)
    burst = Burst(arguments.burst_5xx, arguments.burst_every)
    tally = Tally()

    def stop(number, frame):
        raise KeyboardInterrupt

    # make run stops it with SIGTERM: the requests still "running" are written, and the tally told.
    signal.signal(signal.SIGTERM, stop)
    where = arguments.output or arguments.http
    try:
        if arguments.once:
            once(arguments, mix, burst, tally)
        else:
            print(f"demo-traffic: SYNTHETIC requests, {arguments.rate:g}/s, to {where}", file=sys.stderr, flush=True)
            stream(arguments, mix, burst, tally)
    except KeyboardInterrupt:
        pass
    print(f"demo-traffic: {tally.summary()} to {where}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
