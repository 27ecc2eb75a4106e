// Nordic nRF5340: the application core (cpuapp) and the network core (cpunet), both Cortex-M33
// running Zephyr, sharing the last 64 KiB of the application core's SRAM (0x20070000) for IPC.
// Each core's IPC configuration is devicetree: the SoC base file plus the application's overlay,
// the network core's being the application core's with regions, channels and block counts swapped.
// The default firmware follows Zephyr's samples: multi_endpoint (ipc0 over ICBMsg with endpoints
// ipc0A and ipc0B, ipc1 over ICMsg), then the ICMsg sample's throughput phase.

import { NRF5340_IPC_SHM_BASE, NRF5340_IPC_SHM_SIZE } from '../../shared/nrf5340.js';
import type { SocProfile } from '../profile.js';

export const nrf5340: SocProfile = {
  name: 'nrf5340',
  platform: 'nrf5340',
  description: 'Nordic nRF5340: cpuapp + cpunet Zephyr; ipc_service over ICBMsg and ICMsg, multi-endpoint sample then ICMsg throughput',
  sharedMemory: [{ name: 'ipc-shm', base: NRF5340_IPC_SHM_BASE, size: NRF5340_IPC_SHM_SIZE }],
  cores: [
    {
      name: 'cpuapp', kind: 'cortex-m33', os: 'zephyr', firmware: 'firmware/nrf5340/ipc-host.ts',
      devicetree: ['soc/dts/nrf5340_cpuapp.dtsi', 'firmware/nrf5340/cpuapp.overlay'],
    },
    {
      name: 'cpunet', kind: 'cortex-m33', os: 'zephyr', firmware: 'firmware/nrf5340/ipc-remote.ts',
      devicetree: ['soc/dts/nrf5340_cpunet.dtsi', 'firmware/nrf5340/cpunet.overlay'],
    },
  ],
  defaults: { duration: '1000' },
};
