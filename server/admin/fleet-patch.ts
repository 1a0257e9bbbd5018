import type { FleetPatcher, FleetPatchOptions, FleetPatchResult } from '../fleet/patch-coordinator.ts';
import type { PatchRequest } from '../patch/engine.ts';
import type { VerifyReport } from '../patch/verify.ts';

// `rebind patch` against a node of a fleet: the fleet's patch, all or nothing.
// With --verify (and --canary) the answer waits for the fleet's verdict:
// confirmed everywhere, or rolled back everywhere because one node went over budget.

export async function fleetPatch(
  patcher: FleetPatcher,
  request: PatchRequest,
  options: FleetPatchOptions,
  durably: <T>(run: () => T | Promise<T>) => Promise<T>,
  applied: (result: unknown) => void,
): Promise<FleetPatchResult & { verification?: VerifyReport }> {
  const result = await durably(() => patcher.patch(request, options));
  if (!request.verify || !result.ok || result.noop) return result;
  // Audited now: a stop during the window must not leave a live patch without its line.
  applied(result);
  return { ...result, verification: await patcher.verifier.verify(result, request.verify.windowMs, request.canary !== undefined) };
}
