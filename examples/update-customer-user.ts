/**
 * Update a customer's user: the Partner Center .NET SDK's feature sample "Customer User Update"
 * (CustomerUserUpdate.cs) with @partnerkit/sdk. It looks the customer up, creates a user whose user principal
 * name is built from the customer's domain, patches the user's names, user principal name, usage location and
 * password, reads the user back to check, and deletes the user again.
 *
 * Runs against the real Partner Center (the default) or PartnerKit (set PARTNER_CENTER_BASE_URL and
 * PARTNER_CENTER_AUTHORITY to its address). Environment:
 *
 *   PARTNER_CENTER_TENANT_ID       the partner's tenant id
 *   PARTNER_CENTER_CLIENT_ID       the application's id
 *   PARTNER_CENTER_CLIENT_SECRET   the application's secret (confidential applications)
 *   PARTNER_CENTER_REFRESH_TOKEN   a partner user's refresh token (Secure Application Model), or
 *   PARTNER_CENTER_USERNAME / PARTNER_CENTER_PASSWORD   a partner user (PartnerKit, or accounts without MFA)
 *   PARTNER_CENTER_CUSTOMER_ID     the customer's tenant id
 *   PARTNER_CENTER_BASE_URL        optional; default https://api.partnercenter.microsoft.com
 *   PARTNER_CENTER_AUTHORITY       optional; default https://login.microsoftonline.com
 *
 *   node examples/dist/update-customer-user.js
 */
import {
  PartnerClient,
  PartnerError,
  RefreshTokenCredential,
  UsernamePasswordCredential,
  type CustomerUser,
  type TokenCredential,
} from '@partnerkit/sdk';

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`set ${name} (see the comment at the top of this file)`);
  return value;
}
const optional = (name: string): string | undefined => process.env[name] || undefined;

function credentialFromEnvironment(): TokenCredential {
  const common = {
    authority: optional('PARTNER_CENTER_AUTHORITY'),
    tenantId: env('PARTNER_CENTER_TENANT_ID'),
    clientId: env('PARTNER_CENTER_CLIENT_ID'),
    clientSecret: optional('PARTNER_CENTER_CLIENT_SECRET'),
  };
  const refreshToken = optional('PARTNER_CENTER_REFRESH_TOKEN');
  if (refreshToken !== undefined) return new RefreshTokenCredential({ ...common, refreshToken });
  return new UsernamePasswordCredential({ ...common, username: env('PARTNER_CENTER_USERNAME'), password: env('PARTNER_CENTER_PASSWORD') });
}

/** `Guid.NewGuid().ToString("N") + "@" + domain`, as the C# sample builds its user principal names. */
const userPrincipalNameIn = (domain: string): string => `${crypto.randomUUID().replaceAll('-', '')}@${domain}`;

/**
 * A password Entra accepts (the C# sample's "testPassword" would be refused: it needs three of lower case,
 * upper case, digits and symbols).
 */
function newPassword(): string {
  const random = crypto.getRandomValues(new Uint32Array(4));
  return `Pk-${Array.from(random, (n) => n.toString(36)).join('')}!7Q`;
}

export async function updateCustomerUser(partner: PartnerClient, customerId: string): Promise<CustomerUser> {
  // Look the customer up: its domain names the new user.
  const customer = await partner.customers.byId(customerId).get();
  const domain = customer.companyProfile.domain;
  const users = partner.customers.byId(customerId).users;

  // Create a new user in the customer's tenant.
  const createdUser = await users.create({
    passwordProfile: { forceChangePassword: true, password: newPassword() },
    displayName: 'TestDisplayName',
    firstName: 'TestFirstName',
    lastName: 'TestLastName',
    usageLocation: 'US',
    userPrincipalName: userPrincipalNameIn(domain),
  });

  // Update the user: names, user principal name, usage location and password.
  const updatedUser = await users.byId(createdUser.id).patch({
    passwordProfile: { forceChangePassword: true, password: newPassword() },
    displayName: 'Roger Federer',
    firstName: 'Roger',
    lastName: 'Federer',
    usageLocation: 'US',
    userPrincipalName: userPrincipalNameIn(domain),
  });

  // Read the user back and compare.
  const userInfo = await users.byId(createdUser.id).get();
  if (
    userInfo.userPrincipalName === updatedUser.userPrincipalName &&
    userInfo.firstName === updatedUser.firstName &&
    userInfo.displayName === updatedUser.displayName &&
    userInfo.lastName === updatedUser.lastName
  ) {
    console.log('The update operation was successful.');
    console.log(`First Name: ${userInfo.firstName ?? ''}`);
    console.log(`Last Name: ${userInfo.lastName ?? ''}`);
    console.log(`Display Name: ${userInfo.displayName}`);
    console.log(`User Principal Name: ${userInfo.userPrincipalName}`);
    console.log(`Usage Location: ${userInfo.usageLocation ?? ''}`);
    console.log(`Id: ${userInfo.id}`);
  } else {
    console.log('The update was not successful.');
    process.exitCode = 1;
  }

  // Delete the user again.
  await users.byId(createdUser.id).delete();
  return userInfo;
}

const partner = new PartnerClient({
  credential: credentialFromEnvironment(),
  baseUrl: optional('PARTNER_CENTER_BASE_URL'),
  applicationName: 'PartnerKit example: update a customer user',
});
try {
  await updateCustomerUser(partner, env('PARTNER_CENTER_CUSTOMER_ID'));
} catch (e) {
  if (PartnerError.is(e)) console.error(`Partner Center refused: ${e.message}`);
  else console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
}
