/** Header names, error codes and well-known identifiers shared by the service and its clients. */

export const Headers = {
  requestId: 'MS-RequestId',
  correlationId: 'MS-CorrelationId',
  correlationVector: 'MS-CV',
  serverId: 'MS-ServerId',
  locale: 'X-Locale',
  continuationToken: 'MS-ContinuationToken',
  client: 'MS-PartnerCenter-Client',
  application: 'MS-PartnerCenter-Application',
  retryAfter: 'Retry-After',
} as const;

/** Partner Center error codes used by this slice (see the contract's error table). */
export const ErrorCodes = {
  invalidInput: 800002,
  invalidProperty: 3000,
  tokenMissing: 800001,
  tokenInvalid: 400,
  mfaRequired: 900421,
  appOnlyNotAllowed: 900329,
  noRelationship: 20002,
  roleNotAllowed: 900150,
  userNotFound: 60002,
  notFound: 1000,
  userPrincipalNameInUse: 60009,
  requestIdReused: 800004,
  unexpected: 800003,
  serviceUnavailable: 800005,
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The audience of Partner Center access tokens. */
export const PartnerCenterAudience = 'https://api.partnercenter.microsoft.com';
/** The Partner Center API's application id (also accepted as an audience). */
export const PartnerCenterAppId = 'fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd';
export const DefaultBaseUrl = 'https://api.partnercenter.microsoft.com';
export const DefaultAuthority = 'https://login.microsoftonline.com';

/** Entra directory role template ids. */
export const RoleIds = {
  globalAdministrator: '62e90394-69f5-4237-9190-012177145e10',
  userAdministrator: 'fe930be7-5e62-47db-91af-98c3a49a38b1',
  directoryWriters: '9360feb5-f418-4baa-8175-e2a00bac4301',
  directoryReaders: '88d8e3e3-8f55-4a1e-953a-9b9898b8876b',
  globalReader: 'f2ef992c-3afb-46b9-b7cf-a126ee74c451',
  privilegedAuthenticationAdministrator: '7be44c8a-adaf-4e2a-84d6-ab2649e08a13',
  privilegedRoleAdministrator: 'e8611ab8-c189-46e8-94e1-60213ab1f814',
  authenticationAdministrator: 'c4e39bd9-1100-46d3-8c65-fb160da0071f',
  helpdeskAdministrator: '729827e3-9c14-49f7-bb1b-9608f156bbb8',
  passwordAdministrator: '966707d0-3269-4727-9be2-8c3a10f19b9d',
  licenseAdministrator: '4d6ac14f-3453-41d0-bef9-a3e0c569773a',
  groupsAdministrator: 'fdd7a751-b60b-444a-984c-02652fe8fa1c',
  serviceSupportAdministrator: 'f023fd81-a637-4b56-95fd-791ac0226033',
  billingAdministrator: 'b0f54661-2d74-4c50-afa3-1ec803f12efe',
  exchangeAdministrator: '29232cdf-9323-42fd-ade2-1d097af3e4de',
  guestInviter: '95e79109-95c0-4d8e-aee3-d01accf2d47b',
  messageCenterReader: '790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b',
  reportsReader: '4a5d8f65-41da-4de4-8968-e035b65339cf',
  usageSummaryReportsReader: '75934031-6c7e-415a-99d7-48dbd49e875e',
  userExperienceSuccessManager: '27460883-1df1-4691-b032-3b79643e5e63',
} as const;
export type RoleKey = keyof typeof RoleIds;

export const RoleNames: Readonly<Record<string, string>> = {
  [RoleIds.globalAdministrator]: 'Global Administrator',
  [RoleIds.userAdministrator]: 'User Administrator',
  [RoleIds.directoryWriters]: 'Directory Writers',
  [RoleIds.directoryReaders]: 'Directory Readers',
  [RoleIds.globalReader]: 'Global Reader',
  [RoleIds.privilegedAuthenticationAdministrator]: 'Privileged Authentication Administrator',
  [RoleIds.privilegedRoleAdministrator]: 'Privileged Role Administrator',
  [RoleIds.authenticationAdministrator]: 'Authentication Administrator',
  [RoleIds.helpdeskAdministrator]: 'Helpdesk Administrator',
  [RoleIds.passwordAdministrator]: 'Password Administrator',
  [RoleIds.licenseAdministrator]: 'License Administrator',
  [RoleIds.groupsAdministrator]: 'Groups Administrator',
  [RoleIds.serviceSupportAdministrator]: 'Service Support Administrator',
  [RoleIds.billingAdministrator]: 'Billing Administrator',
  [RoleIds.exchangeAdministrator]: 'Exchange Administrator',
  [RoleIds.guestInviter]: 'Guest Inviter',
  [RoleIds.messageCenterReader]: 'Message Center Reader',
  [RoleIds.reportsReader]: 'Reports Reader',
  [RoleIds.usageSummaryReportsReader]: 'Usage Summary Reports Reader',
  [RoleIds.userExperienceSuccessManager]: 'User Experience Success Manager',
};

/** Route templates under `/v1`. */
export const Routes = {
  customers: '/customers',
  customer: '/customers/:customerId',
  users: '/customers/:customerId/users',
  user: '/customers/:customerId/users/:userId',
  userDirectoryRoles: '/customers/:customerId/users/:userId/directoryroles',
  directoryRoles: '/customers/:customerId/directoryroles',
  roleMembers: '/customers/:customerId/directoryroles/:roleId/usermembers',
  roleMember: '/customers/:customerId/directoryroles/:roleId/usermembers/:userId',
  auditRecords: '/auditrecords',
} as const;

/** The deleted-users filter: `{"Field":"UserState","Value":"Inactive","Operator":"equals"}`. */
export interface SimpleFieldFilter {
  Field: string;
  Value: string;
  Operator: 'equals' | 'starts_with' | 'substring';
}
