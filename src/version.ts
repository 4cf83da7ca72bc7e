/** The product version, reported by `connect --version` and the hub's /health. */
export const VERSION = '0.1.0';
