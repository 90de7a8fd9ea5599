// `npm run localstack`: the pinned LocalStack in host mode, without Docker (creates its venv on
// first use). PORT picks another port than 4566; LOCALSTACK_VOLUME_DIR keeps state elsewhere.
import path from 'node:path';
import { LOCALSTACK_VERSION, localstackVenvDir, startLocalStack } from '#test/support/localstack.ts';

const port = Number(process.env.PORT ?? 4566);
const volumeDir = process.env.LOCALSTACK_VOLUME_DIR ?? path.join(localstackVenvDir(), 'volume');

try {
  const started = Date.now();
  const localstack = await startLocalStack({
    port,
    volumeDir,
    stdio: 'inherit',
    log: (line) => console.error(line),
  });
  console.error(
    `LocalStack ${LOCALSTACK_VERSION} (host mode) ready at ${localstack.endpoint} in ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C stops it`,
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void localstack.stop().then(() => process.exit(0));
    });
  }
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
