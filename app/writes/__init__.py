"""Below the resources: what their writes go through (Idempotency-Key replay, PUT by the owner's
reference) and the tables that keep writes safe to retry and ordered for the change feed (app/sync)."""
