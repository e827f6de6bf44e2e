/**
 * The built-in demo data set (`--demo`) and the sign-in details printed when it is loaded.
 *
 * The credentials here are public demo values, printed on standard output by design: they are not secrets and
 * must never be used outside a local PartnerKit.
 */
import { RoleIds } from '@partnerkit/contract';
import type { SeedCustomerUser, SeedFile } from './format.js';

const TENANT_DOMAIN = 'northwindpartner.onmicrosoft.com';
const FABRIKAM_DOMAIN = 'fabrikamtraders.onmicrosoft.com';
const CONTOSO_DOMAIN = 'contosooutfitters.onmicrosoft.com';
const FABRIKAM_CUSTOM = 'fabrikam.example';
const FEDERATED_DOMAIN = 'fedcorp.example';

/** Every id in the demo data set. */
export const DEMO_IDS = {
  tenantId: '75c9ffb4-b27f-4abf-9ea9-6dc1d84b2e7c',
  clientId: '6392a47d-c9e1-479e-9d54-02c4b5347082',
  groups: {
    userAdmins: '02784060-1f8b-438d-85f7-4639ce3e1982',
    helpdeskReaders: '15752bd9-96eb-44d2-a596-2f1f9a113e1e',
  },
  partnerUsers: {
    /** agent@…: MFA, in User admins. */
    agent: 'e7fe3f6b-7ae4-4508-9a7e-db36eec654f2',
    /** reader@…: MFA, in Helpdesk readers (Directory Readers only). */
    reader: '0e3b08b9-16c4-4292-9d00-bcd5dddeafb2',
    /** nomfa@…: no MFA, in User admins. */
    noMfa: '4ea4f9bb-d3ee-46df-9b8c-8b5185ff178e',
  },
  fabrikam: {
    customerId: 'b662d1f9-72be-40f6-87c7-9fb9380a2726',
    relationshipId: '6c4ac976-c16a-44d2-a9c4-4828728786fb',
    users: {
      globalAdmin: '9a572abe-6c79-4f67-b8c1-f63f9786775d',
      userAdmin: 'ff96581e-3dd0-4e11-aac6-dea725ca6af4',
      /** An ordinary user with no usage location: the one the banner's PATCH example updates. */
      ordinary: '669e9734-fe1f-46bc-8b42-1a47615f979a',
      tomas: '4b5d2008-3158-4fbe-9ef9-7615045dac4d',
      aiko: 'b1a78d15-e458-4961-86e5-5f74405522b0',
      liam: 'e7e00b6a-0179-4015-be31-b996cb3bee9e',
      fatima: '5c557516-6351-4f3e-9c15-0edc0fa3ffda',
      noah: '89867844-9617-4bad-be70-02c4ea30b47d',
      grace: 'cd4629ed-d623-4c5c-9095-ac99237ab4e8',
      /** Federated (fedcorp.example), no password. */
      federated: '6a8e3d6c-1b98-42e4-8d82-760314c9fcfa',
      sofia: '248ffaa9-177b-408c-819e-d2fac789c1c3',
      ethan: '8367fd79-fc9c-4e99-8c1e-4618ab5cfbfd',
      /** Soft-deleted (inactive). */
      deleted: '55965145-a553-4a16-9240-dfabd6dd1197',
    },
  },
  contoso: {
    customerId: '1dd05da3-cb8b-46e3-af05-244fa67f193b',
    relationshipId: '88babfd5-1ed9-4978-9600-67f3a5400bbe',
    expiredRelationshipId: '75e920e5-65c9-440b-9e5f-cc508dbf9407',
    users: {
      globalAdmin: '1706fe8c-d0cf-4503-b4c4-64fd0d269452',
      amara: '4bdde6fb-974f-40b9-ac3d-aa12973dc4ad',
      lucas: '89c2c022-e1db-4563-bb6c-7667934931d6',
      mei: '96fad529-daef-4746-b285-09b504bb3247',
    },
  },
} as const;

/** The demo sign-in details (public demo values, not secrets). Every demo partner user has `password`. */
export const DEMO = {
  tenantId: DEMO_IDS.tenantId,
  tenantDomain: TENANT_DOMAIN,
  clientId: DEMO_IDS.clientId,
  clientSecret: 'pkdemo~Northwind.Local-Only-Secret-2025',
  username: `agent@${TENANT_DOMAIN}`,
  password: 'PartnerKit-Demo-2025',
  /** Fabrikam Traders. */
  customerId: DEMO_IDS.fabrikam.customerId,
  /** An ordinary Fabrikam user. */
  userId: DEMO_IDS.fabrikam.users.ordinary,
  /** reader@…: MFA, Directory Readers only. */
  readerUsername: `reader@${TENANT_DOMAIN}`,
  /** nomfa@…: a User admins member without MFA (refused while the MFA rule is on). */
  noMfaUsername: `nomfa@${TENANT_DOMAIN}`,
} as const;

/** The password of the demo customer users that have one (they cannot sign in; the API shows it nowhere). */
const CUSTOMER_USER_PASSWORD = 'Welcome-To-Fabrikam-2025';

interface PersonOptions {
  usageLocation?: string;
  roles?: string[];
  state?: 'active' | 'inactive';
}

/** A customer user `first.last@domain`; users of the federated domain have no password. */
function person(id: string, first: string, last: string, domain: string, o: PersonOptions = {}): SeedCustomerUser {
  const alias = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, '');
  const u: SeedCustomerUser = {
    id,
    userPrincipalName: `${alias}@${domain}`,
    displayName: `${first} ${last}`,
    firstName: first,
    lastName: last,
    state: o.state ?? 'active',
    roles: o.roles ?? [],
  };
  if (o.usageLocation !== undefined) u.usageLocation = o.usageLocation;
  if (domain !== FEDERATED_DOMAIN) u.password = CUSTOMER_USER_PASSWORD;
  return u;
}

const F = DEMO_IDS.fabrikam.users;
const C = DEMO_IDS.contoso.users;

/** The demo data set: one partner, two customers, GDAP relationships between them. */
export const DEMO_SEED: SeedFile = {
  partners: [
    {
      tenantId: DEMO_IDS.tenantId,
      name: 'Northwind Partner',
      domain: TENANT_DOMAIN,
      applications: [{ clientId: DEMO_IDS.clientId, displayName: 'PartnerKit demo app', clientSecret: DEMO.clientSecret }],
      groups: [
        { id: DEMO_IDS.groups.userAdmins, displayName: 'User admins' },
        { id: DEMO_IDS.groups.helpdeskReaders, displayName: 'Helpdesk readers' },
      ],
      users: [
        {
          id: DEMO_IDS.partnerUsers.agent, userPrincipalName: DEMO.username, displayName: 'Demo Agent',
          password: DEMO.password, mfa: true, groups: [DEMO_IDS.groups.userAdmins],
        },
        {
          id: DEMO_IDS.partnerUsers.reader, userPrincipalName: DEMO.readerUsername, displayName: 'Demo Reader',
          password: DEMO.password, mfa: true, groups: [DEMO_IDS.groups.helpdeskReaders],
        },
        {
          id: DEMO_IDS.partnerUsers.noMfa, userPrincipalName: DEMO.noMfaUsername, displayName: 'Demo Agent Without MFA',
          password: DEMO.password, mfa: false, groups: [DEMO_IDS.groups.userAdmins],
        },
      ],
      customers: [
        {
          id: DEMO_IDS.fabrikam.customerId,
          companyName: 'Fabrikam Traders',
          domain: FABRIKAM_DOMAIN,
          customDomains: [
            { name: FABRIKAM_CUSTOM, federated: false },
            { name: FEDERATED_DOMAIN, federated: true },
          ],
          users: [
            person(F.globalAdmin, 'Hana', 'Okafor', FABRIKAM_CUSTOM, { usageLocation: 'US', roles: [RoleIds.globalAdministrator] }),
            person(F.userAdmin, 'Marcus', 'Lindqvist', FABRIKAM_CUSTOM, { usageLocation: 'SE', roles: [RoleIds.userAdministrator] }),
            person(F.ordinary, 'Priya', 'Raman', FABRIKAM_CUSTOM),
            person(F.tomas, 'Tomas', 'Herrera', FABRIKAM_CUSTOM, { usageLocation: 'ES' }),
            person(F.aiko, 'Aiko', 'Tanaka', FABRIKAM_CUSTOM, { usageLocation: 'JP' }),
            person(F.liam, 'Liam', "O'Connor", FABRIKAM_CUSTOM, { usageLocation: 'IE' }),
            person(F.fatima, 'Fatima', 'Benali', FABRIKAM_DOMAIN, { usageLocation: 'FR' }),
            person(F.noah, 'Noah', 'Fischer', FABRIKAM_CUSTOM, { usageLocation: 'DE' }),
            person(F.grace, 'Grace', 'Mensah', FABRIKAM_CUSTOM, { usageLocation: 'GB' }),
            person(F.federated, 'Daniel', 'Kowalski', FEDERATED_DOMAIN, { usageLocation: 'PL' }),
            person(F.sofia, 'Sofia', 'Rossi', FEDERATED_DOMAIN, { usageLocation: 'IT' }),
            person(F.ethan, 'Ethan', 'Brooks', FABRIKAM_CUSTOM, { usageLocation: 'CA' }),
            person(F.deleted, 'Olivia', 'Chen', FABRIKAM_CUSTOM, { usageLocation: 'US', state: 'inactive' }),
          ],
          gdapRelationships: [
            {
              id: DEMO_IDS.fabrikam.relationshipId,
              displayName: 'Northwind - Fabrikam user management',
              status: 'active',
              endDateTime: '2027-12-31T00:00:00.000Z',
              roles: [RoleIds.userAdministrator, RoleIds.directoryWriters, RoleIds.directoryReaders],
              accessAssignments: [
                { groupId: DEMO_IDS.groups.userAdmins, roles: [RoleIds.userAdministrator, RoleIds.directoryWriters] },
                { groupId: DEMO_IDS.groups.helpdeskReaders, roles: [RoleIds.directoryReaders] },
              ],
            },
          ],
        },
        {
          id: DEMO_IDS.contoso.customerId,
          companyName: 'Contoso Outfitters',
          domain: CONTOSO_DOMAIN,
          customDomains: [],
          users: [
            person(C.globalAdmin, 'Jonas', 'Berg', CONTOSO_DOMAIN, { usageLocation: 'NO', roles: [RoleIds.globalAdministrator] }),
            person(C.amara, 'Amara', 'Nwosu', CONTOSO_DOMAIN, { usageLocation: 'NG' }),
            person(C.lucas, 'Lucas', 'Martin', CONTOSO_DOMAIN, { usageLocation: 'FR' }),
            person(C.mei, 'Mei', 'Wong', CONTOSO_DOMAIN, { usageLocation: 'SG' }),
          ],
          gdapRelationships: [
            {
              id: DEMO_IDS.contoso.relationshipId,
              displayName: 'Northwind - Contoso user administration',
              status: 'active',
              endDateTime: '2027-06-30T00:00:00.000Z',
              roles: [RoleIds.userAdministrator],
              accessAssignments: [{ groupId: DEMO_IDS.groups.userAdmins, roles: [RoleIds.userAdministrator] }],
            },
            {
              id: DEMO_IDS.contoso.expiredRelationshipId,
              displayName: 'Northwind - Contoso onboarding (expired)',
              status: 'expired',
              endDateTime: '2024-12-31T00:00:00.000Z',
              roles: [RoleIds.userAdministrator, RoleIds.directoryWriters],
              accessAssignments: [
                { groupId: DEMO_IDS.groups.userAdmins, roles: [RoleIds.userAdministrator, RoleIds.directoryWriters] },
              ],
            },
          ],
        },
      ],
    },
  ],
};

/** Single-quoted for a POSIX shell. */
const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** What `--demo` prints at start: the sign-in details and a ready-to-paste shell snippet. */
export function demoBanner(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  const tokenUrl = `${base}/${DEMO.tenantId}/oauth2/v2.0/token`;
  const userUrl = `${base}/v1/customers/${DEMO.customerId}/users/${DEMO.userId}`;
  const uuid = `$(node -e 'console.log(crypto.randomUUID())')`;
  // prints the access token, or the error answer on stderr
  const readToken =
    `node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{` +
    `const t=JSON.parse(s).access_token;if(t)console.log(t);else{console.error(s);process.exitCode=1}})'`;
  return [
    'PartnerKit demo data set loaded: partner "Northwind Partner", customers "Fabrikam Traders" and "Contoso Outfitters".',
    'These are public demo values, not secrets.',
    '',
    `  Partner tenant   ${DEMO.tenantId} (${DEMO.tenantDomain})`,
    `  Client id        ${DEMO.clientId}`,
    `  Client secret    ${DEMO.clientSecret}`,
    `  Username         ${DEMO.username}`,
    `  Password         ${DEMO.password}`,
    `  Token endpoint   ${tokenUrl}`,
    `  Also             ${DEMO.readerUsername} (Directory Readers only), ${DEMO.noMfaUsername} (no MFA); same password`,
    `  Customer         Fabrikam Traders ${DEMO.customerId}`,
    '',
    'Try it (bash; needs curl and node):',
    '',
    `TOKEN=$(curl -s -X POST ${sh(tokenUrl)} \\`,
    `  --data-urlencode 'grant_type=password' \\`,
    `  --data-urlencode ${sh(`client_id=${DEMO.clientId}`)} \\`,
    `  --data-urlencode ${sh(`client_secret=${DEMO.clientSecret}`)} \\`,
    `  --data-urlencode ${sh(`username=${DEMO.username}`)} \\`,
    `  --data-urlencode ${sh(`password=${DEMO.password}`)} \\`,
    `  --data-urlencode 'scope=https://api.partnercenter.microsoft.com/user_impersonation offline_access' \\`,
    `  | ${readToken})`,
    `curl -s -X PATCH ${sh(userUrl)} \\`,
    `  -H "Authorization: Bearer $TOKEN" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -H "MS-RequestId: ${uuid}" \\`,
    `  -H "MS-CorrelationId: ${uuid}" \\`,
    `  -d '{"usageLocation":"US","attributes":{"objectType":"CustomerUser"}}'`,
    '',
  ].join('\n');
}
