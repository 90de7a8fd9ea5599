import { logger } from '#lib/logger.ts';

/**
 * The anchor of `npm run bench:cold`: a Lambda handler with docsift's logger and nothing else,
 * bundled like every function. What a function takes to import beyond it is docsift's own cost.
 */
export const handler = async (): Promise<{ statusCode: number; body: string }> => {
  logger.info('anchor');
  return { statusCode: 200, body: '{}' };
};
