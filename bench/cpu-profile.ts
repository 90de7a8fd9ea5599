import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

type ProfileNode = {
  id: number;
  callFrame: { url: string; functionName: string };
  children?: number[];
};
type Profile = { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where a frame's code lives: an npm package, a file of ours, a part of Node, or V8's own work. */
function placeOf({ url, functionName }: ProfileNode['callFrame']): string {
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  if (url.startsWith('node:'))
    return `node:${
      url
        .slice(5)
        .replace(/^internal\//, '')
        .split('/')[0]
    }`;
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return pkg[1]!;
  return path.relative(ROOT, file);
}

/** Now on the clock of V8's profiles (CLOCK_MONOTONIC, microseconds), the same in every process. */
export const profileClock = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * A `--cpu-prof` profile as a table: CPU time by where the code lives (self time, idle left
 * out), the top `limit` places with their share. `window` (from {@link profileClock}) keeps the
 * samples of the measured load only, leaving out start-up and warm-up.
 *
 * @example console.log(await summarizeProfile('/tmp/prof/CPU.2026.cpuprofile', [from, to]))
 */
export async function summarizeProfile(file: string, window?: [number, number], limit = 20): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPlace = new Map<string, number>();
  let time = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    time += delta;
    if (window && (time < window[0] || time > window[1])) return;
    const place = placeOf(nodes.get(id)!.callFrame);
    if (place !== '(idle)') byPlace.set(place, (byPlace.get(place) ?? 0) + delta);
  });
  const total = [...byPlace.values()].reduce((sum, us) => sum + us, 0);
  return [...byPlace]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(
      ([place, us]) =>
        `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${place}`,
    )
    .join('\n');
}
