export { loadUserServiceConfig, userServiceEnvSchema, type UserServiceConfig } from "./config.js";
export { startUserService, type RunningUserService, type UserServiceOverrides } from "./server.js";
