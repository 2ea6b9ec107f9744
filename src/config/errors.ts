/** A configuration value that is missing, malformed or out of range; the message names it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
