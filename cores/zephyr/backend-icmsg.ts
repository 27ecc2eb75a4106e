// The ICMsg backend (subsys/ipc/ipc_service/backends/ipc_icmsg.c): one endpoint per instance;
// register_endpoint opens ICMsg, deregister_endpoint closes it, send is icmsg_send. No open_instance
// hook, no no-copy and no hold/release (the service layer answers those with -EIO). In the session
// modes (unbound "enable"/"detect") registering again after unbound() re-opens ICMsg, which starts a
// new session with the peer (Zephyr's ipc_sessions tests re-register the same endpoint).

import type { Icmsg } from './icmsg.js';
import type { IpcBackend, IpcEptCfg } from './backend.js';

export class IcmsgBackend implements IpcBackend {
  readonly compatible = 'zephyr,ipc-icmsg';
  private cfg: IpcEptCfg | undefined;

  constructor(readonly icmsg: Icmsg) {}

  register_endpoint(cfg: IpcEptCfg, setToken: (token: unknown) => void): number {
    const priv = cfg.priv;
    const r = this.icmsg.open({
      bound: () => cfg.cb.bound?.(priv),
      unbound: () => cfg.cb.unbound?.(priv),
      received: (data, len) => cfg.cb.received?.(data, len, priv),
      error: (msg) => cfg.cb.error?.(msg, priv),
    });
    if (r === 0) {
      this.cfg = cfg;
      setToken(this.icmsg);
    }
    return r;
  }

  deregister_endpoint(): number {
    const r = this.icmsg.close();
    if (r === 0) this.cfg = undefined;
    return r;
  }

  send(_token: unknown, data: Uint8Array, len: number): number {
    return this.icmsg.send(data, len);
  }

  status(): Record<string, unknown> {
    const base = { state: this.icmsg.stateName, endpoint: this.cfg?.name, ...this.icmsg.stats };
    if (this.icmsg.mode === 'disable') return base;
    const ids = this.icmsg.sessionIds;
    return { ...base, mode: this.icmsg.mode, localSid: ids.local, remoteSid: ids.remote, ...this.icmsg.sessionStats };
  }
}
