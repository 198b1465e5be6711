export { ConnectHealth } from "./connect-health.js";
export { errorInterceptor, hooksInterceptor, toConnectError, trackingInterceptor } from "./connect-interceptors.js";
export { addConnectReflection, reflectionImplementation } from "./connect-reflection.js";
export { ConnectServerHandle, startConnectServer, type ConnectServerOptions } from "./connect-server.js";
export { applyCors } from "./cors.js";
