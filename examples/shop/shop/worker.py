"""The shop's background worker: counts a heartbeat in the database every
few seconds until systemd stops it (SIGTERM), finishing its beat first."""

import signal
import time

import shop

running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
while running:
    try:
        conn = shop.connect()
        with conn.cursor() as cur:
            cur.execute("UPDATE heartbeat SET beats = beats + 1 WHERE id = 1")
        conn.close()
    except Exception as e:  # the database may not be reachable yet
        print("heartbeat failed:", e, flush=True)
    for _ in range(50):
        if not running:
            break
        time.sleep(0.1)
