export { applyCors } from "./cors.js";
export { ConnectHealth } from "./health.js";
export { addConnectReflection, reflectionImplementation } from "./reflection.js";
export { startConnectServer, type ConnectServerOptions } from "./server.js";
export { errorInterceptor, hooksInterceptor, toConnectError, trackingInterceptor } from "./service-adapter.js";
