"""A partner system's receiver of the workplan service's webhooks: a mirror kept current by pushes.

    WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 9000 --db mirror.db

Subscribe `http://your-host:9000/` (the secret is shown once, when the subscription is made), after
an initial sync through `GET /v1/changes` (examples/sync_client.py) if the mirror must hold what
existed before.

It follows the client rules of the API (see README, "Webhooks"):

- Every delivery is verified with `standardwebhooks` (`webhook-id`, `webhook-timestamp`,
  `webhook-signature`) before anything else: a request that does not verify gets 401 and changes
  nothing. During a secret's rotation the service signs with both secrets; either verifies.
- The body is a feed item as `GET /v1/changes` serves it. It is applied only if its `change_seq` is
  above the one held for that (type, id); a tombstone (`deleted: true`) removes the record. So a
  retry, a redelivery, a replay or a push older than a poll changes nothing.
- A `webhook-id` seen before is answered 204 at once: deliveries are at least once, and a retry of
  one change carries the same id.
- It answers 2xx as soon as the item is stored (one small transaction): slow answers time out and
  are retried; 410 would disable the subscription.

Needs standardwebhooks and starlette, with uvicorn to serve it.
"""

import argparse
import json
import os
import sqlite3
import threading
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS record (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS tombstone (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS seen (webhook_id TEXT PRIMARY KEY);
"""


class Mirror:
    """The records received, in a SQLite file. A deletion leaves a tombstone, so that an older
    push of the deleted record (a retry that overtook nothing) cannot bring it back."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def held(self, type_: str, id_: str) -> int:
        row = self.db.execute(
            "SELECT max(change_seq) FROM (SELECT change_seq FROM record WHERE type = ? AND id = ? "
            "UNION ALL SELECT change_seq FROM tombstone WHERE type = ? AND id = ?)",
            (type_, id_, type_, id_),
        ).fetchone()
        return int(row[0] or 0)

    def receive(self, webhook_id: str, item: dict[str, Any]) -> bool:
        """Apply one item (once per webhook-id); False if it was seen before."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.db.execute("SELECT 1 FROM seen WHERE webhook_id = ?", (webhook_id,)).fetchone():
                    self.db.execute("ROLLBACK")
                    return False
                self.db.execute("INSERT INTO seen VALUES (?)", (webhook_id,))
                type_, id_, seq = item["type"], item["id"], item["change_seq"]
                if seq > self.held(type_, id_):
                    self.db.execute("DELETE FROM record WHERE type = ? AND id = ?", (type_, id_))
                    self.db.execute("DELETE FROM tombstone WHERE type = ? AND id = ?", (type_, id_))
                    if item["deleted"]:
                        self.db.execute("INSERT INTO tombstone VALUES (?, ?, ?)", (type_, id_, seq))
                    else:
                        self.db.execute(
                            "INSERT INTO record VALUES (?, ?, ?, ?)", (type_, id_, seq, json.dumps(item["data"]))
                        )
                self.db.execute("COMMIT")
                return True
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def records(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT type, id, data FROM record").fetchall()
        return {(type_, id_): json.loads(data) for type_, id_, data in rows}


def create_app(secret: str, mirror: Mirror) -> Starlette:
    verifier = Webhook(secret)

    async def receive(request: Request) -> Response:
        body = await request.body()  # the bytes as received: the signature is over them
        try:
            item = verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return Response(status_code=401)
        mirror.receive(request.headers["webhook-id"], item)
        return Response(status_code=204)

    return Starlette(routes=[Route("/", receive, methods=["POST"])])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--db", default="mirror.db", help="The SQLite file of the mirror.")
    args = parser.parse_args()
    secret = os.environ["WEBHOOK_SECRET"]
    uvicorn.run(create_app(secret, Mirror(args.db)), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
