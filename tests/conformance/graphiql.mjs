// GraphiQL in headless Chromium (Debian's, at $CHROMIUM or /usr/bin/chromium), with no
// network beyond 127.0.0.1: loads DC_URL/graphql, sees the schema in the docs, runs a
// query with a token from the Headers tab, and receives a live subscription event over
// our WebSocket (of a DM this script delivers). Prints one JSON
// line and exits 0 only if all of that happened with no CSP violation and no attempt
// to reach another host.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { deadline, env, postInstagramDm } from './lib.mjs';

// Generous: CI runs this beside the fault suite on two cores.
deadline(240_000, 'GraphiQL in Chromium');
const profile = mkdtempSync(join(tmpdir(), 'dc-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    // Nothing but the server under test resolves, WebSockets included.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
const offHost = [];
const problems = [];
await context.route('**/*', (route) => {
  const url = new URL(route.request().url());
  if (url.hostname === '127.0.0.1') return route.continue();
  offHost.push(url.href);
  return route.abort();
});
// Any CSP violation is reported as a problem (the init script runs outside the CSP).
await context.addInitScript(() =>
  document.addEventListener('securitypolicyviolation', (e) =>
    console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
  ),
);
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(60_000);
page.on('console', (message) => {
  if (message.type() === 'error') problems.push(message.text());
});
page.on('pageerror', (error) => problems.push(String(error)));

const steps = {};
// Replaces the text of the visible editor under `selector` as a user would: click,
// select all, paste.
async function setEditor(selector, text) {
  const editor = page.locator(`${selector} .CodeMirror`).locator('visible=true').first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

try {
  await page.goto(`${env.url}/graphql`);
  await page.locator('.graphiql-container').waitFor();

  // The docs come from standard introspection.
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().click();
  await page.locator('.graphiql-doc-explorer').getByText('inboxEvents').or(
    page.locator('.graphiql-doc-explorer').getByText('me', { exact: true }),
  ).first().waitFor();
  steps.docs = true;

  // The Headers tab is open; its token authenticates HTTP and the WebSocket.
  await page.getByRole('button', { name: 'Headers' }).click();
  await setEditor('.graphiql-editor-tool', JSON.stringify({ Authorization: `Bearer ${env.token}` }));
  await setEditor('.graphiql-query-editor', '{ me { email memberships { role org { id } } } }');
  await page.locator('.graphiql-execute-button').click();
  await page.locator('.graphiql-response').filter({ hasText: env.org }).waitFor();
  steps.query = true;

  // A live subscription over our WebSocket; variables go in the Variables tab. The
  // first DM may land before the server has registered the subscription, so DMs are
  // delivered until one shows up in the result pane.
  await setEditor('.graphiql-query-editor', 'subscription Live($o: ID!) { messageAdded(orgId: $o) { text direction } }');
  await page.getByRole('button', { name: 'Variables' }).click();
  await setEditor('.graphiql-editor-tool', JSON.stringify({ o: env.org }));
  await page.locator('.graphiql-execute-button').click();
  for (let attempt = 1; !steps.subscription && attempt <= 20; attempt += 1) {
    const text = `GraphiQL live ${attempt}`;
    await postInstagramDm(text);
    steps.subscription = await page
      .locator('.graphiql-response')
      .filter({ hasText: text })
      .waitFor({ timeout: 5_000 })
      .then(() => true, () => false);
  }
} catch (error) {
  problems.push(String(error));
}
await page.screenshot({ path: join(tmpdir(), 'dc-graphiql.png') }).catch(() => {});
await context.close();
rmSync(profile, { recursive: true, force: true });
const csp = problems.filter((p) => p.includes('CSP violation') || p.includes('Content Security Policy') || p.includes('Refused to'));
console.log(JSON.stringify({ ...steps, offHost, csp, problems }));
const ok = steps.docs && steps.query && steps.subscription && offHost.length === 0 && problems.length === 0;
process.exit(ok ? 0 : 1);
