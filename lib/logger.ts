import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { CORRELATION_ATTRIBUTE, correlationId } from '#lib/observability/correlation.ts';

/**
 * Powertools' own JSON line (its PowertoolsLogFormatter, which the package does not export)
 * plus the correlation id of the work in progress (lib/observability/correlation.ts), read
 * from async context at each line rather than set on the logger: the local runtime serves
 * concurrent requests and batches with one logger.
 */
class CorrelatedLogFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    const id = correlationId();
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart,
        function_arn: context?.invokedFunctionArn,
        function_memory_size: context?.memoryLimitInMB,
        function_name: context?.functionName,
        function_request_id: context?.awsRequestId,
        sampling_rate: attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
        ...(id && { [CORRELATION_ATTRIBUTE]: id }),
      },
    }).addAttributes(additional);
  }
}

/**
 * The process-wide structured logger (Powertools): JSON lines, one per event, each carrying
 * the request id of the invocation that wrote it and the correlation id of the request or
 * message it works for.
 */
export const logger = new Logger({
  serviceName: 'docsift',
  logLevel: (process.env.LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as 'INFO',
  logFormatter: new CorrelatedLogFormatter(),
});
