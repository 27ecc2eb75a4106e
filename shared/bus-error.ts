// The error a core's bus raises for an access it cannot perform (nothing mapped there, a device
// register reached with the wrong width, a write the firewall refuses). Its own file so that
// shared/bus.ts and shared/firewall.ts can both use it without importing each other in a cycle.

/** A refused bus access; `address` is where the access started. */
export class BusError extends Error {
  override name = 'BusError';
  constructor(message: string, readonly address: number) {
    super(message);
  }
}
