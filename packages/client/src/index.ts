export { ApiError, type ConnectOptions, connectSocket, type KvpPool, ViridianClient } from './client.js';
