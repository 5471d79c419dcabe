// The official graphql-ws client against our WebSocket: authenticates in
// connection_init, subscribes to the inbox, receives the replayed event of the DM the
// Rust test delivered, then one live event of a DM this script delivers.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { SUBSCRIPTION, deadline, env, postInstagramDm } from './lib.mjs';

deadline(120_000, 'graphql-ws events');
const client = createClient({
  url: `${env.url.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${env.token}` },
  retryAttempts: 0,
});
const live = `graphql-ws live ${Date.now()}`;
const texts = [];
let posted = false;
for await (const result of client.iterate({ query: SUBSCRIPTION, variables: { o: env.org } })) {
  if (result.errors) {
    console.error(JSON.stringify(result.errors));
    process.exit(1);
  }
  const text = result.data.inboxEvents.message?.text;
  if (!text) continue;
  texts.push(text);
  if (!posted) {
    posted = true;
    await postInstagramDm(live);
  }
  if (text === live) break;
}
await client.dispose();
console.log(JSON.stringify({ events: texts.length, replayed: texts[0], live: texts.at(-1) }));
