/** Who is calling, as established from a verified access token. */
export interface UserPrincipal {
  kind: 'user';
  partnerId: string;
  applicationId: string;
  userId: string;
  upn: string;
  /** The token's `amr` claim includes `mfa`. */
  mfa: boolean;
  /** Token expiry, epoch seconds. */
  expiresAt: number;
}
export interface AppPrincipal {
  kind: 'app';
  partnerId: string;
  applicationId: string;
  expiresAt: number;
}
export type Principal = UserPrincipal | AppPrincipal;

/** Verifies a bearer token; throws `PartnerKitError('tokenInvalid')` when it is not acceptable. */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}
