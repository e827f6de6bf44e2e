// (a) The ceiling: bare node:http answering a fixed CustomerUser JSON to any user route (the body is read).
import { readFileSync } from 'node:fs';
import { args, serveUsers } from './common.mjs';

const fixed = readFileSync(new URL('../fixtures/customer-user.json', import.meta.url), 'utf8').trim();
serveUsers(args().port, () => [200, fixed]);
