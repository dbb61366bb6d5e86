"""A partner system's mirror of the workplan service, kept current through `GET /v1/changes`.

    python examples/sync_client.py --base-url http://127.0.0.1:8000 --db mirror.db          # sync once
    python examples/sync_client.py --base-url http://127.0.0.1:8000 --db mirror.db --follow # and keep polling

With WORKPLAN_KEY set to an API key, the mirror also holds what a key may read (partners' contact
details and notes); without one, the public fields.

It follows the client rules of the API (see README, "Syncing"):

- The first run has no cursor: the feed sends every live record (the initial sync).
- Each page is applied in one local transaction together with its `next_cursor`, so a run that is
  killed resumes exactly where the last applied page ended. The cursor is opaque: stored, never
  parsed.
- An item is applied only if its `change_seq` is above the one held for that (type, id); a
  tombstone (`deleted: true`) removes the record.
- While `has_more` is true the next page is asked for at once; then the client waits and polls.
- 410 `CURSOR_EXPIRED` (the cursor is older than the tombstone horizon, or from another
  database): the mirror is emptied and synced again from no cursor.

Needs httpx (`pip install httpx`); the mirror is a SQLite file with one table, `record`.
"""

import argparse
import json
import os
import sqlite3
import time
from typing import Any

import httpx

SCHEMA = """
CREATE TABLE IF NOT EXISTS record (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Mirror:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)
        self.held: dict[tuple[str, str], int] = {}

    @property
    def cursor(self) -> str | None:
        row = self.db.execute("SELECT value FROM sync_state WHERE name = 'cursor'").fetchone()
        return row[0] if row else None

    def apply(self, page: dict[str, Any]) -> int:
        """One page and its cursor, in one transaction. Returns how many items were applied."""
        applied = 0
        with self.db:
            for item in page["items"]:
                key = (item["type"], item["id"])
                row = self.db.execute("SELECT change_seq FROM record WHERE type = ? AND id = ?", key).fetchone()
                # Tombstones are not kept, so remember the stamps of deletions seen in this run too.
                held = max(row[0] if row else -1, self.held.get(key, -1))
                if item["change_seq"] <= held:
                    continue
                self.held[key] = item["change_seq"]
                if item["deleted"]:
                    self.db.execute("DELETE FROM record WHERE type = ? AND id = ?", key)
                else:
                    self.db.execute(
                        "INSERT INTO record (type, id, change_seq, data) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (type, id) DO UPDATE SET change_seq = excluded.change_seq, data = excluded.data",
                        (*key, item["change_seq"], json.dumps(item["data"], sort_keys=True)),
                    )
                applied += 1
            self.db.execute(
                "INSERT INTO sync_state (name, value) VALUES ('cursor', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (page["next_cursor"],),
            )
        return applied

    def reset(self) -> None:
        with self.db:
            self.db.execute("DELETE FROM record")
            self.db.execute("DELETE FROM sync_state")
        self.held.clear()

    def records(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self.db.execute("SELECT type, id, data FROM record")
        return {(type_, id_): json.loads(data) for type_, id_, data in rows}


def sync(client: httpx.Client, mirror: Mirror, *, limit: int = 1000) -> int:
    """Apply every change up to now; returns the number of items applied."""
    applied = 0
    while True:
        cursor = mirror.cursor
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/changes", params=params)
        if response.status_code == 410:
            mirror.reset()  # the feed can no longer tell what we missed: start again
            continue
        response.raise_for_status()
        page = response.json()
        applied += mirror.apply(page)
        if not page["has_more"]:
            return applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="The service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--db", required=True, help="The SQLite file of the mirror (created if absent).")
    parser.add_argument("--follow", action="store_true", help="Keep polling after catching up.")
    parser.add_argument("--interval", type=float, default=5.0, help="Seconds between polls with --follow.")
    parser.add_argument("--limit", type=int, default=1000, help="Items per page (1 to 1000).")
    parser.add_argument(
        "--key-env",
        default="WORKPLAN_KEY",
        help="The environment variable holding an API key, if any: the private fields the key may read "
        "(a partner key: its own partner's) are mirrored too. Never on the command line, where other "
        "users can read it.",
    )
    args = parser.parse_args()
    mirror = Mirror(args.db)
    key = os.environ.get(args.key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=60) as client:
        while True:
            applied = sync(client, mirror, limit=args.limit)
            print(f"applied {applied} changes; {len(mirror.records())} records mirrored", flush=True)
            if not args.follow:
                return
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
