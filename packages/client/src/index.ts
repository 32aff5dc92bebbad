export { ApiError, type ConnectOptions, connectSocket, ViridianClient } from './client.js';
