// comlink's Endpoint over a Node MessagePort or Worker (comlink's own node adapter ships without
// types usable under nodenext; this is the same few lines, typed).

import type { Endpoint } from 'comlink';

interface NodePort {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: 'message', listener: (data: unknown) => void): unknown;
  off(event: 'message', listener: (data: unknown) => void): unknown;
  start?: () => void;
}

type Listener = Parameters<Endpoint['addEventListener']>[1];
type Transfer = Parameters<Endpoint['postMessage']>[1];
type Ev = Parameters<Extract<Listener, (e: never) => unknown>>[0];

export function nodeEndpoint(port: NodePort): Endpoint {
  const listeners = new WeakMap<Listener, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transfer) => port.postMessage(message, transfer as readonly unknown[]),
    addEventListener: (_type: string, handler: Listener) => {
      const l = (data: unknown) => {
        const ev = { data } as Ev;
        if ('handleEvent' in handler) handler.handleEvent(ev);
        else handler(ev);
      };
      port.on('message', l);
      listeners.set(handler, l);
    },
    removeEventListener: (_type: string, handler: Listener) => {
      const l = listeners.get(handler);
      if (!l) return;
      port.off('message', l);
      listeners.delete(handler);
    },
    start: port.start?.bind(port),
  };
}
