/**
 * Directory roles of a customer: GET /customers/{cid}/directoryroles and
 * GET /customers/{cid}/directoryroles/{role-id}/usermembers (App+User; read roles per the GDAP table).
 */
import { ObjectTypes, RoleIds, RoleNames, type DirectoryRole, type UserMember } from '@partnerkit/contract';
import type { FastifyInstance } from 'fastify';
import type { Actor } from '../actor.js';
import { customerAccess } from '../access/authorize.js';
import { requireRoles } from '../access/gdap.js';
import { PartnerKitError } from '../errors.js';
import { sendJson, userActor } from '../http/pipeline.js';
import { collection, continuation, pageSize, readQuery } from '../http/query.js';
import { badToken, decodeToken, encodeToken } from '../paging.js';
import type { Store } from '../store/store.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const toWireRole = (id: string): DirectoryRole => ({ id, name: RoleNames[id] ?? id, attributes: { objectType: ObjectTypes.directoryRole } });

export class RoleService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Roles activated in the customer: every role some user holds, and Global Administrator (always present). */
  async customerRoles(actor: Actor, customerId: string): Promise<string[]> {
    const { customer, roles } = await customerAccess(this.store, actor, customerId, this.now());
    requireRoles(roles, ['readRoles']);
    const held = await this.store.customerRoleIds(customer.id);
    return [...new Set([RoleIds.globalAdministrator, ...held])];
  }

  async members(actor: Actor, customerId: string, roleId: string, size: number, token: string | undefined): Promise<{ members: UserMember[]; next: string | undefined }> {
    const { customer, roles } = await customerAccess(this.store, actor, customerId, this.now());
    requireRoles(roles, ['readRoles']);
    if (!GUID.test(roleId)) throw new PartnerKitError('routeNotFound', 'Directory role not found.');
    let offset = 0;
    if (token !== undefined) {
      const t = decodeToken(token);
      if (t.k !== 'members' || typeof t.o !== 'number' || t.r !== roleId.toLowerCase()) throw badToken();
      offset = t.o;
    }
    const all = await this.store.roleMembers(customer.id, roleId.toLowerCase());
    const page = all.slice(offset, offset + size);
    const members = page.map((u): UserMember => ({
      id: u.id, displayName: u.displayName, userPrincipalName: u.upn, roleId: roleId.toLowerCase(), attributes: { objectType: ObjectTypes.userMember },
    }));
    const next = offset + size < all.length ? encodeToken({ k: 'members', r: roleId.toLowerCase(), o: offset + size }) : undefined;
    return { members, next };
  }
}

export function roleRoutes(app: FastifyInstance, roles: RoleService): void {
  const config = { auth: 'user' as const };
  app.get<{ Params: { customerId: string } }>('/customers/:customerId/directoryroles', { config }, async (req, reply) => {
    const ids = await roles.customerRoles(userActor(req), req.params.customerId);
    const items = ids.map(toWireRole);
    return sendJson(reply, 200, { totalCount: items.length, items, attributes: { objectType: ObjectTypes.collection } });
  });
  app.get<{ Params: { customerId: string; roleId: string } }>('/customers/:customerId/directoryroles/:roleId/usermembers', { config }, async (req, reply) => {
    const q = readQuery(req);
    const size = pageSize(q);
    const { customerId, roleId } = req.params;
    const page = await roles.members(userActor(req), customerId, roleId, size, continuation(req, q));
    const base = `/customers/${customerId}/directoryroles/${roleId}/usermembers`;
    const next = page.next === undefined ? undefined : { uri: `${base}?size=${String(size)}&seekOperation=Next`, token: page.next };
    return sendJson(reply, 200, collection(page.members, base, next));
  });
}
