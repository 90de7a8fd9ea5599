import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '#lib/config.ts';
import { logger } from '#lib/logger.ts';
import { startLocalRuntime } from './runtime.ts';

// `npm start`: the whole service in one process, on the embedded default unless told otherwise.
if (existsSync('.env')) process.loadEnvFile('.env');

try {
  const runtime = await startLocalRuntime(loadConfig());
  let signalled = false;
  const shutdown = async (signal: string) => {
    if (signalled) return;
    signalled = true;
    logger.info('Shutting down', { signal });
    await runtime.stop();
    logger.info('Stopped cleanly');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) console.error(error.message);
  else logger.error('Failed to start', { error: error as Error });
  process.exit(1);
}
