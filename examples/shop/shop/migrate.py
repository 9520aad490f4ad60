"""The shop's migration: run once per deploy, on one app instance."""

import shop

conn = shop.connect()
with conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS visits (id INT PRIMARY KEY, n BIGINT NOT NULL)")
    cur.execute("INSERT IGNORE INTO visits VALUES (1, 0)")
    cur.execute("CREATE TABLE IF NOT EXISTS heartbeat (id INT PRIMARY KEY, beats BIGINT NOT NULL)")
    cur.execute("INSERT IGNORE INTO heartbeat VALUES (1, 0)")
conn.close()
print("schema ready")
