#!/usr/bin/env python3
"""redis-py against a running synod node: the library's own handshake and
its everyday calls. Not in CI (needs `pip install redis`).

    scripts/cluster.sh start && scripts/redis-py-smoke.py --port 7001
"""
import argparse
import time

import redis

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=7001)
a = p.parse_args()

# redis-py 8's defaults: it speaks RESP3 (HELLO 3).
r = redis.Redis(host=a.host, port=a.port, decode_responses=True, client_name="smoke")
assert r.ping()
assert r.client_getname() == "smoke"
assert r.set("smoke:a", "1")
assert r.get("smoke:a") == "1"
assert r.set("smoke:a", "2", nx=True) is None
assert r.set("smoke:a", "3", xx=True, get=True) == "1"
assert r.incr("smoke:n") == 1 and r.incrby("smoke:n", 4) == 5
assert r.incrbyfloat("smoke:n", 0.5) == 5.5
assert r.mset({"smoke:b": "x", "smoke:c": "y"})
assert r.mget("smoke:b", "smoke:nope", "smoke:c") == ["x", None, "y"]
assert r.append("smoke:b", "z") == 2 and r.strlen("smoke:b") == 2
assert r.getrange("smoke:b", 0, 0) == "x"
assert r.expire("smoke:b", 100) and 99 <= r.ttl("smoke:b") <= 100
assert r.persist("smoke:b") and r.ttl("smoke:b") == -1
assert r.set("smoke:t", "v", px=200)
time.sleep(0.5)
assert r.get("smoke:t") is None and r.exists("smoke:t") == 0
assert r.type("smoke:a") == "string"
keys = set(r.scan_iter(match="smoke:*", count=2))
assert keys == {"smoke:a", "smoke:b", "smoke:c", "smoke:n"}, keys
assert set(r.keys("smoke:*")) == keys
with r.pipeline(transaction=False) as pipe:
    for i in range(100):
        pipe.set(f"smoke:p{i}", i)
    pipe.get("smoke:p99")
    out = pipe.execute()
assert out[-1] == "99"
try:
    r.execute_command("NOSUCH", "x")
    raise AssertionError("an unknown command must fail")
except redis.ResponseError as e:
    assert str(e).startswith("unknown command 'NOSUCH'"), e
assert r.ping()
assert r.delete(*r.keys("smoke:*")) == 104
print("redis-py", redis.__version__, "against synod: ok")
