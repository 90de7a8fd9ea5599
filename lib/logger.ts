import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The process-wide structured logger (Powertools): JSON lines, one per event, each carrying
 * the request id of the invocation that wrote it.
 */
export const logger = new Logger({
  serviceName: 'docsift',
  logLevel: (process.env.LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as 'INFO',
});
