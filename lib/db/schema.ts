import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type CreatedAt = ColumnType<Date, never, never>;
type UpdatedAt = ColumnType<Date, never, never>;

export interface UsersTable {
  id: string;
  email: string;
  hashed_password: string;
  full_name: string | null;
  is_active: Generated<boolean>;
  is_superuser: Generated<boolean>;
  /** Bumped whenever the password changes; tokens carrying an older version are refused. */
  token_version: Generated<number>;
  /** Set when the user was deleted while their large workspaces are still being deleted (the row goes last). */
  deleted_at: Generated<Date | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface WorkspacesTable {
  id: string;
  name: string;
  description: string | null;
  icon: string | null;
  owner_id: string;
  /** Set when deleted: the workspace is gone for everyone while the ingest worker deletes its records. */
  deleted_at: Generated<Date | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** A login or recovery attempt inside its throttling window (`kind` names the counter). */
export interface AuthAttemptsTable {
  id: Generated<string>;
  kind: string;
  key_hash: string;
  created_at: CreatedAt;
}

export interface PasswordResetTokensTable {
  token_hash: string;
  user_id: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: CreatedAt;
}

export type DatasourceType = 'text_block' | 'url' | 'url_list' | 'csv' | 'pdf';
/** `deleting`: deleted by its owner, its records going in the background (never leaves that status). */
export type DatasourceStatus =
  | 'awaiting_upload'
  | 'pending'
  | 'processing'
  | 'complete'
  | 'failed'
  | 'deleting';
type Json = ColumnType<Record<string, unknown>, string, string>;

export interface DatasourcesTable {
  id: string;
  workspace_id: string;
  name: string;
  type: DatasourceType;
  options: Json;
  status: DatasourceStatus;
  error_message: string | null;
  metadata: Json;
  record_count: Generated<number>;
  run_id: string;
  object_key: string | null;
  /** The workspace's owner when it was created (set by the database on insert). */
  user_id: Generated<string | null>;
  description: Generated<string | null>;
  /** `indexing` while a large run's records wait for their search documents ({@link RecordSearchTable}). */
  search_status: Generated<SearchStatus>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type SearchStatus = 'indexing' | 'ready';

/** A record's full-text search document, kept apart so that ingesting never builds it row by row. */
export interface RecordSearchTable {
  record_id: string;
  workspace_id: string;
  /** md5 of the title and content hash it was built from: a changed record is rebuilt. */
  doc_hash: string;
  search: string;
}

export interface RecordsTable {
  id: string;
  workspace_id: string;
  datasource_id: string;
  source_key: string;
  title: string | null;
  text_content: string;
  source_metadata: Json;
  event_timestamp: Date | null;
  content_hash: string;
  /** Added through the append endpoint: a reprocess never touches it. */
  appended: Generated<boolean>;
  /** The last run that produced this record's key (null: appended). */
  seen_run: string | null;
  created_at: CreatedAt;
}

export interface DatasourceFailuresTable {
  datasource_id: string;
  source_key: string;
  reason: string;
  /** The run that failed this key; null for a failed append. */
  run_id: string | null;
  created_at: CreatedAt;
}

export type JobStatus =
  | 'pending'
  | 'running'
  | 'completed'
  | 'completed_with_errors'
  | 'failed'
  | 'cancelled'
  | 'budget_exceeded';
export type ItemStatus = 'pending' | 'succeeded' | 'failed' | 'cancelled';

export interface ClassificationSchemesTable {
  id: string;
  workspace_id: string;
  name: string;
  description: Generated<string>;
  model_instructions: string | null;
  fields: ColumnType<unknown[], string, string>;
  /** Kept for the reference system's clients: stored and returned, not applied. */
  validation_rules: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  /** The workspace's owner when it was created (set by the database on insert). */
  user_id: Generated<string | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type JobMode = 'online' | 'batch';

export interface ClassificationJobsTable {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  status: JobStatus;
  scheme_ids: string[];
  datasource_ids: Generated<string[]>;
  record_ids: Generated<string[]>;
  provider: string;
  model: string;
  options: Json;
  error_message: string | null;
  /** The workspace's owner when it was created (set by the database on insert). */
  user_id: Generated<string | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  finished_at: Date | null;
  /** The last record id the planner has taken (its chain's position); PLAN_DONE once it is through. */
  plan_cursor: string | null;
  /** The highest record id of the target: records created after the job are not in it. */
  plan_until: string | null;
  /** Records planned so far (max_records counts these). */
  planned_records: Generated<number>;
  /** Set once every work item exists: until then progress.total still grows. */
  planned_at: Date | null;
  /** online, or batch: through the provider's batch API (lib/services/classify-batch.ts). */
  mode: Generated<JobMode>;
  /** Tokens (input + output) its calls used so far: the budget's counter. */
  used_tokens: ColumnType<string, never, never>;
  /** Cost of its priced calls so far (numeric, as text): the budget's counter. */
  used_cost_usd: ColumnType<string, never, never>;
}

export interface ClassificationItemsTable {
  job_id: string;
  record_id: string;
  scheme_id: string;
  status: Generated<ItemStatus>;
  attempts: Generated<number>;
  reason: string | null;
  /** The delivery holding the item's lease (only it calls the model and settles the item); null when free. */
  lease_owner: string | null;
  /** When the lease runs out unless renewed: then another delivery may claim the item. */
  lease_expires_at: Date | null;
  /** The provider batch it went out in (batch mode): the online worker leaves it alone while pending. */
  batch_id: string | null;
  updated_at: UpdatedAt;
}

/** preparing: made, not yet at the provider; submitted: at the provider; then settled. */
export type BatchStatus = 'preparing' | 'submitted' | 'completed' | 'cancelled' | 'failed';

/** One provider batch of a job in batch mode (see lib/services/classify-batch.ts). */
export interface ClassificationBatchesTable {
  id: string;
  job_id: string;
  status: Generated<BatchStatus>;
  provider_batch_id: string | null;
  input_file_id: string | null;
  /** The provider's last word on it (validating, in_progress, completed, expired…). */
  provider_status: string | null;
  request_count: Generated<number>;
  error_message: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  finished_at: Date | null;
}

export interface ClassificationResultsTable {
  id: string;
  workspace_id: string;
  job_id: string;
  record_id: string;
  scheme_id: string;
  value: Json;
  justifications: Json;
  provider: string;
  model: string;
  created_at: CreatedAt;
}

export type TaskType = 'ingest' | 'classify';
export type TaskStatus = 'active' | 'paused' | 'error';
export type TaskRunStatus = 'running' | 'succeeded' | 'failed' | 'skipped';

export interface RecurringTasksTable {
  id: string;
  workspace_id: string;
  user_id: string | null;
  name: string;
  description: string | null;
  type: TaskType;
  schedule: string;
  schedule_expression: string;
  timezone: Generated<string>;
  schedule_anchor: Generated<Date>;
  configuration: Json;
  status: TaskStatus;
  status_reason: string | null;
  last_run_at: Date | null;
  last_run_status: TaskRunStatus | null;
  last_run_message: string | null;
  last_successful_run_at: Date | null;
  last_job_id: string | null;
  consecutive_failures: Generated<number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface TaskRunsTable {
  id: string;
  task_id: string;
  workspace_id: string;
  scheduled_for: Date;
  trigger: 'schedule' | 'manual';
  status: TaskRunStatus;
  message: string | null;
  counts: ColumnType<Record<string, unknown>, string | undefined, string>;
  job_id: string | null;
  started_at: Generated<Date>;
  finished_at: Date | null;
  updated_at: UpdatedAt;
}

export type ShareResourceType = 'datasource' | 'scheme' | 'classification_job' | 'dataset' | 'workspace';
export type SharePermission = 'read_only' | 'import';
export type ShareOutcome = 'allowed' | 'revoked' | 'expired' | 'exhausted' | 'login_required' | 'read_only';

export interface ShareLinksTable {
  id: string;
  /** SHA-256 (hex) of the token: the only form it is looked up by. */
  token_hash: string;
  /** The token sealed with AES-GCM under a key derived from the signing key (lib/auth/share-tokens.ts). */
  token_sealed: string | null;
  user_id: string;
  workspace_id: string;
  resource_type: ShareResourceType;
  resource_id: string;
  name: string | null;
  description: string | null;
  permission_level: Generated<SharePermission>;
  requires_login: Generated<boolean>;
  expires_at: Date | null;
  max_uses: number | null;
  use_count: Generated<number>;
  revoked_at: Date | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** A named, curated set of a workspace's records. */
export interface DatasetsTable {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  custom_metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ShareLinkAccessesTable {
  id: string;
  link_id: string;
  at: Generated<Date>;
  user_id: string | null;
  route: string;
  outcome: ShareOutcome;
}

export interface DatasetRecordsTable {
  dataset_id: string;
  record_id: string;
  added_at: Generated<Date>;
}

export interface DatasetSchemesTable {
  dataset_id: string;
  scheme_id: string;
}

export interface DatasetJobsTable {
  dataset_id: string;
  job_id: string;
}

/** Where a share link's import takes its bundle from (lib/services/bundles.ts). */
export type ImportSourceRef = {
  share_link_id: string;
  workspace_id: string;
  resource_type: ShareResourceType;
  resource_id: string;
};
/** Rows an import could not take, by kind, with the reason. */
export type SkippedRows = { kind: string; count: number; reason: string };

export type BundleType = 'datasource' | 'scheme' | 'classification_job' | 'dataset' | 'workspace';
export type ExportStatus = 'pending' | 'processing' | 'complete' | 'failed';
/** A ZIP bundle, or a results or dataset file in one of the export formats. */
export type ExportFileFormat = 'bundle' | 'csv' | 'jsonl' | 'json';
export type ImportStatus = 'awaiting_upload' | 'pending' | 'processing' | 'complete' | 'failed';

/**
 * An export being written by the ingest worker, then downloaded from `object_key`: a bundle, or
 * (`format` csv/jsonl/json) a job's results or a dataset's members as one file.
 */
export interface BundleExportsTable {
  id: string;
  workspace_id: string;
  user_id: string | null;
  type: BundleType;
  resource_id: string | null;
  include_files: boolean;
  format: Generated<ExportFileFormat>;
  /** Files only: each record's text in the file. */
  include_text: Generated<boolean>;
  status: ExportStatus;
  error_message: string | null;
  object_key: string | null;
  bytes: ColumnType<string | null, number | null | undefined, number | null>;
  counts: ColumnType<Record<string, number>, string | undefined, string>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  finished_at: Date | null;
}

/** A bundle uploaded to `object_key`, imported into the workspace by the ingest worker. */
export interface BundleImportsTable {
  id: string;
  workspace_id: string;
  user_id: string | null;
  status: ImportStatus;
  error_message: string | null;
  object_key: string;
  format: string | null;
  bundle_type: string | null;
  signature: 'verified' | 'unverified' | 'invalid' | null;
  counts: ColumnType<Record<string, number>, string | undefined, string>;
  /** A share link's import: the link's id and what it shared (never the token). */
  source: ColumnType<ImportSourceRef | null, string | null | undefined, string | null>;
  /** What was left out and why. */
  skipped: ColumnType<SkippedRows[], string | undefined, string>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  finished_at: Date | null;
}

/** A lifecycle event waiting to be published (sent_at null) or published. */
export interface EventOutboxTable {
  id: string;
  workspace_id: string;
  type: string;
  occurred_at: ColumnType<Date, Date | undefined, never>;
  data: ColumnType<Record<string, unknown>, string, never>;
  sent_at: Date | null;
}

export interface WebhooksTable {
  id: string;
  workspace_id: string;
  url: string;
  event_types: string[];
  secret: string;
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  consecutive_failures: Generated<number>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, never, Date>;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  delivered_at: ColumnType<Date, never, never>;
}

export type Webhook = Selectable<WebhooksTable>;
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;

/** The database as the app sees it today (migrations never import this). */
export interface Database {
  users: UsersTable;
  auth_attempts: AuthAttemptsTable;
  workspaces: WorkspacesTable;
  password_reset_tokens: PasswordResetTokensTable;
  datasources: DatasourcesTable;
  records: RecordsTable;
  datasource_failures: DatasourceFailuresTable;
  classification_schemes: ClassificationSchemesTable;
  classification_jobs: ClassificationJobsTable;
  classification_items: ClassificationItemsTable;
  classification_results: ClassificationResultsTable;
  classification_batches: ClassificationBatchesTable;
  recurring_tasks: RecurringTasksTable;
  task_runs: TaskRunsTable;
  share_links: ShareLinksTable;
  share_link_accesses: ShareLinkAccessesTable;
  datasets: DatasetsTable;
  dataset_records: DatasetRecordsTable;
  dataset_schemes: DatasetSchemesTable;
  dataset_jobs: DatasetJobsTable;
  bundle_exports: BundleExportsTable;
  record_search: RecordSearchTable;
  bundle_imports: BundleImportsTable;
  llm_usage: LlmUsageTable;
  event_outbox: EventOutboxTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

/** One billed provider call. */
export interface LlmUsageTable {
  id: string;
  workspace_id: string;
  /** Null once its job is deleted: the tokens were still paid for. */
  job_id: string | null;
  provider: string;
  model: string;
  input_tokens: number;
  /** Part of input_tokens the provider served from its prompt cache. */
  cached_input_tokens: number;
  output_tokens: number;
  /** Work items the call answered for: a record's schemes in one call share it. */
  items: Generated<number>;
  /** Numeric (text from pg); null when the model had no configured price. */
  cost_usd: ColumnType<string | null, number | null, never>;
  at: CreatedAt;
}

export type ClassificationScheme = Selectable<ClassificationSchemesTable>;
export type ClassificationJob = Selectable<ClassificationJobsTable>;
export type ClassificationResult = Selectable<ClassificationResultsTable>;
export type ClassificationBatch = Selectable<ClassificationBatchesTable>;

export type Dataset = Selectable<DatasetsTable>;
export type BundleExport = Selectable<BundleExportsTable>;
export type BundleImport = Selectable<BundleImportsTable>;

export type RecurringTask = Selectable<RecurringTasksTable>;
export type TaskRun = Selectable<TaskRunsTable>;

export type ShareLink = Selectable<ShareLinksTable>;
export type ShareLinkAccess = Selectable<ShareLinkAccessesTable>;

export type Datasource = Selectable<DatasourcesTable>;
export type DataRecord = Selectable<RecordsTable>;
export type NewDataRecord = Insertable<RecordsTable>;

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Workspace = Selectable<WorkspacesTable>;
export type NewWorkspace = Insertable<WorkspacesTable>;
export type WorkspaceUpdate = Updateable<WorkspacesTable>;
