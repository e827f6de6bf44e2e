/** Who performs an operation, as the domain services see it (no HTTP). */
export interface Actor {
  partnerId: string;
  applicationId: string;
  /** The partner user, for App+User calls. */
  userId: string | undefined;
  upn: string | undefined;
  correlationId: string;
}
