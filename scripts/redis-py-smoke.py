#!/usr/bin/env python3
"""redis-py against a running synod node: the library's own handshake and
its everyday calls. Not in CI (needs `pip install redis`).

    scripts/cluster.sh start && scripts/redis-py-smoke.py --port 7001

Over TLS (redis-py's ssl=True, checking the node's certificate against the CA):

    scripts/cluster.sh start --tls
    scripts/redis-py-smoke.py --port 7001 --tls-ca target/cluster/tls/ca.crt
"""
import argparse
import time

import redis

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=7001)
p.add_argument("--tls-ca", help="connect with TLS, trusting this CA certificate (PEM)")
a = p.parse_args()
tls = dict(ssl=True, ssl_ca_certs=a.tls_ca) if a.tls_ca else {}

# redis-py 8's defaults: it speaks RESP3 (HELLO 3).
r = redis.Redis(host=a.host, port=a.port, decode_responses=True, client_name="smoke", **tls)
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

# Each data type, as redis-py 8 returns it over RESP3.
assert r.hset("smoke:h", mapping={"a": "1", "b": "2"}) == 2
assert r.hgetall("smoke:h") == {"a": "1", "b": "2"}
assert r.hincrby("smoke:h", "a", 4) == 5 and r.hincrbyfloat("smoke:h", "b", 0.5) == 2.5
assert r.hmget("smoke:h", "a", "nope") == ["5", None] and r.hlen("smoke:h") == 2
assert r.hdel("smoke:h", "a") == 1 and r.hkeys("smoke:h") == ["b"]
assert r.sadd("smoke:s", "x", "y", "z") == 3 and r.smembers("smoke:s") == {"x", "y", "z"}
assert r.sismember("smoke:s", "x") and r.smismember("smoke:s", ["x", "q"]) == [1, 0]
assert r.spop("smoke:s") in {"x", "y", "z"} and r.scard("smoke:s") == 2
assert r.zadd("smoke:z", {"a": 1, "b": 2.5}) == 2 and r.zscore("smoke:z", "b") == 2.5
assert r.zrange("smoke:z", 0, -1, withscores=True) == [["a", 1.0], ["b", 2.5]] or r.zrange(
    "smoke:z", 0, -1, withscores=True
) == [("a", 1.0), ("b", 2.5)]
assert r.zincrby("smoke:z", 2, "a") == 3.0 and r.zrank("smoke:z", "a") == 1
assert r.zrangebyscore("smoke:z", 2, "+inf") == ["b", "a"]
assert r.rpush("smoke:l", "a", "b", "c") == 3 and r.lpop("smoke:l") == "a"
assert r.lrange("smoke:l", 0, -1) == ["b", "c"] and r.llen("smoke:l") == 2
assert [r.type(k) for k in ("smoke:h", "smoke:s", "smoke:z", "smoke:l")] == [
    "hash",
    "set",
    "zset",
    "list",
]
try:
    r.get("smoke:h")
    raise AssertionError("GET of a hash must fail")
except redis.ResponseError as e:
    assert str(e).startswith("WRONGTYPE"), e
assert r.expire("smoke:l", 100) and 99 <= r.ttl("smoke:l") <= 100
assert r.delete("smoke:h", "smoke:s", "smoke:z", "smoke:l") == 4

# The everyday rest: bit commands, LCS, TOUCH, MSETNX, RENAME, OBJECT,
# RANDOMKEY, INFO with several sections.
assert r.setbit("smoke:bits", 7, 1) == 0 and r.getbit("smoke:bits", 7) == 1
assert r.setbit("smoke:bits", 100, 1) == 0 and r.bitcount("smoke:bits") == 2
assert r.bitcount("smoke:bits", 0, 0) == 1 and r.bitcount("smoke:bits", 0, 7, "BIT") == 1
assert r.bitpos("smoke:bits", 1) == 7 and r.bitpos("smoke:bits", 1, 1) == 100
assert r.set("smoke:lcs1", "ohmytext") and r.set("smoke:lcs2", "mynewtext")
assert r.lcs("smoke:lcs1", "smoke:lcs2") == "mytext"
assert r.lcs("smoke:lcs1", "smoke:lcs2", len=True) == 6
idx = r.lcs("smoke:lcs1", "smoke:lcs2", idx=True, minmatchlen=4, withmatchlen=True)
# A map in RESP3; redis-py leaves it a flat list when it speaks RESP2.
matches = [[[4, 7], [5, 8], 4]]
assert idx in ({"matches": matches, "len": 6}, ["matches", matches, "len", 6]), idx
assert r.touch("smoke:lcs1", "smoke:nope", "smoke:lcs2") == 2
assert r.msetnx({"smoke:m": "1"}) and not r.msetnx({"smoke:m": "2"})
try:
    r.msetnx({"smoke:m1": "1", "smoke:m2": "2"})
    raise AssertionError("MSETNX across keys must be refused")
except redis.ResponseError as e:
    assert str(e).startswith("Keys in request don't hash to the same slot"), e
assert r.rename("smoke:m", "smoke:m") and r.renamenx("smoke:m", "smoke:m") is False
try:
    r.rename("smoke:m", "smoke:other")
    raise AssertionError("RENAME across keys must be refused")
except redis.ResponseError as e:
    assert "CROSSSLOT" in str(e) or "same slot" in str(e), e
assert r.object("encoding", "smoke:m") == "int" and r.object("refcount", "smoke:lcs1") == 1
assert r.randomkey() is not None
info = r.info("server", "clients")
assert "synod_version" in info and "connected_clients" in info, info
assert "used_memory" not in info
assert r.delete("smoke:bits", "smoke:lcs1", "smoke:lcs2", "smoke:m") == 4

# redis-py's Lock: SET NX PX to take it, its EVALSHA scripts to extend,
# reacquire and release it (each script one change function on the key).
lock = r.lock("smoke:lock", timeout=5)
assert lock.acquire(blocking=False)
assert not r.lock("smoke:lock", timeout=5).acquire(blocking=False)
assert lock.owned() and lock.extend(5) and lock.reacquire()
lock.release()
assert r.get("smoke:lock") is None
with r.lock("smoke:lock", timeout=2, blocking_timeout=1):
    assert r.exists("smoke:lock") == 1
assert r.exists("smoke:lock") == 0
print("redis-py", redis.__version__, "against synod: ok")
