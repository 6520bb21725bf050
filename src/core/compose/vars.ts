import { parse } from 'dotenv';

/**
 * The variables a compose file is interpolated with: its tree's `.env` (as Compose reads it
 * from the project directory), overridden by the app's config, as Compose lets the shell's
 * environment win over `.env`.
 */
export function composeVars(
  config: Readonly<Record<string, string>>,
  dotenv: string | null,
): Record<string, string> {
  return { ...(dotenv === null ? {} : parse(dotenv)), ...config };
}
