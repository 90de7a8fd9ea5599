import type { Migration } from 'kysely/migration';
import * as usersAndWorkspaces from './2026-11-26T1000_users_and_workspaces.ts';
import * as datasourcesAndRecords from './2026-11-26T1100_datasources_and_records.ts';
import * as classification from './2026-11-26T1200_classification.ts';
import * as jobPlanning from './2026-12-02T1010_job_planning.ts';
import * as recordsKeepIdentity from './2026-12-02T1100_records_keep_identity.ts';
import * as accountSecurity from './2026-12-02T1200_account_security.ts';
import * as recurringTasks from './2026-12-02T1500_recurring_tasks.ts';
import * as shareLinks from './2026-12-02T1600_share_links.ts';
import * as datasets from './2026-12-02T1700_datasets.ts';
import * as bundles from './2026-12-02T1800_bundles.ts';
import * as bundleImportSources from './2026-12-02T1900_bundle_import_sources.ts';
import * as eventsAndWebhooks from './2026-12-02T2000_events_and_webhooks.ts';
import * as llmUsage from './2026-12-02T2100_llm_usage.ts';
import * as eventRetention from './2026-12-02T2200_event_retention.ts';
import * as itemLeases from './2026-12-02T2210_item_leases.ts';
import * as referenceClientFields from './2026-12-02T2220_reference_client_fields.ts';
import * as searchIndexAndFileExports from './2026-12-02T2230_search_index_and_file_exports.ts';
import * as batchMode from './2026-12-02T2250_batch_mode.ts';
import * as recordsDatasourceWorkspaceKey from './2026-12-03T0100_records_datasource_workspace_key.ts';
import * as backgroundDeletes from './2026-12-03T0300_background_deletes.ts';

/**
 * Every migration, by name. Static imports instead of a folder scan: a Lambda bundle has no
 * migrations folder. Names sort in the order they run (ISO-date prefix).
 */
export const migrations: Record<string, Migration> = {
  '2026-11-26T1000_users_and_workspaces': usersAndWorkspaces,
  '2026-11-26T1100_datasources_and_records': datasourcesAndRecords,
  '2026-11-26T1200_classification': classification,
  '2026-12-02T1010_job_planning': jobPlanning,
  '2026-12-02T1100_records_keep_identity': recordsKeepIdentity,
  '2026-12-02T1200_account_security': accountSecurity,
  '2026-12-02T1500_recurring_tasks': recurringTasks,
  '2026-12-02T1600_share_links': shareLinks,
  '2026-12-02T1700_datasets': datasets,
  '2026-12-02T1800_bundles': bundles,
  '2026-12-02T1900_bundle_import_sources': bundleImportSources,
  '2026-12-02T2000_events_and_webhooks': eventsAndWebhooks,
  '2026-12-02T2100_llm_usage': llmUsage,
  '2026-12-02T2200_event_retention': eventRetention,
  '2026-12-02T2210_item_leases': itemLeases,
  '2026-12-02T2220_reference_client_fields': referenceClientFields,
  '2026-12-02T2230_search_index_and_file_exports': searchIndexAndFileExports,
  '2026-12-02T2250_batch_mode': batchMode,
  '2026-12-03T0100_records_datasource_workspace_key': recordsDatasourceWorkspaceKey,
  '2026-12-03T0300_background_deletes': backgroundDeletes,
};
