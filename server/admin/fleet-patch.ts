import { rebindError } from '../errors.ts';
import type { FleetPatcher, FleetPatchOptions, FleetPatchResult } from '../fleet/patch-coordinator.ts';
import type { PatchRequest } from '../patch/engine.ts';

// `rebind patch` against a node of a fleet: the fleet's patch, all or nothing.

export async function fleetPatch(
  patcher: FleetPatcher,
  request: PatchRequest,
  options: FleetPatchOptions,
  durably: <T>(run: () => T | Promise<T>) => Promise<T>,
  _applied: (result: unknown) => void,
): Promise<FleetPatchResult> {
  if (request.verify || request.canary !== undefined) throw rebindError('BAD_REQUEST', '--verify and --canary are not yet fleet-wide; patch the fleet without them');
  return durably(() => patcher.patch(request, options));
}
