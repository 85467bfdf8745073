#!/usr/bin/env python3
"""redis-py pipelines against synod (issue 14): what a Redis Cluster user
expects of MULTI / EXEC / WATCH.

- `pipeline()` (transaction on) over one key: MULTI, the commands, EXEC run
  as one atomic change; every reply comes back in order.
- `pipeline()` over several keys: EXEC is refused (CROSSSLOT) and nothing of
  it is applied (before issue 14, MULTI and EXEC were unknown commands and
  the SET and INCR between them ran anyway).
- An unknown command inside a transaction: EXECABORT, nothing applied.
- `pipeline(transaction=False)`: any keys, one command at a time.
- WATCH: EXEC answers nil (redis-py raises WatchError) if the key changed
  after WATCH, and nothing is applied.

Installs redis-py with pip if it is missing. Usage:
    scripts/cluster.sh start && scripts/redis-py-pipelines.py --port 7001 [--other-port 7002]
Exit status 0 if every check held.
"""
import argparse
import subprocess
import sys
import uuid

try:
    import redis
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "redis"])
    import redis

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=7001)
p.add_argument("--other-port", type=int, default=None,
               help="a second node, to read the results through (default: --port)")
a = p.parse_args()

# redis-py 8 speaks RESP3 by default (HELLO 3); synod speaks RESP2 only.
r = redis.Redis(host=a.host, port=a.port, protocol=2, decode_responses=True)
o = redis.Redis(host=a.host, port=a.other_port or a.port, protocol=2, decode_responses=True)
run = uuid.uuid4().hex[:8]
k1, k2, kw = f"pipe:{run}:a", f"pipe:{run}:b", f"pipe:{run}:w"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    checks += 1
    print(f"ok   {what}")


# 1. One key, transaction on: one atomic change, replies in order.
pipe = r.pipeline()
pipe.set(k1, "10").incr(k1).incrby(k1, 5).get(k1)
res = pipe.execute()
check(res == [True, 11, 16, "16"], f"pipeline() on one key answers {res}")
check(o.get(k1) == "16", "the transaction's value is read through another node")

# 2. Two keys, transaction on: refused at EXEC, nothing applied.
pipe = r.pipeline()
pipe.set(k1, "x").incr(k2)
try:
    pipe.execute()
    check(False, "pipeline() over two keys must be refused")
except redis.exceptions.ResponseError as e:
    check("same slot" in str(e), f"pipeline() over two keys is refused (CROSSSLOT): {e}")
check(o.get(k1) == "16" and o.get(k2) is None, "nothing of the refused transaction was applied")

# 3. An unknown command inside MULTI: EXECABORT, nothing applied.
pipe = r.pipeline()
pipe.set(k1, "y").execute_command("NOSUCHCOMMAND", k1)
try:
    pipe.execute()
    check(False, "a transaction with an unknown command must abort")
except redis.exceptions.ResponseError as e:
    check("EXECABORT" in str(e) or "unknown command" in str(e), f"unknown command aborts: {e}")
check(o.get(k1) == "16", "nothing of the aborted transaction was applied")

# 4. Transaction off: any keys, each command on its own.
pipe = r.pipeline(transaction=False)
pipe.set(k1, "1").set(k2, "2").incr(k2).mget(k1, k2)
res = pipe.execute()
check(res == [True, True, 3, ["1", "3"]], f"pipeline(transaction=False) answers {res}")

# 5. WATCH: a change after WATCH makes EXEC answer nil; nothing applied.
r.set(kw, "0")
with r.pipeline() as pipe:
    pipe.watch(kw)
    before = int(pipe.get(kw))
    o.set(kw, "100")  # another client changes the key
    pipe.multi()
    pipe.set(kw, before + 1)
    try:
        pipe.execute()
        check(False, "EXEC after a watched change must fail")
    except redis.exceptions.WatchError:
        check(True, "a watched key changed: EXEC answers nil (WatchError)")
check(o.get(kw) == "100", "nothing of the watched transaction was applied")

# 6. WATCH without a change: EXEC runs (the optimistic-locking loop).
def incr_optimistic(key):
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                n = int(pipe.get(key) or 0)
                pipe.multi()
                pipe.set(key, n + 1)
                return pipe.execute()
            except redis.exceptions.WatchError:
                continue

check(incr_optimistic(kw) == [True], "WATCH, GET, MULTI, SET, EXEC runs when nothing changed")
check(o.get(kw) == "101", "the watched transaction's value is read through another node")

r.delete(k1, k2, kw)
print(f"all {checks} checks held")
