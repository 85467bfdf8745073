#!/usr/bin/env python3
"""Command generator for the measurement scripts (bench-memory, spread, churn).

Writes commands to stdout, for `redis-cli -p PORT --pipe` (RESP) or for plain
`redis-cli -p PORT` reading one inline command per line:

  resp_gen.py set --count N [--start 0] [--value-bytes 100] [--shuffle]
      RESP: SET key:%010d VALUE for N keys, in key order (or a random order
      with --shuffle). The value is the key's number padded with 'x' to
      --value-bytes, so a reader can check it.
  resp_gen.py churn --rate R --seconds S [--prefix churn:]
      RESP, paced: R times a second, SET a new key then DEL it (key i
      increases, so every key is new); runs S seconds, then ends the stream.
      Prints "churn: sent=I seconds=T rate=R" on stderr at the end.
  resp_gen.py sample --of N --count C --op get|set [--seed 1]
                     [--value-bytes 100] [--expect FILE]
      Inline commands for C distinct keys picked from key:0..N-1: GET (the
      expected reply is the loaded value) or SET (a new value "new:..."; the
      expected reply is OK). Writes the expected reply lines to --expect.
  resp_gen.py value --index I [--value-bytes 100] [--new]
      Prints the value `set` (or `sample --op set`) gives key I.

No third-party modules: this runs on a bare python3.
"""

import argparse
import random
import sys
import time

KEY_FORMAT = "key:%010d"


def value_of(index, value_bytes, new=False):
    """The value written for key `index`: its number, padded with 'x'."""
    head = ("new:%010d" if new else "v:%010d") % index
    if len(head) >= value_bytes:
        return head[:value_bytes]
    return head + "x" * (value_bytes - len(head))


def resp(*args):
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def cmd_set(opts):
    out = sys.stdout.buffer
    batch = []
    order = range(opts.start, opts.start + opts.count)
    if opts.shuffle:
        order = list(order)
        random.Random(opts.seed).shuffle(order)
    for i in order:
        batch.append(resp(b"SET", KEY_FORMAT % i, value_of(i, opts.value_bytes)))
        if len(batch) == 4096:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
    out.flush()


def cmd_churn(opts):
    out = sys.stdout.buffer
    tick_s = 0.01
    start = time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= opts.seconds:
            break
        due = int(opts.rate * elapsed) - sent
        if due > 0:
            chunk = []
            for i in range(sent, sent + due):
                key = "%s%d" % (opts.prefix, i)
                chunk.append(resp(b"SET", key, b"v" * opts.value_bytes))
                chunk.append(resp(b"DEL", key))
            # Blocks when redis-cli (or the server behind it) falls behind:
            # the achieved rate printed at the end says so.
            out.write(b"".join(chunk))
            out.flush()
            sent += due
        time.sleep(tick_s)
    elapsed = time.monotonic() - start
    print(
        "churn: sent=%d seconds=%.1f rate=%.0f" % (sent, elapsed, sent / elapsed),
        file=sys.stderr,
    )


def cmd_sample(opts):
    rng = random.Random(opts.seed)
    picks = rng.sample(range(opts.of), min(opts.count, opts.of))
    expect = open(opts.expect, "w") if opts.expect else None
    lines = []
    for i in picks:
        key = KEY_FORMAT % i
        if opts.op == "get":
            lines.append("GET %s\n" % key)
            if expect:
                expect.write(value_of(i, opts.value_bytes) + "\n")
        else:
            lines.append("SET %s %s\n" % (key, value_of(i, opts.value_bytes, new=True)))
            if expect:
                expect.write("OK\n")
    sys.stdout.write("".join(lines))
    if expect:
        expect.close()


def cmd_value(opts):
    print(value_of(opts.index, opts.value_bytes, new=opts.new))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("set")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--value-bytes", type=int, default=100)
    s.add_argument("--shuffle", action="store_true", help="write the keys in a random order")
    s.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("churn")
    c.add_argument("--rate", type=float, required=True)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--prefix", default="churn:")
    c.add_argument("--value-bytes", type=int, default=100)
    m = sub.add_parser("sample")
    m.add_argument("--of", type=int, required=True)
    m.add_argument("--count", type=int, required=True)
    m.add_argument("--op", choices=["get", "set"], required=True)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--value-bytes", type=int, default=100)
    m.add_argument("--expect")
    v = sub.add_parser("value")
    v.add_argument("--index", type=int, required=True)
    v.add_argument("--value-bytes", type=int, default=100)
    v.add_argument("--new", action="store_true")
    opts = p.parse_args()
    if getattr(opts, "value_bytes", 1) < 1:
        p.error("--value-bytes must be at least 1")
    {"set": cmd_set, "churn": cmd_churn, "sample": cmd_sample, "value": cmd_value}[opts.mode](opts)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
