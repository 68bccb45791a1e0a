"""What the end-to-end benchmarks written in Python share (bench/alerts/e2e.sh,
bench/time-to-block/run.sh): the admin API, the times vigild, the agent and
their logs write, and percentiles. They put this folder on sys.path."""
import datetime, http.client, json, re, ssl


def api(port, ca, token, name):
    """A function call(method, path, body=None) of vigild's admin API on
    127.0.0.1:port that returns the JSON answer, and exits naming the
    benchmark (name) on any status other than 200."""
    conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ssl.create_default_context(cafile=ca))

    def call(method, path, body=None):
        headers = {"Authorization": "Bearer " + token}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("%s: %s %s: HTTP %d %s" % (name, method, path, r.status, data[:200]))
        return json.loads(data)
    return call


def wall_ns(text):
    """ns since the epoch of 2026-11-30T06:05:28.123456789Z (the agent's), with
    a shorter fraction (a log line's) or none (the server's)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    sec = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(sec.timestamp()) * 10**9 + int((m.group(2) or "0").ljust(9, "0"))


def first_line_ns(path, offset, *needles):
    """The time of the first line of the log at path, from byte offset, that
    holds every needle; None when there is none."""
    with open(path) as f:
        f.seek(offset)
        for line in f:
            if all(n in line for n in needles):
                return wall_ns(line.split(" ", 1)[0])
    return None


def pct(xs, p):
    """The p-th percentile of xs (nearest rank)."""
    xs = sorted(xs)
    k = max(0, -(-p * len(xs) // 100) - 1)
    return xs[k]
