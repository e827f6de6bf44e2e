/** HTTP routes of a customer's users. Routes parse and render; the rules live in UserService. */
import { ObjectTypes, RoleNames, type DirectoryRole } from '@partnerkit/contract';
import type { FastifyInstance } from 'fastify';
import { invalidProperty } from '../errors.js';
import type { IdempotencyGuard } from '../http/idempotency.js';
import { replayRecorder, sendJson, sendJsonText, sendResult, userActor } from '../http/pipeline.js';
import { collection, continuation, pageSize, readQuery, type Query } from '../http/query.js';
import type { UserSortField } from '../store/records.js';
import type { Store } from '../store/store.js';
import { readUserInput, type UserInput } from './input.js';
import type { UserPage, UserService } from './service.js';
import { toWireUser } from './wire.js';

interface Params {
  customerId: string;
  userId: string;
}

export interface UserRouteDeps {
  users: UserService;
  store: Store;
  idempotency: IdempotencyGuard;
}

/** The deleted-users filter (`UserState` or `UserStatus` equals `Inactive`), or the default active list. */
function stateFilter(q: Query): 'active' | 'inactive' {
  const raw = q.get('filter');
  if (raw === undefined || raw === '') return 'active';
  let f: unknown;
  try {
    f = JSON.parse(raw);
  } catch {
    throw invalidProperty({ property: 'filter', rule: 'format', message: 'filter is not JSON' });
  }
  const o = typeof f === 'object' && f !== null ? Object.fromEntries(Object.entries(f).map(([k, v]) => [k.toLowerCase(), v as unknown])) : {};
  const field = typeof o.field === 'string' ? o.field.toLowerCase() : '';
  const value = typeof o.value === 'string' ? o.value.toLowerCase() : '';
  const operator = typeof o.operator === 'string' ? o.operator.toLowerCase() : '';
  if ((field === 'userstate' || field === 'userstatus') && operator === 'equals' && (value === 'inactive' || value === 'active')) return value;
  throw invalidProperty({ property: 'filter', rule: 'value', message: 'the supported user filter is {"Field":"UserState","Value":"Inactive","Operator":"equals"}' });
}

function sortOf(q: Query): { sort: UserSortField; descending: boolean } {
  const field = q.get('sortfield')?.toLowerCase();
  const dir = q.get('sortdirection')?.toLowerCase();
  let sort: UserSortField = 'creation';
  if (field === 'displayname') sort = 'displayName';
  else if (field === 'userprincipalname') sort = 'userPrincipalName';
  else if (field !== undefined && field !== '') throw invalidProperty({ property: 'sortField', rule: 'value', message: 'sortField may be DisplayName or UserPrincipalName' });
  if (dir !== undefined && dir !== '' && dir !== 'ascending' && dir !== 'descending') {
    throw invalidProperty({ property: 'sortDirection', rule: 'value', message: 'sortDirection may be Ascending or Descending' });
  }
  return { sort, descending: dir === 'descending' };
}

export function userRoutes(app: FastifyInstance, deps: UserRouteDeps): void {
  const { users, idempotency } = deps;
  /**
   * The JSON of each page by its self link (the next link follows from the page and the path), as UTF-8 bytes: a
   * kept page is sent many times, and a page of 100 users is some 60 KB, which would otherwise be encoded into a
   * new buffer at every send (with glibc's thresholds fixed, see docs/configuration.md, such buffers are given
   * back to the system and faulted in again: several times the cost of the send itself).
   */
  const rendered = new WeakMap<UserPage, Map<string, Buffer>>();
  const config = { auth: 'user' as const };

  app.get<{ Params: Params }>('/customers/:customerId/users', { config }, async (req, reply) => {
    const q = readQuery(req);
    const state = stateFilter(q);
    const { sort, descending } = sortOf(q);
    const page = await users.list(userActor(req), req.params.customerId, {
      state, sort, descending, size: pageSize(q), continuationToken: continuation(req, q),
    });
    const base = `/customers/${req.params.customerId}/users`;
    const selfQuery = new URLSearchParams();
    if (q.has('size')) selfQuery.set('size', String(page.size));
    if (q.has('filter')) selfQuery.set('filter', q.get('filter') ?? '');
    const self = selfQuery.size > 0 ? `${base}?${selfQuery.toString()}` : base;
    const next = page.next === undefined ? undefined : { uri: `${base}?size=${String(page.size)}&seekOperation=Next`, token: page.next };
    // A page kept by the service (the same object) is rendered once per link set.
    let renderings = rendered.get(page);
    if (renderings === undefined) {
      renderings = new Map();
      rendered.set(page, renderings);
    }
    let bytes = renderings.get(self);
    if (bytes === undefined) {
      bytes = Buffer.from(JSON.stringify(collection(page.users.map(toWireUser), self, next)));
      renderings.set(self, bytes);
    }
    return sendJsonText(reply, 200, bytes);
  });

  app.post<{ Params: Params }>('/customers/:customerId/users', { config }, async (req, reply) => {
    const read = (): UserInput => readUserInput(req.body);
    const user = await users.create(userActor(req), req.params.customerId, read, replayRecorder(req, idempotency, 201, toWireUser));
    return sendResult(req, reply, 201, () => toWireUser(user));
  });

  app.get<{ Params: Params }>('/customers/:customerId/users/:userId', { config }, async (req, reply) => {
    const user = await users.get(userActor(req), req.params.customerId, req.params.userId);
    return sendJson(reply, 200, toWireUser(user));
  });

  app.patch<{ Params: Params }>('/customers/:customerId/users/:userId', { config }, async (req, reply) => {
    const actor = userActor(req);
    const read = (): UserInput => readUserInput(req.body);
    const user = await users.update(actor, req.params.customerId, req.params.userId, read, replayRecorder(req, idempotency, 200, toWireUser));
    return sendResult(req, reply, 200, () => toWireUser(user));
  });

  app.delete<{ Params: Params }>('/customers/:customerId/users/:userId', { config }, async (req, reply) => {
    await users.delete(userActor(req), req.params.customerId, req.params.userId, replayRecorder(req, idempotency, 204, () => null));
    return reply.code(204).send();
  });

  app.get<{ Params: Params }>('/customers/:customerId/users/:userId/directoryroles', { config }, async (req, reply) => {
    const roles = await users.directoryRoles(userActor(req), req.params.customerId, req.params.userId);
    const items: DirectoryRole[] = roles.map((id) => ({ id, name: RoleNames[id] ?? id, attributes: { objectType: ObjectTypes.directoryRole } }));
    return sendJson(reply, 200, { totalCount: items.length, items, attributes: { objectType: ObjectTypes.collection } });
  });
}
