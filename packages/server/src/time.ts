/** Timestamps as Partner Center shows user times: ISO 8601 UTC to the second, e.g. `2017-01-20T00:33:34Z`. */
export const isoSeconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
