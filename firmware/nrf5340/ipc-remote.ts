// nRF5340 network core: the remote side of the multi-endpoint and ICMsg samples (ipc-sample.ts).
import type { FirmwareContext } from '../../cores/context.js';
import { runSample } from './ipc-sample.js';

export default function main(ctx: FirmwareContext) {
  return runSample(ctx, 'remote');
}
