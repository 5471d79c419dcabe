// Shared by the conformance scripts: the server under test and a signed Meta delivery.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Everything the Rust test passes in the environment. */
export const env = {
  url: process.env.DC_URL, // http://127.0.0.1:PORT
  token: process.env.DC_TOKEN, // access token of an ADMIN
  org: process.env.DC_ORG, // their org id
  channel: process.env.DC_CHANNEL, // an Instagram channel of the org
  appSecret: process.env.DC_APP_SECRET, // its app secret
};

/** POSTs a signed Instagram DM with `text` to the channel's webhook. */
export async function postInstagramDm(text) {
  const body = JSON.parse(readFileSync(new URL('../fixtures/meta/ig_dm_text.json', import.meta.url)));
  const messaging = body.entry[0].messaging[0];
  messaging.message.text = text;
  messaging.message.mid = `conformance-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  messaging.timestamp = Date.now();
  const raw = JSON.stringify(body);
  const signature = createHmac('sha256', env.appSecret).update(raw).digest('hex');
  const res = await fetch(`${env.url}/webhook/${env.channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${signature}` },
    body: raw,
  });
  if (res.status !== 200) {
    throw new Error(`webhook answered ${res.status}`);
  }
}

/** The inbox subscription: replays from the start, then goes on live. */
export const SUBSCRIPTION = `subscription Inbox($o: ID!) {
  inboxEvents(orgId: $o, after: "0") { seq kind message { text direction } }
}`;

/** Fails the script after `ms`. */
export function deadline(ms, what) {
  return setTimeout(() => {
    console.error(`timed out: ${what}`);
    process.exit(2);
  }, ms).unref();
}
