import { eachItem, type Json, mapBody, type RawInput } from '../compat.ts';
import { ValidationError } from '../errors.ts';

/*
 * Datasets as the reference's client sends and reads them: `datarecord_ids`,
 * `source_job_ids`, `source_scheme_ids` for docsift's `record_ids`, `job_ids`, `scheme_ids`;
 * `null` for "not set". A dataset's answer carries its member count, not its members' ids (a
 * dataset may hold hundreds of thousands): `datarecord_ids` is left out, the members are paged
 * at …/members.
 */

/** The fields create and update share, in docsift's names (`null`: not set). */
function datasetFields({
  datarecord_ids: _members,
  source_job_ids,
  source_scheme_ids,
  custom_metadata,
  name,
  updated_at: _updatedAt,
  ...rest
}: Json): Json {
  return {
    ...rest,
    ...(name != null && { name }),
    ...(custom_metadata != null && { custom_metadata }),
    ...(source_job_ids != null && { job_ids: source_job_ids }),
    ...(source_scheme_ids != null && { scheme_ids: source_scheme_ids }),
  };
}

/** A dataset's create body as docsift's: its first members are `datarecord_ids` (none when empty). */
export const referenceDatasetCreate = mapBody((body) => ({
  ...datasetFields(body),
  ...(Array.isArray(body.datarecord_ids) &&
    body.datarecord_ids.length > 0 && { record_ids: body.datarecord_ids }),
}));

/** A dataset's update body as docsift's; members change through …/members, so `datarecord_ids` is refused. */
export const referenceDatasetUpdate = mapBody((body) => {
  if (body.datarecord_ids != null)
    throw new ValidationError([
      {
        location: 'body',
        path: 'datarecord_ids',
        message:
          'docsift changes a dataset’s members through POST …/datasets/{dataset_id}/members and …/members/remove',
      },
    ]);
  return datasetFields(body);
});

/** A dataset (or each of a list) with the reference's names for its sources beside docsift's. */
export const referenceDataset = eachItem((dataset) => ({
  ...dataset,
  source_job_ids: dataset.job_ids,
  source_scheme_ids: dataset.scheme_ids,
}));

/**
 * `POST …/classification_jobs/{job_id}/create_dataset {name?, description?}` as a dataset
 * create whose members are the records with a result of the job (its schemes and the job
 * join the sources), named as the reference names it when no name comes.
 */
export function datasetFromJob(raw: RawInput): RawInput {
  const { job_id, ...params } = raw.params;
  const body = (raw.body !== null && typeof raw.body === 'object' ? raw.body : {}) as Json;
  return {
    params,
    query: raw.query,
    body: {
      name: body.name ?? `Dataset from job ${job_id}`,
      ...(body.description != null && { description: body.description }),
      results_filter: { job_id },
    },
  };
}
