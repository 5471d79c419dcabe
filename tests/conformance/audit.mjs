// The graphql-http audit (GraphQL over HTTP spec) against DC_URL/graphql. Prints one
// JSON line with pass/total per requirement level and exits 1 if any MUST or SHOULD fails.
import { auditServer } from 'graphql-http';
import { env } from './lib.mjs';

const results = await auditServer({ url: `${env.url}/graphql` });
const summary = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0], failures: [] };
for (const result of results) {
  const level = result.name.split(' ')[0];
  const counts = summary[level] ?? (summary[level] = [0, 0]);
  counts[1] += 1;
  if (result.status === 'ok') {
    counts[0] += 1;
  } else {
    summary.failures.push(`${result.id} ${result.name}: ${result.reason}`);
  }
}
console.log(JSON.stringify(summary));
const failed = summary.MUST[0] < summary.MUST[1] || summary.SHOULD[0] < summary.SHOULD[1];
process.exit(failed ? 1 : 0);
