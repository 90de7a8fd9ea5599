/** True when `error` is Postgres's unique_violation (optionally on one constraint or index). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string } | undefined;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/**
 * When `error` is the database giving up on a statement for lack of time or of a lock
 * (lock_timeout, NOWAIT, statement_timeout) or the pool finding no connection in time, a
 * sentence saying so for the client; otherwise undefined. Nothing was changed: the
 * statement's transaction rolled back. Worth a retry a little later.
 */
export function databaseBusyReason(error: unknown): string | undefined {
  const e = error as { code?: string; message?: string } | undefined;
  if (e?.code === '55P03')
    return 'Another operation holds what this request needs to change; try again shortly';
  if (e?.code === '57014')
    return 'The request took longer than the time allowed and was cancelled; try again shortly';
  if (e instanceof Error && /timeout exceeded when trying to connect/.test(e.message))
    return 'The service is busy; try again shortly';
  return undefined;
}
