import { existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, VmmsError } from './errors.js';
import { encodeFrame, FrameDecoder, type ServerMessage } from './protocol.js';
import { type ApiHost, ApiSession } from './session.js';

export const SOCKET_NAME = 'vmms.sock';

export function socketPathFor(dataDir: string): string {
  return join(dataDir, SOCKET_NAME);
}

/** Output a slow client may leave unread before it is disconnected. */
const MAX_PENDING_OUTPUT = 16 * 1024 * 1024;

/** The management API on a unix domain socket: length-prefixed msgpack frames, one ApiSession per connection. */
export class ApiServer {
  readonly path: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static async listen(host: ApiHost, path: string): Promise<ApiServer> {
    if (existsSync(path)) {
      if (await isAlive(path)) {
        throw new VmmsError(ErrorCode.Conflict, `another service is already listening on ${path}`);
      }
      unlinkSync(path); // left behind by a service that died
    }
    const server = createServer();
    const api = new ApiServer(path, server);
    server.on('connection', (socket) => api.#accept(host, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path, readableAll: false, writableAll: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return api;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #accept(host: ApiHost, socket: Socket): void {
    this.#sockets.add(socket);
    const decoder = new FrameDecoder();
    const send = (message: ServerMessage): void => {
      if (socket.destroyed) return;
      if (socket.writableLength > MAX_PENDING_OUTPUT) {
        socket.destroy();
        return;
      }
      let frame: Buffer;
      try {
        frame = encodeFrame(message);
      } catch (error) {
        if (message.t !== 'res') return;
        frame = encodeFrame({
          t: 'res',
          id: message.id,
          ok: false,
          error: { code: ErrorCode.Internal, message: (error as Error).message },
        });
      }
      socket.write(frame);
    };
    const session = new ApiSession(host, send, () => socket.end());
    socket.on('data', (chunk: Buffer) => {
      for (const result of decoder.push(chunk)) {
        if (result.ok) session.receive(result.message);
        else session.badFrame(result.error, result.fatal);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      session.dispose();
      this.#sockets.delete(socket);
    });
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
