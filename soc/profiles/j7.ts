// TI Jacinto 7 (J721E) with the ten processors of TI's IPC echo set-up: the A72 running Linux,
// six R5F, two C66x and one C7x running an RTOS with the PDK IPC driver. Names and proc ids are
// the PDK's (soc/V1/ipc_soc.h).

import type { SocProfile } from '../profile.js';

const RTOS_ECHO = 'firmware/j7/echo-rtos.ts';
const LINUX_ECHO = 'firmware/j7/echo-linux.ts';

export const j7: SocProfile = {
  name: 'j7',
  platform: 'j721e',
  description: 'TI J721E: A72 Linux + 6x R5F, 2x C66x, 1x C7x RTOS; RPMsg over VRINGs and mailboxes, echo test',
  cores: [
    { name: 'mpu1_0', kind: 'a72', os: 'linux', procId: 0, firmware: LINUX_ECHO, bootDelayMs: 50 },
    { name: 'mcu1_0', kind: 'r5f', os: 'rtos', procId: 1, firmware: RTOS_ECHO },
    { name: 'mcu1_1', kind: 'r5f', os: 'rtos', procId: 2, firmware: RTOS_ECHO },
    { name: 'mcu2_0', kind: 'r5f', os: 'rtos', procId: 3, firmware: RTOS_ECHO },
    { name: 'mcu2_1', kind: 'r5f', os: 'rtos', procId: 4, firmware: RTOS_ECHO },
    { name: 'mcu3_0', kind: 'r5f', os: 'rtos', procId: 5, firmware: RTOS_ECHO },
    { name: 'mcu3_1', kind: 'r5f', os: 'rtos', procId: 6, firmware: RTOS_ECHO },
    { name: 'C66X_1', kind: 'c66x', os: 'rtos', procId: 7, firmware: RTOS_ECHO },
    { name: 'C66X_2', kind: 'c66x', os: 'rtos', procId: 8, firmware: RTOS_ECHO },
    { name: 'C7X_1', kind: 'c7x', os: 'rtos', procId: 9, firmware: RTOS_ECHO },
  ],
};
