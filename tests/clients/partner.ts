// What a partner's TypeScript client writes against the types openapi-typescript generates from
// /openapi.json (./schema.ts, made by the test): `tsc --strict` must accept it as it is.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Activity = components["schemas"]["ActivityPublic"];
type Change = components["schemas"]["ChangesPage"]["items"][number];
type Problem = components["schemas"]["Problem"];

export function partnerClient(baseUrl: string, key: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
}

// Create once: a retry with the same Idempotency-Key replays the first answer.
export async function propose(client: ReturnType<typeof partnerClient>, objectiveId: string, retryKey: string) {
  const { data, response } = await client.POST("/v1/activities", {
    params: { header: { "idempotency-key": retryKey } },
    body: { objective_id: objectiveId, code: "PARTNER-1", title: "A partner's activity", type: "consultation" },
  });
  return { activity: data, location: response.headers.get("Location"), replayed: response.headers.has("Idempotent-Replayed") };
}

// Change only what was read: a stale ETag is a 412 problem, and nothing changes.
export async function complete(client: ReturnType<typeof partnerClient>, id: string): Promise<Activity | Problem | undefined> {
  const read = await client.GET("/v1/activities/{activity_id}", { params: { path: { activity_id: id } } });
  const etag = read.response.headers.get("ETag") ?? "*";
  const { data, error } = await client.PATCH("/v1/activities/{activity_id}", {
    params: { path: { activity_id: id }, header: { "If-Match": etag } },
    body: { status: "completed", actual_end: "2003-12-31" },
  });
  return data ?? error;
}

// Download again only when it changed: 304 while the ETag held is current.
export async function refresh(client: ReturnType<typeof partnerClient>, id: string, etag: string): Promise<boolean> {
  const { response } = await client.GET("/v1/activities/{activity_id}", {
    params: { path: { activity_id: id }, header: { "If-None-Match": etag } },
  });
  return response.status !== 304;
}

// The feed's `type` tells which record `data` is.
export function describe(change: Change): string {
  switch (change.type) {
    case "activity":
      return change.data === null ? `activity ${change.id} deleted` : `${change.data.code} ${change.data.status}`;
    case "partner":
      return change.data === null ? `partner ${change.id} deleted` : change.data.name;
    default:
      return `${change.type} ${change.id}`;
  }
}

// Enums are open in responses: a value added after this document still types.
export const later: Activity["status"] = "postponed";
// ... and closed in requests: the service takes only the values listed.
// @ts-expect-error an unknown status is not a value to send
export const refused: components["schemas"]["ActivityUpdate"]["status"] = "postponed";
