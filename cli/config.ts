import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import envPaths from 'env-paths';

/** What the CLI remembers about one deployment: its token and default workspace. */
export type Profile = { token?: string; email?: string; workspace?: string };

/** The config file: one profile per API URL, so tokens of a local runtime and a deployment coexist. */
export type CliConfig = { profiles: Record<string, Profile> };

/** The config file: `DOCSIFT_CONFIG`, else `config.json` in the user's config folder (env-paths). */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCSIFT_CONFIG) return env.DOCSIFT_CONFIG;
  return path.join(envPaths('docsift', { suffix: '' }).config, 'config.json');
}

export async function readConfig(file = configPath()): Promise<CliConfig> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<CliConfig>;
    return { profiles: parsed.profiles ?? {} };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Merges `changes` into the profile of `api` and writes the file readable by its owner only (it holds tokens). */
export async function updateProfile(api: string, changes: Partial<Profile>, file = configPath()) {
  const config = await readConfig(file);
  config.profiles[api] = { ...config.profiles[api], ...changes };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // writeFile's mode applies only when it creates the file.
  return config.profiles[api];
}
