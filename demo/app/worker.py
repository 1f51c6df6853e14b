"""lifeops demo worker: BRPOP jobs from the Redis list `jobs`, heartbeat in `worker:heartbeat:<host>`.

SIGTERM/SIGINT: finish the current job, then exit 0 (within BRPOP_TIMEOUT + job time, ~2 s).
Results are pushed to `jobs:done`. Env: REDIS_URL, BRPOP_TIMEOUT (s, default 1), JOB_SECONDS (simulated work).
"""
import json
import os
import signal
import socket
import sys
import time

import redis

stop = False


def _on_signal(signum, _frame):
    global stop
    stop = True
    print("worker: signal %d, finishing current job then exiting" % signum, flush=True)


def main():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    url = os.environ.get("REDIS_URL", "redis://cache:6379/0")
    timeout = int(os.environ.get("BRPOP_TIMEOUT", "1"))
    work = float(os.environ.get("JOB_SECONDS", "0.1"))
    version = os.environ.get("APP_VERSION", "dev")
    hb_key = "worker:heartbeat:%s" % socket.gethostname()
    r = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=timeout + 5)
    done = 0
    print("worker: started version=%s" % version, flush=True)
    while not stop:
        try:
            r.set(hb_key, json.dumps({"ts": time.time(), "done": done, "version": version}), ex=30)
            item = r.brpop("jobs", timeout=timeout)
        except redis.exceptions.RedisError as exc:
            print("worker: redis error: %s" % type(exc).__name__, flush=True)
            time.sleep(1)
            continue
        if item is None:
            continue
        _key, payload = item
        time.sleep(work)  # the "work"; a signal arriving now lets it finish
        done += 1
        try:
            r.lpush("jobs:done", payload)
        except redis.exceptions.RedisError:
            pass
    try:
        r.delete(hb_key)
    except redis.exceptions.RedisError:
        pass
    print("worker: stopped after %d jobs" % done, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
