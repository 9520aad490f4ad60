"""The shop's web app: a WSGI callable (gunicorn runs it as shop:app).

Every page view counts one visit in MariaDB and says which app instance
answered, so requests through the load balancer show both the balancing
and the shared state. /health answers without the database, for the load
balancer's checks and the deploy's health check.
"""

import json
import os
import socket

import pymysql

CONFIG = os.environ.get("SHOP_DB_CONFIG", "/etc/shop/db.json")
RELEASE = os.path.basename(os.path.realpath(os.getcwd()))


def connect():
    """Opens a connection with the settings the configure recipe wrote."""
    with open(CONFIG, encoding="utf-8") as f:
        c = json.load(f)
    return pymysql.connect(host=c["host"], user=c["user"], password=c["password"],
                           database=c["database"], autocommit=True, connect_timeout=5)


def app(environ, start_response):
    if environ.get("PATH_INFO", "/") == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE visits SET n = n + 1 WHERE id = 1")
            cur.execute("SELECT n FROM visits WHERE id = 1")
            (visits,) = cur.fetchone()
            cur.execute("SELECT beats FROM heartbeat WHERE id = 1")
            (beats,) = cur.fetchone()
    finally:
        conn.close()
    body = "Hello from %s: visit #%d, worker heartbeats %d (release %s)\n" % (
        socket.gethostname(), visits, beats, RELEASE)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]
