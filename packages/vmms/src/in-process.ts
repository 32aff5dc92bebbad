import type { ClientMessage, ServerMessage } from './protocol.js';
import { type ApiHost, ApiSession } from './session.js';

/** A connection as a client sees it: send messages, receive messages, learn when it closes. */
export interface Connection {
  send(message: ClientMessage): void;
  onMessage(listener: (message: ServerMessage) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/**
 * A connection to a service in the same process, through the same ApiSession as the socket.
 * Messages are structured-cloned both ways so neither side can alias the other's objects.
 */
export function connectInProcess(host: ApiHost): Connection {
  const messageListeners: Array<(message: ServerMessage) => void> = [];
  const closeListeners: Array<() => void> = [];
  let closed = false;
  const shut = (): void => {
    if (closed) return;
    closed = true;
    session.dispose();
    queueMicrotask(() => {
      for (const listener of closeListeners) listener();
    });
  };
  const session = new ApiSession(
    host,
    (message) => {
      const copy = structuredClone(message);
      queueMicrotask(() => {
        for (const listener of messageListeners) listener(copy);
      });
    },
    shut,
  );
  return {
    send(message) {
      if (closed) return;
      const copy = structuredClone(message);
      queueMicrotask(() => session.receive(copy));
    },
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    close: shut,
  };
}
