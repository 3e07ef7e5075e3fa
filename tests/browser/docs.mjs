// Swagger UI at /docs as a first-time user meets it, in Debian's Chromium (headless) driven by
// playwright-core: open the page, Execute each operation's pre-filled example, read a missing
// language's 404, and Authorize with a token so that writes pass. The page must request nothing
// outside the server, log no error in its console, and show no `OrderedMap`. A screenshot of each
// step goes to target/browser/.
//
// Usage: node docs.mjs BASE_URL WRITE_TOKEN   (tests/browser/run sets it all up)

import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, token] = process.argv.slice(2);
const shots = new URL("../../target/browser/", import.meta.url).pathname;
mkdirSync(shots, { recursive: true });

const results = [];
async function check(name, step) {
  try {
    await step();
    results.push([name, null]);
    console.log(`ok: ${name}`);
  } catch (error) {
    results.push([name, error]);
    console.log(`FAILED: ${name}: ${error.message}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const outside = [];
const consoleErrors = [];
page.on("console", (message) => {
  // The answers the steps below ask for on purpose (a 401, a 404) are logged by the browser as
  // failed loads: those are the API's, not the page's.
  const deliberate = message.location().url.startsWith(`${base}/programming_languages`);
  if (message.type() === "error" && !deliberate) consoleErrors.push(message.text());
});
page.on("pageerror", (error) => consoleErrors.push(String(error)));
// Anything outside the server is refused and noted: the page must work with no network.
await page.route("**/*", (route) => {
  const url = route.request().url();
  if (url.startsWith(base) || url.startsWith("data:") || url.startsWith("blob:")) {
    return route.continue();
  }
  outside.push(url);
  return route.abort();
});

const operation = (id) => page.locator(`#operations-${id}`);
let step = 0;
const shot = (name) => page.screenshot({ path: `${shots}${String(++step).padStart(2, "0")}-${name}.png` });

/// Opens `id`, presses "Try it out", sets `values` (parameter name to text), presses "Execute",
/// and returns the status and body of the answer it shows.
async function execute(id, values = {}) {
  const block = operation(id);
  if (!(await block.locator(".opblock-body").isVisible())) {
    await block.locator(".opblock-summary").click();
  }
  const tryOut = block.locator(".try-out__btn");
  if ((await tryOut.innerText()).trim() === "Try it out") await tryOut.click();
  for (const [name, value] of Object.entries(values)) {
    await block.locator(`tr[data-param-name="${name}"] input`).fill(value);
  }
  const before = await block.locator(".live-responses-table tbody .response-col_status").count();
  await block.locator("button.execute").click();
  const status = block.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor();
  await page.waitForFunction(
    ([selector, count]) => document.querySelectorAll(selector).length >= count,
    [`#operations-${id} .live-responses-table tbody .response-col_status`, Math.max(before, 1)],
  );
  await block.locator(".responses-wrapper").scrollIntoViewIfNeeded();
  const code = (await status.innerText()).trim();
  const body = await block.locator(".live-responses-table tbody .response-col_description").first().innerText();
  await shot(id.replace(/^.*-/, ""));
  // Collapse it again, so the next operation is found where the user would find it.
  await block.locator(".opblock-summary").click();
  return { code, body };
}

await check("the page loads", async () => {
  await page.goto(`${base}/docs`);
  await page.waitForSelector(".opblock");
  await shot("docs");
});

await check("a write without Authorize is a 401 problem", async () => {
  const { code, body } = await execute("programming_languages-create_language");
  assert(code === "401", `status ${code}`);
  assert(body.includes("/problems/unauthorized"), body);
});

await check("Authorize takes the token", async () => {
  await page.locator("button.authorize").first().click();
  const modal = page.locator(".modal-ux");
  await modal.locator("input").first().fill(token);
  await modal.locator("button.authorize").click();
  await shot("authorized");
  await modal.locator("button.close-modal, button.btn-done").first().click();
});

// Each pre-filled example, in the order a user would try them: reads, the create, then the
// changes to the seed language the examples name, its delete last.
for (const [id, expected] of [
  ["programming_languages-list_languages", "200"],
  ["programming_languages-get_language", "200"],
  ["programming_languages-create_language", "201"],
  ["programming_languages-update_language", "200"],
  ["programming_languages-patch_language", "200"],
  ["programming_languages-delete_language", "200"],
  ["service-health", "200"],
]) {
  await check(`${id}: Execute with its example gives ${expected}`, async () => {
    const { code, body } = await execute(id);
    assert(code === expected, `status ${code}: ${body}`);
  });
}

await check("a missing language renders as a 404 problem", async () => {
  const { code, body } = await execute("programming_languages-get_language", { name: "Fortran" });
  assert(code === "404", `status ${code}`);
  assert(body.includes("/problems/not-found") && body.includes("/programming_languages/Fortran"), body);
});

await check("no schema shows OrderedMap", async () => {
  for (const name of ["Language", "LanguageChanges", "LanguagePage", "Problem"]) {
    const model = page.locator(`#model-${name}`);
    await model.locator(".model-box-control").first().click();
  }
  const text = await page.locator("body").innerText();
  await shot("schemas");
  assert(!text.includes("OrderedMap"), "OrderedMap on the page");
});

await check("a narrow window keeps the tags readable", async () => {
  await page.setViewportSize({ width: 420, height: 900 });
  await page.evaluate(() => window.scrollTo(0, 0));
  const tag = page.locator(".opblock-tag").first();
  const box = await tag.boundingBox();
  await shot("narrow");
  assert(box && box.height < 120, `the tag's heading is ${box?.height}px high`);
});

await check("the page asked for nothing outside the server", async () => {
  assert(outside.length === 0, outside.join(", "));
});

await check("the console has no error", async () => {
  assert(consoleErrors.length === 0, consoleErrors.join(" | "));
});

await browser.close();
const failed = results.filter(([, error]) => error).length;
console.log(`browser: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
