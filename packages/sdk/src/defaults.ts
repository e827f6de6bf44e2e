/**
 * Well-known values (equal to @partnerkit/contract's, which the SDK imports for types only; a test keeps
 * them equal).
 */
/** Partner Center's API: the default base URL. */
export const DefaultBaseUrl = 'https://api.partnercenter.microsoft.com';
/** Entra ID's public cloud: the default authority of the built-in credentials. */
export const DefaultAuthority = 'https://login.microsoftonline.com';
/** The scope the client asks credentials for. */
export const PartnerCenterScope = 'https://api.partnercenter.microsoft.com/.default';
