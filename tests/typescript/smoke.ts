// The TypeScript client that openapi-typescript and openapi-fetch make from openapi/openapi.json,
// against a live server: every operation, a page walk, a name with a `/`, the 404 and 409
// problems read through the client's typed errors, and a create retried with its Idempotency-Key.
// Usage: node out/smoke.js BASE_URL WRITE_TOKEN   (tests/typescript/run sets it all up)

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.d.ts";

type Problem = components["schemas"]["Problem"];

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  throw new Error("usage: node out/smoke.js BASE_URL WRITE_TOKEN");
}
const client = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${token}` },
});

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new Error(message);
  }
}

async function everyOperation(): Promise<void> {
  const health = await client.GET("/healthz");
  assert(health.data?.status === "ok", "health");

  const created = await client.POST("/programming_languages", {
    body: { name: "PL/I", publication_year: 1964, contribution: "science and business" },
  });
  assert(created.response.status === 201, `create: ${created.response.status}`);
  assert(created.data?.name === "PL/I", "created body");
  assert(created.response.headers.get("location") === "/programming_languages/PL%2FI", "Location");
  const etag = created.response.headers.get("etag") ?? "";

  const got = await client.GET("/programming_languages/{name}", {
    params: { path: { name: "PL/I" } },
  });
  assert(got.data?.publication_year === 1964, "get");

  const updated = await client.PUT("/programming_languages/{name}", {
    params: { path: { name: "PL/I" }, header: { "If-Match": etag } },
    body: { contribution: "records" },
  });
  assert(updated.data?.contribution === "records", "update");

  const stale = await client.PATCH("/programming_languages/{name}", {
    params: { path: { name: "PL/I" }, header: { "If-Match": etag } },
    body: { publication_year: 1966 },
  });
  const precondition: Problem | undefined = stale.error;
  assert(precondition?.status === 412, `stale If-Match: ${stale.response.status}`);

  const patched = await client.PATCH("/programming_languages/{name}", {
    params: { path: { name: "PL/I" } },
    body: { publication_year: 1966 },
  });
  assert(patched.data?.publication_year === 1966, "patch");

  const deleted = await client.DELETE("/programming_languages/{name}", {
    params: { path: { name: "PL/I" } },
  });
  assert(deleted.data?.name === "PL/I", "delete");
}

async function pageWalk(): Promise<void> {
  for (let i = 0; i < 11; i++) {
    const name = `Ts${String(i).padStart(2, "0")}`;
    const created = await client.POST("/programming_languages", {
      body: { name, publication_year: 2012, contribution: "types" },
    });
    assert(created.response.status === 201, `create ${name}`);
  }
  const names: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.GET("/programming_languages", {
      params: { query: { limit: 4, page_token: pageToken } },
    });
    assert(page.data, `page: ${page.response.status}`);
    names.push(...page.data.programming_languages.map((language) => language.name));
    pageToken = page.data.next_page_token;
  } while (pageToken !== undefined);
  assert(new Set(names).size === names.length, "no language twice");
  assert(names.filter((name) => name.startsWith("Ts")).length === 11, "every language once");
}

async function problems(): Promise<void> {
  const missing = await client.GET("/programming_languages/{name}", {
    params: { path: { name: "Fortran" } },
  });
  const notFound: Problem | undefined = missing.error;
  assert(notFound?.status === 404 && notFound.type === "/problems/not-found", "404 problem");
  const taken = await client.POST("/programming_languages", {
    body: { name: "COBOL", publication_year: 1959, contribution: "again" },
  });
  const conflict: Problem | undefined = taken.error;
  assert(conflict?.status === 409 && conflict.type === "/problems/already-exists", "409 problem");
}

async function retriedCreate(): Promise<void> {
  const send = (contribution: string) =>
    client.POST("/programming_languages", {
      params: { header: { "Idempotency-Key": "ts-smoke-1" } },
      body: { name: "Retried", publication_year: 2001, contribution },
    });
  const first = await send("sent twice");
  assert(first.response.status === 201, `create: ${first.response.status}`);
  const again = await send("sent twice");
  assert(again.response.status === 201, `retry: ${again.response.status}`);
  assert(again.response.headers.get("idempotent-replayed") === "true", "replayed");
  assert(again.response.headers.get("etag") === first.response.headers.get("etag"), "same ETag");
  assert(JSON.stringify(again.data) === JSON.stringify(first.data), "same body");
  const reused = await send("another body");
  const unprocessable: Problem | undefined = reused.error;
  assert(
    unprocessable?.status === 422 && unprocessable.type === "/problems/idempotency-key-reused",
    `422 problem: ${reused.response.status}`,
  );
  const deleted = await client.DELETE("/programming_languages/{name}", {
    params: { path: { name: "Retried" } },
  });
  assert(deleted.response.status === 200, "delete");
}

let failed = 0;
const checks: [string, () => Promise<void>][] = [
  ["every operation", everyOperation],
  ["a page walk", pageWalk],
  ["problems", problems],
  ["a create retried with its Idempotency-Key", retriedCreate],
];
for (const [name, check] of checks) {
  try {
    await check();
    console.log(`ok: ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAILED: ${name}: ${String(error)}`);
  }
}
console.log(`typescript client: ${checks.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
